/* test_reliab.c - long runs that resume only what they can check, write errors that are reported
 * and leave complete files, interrupted writes (issue 12). Interruptions use CLNAS_STOP_AFTER and
 * write failures CLNAS_FAIL_WRITE (src/core/fault.h), so nothing here depends on timing. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "clnas/search.h"
#include "util/testutil.h"

static const char SMALL[] = "--batch 8 --repeat 1 --lr-batches 1 --lr-batch 100 --quiet";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert(b);
    b[fread(b, 1, (size_t)n, f)] = 0;
    fclose(f);
    return b;
}

static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *o = NULL;
    int rc = tu_run(cmd, &o);
    if (out) *out = o;
    else free(o);
    return rc;
}

static json_t *load(const char *dir, const char *name)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    json_error_t je;
    json_t *j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
    cr_assert(j, "%s: %s", p, je.text);
    return j;
}

/* ---- 1. a search resumes only its own settings ---- */

Test(reliab, search_resume_refuses_other_settings_and_names_them)
{
    char dir[256], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_rs");
    cr_assert_eq(run(NULL, "CLNAS_STOP_AFTER=10 %s search --out %s %s 2>&1", CLNAS_BIN, dir, SMALL), 75);
    /* another batch, another seed, another data path: refused, naming the file and both values */
    cr_expect_eq(run(&out, "%s search --out %s --batch 16 --repeat 1 --lr-batches 1 --lr-batch 100 --quiet 2>&1", CLNAS_BIN, dir), 1);
    cr_expect(strstr(out, "trace_seed0.jsonl") && strstr(out, "batch 8 (this run: 16)") && strstr(out, "--batch 8") &&
              strstr(out, "new --out"), "%s", out);
    cr_expect(!strstr(out, "resuming"), "%s", out);
    free(out);
    char link[300];
    snprintf(link, sizeof link, "%s/other.bin", dir);
    cr_assert_eq(symlink(CLNAS_DATA_DIR "/cifar10/train_10k.bin", link), 0);
    cr_expect_eq(run(&out, "%s search --out %s %s --data %s 2>&1", CLNAS_BIN, dir, SMALL, link), 1);
    cr_expect(strstr(out, "data \"") && strstr(out, "other.bin\")"), "%s", out);
    free(out);
    /* the trace was left alone: the right flags resume it */
    cr_expect_eq(run(&out, "%s search --out %s %s 2>&1", CLNAS_BIN, dir, SMALL), 0, "%s", out);
    cr_expect(strstr(out, "resuming") && strstr(out, "10 candidates"), "%s", out);
    free(out);
    /* a finished seed of other settings is refused too (no summary rewritten) */
    char *sum = NULL;
    char sp[400];
    snprintf(sp, sizeof sp, "%s/search.json", dir);
    sum = slurp(sp);
    cr_expect_eq(run(&out, "%s search --out %s --batch 8 --repeat 1 --lr-batches 1 --lr-batch 50 --quiet 2>&1", CLNAS_BIN, dir), 1);
    cr_expect(strstr(out, "search_seed0.json") && strstr(out, "lr_batch 100 (this run: 50)"), "%s", out);
    free(out);
    char *sum2 = slurp(sp);
    cr_expect_str_eq(sum2, sum);
    free(sum);
    free(sum2);
    tu_rmrf(dir);
}

Test(reliab, search_resume_of_an_older_trace_says_what_was_not_checked)
{
    char dir[256], path[400], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_rso");
    cr_assert_eq(run(NULL, "CLNAS_STOP_AFTER=5 %s search --out %s %s 2>&1", CLNAS_BIN, dir, SMALL), 75);
    /* strip the keys this version added from the search line: what an older clnas wrote */
    snprintf(path, sizeof path, "%s/trace_seed0.jsonl", dir);
    char *t = slurp(path), *nl = strchr(t, '\n');
    json_t *h = json_loadb(t, (size_t)(nl - t), 0, NULL);
    cr_assert(h);
    json_object_del(h, "data");
    json_object_del(h, "device");
    json_object_del(h, "version");
    char *hs = json_dumps(h, JSON_COMPACT);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s%s", hs, nl);
    fclose(f);
    free(hs);
    json_decref(h);
    free(t);
    cr_expect_eq(run(&out, "%s search --out %s %s 2>&1", CLNAS_BIN, dir, SMALL), 0, "%s", out);
    cr_expect(strstr(out, "does not record data, device, version") && strstr(out, "could not be checked"), "%s", out);
    free(out);
    tu_rmrf(dir);
}

/* ---- 5. the cost of a resumed search is the whole search's ---- */

Test(reliab, resumed_search_reports_the_whole_cost)
{
    char a[256], b[256];
    tu_mkdtemp(a, sizeof a, "clnas_costa");
    tu_mkdtemp(b, sizeof b, "clnas_costb");
    cr_assert_eq(run(NULL, "%s search --out %s %s > /dev/null 2>&1", CLNAS_BIN, a, SMALL), 0);
    cr_assert_eq(run(NULL, "CLNAS_STOP_AFTER=30 %s search --out %s %s > /dev/null 2>&1", CLNAS_BIN, b, SMALL), 75);
    cr_assert_eq(run(NULL, "CLNAS_STOP_AFTER=45 %s search --out %s %s > /dev/null 2>&1", CLNAS_BIN, b, SMALL), 75);
    cr_assert_eq(run(NULL, "%s search --out %s %s > /dev/null 2>&1", CLNAS_BIN, b, SMALL), 0);
    json_t *ja = load(a, "search_seed0.json"), *jb = load(b, "search_seed0.json");
    cr_expect_str_eq(json_string_value(json_object_get(jb, "arch")), json_string_value(json_object_get(ja, "arch")));
    cr_expect_eq(json_integer_value(json_object_get(jb, "kappa_evals")), 108);
    cr_expect_eq(json_integer_value(json_object_get(jb, "regions_evals")), 108);
    double ga = json_real_value(json_object_get(ja, "kappa_gflop")), gb = json_real_value(json_object_get(jb, "kappa_gflop"));
    cr_expect(fabs(ga - gb) <= 1e-9 * ga, "GFLOP %.17g uninterrupted, %.17g over three runs", ga, gb);
    /* the trace records every candidate's seconds; the result's wall time is at least their sum */
    char tp[400];
    snprintf(tp, sizeof tp, "%s/trace_seed0.jsonl", b);
    FILE *f = fopen(tp, "r");
    char line[8192];
    double sum = 0;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        json_t *c = json_object_get(j, "cost");
        if (c) {
            sum += json_number_value(json_object_get(c, "s"));
            n++;
        }
        json_decref(j);
    }
    fclose(f);
    cr_expect_eq(n, 54);
    double wb = json_real_value(json_object_get(jb, "wall_s"));
    cr_expect(wb >= sum && sum > 0, "wall_s %.3f, candidates' seconds %.3f", wb, sum);
    json_decref(ja);
    json_decref(jb);
    tu_rmrf(a);
    tu_rmrf(b);
}

/* ---- rank: the sidecar, an unterminated last line, write errors ---- */

static const char ARCHS[] =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|\n"
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|\n"
    "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|\n";
static const char RSMALL[] = "--batch 4 --repeat 2 --lr-batch 50 --lr-batches 1";

/* Lines of a file, and whether each ends with a newline (0 when one does not). */
static int whole_lines(const char *path, int *lines)
{
    char *t = slurp(path);
    *lines = 0;
    if (!t) return 1;
    size_t n = strlen(t);
    for (size_t i = 0; i < n; i++) *lines += t[i] == '\n';
    int ok = n == 0 || t[n - 1] == '\n';
    free(t);
    return ok;
}

static void rank_dir(char *dir, size_t len, const char *name, char *archs, char *csv)
{
    tu_mkdtemp(dir, len, name);
    sprintf(archs, "%s/archs.txt", dir);
    sprintf(csv, "%s/scores.csv", dir);
    tu_write_file(archs, ARCHS);
}

Test(reliab, rank_resume_refuses_rows_of_other_settings)
{
    char dir[256], archs[400], csv[400], side[420], *out = NULL;
    rank_dir(dir, sizeof dir, "clnas_rside", archs, csv);
    snprintf(side, sizeof side, "%s.json", csv);
    cr_assert_eq(run(&out, "CLNAS_STOP_AFTER=2 %s rank --archs %s --out %s %s --seed 0 2>&1", CLNAS_BIN, archs, csv, RSMALL), 75, "%s", out);
    free(out);
    json_t *j = load(dir, "scores.csv.json");
    cr_expect_eq(json_integer_value(json_object_get(j, "batch")), 4);
    cr_expect(json_is_string(json_object_get(j, "device")) && json_is_string(json_object_get(j, "version")));
    json_decref(j);
    char *before = slurp(csv);
    cr_expect_eq(run(&out, "%s rank --archs %s --out %s %s --seed 7 2>&1", CLNAS_BIN, archs, csv, RSMALL), 1);
    cr_expect(strstr(out, "scores.csv") && strstr(out, "seed 0 (this run: 7)") && strstr(out, "--seed 0"), "%s", out);
    free(out);
    cr_expect_eq(run(&out, "%s rank --archs %s --out %s --batch 8 --repeat 2 --lr-batch 50 --lr-batches 1 2>&1", CLNAS_BIN,
                     archs, csv), 1);
    cr_expect(strstr(out, "batch 4 (this run: 8)"), "%s", out);
    free(out);
    char *after = slurp(csv);
    cr_expect_str_eq(after, before, "a refused resume leaves the CSV alone");
    free(after);
    /* the same settings resume; a CSV without a sidecar (older clnas) resumes with a warning */
    cr_expect_eq(run(&out, "%s rank --archs %s --out %s %s 2>&1", CLNAS_BIN, archs, csv, RSMALL), 0, "%s", out);
    cr_expect(strstr(out, "3 architectures, 2 already in"), "%s", out);
    free(out);
    cr_assert_eq(unlink(side), 0);
    cr_expect_eq(run(&out, "%s rank --archs %s --out %s %s --seed 5 2>&1", CLNAS_BIN, archs, csv, RSMALL), 0, "%s", out);
    cr_expect(strstr(out, "has no") && strstr(out, "could not"), "%s", out);
    free(out);
    free(before);
    tu_rmrf(dir);
}

Test(reliab, rank_drops_an_unterminated_last_line)
{
    char dir[256], archs[400], csv[400], *out = NULL;
    rank_dir(dir, sizeof dir, "clnas_rpart", archs, csv);
    cr_assert_eq(run(&out, "CLNAS_STOP_AFTER=1 %s rank --archs %s --out %s %s 2>&1", CLNAS_BIN, archs, csv, RSMALL), 75, "%s", out);
    free(out);
    FILE *f = fopen(csv, "a");
    fputs("-1,\"|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_", f); /* a crash mid-row */
    fclose(f);
    cr_expect_eq(run(&out, "%s rank --archs %s --out %s %s 2>&1", CLNAS_BIN, archs, csv, RSMALL), 0, "%s", out);
    cr_expect(strstr(out, "dropped an unterminated last line") && strstr(out, "3 architectures, 1 already in"), "%s", out);
    free(out);
    int lines = 0;
    cr_expect(whole_lines(csv, &lines));
    cr_expect_eq(lines, 4);
    /* and it stays usable: a third run has nothing to do */
    cr_expect_eq(run(&out, "%s rank --archs %s --out %s %s 2>&1", CLNAS_BIN, archs, csv, RSMALL), 0, "%s", out);
    cr_expect(strstr(out, "3 already in"), "%s", out);
    free(out);
    tu_rmrf(dir);
}

/* No temporary file is left in dir. */
static void expect_no_tmp(const char *dir)
{
    char *out = NULL;
    run(&out, "ls -a '%s' | grep -c '\\.tmp'", dir);
    cr_expect(out && atoi(out) == 0, "temporary files left in %s", dir);
    free(out);
}

Test(reliab, rank_write_errors_fail_and_keep_whole_rows)
{
    /* checked writes: sidecar print + close (1, 2), header (3), rows (4, 5, 6), CSV close (7) */
    for (int n = 1; n <= 7; n++) {
        char dir[256], archs[400], csv[400], *out = NULL;
        rank_dir(dir, sizeof dir, "clnas_rwrite", archs, csv);
        int rc = run(&out, "CLNAS_FAIL_WRITE=%d %s rank --archs %s --out %s %s 2>&1", n, CLNAS_BIN, archs, csv, RSMALL);
        cr_expect_eq(rc, 1, "write %d: exit %d: %s", n, rc, out);
        cr_expect(strstr(out, "cannot write") && strstr(out, "No space left on device") && strstr(out, "scores.csv"),
                  "write %d: %s", n, out);
        free(out);
        int lines = 0;
        cr_expect(whole_lines(csv, &lines), "write %d: a partial row", n);
        cr_expect(lines <= 4, "write %d", n);
        expect_no_tmp(dir);
        /* and the study goes on from what was kept */
        cr_expect_eq(run(&out, "%s rank --archs %s --out %s %s 2>&1", CLNAS_BIN, archs, csv, RSMALL), 0, "write %d: %s", n, out);
        free(out);
        cr_expect(whole_lines(csv, &lines) && lines == 4, "write %d: %d lines after the rerun", n, lines);
        tu_rmrf(dir);
    }
}

Test(reliab, search_write_errors_fail_and_leave_complete_files)
{
    /* checked writes: the trace's 58 lines (search line, 54 candidates, 3 rounds), the result file
       (print, close: 59, 60), the summary (61, 62) */
    const int points[] = {1, 20, 58, 59, 60, 61, 62};
    char ref[256];
    tu_mkdtemp(ref, sizeof ref, "clnas_swref");
    cr_assert_eq(run(NULL, "%s search --out %s %s > /dev/null 2>&1", CLNAS_BIN, ref, SMALL), 0);
    json_t *want = load(ref, "search_seed0.json");
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        char dir[256], *out = NULL, p[400];
        tu_mkdtemp(dir, sizeof dir, "clnas_swrite");
        int rc = run(&out, "CLNAS_FAIL_WRITE=%d %s search --out %s %s 2>&1", points[i], CLNAS_BIN, dir, SMALL);
        cr_expect_eq(rc, 1, "write %d: exit %d: %s", points[i], rc, out);
        cr_expect(strstr(out, "cannot write") && strstr(out, "No space left on device"), "write %d: %s", points[i], out);
        free(out);
        int lines = 0;
        snprintf(p, sizeof p, "%s/trace_seed0.jsonl", dir);
        cr_expect(whole_lines(p, &lines), "write %d: a partial trace line", points[i]);
        cr_expect_eq(lines, points[i] <= 58 ? points[i] - 1 : 58, "write %d", points[i]);
        snprintf(p, sizeof p, "%s/search_seed0.json", dir);
        cr_expect_eq(access(p, F_OK) == 0, points[i] > 60, "write %d: the result file", points[i]);
        snprintf(p, sizeof p, "%s/search.json", dir);
        cr_expect_neq(access(p, F_OK), 0, "write %d: no summary", points[i]);
        expect_no_tmp(dir);
        /* the rerun resumes and finds the same architecture */
        cr_expect_eq(run(&out, "%s search --out %s %s 2>&1", CLNAS_BIN, dir, SMALL), 0, "write %d: %s", points[i], out);
        free(out);
        json_t *got = load(dir, "search_seed0.json");
        cr_expect_str_eq(json_string_value(json_object_get(got, "arch")), json_string_value(json_object_get(want, "arch")));
        json_decref(got);
        tu_rmrf(dir);
    }
    json_decref(want);
    tu_rmrf(ref);
}

/* ---- 6. sizes from a file are checked ---- */

/* Rewrites one metadata value of a safetensors file (the header is re-serialised and padded). */
static void set_meta(const char *path, const char *key, const char *value)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    unsigned char len8[8];
    cr_assert_eq(fread(len8, 1, 8, f), 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | len8[i];
    char *h = malloc(hl + 1);
    cr_assert_eq(fread(h, 1, hl, f), hl);
    h[hl] = 0;
    fseek(f, 0, SEEK_END);
    long end = ftell(f);
    size_t nd = (size_t)end - 8 - hl;
    char *data = malloc(nd + 1);
    fseek(f, (long)(8 + hl), SEEK_SET);
    cr_assert_eq(fread(data, 1, nd, f), nd);
    fclose(f);
    json_t *j = json_loads(h, 0, NULL);
    cr_assert(j, "header of %s", path);
    json_object_set_new(json_object_get(j, "__metadata__"), key, json_string(value));
    char *t = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(t), padded = (n + 7) / 8 * 8;
    f = fopen(path, "wb");
    for (int i = 0; i < 8; i++) fputc((int)((padded >> (8 * i)) & 0xff), f);
    fputs(t, f);
    for (size_t i = n; i < padded; i++) fputc(' ', f);
    fwrite(data, 1, nd, f);
    fclose(f);
    free(t);
    free(h);
    free(data);
    json_decref(j);
}

Test(reliab, dump_sizes_out_of_range_are_refused)
{
    char dir[256], p[400], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_dumpovf");
    cr_assert_eq(run(&out, "%s score --arch '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|' "
                           "--batch 4 --repeat 1 --lr-batch 4 --lr-batches 14 --dump %s/d 2>&1", CLNAS_BIN, dir), 0, "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/d/inputs.safetensors", dir);
    /* 4 x 1073741849 wraps around to 4 x 25 in 32 bits: the file's 100 patches would match */
    set_meta(p, "lr_batches", "1073741849");
    cr_expect_eq(run(&out, "%s score --from %s/d 2>&1", CLNAS_BIN, dir), 1, "%s", out);
    cr_expect(strstr(out, "out of range") && strstr(out, "lr_batches 1073741849"), "%s", out);
    free(out);
    set_meta(p, "lr_batches", "14");
    set_meta(p, "batch", "-9223372036854775807");
    cr_expect_eq(run(&out, "%s score --from %s/d 2>&1", CLNAS_BIN, dir), 1, "%s", out);
    cr_expect(strstr(out, "out of range"), "%s", out);
    free(out);
    set_meta(p, "batch", "4");
    cr_expect_eq(run(&out, "%s score --from %s/d 2>&1", CLNAS_BIN, dir), 0, "%s", out);
    free(out);
    tu_rmrf(dir);
}

/* ---- 7. NaN in the linear-region inputs makes R undefined ---- */

/* Overwrites element k of tensor `name` (F32) of a safetensors file with v. */
static void poke_f32(const char *path, const char *name, size_t k, float v)
{
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    unsigned char len8[8];
    cr_assert_eq(fread(len8, 1, 8, f), 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | len8[i];
    char *h = malloc(hl + 1);
    cr_assert_eq(fread(h, 1, hl, f), hl);
    h[hl] = 0;
    json_t *j = json_loads(h, 0, NULL);
    json_t *off = json_object_get(json_object_get(j, name), "data_offsets");
    cr_assert(off, "%s has no %s", path, name);
    long at = (long)(8 + hl + (uint64_t)json_integer_value(json_array_get(off, 0)) + 4 * k);
    fseek(f, at, SEEK_SET);
    cr_assert_eq(fwrite(&v, 4, 1, f), 1);
    fclose(f);
    json_decref(j);
    free(h);
}

Test(reliab, nan_patch_makes_R_undefined)
{
    char dir[256], p[400], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_nanr");
    cr_assert_eq(run(&out, "%s score --arch '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|' "
                           "--batch 4 --repeat 2 --lr-batch 4 --lr-batches 14 --dump %s/d 2>&1", CLNAS_BIN, dir), 0, "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/d/inputs.safetensors", dir);
    poke_f32(p, "lr_patches", 56 * 9 + 13, NAN); /* one value of one patch of repeat 2 */
    cr_expect_eq(run(&out, "%s score --from %s/d 2>&1", CLNAS_BIN, dir), 0, "%s", out);
    cr_expect(strstr(out, "repeat 1: R ") && !strstr(out, "repeat 1: R undefined"), "%s", out);
    cr_expect(strstr(out, "repeat 2: R undefined: NaN") && strstr(out, "R mean undefined"), "%s", out);
    free(out);
    cr_expect_eq(run(&out, "%s score --from %s/d --json 2>/dev/null", CLNAS_BIN, dir), 0);
    json_t *j = json_loads(out, 0, NULL), *lr = json_object_get(j, "lr");
    cr_assert(lr, "%s", out);
    cr_expect(json_is_integer(json_array_get(json_object_get(lr, "regions"), 0)));
    cr_expect(json_is_null(json_array_get(json_object_get(lr, "regions"), 1)));
    cr_expect(json_is_null(json_object_get(lr, "regions_mean")));
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(lr, "status"), 1)), "NaN or inf in the pre-activations");
    json_decref(j);
    free(out);
    tu_rmrf(dir);
}

Test(reliab, undefined_R_is_the_worst_in_a_search)
{
    cr_expect_eq(clnas_search_region_change(40, 30), 0.25);
    cr_expect_eq(clnas_search_region_change(40, 0), 1.0, "an undefined candidate R: the highest dR, the op is kept");
    cr_expect_eq(clnas_search_region_change(0, 30), -30.0, "an undefined current R: every candidate improves on it");
    cr_expect_eq(clnas_search_region_change(0, 0), 0.0);
}

/* ---- 8. every allocation failure is reported, with a message ---- */

Test(reliab, every_allocation_failure_of_a_score_says_what_failed, .timeout = 900)
{
    /* CLNAS_FAIL_ALLOC=N fails the N-th host or device allocation of the library; walked until
       the run goes through ten times in a row (N beyond the last allocation). In the sanitizer
       tree a leak or a memory error on any of these paths fails the run too. */
    long stride = 3; /* every third failure point in CI; CLNAS_ALLOC_WALK_STRIDE=1 walks them all */
    const char *e = getenv("CLNAS_ALLOC_WALK_STRIDE");
    if (e && atol(e) > 0) stride = atol(e);
    int failed = 0, ok_run = 0, n;
    for (n = 1; n < 2000 && ok_run < 10; n += (int)stride) {
        char *out = NULL;
        int rc = run(&out, "CLNAS_FAIL_ALLOC=%d %s score --arch '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|"
                           "none~1|nor_conv_1x1~2|' --batch 4 --repeat 1 --lr-batch 4 --lr-batches 1 2>&1 >/dev/null", n, CLNAS_BIN);
        if (rc == 0) {
            ok_run++;
        } else {
            ok_run = 0;
            failed++;
            const char *m = strstr(out, "clnas score: ");
            cr_expect(rc == 1, "allocation %d: exit %d: %s", n, rc, out);
            cr_expect(m && m[13] && m[13] != ' ' && m[13] != '[' && m[13] != '\n', "allocation %d: no message: %s", n, out);
            cr_expect(!strstr(out, "Sanitizer"), "allocation %d: %s", n, out);
        }
        free(out);
    }
    cr_expect(failed >= 150 / stride, "only %d allocations failed the run (walked up to %d)", failed, n - 1);
}

/* ---- 9. the smaller ones ---- */

static const char ARCH1[] = "'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|'";
static const char TINY[] = "--batch 4 --repeat 1 --lr-batch 4 --lr-batches 1";

Test(reliab, a_fifo_in_the_program_cache_is_skipped)
{
    char dir[256], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_fifo");
    cr_assert_eq(run(&out, "CLNAS_CACHE_DIR=%s %s score --arch %s %s 2>&1", dir, CLNAS_BIN, ARCH1, TINY), 0, "%s", out);
    free(out);
    /* every cache entry becomes a FIFO nobody writes to: opening one for reading would block */
    cr_assert_eq(run(&out, "cd %s/cl && for f in *.bin; do rm \"$f\" && mkfifo \"$f\"; done && ls | wc -l", dir), 0);
    cr_assert(atoi(out) > 0, "%s", out);
    free(out);
    cr_expect_eq(run(&out, "CLNAS_CACHE_DIR=%s timeout 120 %s score --arch %s %s 2>&1", dir, CLNAS_BIN, ARCH1, TINY), 0, "%s", out);
    free(out);
    tu_rmrf(dir);
}

Test(reliab, an_unusable_cache_is_said_once)
{
    char *out = NULL;
    cr_expect_eq(run(&out, "CLNAS_CACHE_DIR=/dev/null/clnas %s score --arch %s %s 2>&1", CLNAS_BIN, ARCH1, TINY), 0, "%s", out);
    const char *w = strstr(out, "program cache in /dev/null/clnas/cl is unusable");
    cr_expect(w && !strstr(w + strlen("program cache in /dev/null/clnas/cl is unusable"), "is unusable"), "%s", out);
    free(out);
}

Test(reliab, environment_variables_are_checked_like_flags)
{
    const char *bad[] = {"4x", "abc", "0", "-3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = NULL;
        cr_expect_eq(run(&out, "CLNAS_SEEDS=%s %s score --arch %s %s 2>&1", bad[i], CLNAS_BIN, ARCH1, TINY), 1, "%s", out);
        cr_expect(strstr(out, "CLNAS_SEEDS=") && strstr(out, "expected an integer"), "%s: %s", bad[i], out);
        free(out);
    }
    char *out = NULL;
    cr_expect_eq(run(&out, "CLNAS_SEEDS=2 %s score --arch %s %s 2>&1", CLNAS_BIN, ARCH1, TINY), 0, "%s", out);
    cr_expect(strstr(out, "2 seeds in flight"), "%s", out);
    free(out);
}

Test(reliab, a_dangling_data_file_link_is_an_error)
{
    char dir[256], p[400], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_dangle");
    snprintf(p, sizeof p, "%s/data_batch_1.bin", dir);
    cr_assert_eq(symlink(CLNAS_DATA_DIR "/cifar10/train_10k.bin", p), 0);
    snprintf(p, sizeof p, "%s/data_batch_2.bin", dir);
    cr_assert_eq(symlink("/nonexistent/data_batch_2.bin", p), 0);
    cr_expect_eq(run(&out, "%s score --arch %s %s --data %s 2>&1", CLNAS_BIN, ARCH1, TINY, dir), 1, "%s", out);
    cr_expect(strstr(out, "data_batch_2.bin is a symbolic link to a missing file"), "%s", out);
    free(out);
    cr_assert_eq(unlink(p), 0);
    cr_expect_eq(run(&out, "%s score --arch %s %s --data %s 2>&1", CLNAS_BIN, ARCH1, TINY, dir), 0, "%s", out);
    free(out);
    tu_rmrf(dir);
}

Test(reliab, a_long_seed_range_says_the_work_first)
{
    char dir[256], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_work");
    cr_expect_eq(run(&out, "CLNAS_STOP_AFTER=1 %s search --seeds 0-100000 --out %s %s 2>&1", CLNAS_BIN, dir, SMALL), 75, "%s", out);
    const char *w = strstr(out, "100001 searches (seeds 0..100000)"), *s = strstr(out, "stopped after");
    cr_expect(w && s && w < s && strstr(out, "10800108 kappa"), "%s", out);
    free(out);
    tu_rmrf(dir);
}

Test(reliab, control_characters_of_user_input_are_escaped)
{
    char *out = NULL;
    run(&out, "%s score --batch \"$(printf '8\\033[31m')\" 2>&1", CLNAS_BIN);
    cr_expect(strstr(out, "got \"8\\x1b[31m\"") && !strchr(out, '\033'), "%s", out);
    free(out);
    run(&out, "%s score --arch \"$(printf '|nor\\nconv')\" 2>&1", CLNAS_BIN);
    cr_expect(strstr(out, "found \"nor\\nconv\"") != NULL, "%s", out);
    free(out);
    run(&out, "%s score \"$(printf -- '--ba\\tch')\" 3 2>&1", CLNAS_BIN);
    cr_expect(strstr(out, "unknown option \"--ba\\tch\"") != NULL, "%s", out);
    free(out);
}

/* ---- device faults: out of device memory ---- */

Test(reliab, out_of_device_memory_falls_back_to_fewer_seeds_then_says_what_it_needs)
{
    char *out = NULL;
    const char *args = "--batch 16 --repeat 1 --lr-batch 4 --lr-batches 1 --json";
    cr_assert_eq(run(&out, "%s score --arch %s %s 2>/dev/null", CLNAS_BIN, ARCH1, args), 0);
    json_t *a = json_loads(out, 0, NULL);
    free(out);
    cr_assert(a);
    /* 40 MB hold the NTK with a few seeds in flight, not with all 16 */
    cr_expect_eq(run(&out, "CLNAS_DEVICE_MEM_LIMIT=40000000 %s score --arch %s %s 2>/dev/null", CLNAS_BIN, ARCH1, args), 0);
    json_t *b = json_loads(out, 0, NULL);
    free(out);
    cr_assert(b);
    json_t *na = json_object_get(a, "ntk"), *nb = json_object_get(b, "ntk");
    long sa = (long)json_integer_value(json_object_get(na, "seeds_in_flight"));
    long sb = (long)json_integer_value(json_object_get(nb, "seeds_in_flight"));
    cr_expect(sb >= 1 && sb < sa, "seeds in flight %ld unlimited, %ld under the cap", sa, sb);
    double ka = json_number_value(json_array_get(json_object_get(na, "kappa"), 0));
    double kb = json_number_value(json_array_get(json_object_get(nb, "kappa"), 0));
    cr_expect(fabs(ka - kb) <= 1e-5 * ka, "kappa %.17g unlimited, %.17g with fewer seeds", ka, kb);
    json_decref(a);
    json_decref(b);
    /* 4 MB do not hold it at all: an error that says what it needed and what it had */
    cr_expect_eq(run(&out, "CLNAS_DEVICE_MEM_LIMIT=4000000 %s score --arch %s %s 2>&1", CLNAS_BIN, ARCH1, args), 1, "%s", out);
    cr_expect(strstr(out, "CLNAS_DEVICE_MEM_LIMIT allows") && strstr(out, "needs about") && strstr(out, "1 seed in flight"),
              "%s", out);
    free(out);
}
