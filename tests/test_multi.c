/* test_multi.c - several devices in one process (runtime/pool.h, --devices) and MPI ranks
 * (cli/mpi.c): the pool's ordering, retry and stop on PoCL's CPU device exposed twice
 * (POCL_DEVICES="pthread pthread"), and `clnas rank` giving the same bytes on one device, on two
 * devices, with a failing device, and over MPI ranks. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <math.h>
#include "runtime/pool.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

#define TWO "POCL_DEVICES='pthread pthread' CLNAS_TUNE=off"
/* a small study: 8 architectures, small batches, two repeats */
#define STUDY "rank --space nb201 --sample 8 --seed 3 --batch 8 --repeat 2 --lr-batch 16 --lr-batches 1"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc((size_t)n + 1, 1);
    cr_assert(fread(s, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    return s;
}

static int run(const char *env, const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s 2>&1", env, CLNAS_BIN, args);
    return tu_run(cmd, out);
}


#ifndef CLNAS_SANITIZED /* for the search tests, which the sanitizer tree skips */
/* What may differ between two runs that computed the same numbers: times ("wall_s" anywhere, a
 * candidate's cost in seconds) and the device names ("device" anywhere: a pool names all its
 * devices). Deletes them from j, recursively. */
static void drop_run_specific(json_t *j)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) drop_run_specific(v);
        return;
    }
    if (!json_is_object(j)) return;
    json_object_del(j, "wall_s");
    json_object_del(j, "device");
    json_t *cost = json_object_get(j, "cost");
    if (cost) json_object_del(cost, "s");
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) drop_run_specific(v);
}

/* A trace (JSON lines) with drop_run_specific applied to every line. */
static char *normal_trace(const char *t)
{
    size_t cap = strlen(t) + 1, n = 0;
    char *out = malloc(cap), *copy = strdup(t), *save = NULL;
    out[0] = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        cr_assert_not_null(j, "trace line not JSON: %s\n%s", e.text, line);
        drop_run_specific(j);
        char *d = json_dumps(j, JSON_SORT_KEYS);
        json_decref(j);
        size_t need = n + strlen(d) + 2;
        if (need > cap) out = realloc(out, cap = 2 * need);
        n += (size_t)sprintf(out + n, "%s\n", d);
        free(d);
    }
    free(copy);
    return out;
}
#endif

/* ---- the pool itself, with a work function that only waits ---- */

typedef struct rec {
    int order[64], dev[64], n, stop_after;
    volatile sig_atomic_t stop;
} rec;

static _Atomic int entered; /* workers that have started an item */
static int rendezvous;        /* items 0 and 1 wait (up to 10 s) until two workers are in an item */

static clnas_status wait_work(void *ud, clnas_ctx *ctx, int d, int item)
{
    (void)ud, (void)ctx, (void)d;
    entered++;
    for (int t = 0; rendezvous && item < 2 && entered < 2 && t < 10000; t++) {
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    struct timespec ts = {0, (1 + item % 3) * 2000000L};
    nanosleep(&ts, NULL);
    return CLNAS_OK;
}

static int record(void *ud, int item, int d)
{
    rec *r = ud;
    r->dev[r->n] = d;
    r->order[r->n++] = item;
    if (r->stop_after && r->n == r->stop_after) r->stop = 1;
    return 0;
}

static clnas_pool *two_devices(void)
{
    setenv("POCL_DEVICES", "pthread pthread", 1);
    setenv("CLNAS_TUNE", "off", 1);
    clnas_pool *p = NULL;
    char err[4096] = "";
    cr_assert_eq(clnas_pool_create("pthread", NULL, &p, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_pool_size(p), 2, "POCL_DEVICES='pthread pthread' should give two devices");
    return p;
}

Test(pool, commits_in_item_order_and_uses_every_device)
{
    clnas_pool *p = two_devices();
    rec r = {0};
    rendezvous = 1; /* item 0 waits for a second worker: both devices surely get items */
    clnas_pool_job job = {40, wait_work, record, NULL, NULL, &r, 1, NULL};
    char err[512] = "";
    int stopped = 1;
    cr_assert_eq(clnas_pool_run(p, &job, &stopped, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(stopped, 0);
    cr_assert_eq(r.n, 40);
    for (int i = 0; i < 40; i++) cr_assert_eq(r.order[i], i, "commit %d was item %d", i, r.order[i]);
    cr_assert_eq(clnas_pool_done(p, 0) + clnas_pool_done(p, 1), 40);
    cr_assert(clnas_pool_done(p, 0) > 0 && clnas_pool_done(p, 1) > 0, "one device got no item: %d / %d",
              clnas_pool_done(p, 0), clnas_pool_done(p, 1));
    clnas_pool_destroy(p);
}

static void count_note(void *ud, const char *msg)
{
    (void)msg;
    ((rec *)ud)->stop_after--; /* counts the notes (stop_after starts at 0 here) */
}

Test(pool, failing_device_is_dropped_and_its_items_retried)
{
    clnas_pool *p = two_devices();
    setenv("CLNAS_TEST_FAIL_DEVICES", "1", 1);
    rec r = {0};
    clnas_pool_job job = {12, wait_work, record, NULL, count_note, &r, 1, NULL};
    char err[512] = "";
    cr_assert_eq(clnas_pool_run(p, &job, NULL, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(r.n, 12);
    cr_assert_eq(r.stop_after, -1, "one note about the dropped device");
    for (int i = 0; i < 12; i++) cr_assert(r.order[i] == i && r.dev[i] == 0);
    cr_assert_eq(clnas_pool_alive(p), 1);
    clnas_pool_destroy(p);
}

Test(pool, no_device_left_is_an_error)
{
    clnas_pool *p = two_devices();
    setenv("CLNAS_TEST_FAIL_DEVICES", "0,1", 1);
    rec r = {0};
    clnas_pool_job job = {5, wait_work, record, NULL, NULL, &r, 1, NULL};
    char err[512] = "";
    cr_assert_eq(clnas_pool_run(p, &job, NULL, err, sizeof err), CLNAS_E_NO_DEVICE);
    cr_assert(strstr(err, "every device failed"), "%s", err);
    cr_assert_eq(r.n, 0);
    cr_assert_eq(clnas_pool_failed_item(p) >= 0, 1);
    clnas_pool_destroy(p);
}

Test(pool, stop_flag_commits_a_prefix)
{
    clnas_pool *p = two_devices();
    rec r = {0};
    r.stop_after = 5;
    clnas_pool_job job = {40, wait_work, record, NULL, NULL, &r, 1, &r.stop};
    char err[512] = "";
    int stopped = 0;
    cr_assert_eq(clnas_pool_run(p, &job, &stopped, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(stopped, 1);
    cr_assert(r.n >= 5 && r.n <= 7, "%d items after the stop at 5 with two devices", r.n);
    for (int i = 0; i < r.n; i++) cr_assert_eq(r.order[i], i);
    clnas_pool_destroy(p);
}

Test(pool, device_specs)
{
    setenv("POCL_DEVICES", "pthread pthread", 1);
    setenv("CLNAS_TUNE", "off", 1);
    clnas_pool *p = NULL;
    char err[4096] = "";
    cr_assert_eq(clnas_pool_create("nosuchdevice", NULL, &p, err, sizeof err), CLNAS_E_NO_DEVICE);
    cr_assert(strstr(err, "\"nosuchdevice\" names no device"), "%s", err);
    cr_assert_null(p);
    /* a device given twice is opened once */
    cr_assert_eq(clnas_pool_create("0,0", NULL, &p, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_pool_size(p), 1);
    clnas_pool_destroy(p);
    /* local-rank: the second rank of the node gets the second device (no GPU here) */
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    cr_assert_eq(clnas_pool_create("local-rank", NULL, &p, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_pool_size(p), 1);
    cr_assert_eq(clnas_ctx_device(clnas_pool_ctx(p, 0))->index, 1);
    clnas_pool_destroy(p);
    cr_assert_eq(clnas_local_rank(), 1);
}

/* ---- clnas rank over several devices ---- */

Test(rank_devices, two_devices_write_the_bytes_of_one, .timeout = 300)
{
    char dir[256], args[1024], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_multi");
    snprintf(args, sizeof args, STUDY " --device 0 --out %s/one.csv", dir);
    cr_assert_eq(run(TWO, args, &out), 0, "%s", out);
    free(out);
    snprintf(args, sizeof args, STUDY " --devices all --out %s/two.csv", dir);
    cr_assert_eq(run(TWO, args, &out), 0, "%s", out);
    cr_assert(strstr(out, "on 0 (") && strstr(out, "on 1 ("), "each device's share is reported:\n%s", out);
    free(out);
    /* device 1 fails on every item: dropped, its items done on device 0, the same rows */
    snprintf(args, sizeof args, STUDY " --devices 0,1 --out %s/drop.csv", dir);
    cr_assert_eq(run(TWO " CLNAS_TEST_FAIL_DEVICES=1", args, &out), 0, "%s", out);
    cr_assert(strstr(out, "is dropped from the pool"), "%s", out);
    free(out);
    char p1[300], p2[300], p3[300];
    snprintf(p1, sizeof p1, "%s/one.csv", dir);
    snprintf(p2, sizeof p2, "%s/two.csv", dir);
    snprintf(p3, sizeof p3, "%s/drop.csv", dir);
    char *a = slurp(p1), *b = slurp(p2), *c = slurp(p3);
    int lines = 0;
    for (char *q = a; *q; q++) lines += *q == '\n';
    cr_assert_eq(lines, 9, "a header and 8 rows:\n%s", a);
    cr_assert_str_eq(b, a, "two devices:\n%s\none device:\n%s", b, a);
    cr_assert_str_eq(c, a, "with a dropped device:\n%s\none device:\n%s", c, a);
    free(a), free(b), free(c);
    /* both fail: an error naming the architecture, exit 1 */
    snprintf(args, sizeof args, STUDY " --devices all --out %s/none.csv", dir);
    cr_assert_eq(run(TWO " CLNAS_TEST_FAIL_DEVICES=0,1", args, &out), 1, "%s", out);
    cr_assert(strstr(out, "every device failed"), "%s", out);
    free(out);
    tu_rmrf(dir);
}

/* Ctrl-C (SIGINT) once two rows are written: the rows in flight are finished and written, the exit
 * status is 130, and the rerun completes the file to the bytes of an uninterrupted run. */
/* Reliability with a pool of two devices: a failing checked write (CLNAS_FAIL_WRITE: sidecar print
 * and close 1-2, header 3, rows 4-11, close 12) cuts the row back and fails; CLNAS_STOP_AFTER ends
 * the process after a row; each time the rerun completes the file to the bytes of one device. */
Test(rank_devices, write_errors_and_stops_keep_whole_rows, .timeout = 300)
{
    char dir[256], args[1024], path[300], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_multirel");
    snprintf(args, sizeof args, STUDY " --device 0 --out %s/one.csv", dir);
    cr_assert_eq(run(TWO, args, &out), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/one.csv", dir);
    char *one = slurp(path);
    static const char *const env[] = {TWO " CLNAS_FAIL_WRITE=5", TWO " CLNAS_FAIL_WRITE=12", TWO " CLNAS_STOP_AFTER=3"};
    static const int want[] = {1, 1, 75};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, STUDY " --devices all --out %s/f%d.csv", dir, i);
        cr_assert_eq(run(env[i], args, &out), want[i], "%s: %s", env[i], out);
        if (want[i] == 1) cr_expect(strstr(out, "cannot write") && strstr(out, "No space left on device"), "%s", out);
        free(out);
        snprintf(path, sizeof path, "%s/f%d.csv", dir, i);
        char *part = slurp(path);
        int lines = 0;
        for (char *q = part; *q; q++) lines += *q == '\n';
        cr_expect(!*part || part[strlen(part) - 1] == '\n', "%s: a partial row:\n%s", env[i], part);
        cr_expect_eq(lines, i == 0 ? 2 : i == 1 ? 9 : 4, "%s:\n%s", env[i], part);
        free(part);
        cr_assert_eq(run(TWO, args, &out), 0, "%s", out);
        free(out);
        char *full = slurp(path);
        cr_expect_str_eq(full, one, "%s, then a rerun:\n%s\none device:\n%s", env[i], full, one);
        free(full);
    }
    free(one);
    tu_rmrf(dir);
}

Test(rank_devices, ctrl_c_writes_what_is_done_and_a_rerun_resumes, .timeout = 300)
{
#define SLOW "rank --space nb201 --sample 7 --seed 5 --batch 24 --repeat 2 --lr-batch 200 --lr-batches 1 --devices all"
    char dir[256], cmd[4096], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_int");
    snprintf(cmd, sizeof cmd, "%s '%s' " SLOW " --out %s/full.csv >/dev/null 2>&1", TWO, CLNAS_BIN, dir);
    cr_assert_eq(tu_run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd,
             "f=%s/int.csv; %s '%s' " SLOW " --out $f >/dev/null 2>&1 & pid=$!; "
             "while [ $(grep -c '' $f 2>/dev/null || echo 0) -lt 3 ]; do sleep 0.02; done; kill -INT $pid; wait $pid; "
             "echo rc=$?; grep -c '' $f",
             dir, TWO, CLNAS_BIN);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s", out);
    int rc = -1, lines = -1;
    cr_assert_eq(sscanf(out, "rc=%d %d", &rc, &lines), 2, "%s", out);
    cr_assert_eq(rc, 130, "stopped by Ctrl-C: %s", out);
    cr_assert(lines >= 3 && lines < 8, "some rows, not all: %d lines", lines);
    free(out);
    snprintf(cmd, sizeof cmd, "%s '%s' " SLOW " --out %s/int.csv >/dev/null 2>&1", TWO, CLNAS_BIN, dir);
    cr_assert_eq(tu_run(cmd, &out), 0);
    free(out);
    char p1[300], p2[300];
    snprintf(p1, sizeof p1, "%s/full.csv", dir);
    snprintf(p2, sizeof p2, "%s/int.csv", dir);
    char *a = slurp(p1), *b = slurp(p2);
    cr_assert_str_eq(b, a, "interrupted and resumed:\n%s\nin one go:\n%s", b, a);
    free(a), free(b);
    tu_rmrf(dir);
}

/* Two different implementations (PoCL and Mesa's rusticl on llvmpipe) in one pool: every row says
 * which device computed it, and the numbers agree with PoCL's within float tolerance. */
Test(rank_devices, a_mixed_pool_records_the_device_of_every_row, .timeout = 300)
{
    char *out = NULL;
    int rc = tu_run("RUSTICL_ENABLE=llvmpipe clinfo -l 2>/dev/null", &out);
    int have = rc == 0 && out && strstr(out, "llvmpipe");
    free(out);
    if (!have) cr_assert_fail("no rusticl/llvmpipe device (RUSTICL_ENABLE=llvmpipe clinfo -l lists none): install mesa-opencl-icd (tools/deps.sh does)");
    char dir[256], args[1024];
    tu_mkdtemp(dir, sizeof dir, "clnas_mixed");
    snprintf(args, sizeof args, STUDY " --device pthread --out %s/pocl.csv", dir);
    cr_assert_eq(run("CLNAS_TUNE=off", args, &out), 0, "%s", out);
    free(out);
    snprintf(args, sizeof args, STUDY " --devices pthread,llvmpipe --out %s/mixed.csv", dir);
    cr_assert_eq(run("CLNAS_TUNE=off RUSTICL_ENABLE=llvmpipe", args, &out), 0, "%s", out);
    free(out);
    char p1[300], p2[300];
    snprintf(p1, sizeof p1, "%s/pocl.csv", dir);
    snprintf(p2, sizeof p2, "%s/mixed.csv", dir);
    char *a = slurp(p1), *b = slurp(p2);
    char *sa = NULL, *sb = NULL, *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb);
    cr_assert(strstr(lb, ",kappa_status,device"), "the header names the device column: %s", lb);
    int rows = 0;
    while ((la = strtok_r(NULL, "\n", &sa)) && (lb = strtok_r(NULL, "\n", &sb))) {
        rows++;
        cr_assert(strstr(lb, "\"pthread") || strstr(lb, "\"llvmpipe"), "row without its device: %s", lb);
        /* kappa (field 3) within 1e-4 relative; R (field 5) within 2% */
        char *fa[16], *fb[16], *qa = NULL, *qb = NULL;
        char ca[4096], cb[4096];
        snprintf(ca, sizeof ca, "%s", la);
        snprintf(cb, sizeof cb, "%s", lb);
        int na = 0, nb = 0;
        for (char *t = strtok_r(ca, ",", &qa); t && na < 16; t = strtok_r(NULL, ",", &qa)) fa[na++] = t;
        for (char *t = strtok_r(cb, ",", &qb); t && nb < 16; t = strtok_r(NULL, ",", &qb)) fb[nb++] = t;
        cr_assert_eq(nb, na + 1, "%s\n%s", la, lb);
        cr_assert_str_eq(fa[1], fb[1], "the rows are in the same order");
        double ka = atof(fa[2]), kb = atof(fb[2]), ra = atof(fa[4]), rb = atof(fb[4]);
        cr_assert(fabs(ka - kb) <= 1e-4 * fabs(ka), "kappa %s: %.10g (PoCL) vs %.10g", fa[1], ka, kb);
        cr_assert(fabs(ra - rb) <= 0.02 * ra, "R %s: %g (PoCL) vs %g", fa[1], ra, rb);
    }
    cr_assert_eq(rows, 8);
    free(a), free(b);
    tu_rmrf(dir);
}

/* ---- clnas score --devices: the repeats over two devices ---- */

static json_t *score_json(const char *extra)
{
    char args[1024], *out = NULL;
    snprintf(args, sizeof args, "score --space nb201 --arch '|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|"
                                "nor_conv_1x1~1|nor_conv_1x1~2|' --batch 12 --repeat 5 --lr-batch 64 --json %s 2>/dev/null", extra);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s", TWO, CLNAS_BIN, args);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s", out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    cr_assert_not_null(j, "not JSON: %s\n%s", e.text, out);
    free(out);
    json_object_del(j, "time_s"); /* the only thing that may differ */
    return j;
}

Test(score_devices, repeats_over_two_devices_give_the_numbers_of_one, .timeout = 120)
{
    json_t *one = score_json("--device 0"), *two = score_json("--devices all");
    char *a = json_dumps(one, JSON_SORT_KEYS), *b = json_dumps(two, JSON_SORT_KEYS);
    cr_assert(json_object_get(one, "ntk") && json_object_get(one, "lr"), "%s", a);
    cr_assert_str_eq(b, a);
    free(a), free(b);
    json_decref(one), json_decref(two);
}

/* ---- clnas search --devices: each round's candidates over two devices ---- */
#ifndef CLNAS_SANITIZED
#define SEARCH "search --space nb201 --batch 4 --repeat 1 --lr-batch 8 --lr-batches 1 --seed 1 --quiet"

/* The trace and result of a search into dir/name; the result's wall time is left out. */
static char *search_trace(const char *env, const char *extra, const char *dir, const char *name)
{
    char args[1024], path[400], *out = NULL;
    snprintf(args, sizeof args, SEARCH " %s --out %s/%s", extra, dir, name);
    cr_assert_eq(run(env, args, &out), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/%s/trace_seed1.jsonl", dir, name);
    char *raw = slurp(path), *t = normal_trace(raw);
    free(raw);
    snprintf(path, sizeof path, "%s/%s/search_seed1.json", dir, name);
    json_error_t e;
    json_t *r = json_load_file(path, 0, &e);
    cr_assert_not_null(r, "%s: %s", path, e.text);
    drop_run_specific(r);
    char *rs = json_dumps(r, JSON_SORT_KEYS);
    json_decref(r);
    size_t n = strlen(t) + strlen(rs) + 2;
    char *both = malloc(n);
    snprintf(both, n, "%s\n%s", t, rs);
    free(t), free(rs);
    return both;
}

Test(search_devices, two_devices_find_the_same_cell_with_the_same_trace, .timeout = 300)
{
    char dir[256];
    tu_mkdtemp(dir, sizeof dir, "clnas_msearch");
    char *one = search_trace(TWO, "--device 0", dir, "one");
    cr_assert(strstr(one, "\"round\": 3"), "a search of three rounds:\n%s", one);
    char *two = search_trace(TWO, "--devices all", dir, "two");
    cr_assert_str_eq(two, one, "two devices:\n%s\none device:\n%s", two, one);
    char *drop = search_trace(TWO " CLNAS_TEST_FAIL_DEVICES=0", "--devices all", dir, "drop");
    cr_assert_str_eq(drop, one, "device 0 dropped:\n%s\none device:\n%s", drop, one);
    char *sh1 = search_trace(TWO, "--shared-batches --device 0", dir, "sh1");
    char *sh2 = search_trace(TWO, "--shared-batches --devices all", dir, "sh2");
    cr_assert_str_eq(sh2, sh1, "shared batches, two devices:\n%s\none device:\n%s", sh2, sh1);
    free(one), free(two), free(drop), free(sh1), free(sh2);
    tu_rmrf(dir);
}
#endif

/* ---- clnas bench --throughput ---- */

Test(bench_throughput, reports_each_device_alone_and_together, .timeout = 120)
{
    char *out = NULL;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s '%s' bench --throughput --devices all --sample 3 --repeat 1 --batch 4 --json 2>/dev/null", TWO,
             CLNAS_BIN);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s", out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    cr_assert_not_null(j, "not JSON: %s\n%s", e.text, out);
    json_t *alone = json_object_get(j, "alone"), *tog = json_object_get(j, "together");
    cr_assert_eq(json_array_size(alone), 2, "%s", out);
    for (size_t i = 0; i < 2; i++) cr_assert(json_real_value(json_object_get(json_array_get(alone, i), "arch_per_s")) > 0, "%s", out);
    cr_assert(json_real_value(json_object_get(tog, "arch_per_s")) > 0, "%s", out);
    json_t *items = json_object_get(tog, "items_per_device");
    cr_assert_eq(json_integer_value(json_array_get(items, 0)) + json_integer_value(json_array_get(items, 1)), 3, "%s", out);
    json_decref(j);
    free(out);
}

/* ---- clnas rank over MPI ranks (only in a build with MPI, and once: not in the sanitizer tree,
 * where Open MPI's own allocations would need suppressing) ---- */
#if defined(CLNAS_MPI) && !defined(CLNAS_SANITIZED)
#define MPIRUN "'" CLNAS_MPIEXEC "' --allow-run-as-root --oversubscribe"
/* OpenBLAS's eigensolver rounds the last bits of kappa differently with another number of threads,
 * and Open MPI binds each rank to a core (one thread): one thread on both sides, so the full
 * precision of the search trace can be compared */
#define MENV TWO " OPENBLAS_NUM_THREADS=1"

/* The single-process CSV of the study, into dir/one.csv; returns its text. */
static char *one_process(const char *dir)
{
    char args[1024], path[300], *out = NULL;
    snprintf(args, sizeof args, STUDY " --device 0 --out %s/one.csv", dir);
    cr_assert_eq(run(TWO, args, &out), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/one.csv", dir);
    return slurp(path);
}

static char *under_mpi(const char *env, int ranks, const char *extra, const char *dir, const char *name, int want_rc)
{
    char cmd[4096], path[300], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s %s -n %d '%s' " STUDY " %s --out %s/%s 2>&1", env, MPIRUN, ranks, CLNAS_BIN, extra, dir,
             name);
    int rc = tu_run(cmd, &out);
    if (want_rc >= 0) cr_assert_eq(rc, want_rc, "%s\n%s", cmd, out);
    else cr_assert_neq(rc, 0, "the job should have died:\n%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return want_rc == 0 ? slurp(path) : NULL;
}

Test(rank_mpi, ranks_write_the_bytes_of_one_process, .timeout = 300)
{
    char dir[256];
    tu_mkdtemp(dir, sizeof dir, "clnas_mpi");
    char *one = one_process(dir);
    char *two = under_mpi(TWO, 2, "", dir, "two.csv", 0);
    cr_assert_str_eq(two, one, "2 ranks:\n%s\none process:\n%s", two, one);
    /* 3 ranks, each on the device of its node-local rank (0, 1, 0) */
    char *three = under_mpi(TWO, 3, "--devices local-rank", dir, "three.csv", 0);
    cr_assert_str_eq(three, one, "3 ranks:\n%s\none process:\n%s", three, one);
    char part[300];
    snprintf(part, sizeof part, "%s/three.csv.part0", dir);
    cr_assert_null(fopen(part, "r"), "the part files are merged and removed");
    free(one), free(two), free(three);
    tu_rmrf(dir);
}

/* The whole text of `mpirun -n ranks clnas ARGS` (its output in *out); the exit status. */
static int mpi_cmd(const char *env, int ranks, const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s -n %d '%s' %s 2>&1", env, MPIRUN, ranks, CLNAS_BIN, args);
    return tu_run(cmd, out);
}

/* Whether a file is missing, or ends with a newline (no partial row). */
static int ends_whole(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    int last = '\n';
    for (int c; (c = fgetc(f)) != EOF;) last = c;
    fclose(f);
    return last == '\n';
}

/* Reliability under MPI: rows to the part files are checked writes (a failing one is cut back and
 * ends the job), the study's one sidecar OUT.json is written by rank 0 before any row and checked
 * by it on a resume (a refusal ends every rank, nothing written). */
Test(rank_mpi, write_errors_and_the_sidecar_under_mpi, .timeout = 300)
{
    char dir[256], args[1024], path[300], *out = NULL;
    tu_mkdtemp(dir, sizeof dir, "clnas_mpirel");
    char *one = one_process(dir);
    /* each rank's 4th checked write fails (rank 0: sidecar print and close, part header, row 1;
       rank 1: header, rows 1-3) */
    snprintf(args, sizeof args, STUDY " --out %s/w.csv", dir);
    cr_assert_neq(mpi_cmd(TWO " CLNAS_FAIL_WRITE=4", 2, args, &out), 0, "%s", out);
    cr_expect(strstr(out, "cannot write") && strstr(out, "No space left on device"), "%s", out);
    free(out);
    for (int r = 0; r < 2; r++) {
        snprintf(path, sizeof path, "%s/w.csv.part%d", dir, r);
        cr_expect(ends_whole(path), "%s keeps whole rows only", path);
    }
    snprintf(path, sizeof path, "%s/w.csv.json", dir);
    json_error_t e;
    json_t *side = json_load_file(path, 0, &e);
    cr_assert_not_null(side, "the sidecar, written before any row: %s", e.text);
    cr_expect_eq(json_integer_value(json_object_get(side, "batch")), 8);
    json_decref(side);
    /* the rerun completes the study to the bytes of one process */
    char *again = under_mpi(TWO, 2, "", dir, "w.csv", 0);
    cr_assert_str_eq(again, one, "after the write error:\n%s\none process:\n%s", again, one);
    /* other settings: refused by rank 0 for every rank; the file stays as it was, no part appears */
    snprintf(args, sizeof args, "rank --space nb201 --sample 8 --seed 3 --batch 8 --repeat 2 --lr-batch 16 --lr-batches 2 "
                                "--out %s/w.csv", dir);
    cr_assert_neq(mpi_cmd(TWO, 2, args, &out), 0, "%s", out);
    cr_expect(strstr(out, "lr_batches 1 (this run: 2)"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/w.csv", dir);
    char *after = slurp(path);
    cr_expect_str_eq(after, one, "a refused resume leaves the CSV alone");
    snprintf(path, sizeof path, "%s/w.csv.part0", dir);
    cr_expect_null(fopen(path, "r"), "no part file after a refused resume");
    free(after), free(again), free(one);
    tu_rmrf(dir);
}

Test(rank_mpi, killed_job_resumes_without_loss_or_duplicates, .timeout = 300)
{
    char dir[256];
    tu_mkdtemp(dir, sizeof dir, "clnas_mpi");
    char *one = one_process(dir);
    /* rank 1 dies (SIGKILL) in the middle of writing its second row: the job ends */
    under_mpi(TWO " CLNAS_TEST_DIE_AT=1:1", 2, "", dir, "k.csv", -1);
    char part[300];
    snprintf(part, sizeof part, "%s/k.csv.part1", dir);
    char *p1 = slurp(part);
    cr_assert(strstr(p1, "99999,\"|nor_conv") && p1[strlen(p1) - 1] != '\n', "a partial row is left:\n%s", p1);
    free(p1);
    /* rerun with another number of ranks: the partial row is cut, nothing is scored twice */
    char *again = under_mpi(TWO, 3, "", dir, "k.csv", 0);
    cr_assert_str_eq(again, one, "resumed:\n%s\none process:\n%s", again, one);
    free(again);
    /* the same with a plain rerun after the crash (whichever rank writes a second row dies: rank 0 hands
     * out the work on request, so under load one rank may score nearly all of the 8) */
    under_mpi(TWO " CLNAS_TEST_DIE_AT=*:2", 2, "", dir, "p.csv", -1);
    char args[1024], path[300], *out = NULL;
    snprintf(args, sizeof args, STUDY " --device 0 --out %s/p.csv", dir);
    cr_assert_eq(run(TWO, args, &out), 0, "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/p.csv", dir);
    char *plain = slurp(path);
    cr_assert_str_eq(plain, one, "resumed by one process:\n%s\none process:\n%s", plain, one);
    free(plain), free(one);
    tu_rmrf(dir);
}
#endif

#if defined(CLNAS_MPI) && !defined(CLNAS_SANITIZED)
/* The search's files under mpirun, with the results' wall times left out. */
static char *mpi_search(int ranks, const char *extra, const char *dir, const char *name, int seed)
{
    char cmd[4096], path[400], *out = NULL;
    snprintf(cmd, sizeof cmd, MENV " %s -n %d '%s' " SEARCH " %s --out %s/%s 2>&1", MPIRUN, ranks, CLNAS_BIN, extra, dir, name);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s\n%s", cmd, out);
    free(out);
    snprintf(path, sizeof path, "%s/%s/trace_seed%d.jsonl", dir, name, seed);
    char *raw = slurp(path), *t = normal_trace(raw);
    free(raw);
    snprintf(path, sizeof path, "%s/%s/search_seed%d.json", dir, name, seed);
    json_error_t e;
    json_t *r = json_load_file(path, 0, &e);
    cr_assert_not_null(r, "%s: %s", path, e.text);
    drop_run_specific(r);
    char *rs = json_dumps(r, JSON_SORT_KEYS);
    json_decref(r);
    size_t n = strlen(t) + strlen(rs) + 2;
    char *both = malloc(n);
    snprintf(both, n, "%s\n%s", t, rs);
    free(t), free(rs);
    return both;
}

Test(search_mpi, candidates_and_seeds_over_ranks_give_the_one_process_search, .timeout = 300)
{
    char dir[256];
    tu_mkdtemp(dir, sizeof dir, "clnas_msearch");
    char *one = search_trace(MENV, "--device 0", dir, "one");
    /* one seed: each round's candidates over 3 ranks, gathered back in candidate order */
    char *spread = mpi_search(3, "--device 0", dir, "spread", 1);
    cr_assert_str_eq(spread, one, "3 ranks:\n%s\none process:\n%s", spread, one);
    /* seeds 0-2 over 2 ranks: seed 1's files are those of the one-process search */
    char *seeds = mpi_search(2, "--seeds 0-2", dir, "seeds", 1);
    cr_assert_str_eq(seeds, one, "seed 1 of 0-2 over 2 ranks:\n%s\none process:\n%s", seeds, one);
    char path[400];
    snprintf(path, sizeof path, "%s/seeds/search.json", dir);
    json_error_t e;
    json_t *sum = json_load_file(path, 0, &e);
    cr_assert_not_null(sum, "the summary: %s", e.text);
    cr_assert_eq(json_integer_value(json_object_get(sum, "n")), 3);
    json_decref(sum);
    free(one), free(spread), free(seeds);
    tu_rmrf(dir);
}
#endif
