/* test_stats_proxies.c - `clnas stats` on zero-cost proxy studies: VKDNW's aggregate (vkdnw_agg,
 * px_vkdnw_aggregate) against ranks computed by hand on a small table with ties and undefined
 * cells, as an ensemble member, and several studies of one sample joined on their index column
 * (rows in only some files, --rows, --plot, --choose-ensemble, and every mismatch refused with
 * both file names). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "clnas/stats.h"
#include "metrics/proxy_vkdnw.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

/* The hand example: 6 architectures (index 0..5). Columns flops, az_expressivity, az_trainability,
 * vkdnw, jacov_kaiming (NAN = an empty cell) and the CIFAR-10 accuracy. */
enum { N = 6 };
static const double FLOPS[N] = {10, 20, 30, 40, 50, 60};
static const double EXPR[N] = {3, NAN, 3, 4, 5, 1};
static const double TRAIN[N] = {0.5, 0.7, NAN, 0.2, 0.9, 0.7};
static const double VK[N] = {50.25, 50.25, 60.5, NAN, 70.1, 40};
static const double JAC[N] = {-60, NAN, -64, -62, NAN, -61};
static const double ACC[N] = {90, 85, 91, 80, 93, 70};

/* The aggregate by hand. flops: ranks 1..6. expressivity (empty = -inf, lowest): -inf 1, 1 2,
 * 3 3 -> 3.5 each, 4 5, 5 6. trainability: -inf 1, 0.2 2, 0.5 3, 0.7 0.7 -> 4.5, 0.9 6. jacov
 * (empty = the minimum, -64): -64 x3 -> 2, -62 4, -61 5, -60 6. vkdnw dense: 40 1, 50.25 2,
 * 60.5 3, 70.1 4; row 3's is empty -> undefined. */
static void hand_aggregate(double *out)
{
    static const double rf[N] = {1, 2, 3, 4, 5, 6}, re[N] = {3.5, 1, 3.5, 5, 6, 2}, rt[N] = {3, 4.5, 1, 2, 6, 4.5},
                        rj[N] = {6, 2, 2, 4, 2, 5}, rv[N] = {2, 2, 3, NAN, 4, 1};
    for (int i = 0; i < N; i++) out[i] = log(rf[i]) + log(re[i]) + log(rt[i]) + log(rj[i]) + log(rv[i]);
}

Test(stats_proxies, vkdnw_aggregate_by_hand)
{
    const double *cols[5] = {FLOPS, EXPR, TRAIN, JAC, VK};
    double out[N], want[N];
    cr_assert_eq(px_vkdnw_aggregate(N, cols, out), CLNAS_OK);
    hand_aggregate(want);
    for (int i = 0; i < N; i++) {
        if (isnan(want[i])) cr_expect(isnan(out[i]), "row %d: %g, want undefined", i, out[i]);
        else cr_expect(fabs(out[i] - want[i]) < 1e-12, "row %d: %.15g, want %.15g", i, out[i], want[i]);
    }
    /* jacov undefined everywhere: no minimum to fill with, every row undefined */
    const double none[N] = {NAN, NAN, NAN, NAN, NAN, NAN};
    const double *cols2[5] = {FLOPS, EXPR, TRAIN, none, VK};
    cr_assert_eq(px_vkdnw_aggregate(N, cols2, out), CLNAS_OK);
    for (int i = 0; i < N; i++) cr_expect(isnan(out[i]), "row %d: %g", i, out[i]);
}

static char tmpdir[256];
static void make_tmpdir(void) { tu_mkdtemp(tmpdir, sizeof tmpdir, "clnas_test_stats_px"); }
static void remove_tmpdir(void) { tu_rmrf(tmpdir); }

/* Column ids of write_study. */
enum { C_FLOPS, C_EXPR, C_PROG, C_TRAIN, C_VK, C_JAC, NC };
static const char *const CNAME[NC] = {"flops", "az_expressivity", "az_progressivity", "az_trainability", "vkdnw",
                                      "jacov_kaiming"};

static double value(int c, int i)
{
    switch (c) {
    case C_FLOPS: return FLOPS[i];
    case C_EXPR: return EXPR[i];
    case C_PROG: return 1.0 + 0.1 * i;
    case C_TRAIN: return TRAIN[i];
    case C_VK: return VK[i];
    default: return JAC[i];
    }
}

/* A study with the columns in mask (bit c = CNAME[c], written in that order: clnas's) and the rows
 * idx[0..n) of the hand example (index 6 and up: made-up extra rows), in that order. */
static void write_study(const char *path, unsigned mask, const int *idx, int n)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "index,arch");
    for (int c = 0; c < NC; c++) if (mask & (1u << c)) fprintf(f, ",%s", CNAME[c]);
    fprintf(f, ",cifar10_test,cifar100_test,imagenet16_test,status");
    for (int c = 0; c < NC; c++) if (mask & (1u << c)) fprintf(f, ",t_%s", CNAME[c]);
    fprintf(f, "\n");
    for (int r = 0; r < n; r++) {
        int i = idx[r], j = i < N ? i : i % N;
        fprintf(f, "%d,\"|arch%d|\"", i, i);
        for (int c = 0; c < NC; c++)
            if (mask & (1u << c)) {
                double v = value(c, j) + (i < N ? 0 : 0.5);
                isnan(v) ? fprintf(f, ",") : fprintf(f, ",%.10g", v);
            }
        double a = ACC[j] + (i < N ? 0 : 1);
        fprintf(f, ",%.4f,%.4f,%.4f,ok", a, a - 20, a - 40);
        for (int c = 0; c < NC; c++) if (mask & (1u << c)) fprintf(f, ",%.4f", 0.5);
        fprintf(f, "\n");
    }
    fclose(f);
}

static int run(const char *args, char **out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", CLNAS_BIN, args);
    return tu_run(cmd, out);
}

static int run_json(const char *args, json_t **root, char **err)
{
    char cmd[8192], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", CLNAS_BIN, args);
    int rc = tu_run(cmd, &out);
    json_error_t je;
    *root = rc == 0 ? json_loads(out, 0, &je) : NULL;
    *err = out;
    return rc;
}

static json_t *column(json_t *root, const char *name)
{
    json_t *a = json_object_get(root, "columns");
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        if (!strcmp(json_string_value(json_object_get(o, "name")), name)) return o;
    }
    return NULL;
}

static double col_tau(json_t *root, const char *name, int *n)
{
    json_t *o = column(root, name);
    cr_assert_not_null(o, "no column %s", name);
    json_t *x = json_object_get(o, "cifar10");
    *n = (int)json_integer_value(json_object_get(x, "n"));
    return json_real_value(json_object_get(x, "tau"));
}

#define ALL_COLS ((1u << NC) - 1)

/* One study with the five columns: the vkdnw_agg row is the hand aggregate's tau-b (row 3 left out). */
Test(stats_proxies, vkdnw_agg_row_and_ensemble_member, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char csv[512], args[2048], *out = NULL;
    snprintf(csv, sizeof csv, "%s/px.csv", tmpdir);
    const int idx[N] = {0, 1, 2, 3, 4, 5};
    write_study(csv, ALL_COLS, idx, N);
    json_t *root;
    snprintf(args, sizeof args, "stats '%s' --json", csv);
    cr_assert_eq(run_json(args, &root, &out), 0, "%s", out);
    cr_assert_not_null(root, "%s", out);
    double agg[N], tau;
    int used, n;
    hand_aggregate(agg);
    cr_assert_eq(clnas_kendall_tau_b(agg, ACC, N, &tau, &used, NULL), CLNAS_OK);
    cr_expect_eq(used, 5);
    double got = col_tau(root, "vkdnw_agg", &n);
    cr_expect(fabs(got - tau) < 1e-12 && n == 5, "vkdnw_agg: tau %.15g n %d, by hand %.15g n 5", got, n, tau);
    json_decref(root);
    free(out);

    /* without one of its five columns there is no such row */
    snprintf(csv, sizeof csv, "%s/px4.csv", tmpdir);
    write_study(csv, ALL_COLS & ~(1u << C_JAC), idx, N);
    snprintf(args, sizeof args, "stats '%s'", csv);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_expect(strstr(out, "vkdnw_agg") == NULL && strstr(out, "az_nas") != NULL, "%s", out);
    free(out);

    /* an ensemble member like any other: jacov_kaiming and the aggregate */
    snprintf(csv, sizeof csv, "%s/px.csv", tmpdir);
    snprintf(args, sizeof args, "stats '%s' --ensemble jacov_kaiming,vkdnw_agg --json", csv);
    cr_assert_eq(run_json(args, &root, &out), 0, "%s", out);
    cr_assert_not_null(root, "%s", out);
    json_t *e = column(root, "ensemble");
    cr_assert_not_null(e, "%s", out);
    cr_expect(strstr(json_string_value(json_object_get(e, "note")), "jacov_kaiming, vkdnw_agg") != NULL, "%s", out);
    json_decref(root);
    free(out);
    snprintf(args, sizeof args, "stats '%s' --choose-ensemble", csv);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_expect(strstr(out, "candidates  flops,az_expressivity,az_progressivity,az_trainability,vkdnw,jacov_kaiming,"
                          "az_nas,vkdnw_agg") != NULL, "%s", out);
    free(out);
}

/* Two studies of one sample joined: A has the AZ-NAS columns and vkdnw, B (its rows in another
 * order) flops and jacov_kaiming; each has a row the other lacks. */
Test(stats_proxies, join_two_studies, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char a[512], b[512], one[512], png[600], args[4096], *out = NULL;
    snprintf(a, sizeof a, "%s/a.csv", tmpdir);
    snprintf(b, sizeof b, "%s/b.csv", tmpdir);
    snprintf(one, sizeof one, "%s/one.csv", tmpdir);
    const int ia[7] = {0, 1, 2, 3, 6, 4, 5}, ib[7] = {5, 4, 9, 3, 2, 1, 0}, all[N] = {0, 1, 2, 3, 4, 5};
    write_study(a, ALL_COLS & ~(1u << C_JAC), ia, 7);
    write_study(b, 1u << C_FLOPS | 1u << C_JAC, ib, 7);
    write_study(one, ALL_COLS, all, N);
    json_t *rj, *r1;
    snprintf(args, sizeof args, "stats '%s' '%s' --json", a, b);
    cr_assert_eq(run_json(args, &rj, &out), 0, "%s", out);
    cr_assert_not_null(rj, "%s", out);
    free(out);
    snprintf(args, sizeof args, "stats '%s' --json", one);
    cr_assert_eq(run_json(args, &r1, &out), 0, "%s", out);
    free(out);
    /* the join is the one study with all columns: same n, same tau of every column */
    cr_expect_eq(json_integer_value(json_object_get(rj, "n")), N);
    cr_expect_eq(json_array_size(json_object_get(rj, "files")), 2);
    static const char *const names[] = {"flops", "az_expressivity", "az_trainability", "vkdnw", "jacov_kaiming", "az_nas",
                                        "vkdnw_agg"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        int n1, n2;
        double t1 = col_tau(r1, names[k], &n1), t2 = col_tau(rj, names[k], &n2);
        cr_expect(t1 == t2 && n1 == n2, "%s: joined tau %.15g n %d, one study %.15g n %d", names[k], t2, n2, t1, n1);
    }
    json_decref(rj);
    json_decref(r1);

    /* what is left out goes to stderr */
    snprintf(args, sizeof args, "stats '%s' '%s'", a, b);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_expect(strstr(out, "6 rows in all of them") && strstr(out, "left out 1 of") && strstr(out, "has 1 rows that"),
              "%s", out);
    cr_expect(strstr(out, "6 architectures") && strstr(out, "vkdnw_agg"), "%s", out);
    free(out);

    /* --rows counts the first file's rows: 3-5 are indices 2, 3, 6 (6 is not in b) */
    snprintf(args, sizeof args, "stats '%s' '%s' --rows 3-5 --json", a, b);
    cr_assert_eq(run_json(args, &rj, &out), 0, "%s", out);
    cr_expect_eq(json_integer_value(json_object_get(rj, "n")), 2, "%s", out);
    json_decref(rj);
    free(out);
    snprintf(args, sizeof args, "stats '%s' '%s' --rows 1-7 --choose-ensemble", a, b);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    cr_expect(strstr(out, "rows 1..7 (6 architectures)") && strstr(out, "jacov_kaiming") && strstr(out, "chosen  --ensemble"),
              "%s", out);
    free(out);
    snprintf(png, sizeof png, "%s/join.png", tmpdir);
    snprintf(args, sizeof args, "stats '%s' '%s' --plot '%s'", a, b, png);
    cr_assert_eq(run(args, &out), 0, "%s", out);
    struct stat sb;
    cr_expect(stat(png, &sb) == 0 && sb.st_size > 1000, "%s", out);
    free(out);
}

/* Files that do not belong together are refused, naming both. */
Test(stats_proxies, join_mismatches_are_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char a[512], b[512], args[4096], *out = NULL;
    snprintf(a, sizeof a, "%s/a.csv", tmpdir);
    snprintf(b, sizeof b, "%s/b.csv", tmpdir);
    const int ia[N] = {0, 1, 2, 3, 4, 5};
    write_study(a, 1u << C_FLOPS | 1u << C_VK, ia, N);
    static const struct { const char *from, *to, *msg; int rc; } bad[] = {
        {"\"|arch2|\"", "\"|arch9|\"", "disagree on index 2", 1},  /* another architecture under an index */
        {"\n4,\"|arch4|\",50,", "\n4,\"|arch4|\",51,", "disagree on flops at index 4", 1},
        {",91.0000,", ",91.5000,", "disagree on cifar10_test at index 2", 1},
        {"\n3,", "\n1,", "index 1 is in data rows", 1},
        {"\n0,", "\n-1,", "has no NB201 index", 1},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_study(b, 1u << C_FLOPS | 1u << C_JAC, ia, N);
        FILE *f = fopen(b, "r");
        char buf[8192], fixed[8192];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        buf[len] = 0;
        fclose(f);
        char *at = strstr(buf, bad[k].from);
        cr_assert_not_null(at, "case %zu: '%s' not in %s", k, bad[k].from, buf);
        snprintf(fixed, sizeof fixed, "%.*s%s%s", (int)(at - buf), buf, bad[k].to, at + strlen(bad[k].from));
        tu_write_file(b, fixed);
        snprintf(args, sizeof args, "stats '%s' '%s'", a, b);
        int rc = run(args, &out);
        cr_expect_eq(rc, bad[k].rc, "case %zu: exit %d: %s", k, rc, out);
        cr_expect(strstr(out, bad[k].msg) != NULL && strstr(out, "b.csv") != NULL, "case %zu: expected '%s' in: %s", k,
                  bad[k].msg, out);
        if (k < 3) cr_expect(strstr(out, "a.csv") != NULL, "case %zu: both files named: %s", k, out);
        free(out);
    }
    /* no row in common; a file that is no proxy study */
    const int other[2] = {7, 8};
    write_study(b, 1u << C_JAC, other, 2);
    snprintf(args, sizeof args, "stats '%s' '%s'", a, b);
    cr_expect_eq(run(args, &out), 1, "%s", out);
    cr_expect(strstr(out, "is in every file") != NULL, "%s", out);
    free(out);
    tu_write_file(b, "arch,kappa,R\n\"|x|\",1,2\n");
    snprintf(args, sizeof args, "stats '%s' '%s'", a, b);
    cr_expect_eq(run(args, &out), 2, "%s", out);
    cr_expect(strstr(out, "b.csv is not") != NULL, "%s", out);
    free(out);
}
