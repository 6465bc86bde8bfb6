/* cmd_rank.c - `clnas rank`: scores many NAS-Bench-201 architectures as one paired study (the
 * same weights for every shared module, the same image batches and patches for every
 * architecture), appending each row to a CSV as soon as it is computed and resuming an
 * interrupted study from that file; then the rank correlations with the benchmark accuracies. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/cmd_proxies.h"
#include "clnas/bench201.h"
#include "clnas/score.h"
#include "core/fault.h"
#include "core/util.h"
#include "report/settings.h"

static const char USAGE[] =
"usage: clnas rank --space nb201 (--sample N [--seed S] | --archs FILE | --all) --out scores.csv [options]\n"
"\n"
"Scores many architectures with TE-NAS's kappa and R (the settings of clnas score) as one paired\n"
"study: every architecture sees the same image batches and patches, and every module it shares\n"
"with another (the same op on the same edge, the stem, the reduction blocks, the classifier) has\n"
"the same weights. Each row is appended to the CSV as soon as it is computed; running the same\n"
"command again resumes: architectures already in the file are not scored again. At the end the\n"
"Kendall tau and Spearman rho against the NB201 accuracies are printed (as clnas stats does).\n";

static const char HELP_OUT[] =
"the CSV (required): index,arch,kappa,kappa_r1..,R,R_r1..,cifar10_test,\n"
"cifar100_test,imagenet16_test,kappa_status; kappa = geometric mean over repeats\n"
"(empty when a repeat is undefined), R = mean over repeats";

/* The command line. */
typedef struct rank_args {
    clnas_score_opts o;
    const char *data_path, *device, *out, *archs_file, *plot, *space;
    int sample, all;
} rank_args;

/* Parses the command line; returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, rank_args *a)
{
    memset(a, 0, sizeof *a);
    clnas_score_opts_default(&a->o);
    cli c;
    cli_init(&c, "rank", USAGE, NULL);
    cli_add_space(&c, &a->space);
    cli_opt *sample = cli_add_help(&c, "sample", &a->sample, "N architectures drawn uniformly without replacement from the "
                                                             "15,625 (--seed)");
    sample->hi = 15625;
    cli_add_help(&c, "archs", &a->archs_file, "one arch string per line ('#' comments and blank lines skipped)");
    cli_add_help(&c, "all", &a->all, "all 15,625 architectures");
    cli_add_help(&c, "seed", &a->o.seed, "study seed: the sample, the weights and the data (default 0)");
    cli_add_help(&c, "out", &a->out, HELP_OUT);
    cli_add_help(&c, "plot", &a->plot, "also draw the score-vs-accuracy figure (as clnas stats --plot)");
    cli_add_score_opts(&c, &a->o, &a->data_path, &a->device);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (a->space && strcmp(a->space, "nb201") != 0) {
        fprintf(stderr, "clnas rank: --space %s: rank studies NB201 only (it needs the benchmark's accuracies); score DARTS "
                        "networks one by one with clnas score --space darts\n", a->space);
        return 2;
    }
    if (!a->out) {
        fprintf(stderr, "clnas rank: --out FILE.csv is required\n");
        return 2;
    }
    if (a->space && strcmp(a->space, "nb201")) {
        fprintf(stderr, "clnas rank: --space %s: rank works on nb201 only (As-ViT: clnas score --space asvit)\n", a->space);
        return 2;
    }
    if ((a->sample > 0) + (a->archs_file != NULL) + a->all != 1) {
        fprintf(stderr, "clnas rank: give exactly one of --sample N, --archs FILE, --all\n");
        return 2;
    }
    return -1;
}

/* Cuts an unterminated last line (what a crash mid-write leaves) off the CSV, saying so, so that
 * the next row starts on a line of its own. 1, or 0 with the message printed. */
static int drop_partial(const char *path, long whole, long size)
{
    if (truncate(path, whole) != 0) {
        fprintf(stderr, "clnas rank: %s ends with an unterminated line and cannot be cut back: %s\n", path, strerror(errno));
        return 0;
    }
    fprintf(stderr, "clnas rank: %s: dropped an unterminated last line (%ld bytes, an interrupted write); its architecture "
                    "is scored again\n", path, size - whole);
    return 1;
}

/* canonical arch strings already in an existing CSV (second field, quoted or not) */
static int load_done(const char *path, int repeats, char ***out, int *n, int *exists)
{
    *out = NULL;
    *n = 0;
    *exists = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 1 : 0;
    *exists = 1;
    char line[8192];
    int cap = 0, lineno = 0;
    long whole = 0; /* the file's length up to its last newline */
    while (fgets(line, sizeof line, f)) {
        if (strchr(line, '\n')) whole = ftell(f);
        else if (!feof(f)) continue; /* a line longer than the buffer: not an arch row */
        else break;                  /* the unterminated last line */
        lineno++;
        if (lineno == 1) {
            char want[64];
            snprintf(want, sizeof want, "kappa_r%d,R,", repeats);
            if (strncmp(line, "index,arch,kappa,", 17) != 0 || !strstr(line, want)) {
                fprintf(stderr, "clnas rank: %s exists but its header does not match this study (%d repeats): "
                                "use another --out or the same settings\n", path, repeats);
                fclose(f);
                return 0;
            }
            continue;
        }
        char *a = strchr(line, ',');
        if (!a) continue;
        a++;
        char *end;
        if (*a == '"') { a++; end = strchr(a, '"'); }
        else end = strchr(a, ',');
        if (!end) continue;
        *end = 0;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(*out, (size_t)cap * sizeof *p);
            if (!p) { fclose(f); return 0; }
            *out = p;
        }
        if (!((*out)[*n] = strdup(a))) { fclose(f); return 0; }
        (*n)++;
    }
    int bad = ferror(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "clnas rank: cannot read %s\n", path);
        return 0;
    }
    return size > whole ? drop_partial(path, whole, size) : 1;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, ",%.10g", v);
    else fputs(",", f);
}

/* The architectures of --archs FILE, canonical; 0 (with the message printed: FILE:LINE for a
 * malformed one, *usage set) on failure. */
static int archs_from_file(const char *path, char ***archs, int *narch, int *usage)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "clnas rank: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    char line[4096];
    int lineno = 0, cap = 0, ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        clnas_nb201_arch a;
        char perr[512], canon[512];
        if (clnas_nb201_parse(s, &a, perr, sizeof perr) != CLNAS_OK) {
            fprintf(stderr, "clnas rank: %s:%d: %s\n", path, lineno, perr);
            *usage = 1;
            ok = 0;
            break;
        }
        clnas_nb201_format(&a, canon, sizeof canon);
        if (*narch == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(*archs, (size_t)cap * sizeof *p);
            if (!p) { ok = 0; break; }
            *archs = p;
        }
        if (!((*archs)[*narch] = strdup(canon))) ok = 0;
        else (*narch)++;
    }
    fclose(f);
    if (!ok && !*usage) fprintf(stderr, "clnas rank: out of memory\n");
    return ok;
}

/* The architectures of --sample N or --all, from the NB201 table. 0 when out of memory. */
static int archs_from_table(const rank_args *a, const clnas_nb201_table *table, char ***archs, int *narch)
{
    int total = clnas_nb201_table_size(table), want = a->all ? total : a->sample;
    int *idx = malloc((size_t)want * sizeof *idx);
    *archs = malloc((size_t)want * sizeof **archs);
    if (!idx || !*archs) {
        free(idx);
        return 0;
    }
    if (a->all) for (int i = 0; i < want; i++) idx[i] = i;
    else clnas_nb201_table_sample(table, want, a->o.seed, idx);
    for (int i = 0; i < want; i++) (*archs)[(*narch)++] = strdup(clnas_nb201_table_row(table, idx[i])->arch);
    free(idx);
    return 1;
}

/* Opens the CSV for appending, with its header when it is new. NULL with the message printed. */
static FILE *open_csv(const char *out, int repeats)
{
    FILE *csv = fopen(out, "a");
    if (!csv) {
        fprintf(stderr, "clnas rank: cannot write %s: %s\n", out, strerror(errno));
        return NULL;
    }
    fseek(csv, 0, SEEK_END);
    if (ftell(csv) == 0) {
        fputs("index,arch,kappa", csv);
        for (int r = 1; r <= repeats; r++) fprintf(csv, ",kappa_r%d", r);
        fputs(",R", csv);
        for (int r = 1; r <= repeats; r++) fprintf(csv, ",R_r%d", r);
        fputs(",cifar10_test,cifar100_test,imagenet16_test,kappa_status\n", csv);
        if (clnas_flush_checked(csv) != 0) {
            fprintf(stderr, "clnas rank: cannot write %s: %s\n", out, strerror(errno));
            fclose(csv);
            if (truncate(out, 0) != 0) { /* the message above says what failed */
            }
            return NULL;
        }
    }
    return csv;
}

/* The settings of the study, recorded in OUT.json (the sidecar, written atomically before the
 * first row) and compared on a resume. 0, or 1 with the message printed. */
static int check_sidecar(const rank_args *a, const char *src, const char *device, int has_rows)
{
    char side[4200], err[4400];
    snprintf(side, sizeof side, "%s.json", a->out);
    json_t *cur = clnas_settings_new(a->space, &a->o, src, device), *rec = NULL;
    int rc = 0;
    if (!cur) {
        fprintf(stderr, "clnas rank: out of host memory\n");
        return 1;
    }
    if (has_rows && access(side, F_OK) != 0) {
        fprintf(stderr, "clnas rank: warning: %s has no %s (written by an older clnas): only its repeat count could be "
                        "checked; the other settings of its rows could not\n", a->out, side);
    } else if (has_rows) {
        clnas_status st = clnas_json_read_file(side, &rec, err, sizeof err);
        if (st != CLNAS_OK || !json_is_object(rec)) {
            fprintf(stderr, "clnas rank: %s%s (remove it and %s to start afresh)\n", st != CLNAS_OK ? err : side,
                    st != CLNAS_OK ? "" : ": not a JSON object", a->out);
            rc = 1;
        } else {
            rc = clnas_settings_check("rank", a->out, rec, cur);
        }
    } else if (clnas_json_write_file(side, cur, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", err);
        rc = 1;
    }
    json_decref(rec);
    json_decref(cur);
    return rc;
}

/* One row of the CSV, flushed (so that an interruption loses at most the row being written).
 * 0, or -1 (errno set) when it could not be written whole. */
static int write_row(FILE *csv, const clnas_nb201_row *w, const char *arch, const clnas_score_result *res, int repeats)
{
    fprintf(csv, "%d,\"%s\"", w ? w->index : -1, arch);
    num(csv, res->kappa_geomean);
    const char *status = "ok";
    for (int r = 0; r < repeats; r++) {
        num(csv, res->ntk[r].status == CLNAS_KAPPA_OK ? res->ntk[r].kappa : NAN);
        if (res->ntk[r].status != CLNAS_KAPPA_OK) status = clnas_kappa_status_str(res->ntk[r].status);
    }
    num(csv, res->regions_mean);
    for (int r = 0; r < repeats; r++) {
        if (res->regions_nonfinite[r]) fputs(",", csv); /* undefined: NaN or inf reached the ReLUs */
        else fprintf(csv, ",%zu", res->regions[r]);
    }
    num(csv, w ? w->cifar10 : NAN);
    num(csv, w ? w->cifar100 : NAN);
    num(csv, w ? w->imagenet16 : NAN);
    fprintf(csv, ",%s\n", status);
    return clnas_flush_checked(csv);
}

/* After a failed row: closes the CSV and cuts it back to the rows written whole before. */
static void undo_row(FILE *csv, const char *out, long before)
{
    int e = errno;
    fclose(csv);
    fprintf(stderr, "\nclnas rank: cannot write %s: %s; the rows written before are kept\n", out, strerror(e));
    if (truncate(out, before) != 0)
        fprintf(stderr, "clnas rank: cannot cut %s back to its last whole row: %s\n", out, strerror(errno));
}

/* What the scoring loop needs. */
typedef struct rank_study {
    const rank_args *a;
    const clnas_nb201_table *table;
    char **archs, **done; /* done: sorted, the arch strings already in the CSV */
    int narch, ndone;
} rank_study;

/* Is arch among the rows already in the file? (bsearch's base may not be NULL, even for none.) */
static int is_done(const rank_study *st, char *arch)
{
    return st->ndone > 0 && bsearch(&arch, st->done, (size_t)st->ndone, sizeof *st->done, cmpstr) != NULL;
}

/* Scores every architecture not yet in the CSV, appending rows. 0, or 1 on an error (printed). */
static int score_loop(const rank_study *st, clnas_ctx *ctx, const clnas_dataset *data, FILE *csv)
{
    const rank_args *a = st->a;
    int todo = 0, rc = 0;
    for (int i = 0; i < st->narch; i++)
        if (!is_done(st, st->archs[i])) todo++;
    fprintf(stderr, "clnas rank: %d architectures, %d already in %s, %d to score on %s\n", st->narch, st->narch - todo, a->out,
            todo, clnas_ctx_device(ctx)->name);
    int show = isatty(2), k = 0;
    double t0 = clnas_now();
    for (int i = 0; i < st->narch; i++) {
        if (is_done(st, st->archs[i])) continue;
        clnas_nb201_arch arch;
        clnas_nb201_parse(st->archs[i], &arch, NULL, 0);
        clnas_score_result res;
        if (clnas_score_nb201(ctx, &arch, data, &a->o, &res) != CLNAS_OK) {
            fprintf(stderr, "\nclnas rank: %s: %s (the rows before it are kept in %s)\n", st->archs[i], clnas_ctx_errmsg(ctx),
                    a->out);
            rc = 1;
            break;
        }
        int row = st->table ? clnas_nb201_table_find_arch(st->table, &arch) : -1;
        if (!isfinite(res.regions_mean))
            fprintf(stderr, "\nclnas rank: %s: R undefined (NaN or infinity in the linear-region pre-activations); "
                            "its R cells are empty\n", st->archs[i]);
        long before = ftell(csv);
        if (write_row(csv, row >= 0 ? clnas_nb201_table_row(st->table, row) : NULL, st->archs[i], &res, a->o.repeats) != 0) {
            undo_row(csv, a->out, before);
            return 1;
        }
        clnas_stop_point("row");
        k++;
        if (show) {
            double el = clnas_now() - t0, rate = k / el;
            int bar = (int)(30.0 * k / todo);
            fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f arch/s  ETA %.0fs ", bar, "##############################", 30 - bar, "", k,
                    todo, rate, (todo - k) / rate);
        }
    }
    if (show) fputc('\n', stderr);
    fprintf(stderr, "clnas rank: scored %d architectures in %.1f s; rows in %s\n", k, clnas_now() - t0, a->out);
    if (fclose(csv) != 0 || clnas_fault_write()) {
        fprintf(stderr, "clnas rank: cannot write %s: %s\n", a->out, strerror(errno));
        rc = 1;
    }
    return rc;
}

/* Data, device, the settings check and the CSV, then the scoring. 0, or 1 (printed). */
static int score_all(const rank_study *st)
{
    const rank_args *a = st->a;
    char err[1024] = "";
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(a->o.dataset, a->data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    clnas_ctx *ctx = NULL;
    int rc = 1;
    FILE *csv = NULL;
    if (clnas_ctx_create(a->device, &ctx) != CLNAS_OK) fprintf(stderr, "clnas rank: %s\n", clnas_ctx_errmsg(ctx));
    else if (check_sidecar(a, clnas_dataset_source(data), clnas_ctx_device(ctx)->name, st->ndone > 0) == 0 &&
             (csv = open_csv(a->out, a->o.repeats)) != NULL)
        rc = score_loop(st, ctx, data, csv);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    return rc;
}

int clnas_cmd_rank(int argc, char **argv)
{
    if (clnas_proxies_wanted(argc, argv)) return clnas_cmd_rank_proxies(argc, argv); /* zero-cost proxies */
    rank_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char err[1024] = "";
    clnas_nb201_table *table = NULL;
    if (clnas_nb201_table_load(NULL, &table, err, sizeof err) != CLNAS_OK && !a.archs_file) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    rank_study st = {&a, table, NULL, NULL, 0, 0};
    int usage = 0, exists = 0;
    rc = 1;
    if (a.archs_file ? !archs_from_file(a.archs_file, &st.archs, &st.narch, &usage)
                     : !archs_from_table(&a, table, &st.archs, &st.narch)) {
        rc = usage ? 2 : 1;
        goto end;
    }
    /* resume */
    if (!load_done(a.out, a.o.repeats, &st.done, &st.ndone, &exists)) goto end;
    if (st.ndone > 1) qsort(st.done, (size_t)st.ndone, sizeof *st.done, cmpstr);
    if ((rc = score_all(&st)) == 0) {
        char *sargv[5] = {"stats", (char *)a.out, NULL, NULL, NULL};
        int sargc = 2;
        if (a.plot) { sargv[2] = "--plot"; sargv[3] = (char *)a.plot; sargc = 4; }
        rc = clnas_cmd_stats(sargc, sargv);
    }
end:
    for (int i = 0; i < st.ndone; i++) free(st.done[i]);
    free(st.done);
    for (int i = 0; i < st.narch; i++) free(st.archs[i]);
    free(st.archs);
    clnas_nb201_table_destroy(table);
    return rc;
}
