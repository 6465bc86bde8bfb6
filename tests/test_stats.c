/* test_stats.c - rank statistics (Kendall tau-b, Spearman rho, average ranks, TE-NAS combined
 * score), the NAS-Bench-201 accuracy table, and the `clnas stats` command. No OpenCL needed. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clnas/bench201.h"
#include "clnas/stats.h"
#include "core/rng.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

/* ---- rank statistics, by hand ---- */

Test(stats, tau_rho_hand_example_with_ties)
{
    /* x = [1,2,2,3], y = [1,3,2,2]; the 6 pairs (i<j):
     *   (0,1) x 1<2, y 1<3: concordant      (0,2) 1<2, 1<2: concordant   (0,3) 1<3, 1<2: concordant
     *   (1,2) x 2=2: tied in x              (1,3) 2<3, 3>2: discordant   (2,3) 2<3, y 2=2: tied in y
     * n0 = 6, n1 (x ties) = 1, n2 (y ties) = 1, C = 3, D = 1:
     *   tau_b = (3 - 1) / sqrt((6-1)(6-1)) = 2/5 = 0.4
     * Average ranks: x -> [1, 2.5, 2.5, 4], y -> [1, 4, 2.5, 2.5], both with mean 2.5;
     *   centred: dx = [-1.5, 0, 0, 1.5], dy = [-1.5, 1.5, 0, 0];
     *   sum dx*dy = 2.25, sum dx^2 = sum dy^2 = 4.5  ->  rho = 2.25 / 4.5 = 0.5 */
    const double x[] = {1, 2, 2, 3}, y[] = {1, 3, 2, 2};
    clnas_corr c;
    cr_assert_eq(clnas_correlate(x, y, 4, &c), CLNAS_OK);
    cr_assert_float_eq(c.tau, 0.4, 1e-15);
    cr_assert_float_eq(c.rho, 0.5, 1e-15);
    cr_assert_eq(c.n_used, 4);
    cr_assert_eq(c.n_excluded, 0);
}

Test(stats, tau_rho_hand_example_with_joint_ties)
{
    /* x = [1,1,2,2,3], y = [1,1,1,2,2]; 10 pairs:
     *   (0,1) tied in x and y   (0,2) y tie   (0,3) C   (0,4) C   (1,2) y tie
     *   (1,3) C   (1,4) C   (2,3) x tie   (2,4) C   (3,4) y tie
     * C = 5, D = 0, n0 = 10, n1 = 2 [(0,1),(2,3)], n2 = 4 [(0,1),(0,2),(1,2),(3,4)]:
     *   tau_b = 5 / sqrt(8 * 6) = 5 / sqrt(48) = 0.72168783648703...
     * Ranks: x -> [1.5,1.5,3.5,3.5,5], y -> [2,2,2,4.5,4.5], mean 3;
     *   dx = [-1.5,-1.5,.5,.5,2], dy = [-1,-1,-1,1.5,1.5]
     *   sum dxdy = 1.5+1.5-.5+.75+3 = 6.25, sum dx^2 = 9, sum dy^2 = 7.5
     *   rho = 6.25 / sqrt(67.5) = 0.76072577431273... */
    const double x[] = {1, 1, 2, 2, 3}, y[] = {1, 1, 1, 2, 2};
    clnas_corr c;
    cr_assert_eq(clnas_correlate(x, y, 5, &c), CLNAS_OK);
    cr_assert_float_eq(c.tau, 5 / sqrt(48.0), 1e-14);
    cr_assert_float_eq(c.rho, 6.25 / sqrt(67.5), 1e-14);
    /* symmetric in its arguments */
    clnas_corr d;
    cr_assert_eq(clnas_correlate(y, x, 5, &d), CLNAS_OK);
    cr_assert_float_eq(d.tau, c.tau, 1e-15);
    cr_assert_float_eq(d.rho, c.rho, 1e-15);
}

Test(stats, average_ranks)
{
    const double x[] = {3, 1, 4, 1, 5, NAN, 4};
    double r[7];
    cr_assert_eq(clnas_rank_average(x, 7, r), CLNAS_OK);
    /* sorted: 1,1 -> 1.5; 3 -> 3; 4,4 -> 4.5; 5 -> 6; NaN not ranked */
    const double want[] = {3, 1.5, 4.5, 1.5, 6, NAN, 4.5};
    for (int i = 0; i < 7; i++) {
        if (isnan(want[i])) cr_assert(isnan(r[i]));
        else cr_assert_float_eq(r[i], want[i], 0, "rank %d: %g", i, r[i]);
    }
}

Test(stats, perfect_and_inverse_orderings)
{
    double x[100], y[100], z[100];
    for (int i = 0; i < 100; i++) {
        x[i] = i * 0.5 - 7;
        y[i] = exp(i * 0.05);  /* monotone transform: same ranks */
        z[i] = -x[i] * x[i] * x[i];
    }
    clnas_corr c;
    cr_assert_eq(clnas_correlate(x, y, 100, &c), CLNAS_OK);
    cr_assert_eq(c.tau, 1.0);
    cr_assert_float_eq(c.rho, 1.0, 1e-14);
    cr_assert_eq(clnas_correlate(x, z, 100, &c), CLNAS_OK);
    cr_assert_eq(c.tau, -1.0);
    cr_assert_float_eq(c.rho, -1.0, 1e-14);
}

Test(stats, undefined_cases)
{
    const double x[] = {1, 2, 3, 4}, k[] = {5, 5, 5, 5};
    clnas_corr c;
    cr_assert_eq(clnas_correlate(x, k, 4, &c), CLNAS_OK); /* a constant side */
    cr_assert(isnan(c.tau) && isnan(c.rho));
    cr_assert_eq(clnas_correlate(x, x, 1, &c), CLNAS_OK); /* one pair */
    cr_assert(isnan(c.tau) && isnan(c.rho));
    cr_assert_eq(c.n_used, 1);
    cr_assert_eq(clnas_correlate(x, x, 0, &c), CLNAS_OK);
    cr_assert(isnan(c.tau));
    cr_assert_eq(clnas_correlate(x, x, -1, &c), CLNAS_E_INVALID_ARG);
}

Test(stats, nan_pairs_are_excluded_and_counted)
{
    double x[12], y[12], xs[12], ys[12];
    int m = 0;
    for (int i = 0; i < 12; i++) {
        x[i] = (i * 7) % 5;
        y[i] = (i * 3) % 7 + 0.5 * (i % 2);
    }
    x[2] = NAN;
    y[5] = NAN;
    x[9] = NAN;
    y[9] = NAN; /* both undefined: still one excluded pair */
    for (int i = 0; i < 12; i++)
        if (!isnan(x[i]) && !isnan(y[i])) { xs[m] = x[i]; ys[m] = y[i]; m++; }
    cr_assert_eq(m, 9);
    clnas_corr c, ref;
    cr_assert_eq(clnas_correlate(x, y, 12, &c), CLNAS_OK);
    cr_assert_eq(clnas_correlate(xs, ys, m, &ref), CLNAS_OK);
    cr_assert_eq(c.n_used, 9);
    cr_assert_eq(c.n_excluded, 3);
    cr_assert_eq(c.tau, ref.tau);
    cr_assert_eq(c.rho, ref.rho);
    int used = -1, excl = -1;
    double tau;
    cr_assert_eq(clnas_kendall_tau_b(x, y, 12, &tau, &used, &excl), CLNAS_OK);
    cr_assert_eq(used, 9);
    cr_assert_eq(excl, 3);
}

/* O(n^2) tau-b straight from the definition. */
static double brute_tau_b(const double *x, const double *y, int n)
{
    long long s = 0, n1 = 0, n2 = 0, n0 = (long long)n * (n - 1) / 2;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int a = (x[i] > x[j]) - (x[i] < x[j]), b = (y[i] > y[j]) - (y[i] < y[j]);
            s += a * b;
            n1 += a == 0;
            n2 += b == 0;
        }
    return (double)s / sqrt((double)(n0 - n1) * (double)(n0 - n2));
}

/* O(n^2) ranks and Pearson. */
static double brute_rho(const double *x, const double *y, int n)
{
    double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
    for (int i = 0; i < n; i++) {
        double lx = 0, ex = 0, ly = 0, ey = 0;
        for (int j = 0; j < n; j++) {
            lx += x[j] < x[i]; ex += x[j] == x[i];
            ly += y[j] < y[i]; ey += y[j] == y[i];
        }
        rx[i] = lx + (ex + 1) / 2;
        ry[i] = ly + (ey + 1) / 2;
    }
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) { mx += rx[i]; my += ry[i]; }
    mx /= n;
    my /= n;
    for (int i = 0; i < n; i++) {
        sxy += (rx[i] - mx) * (ry[i] - my);
        sxx += (rx[i] - mx) * (rx[i] - mx);
        syy += (ry[i] - my) * (ry[i] - my);
    }
    free(rx);
    free(ry);
    return sxy / sqrt(sxx * syy);
}

Test(stats, knight_matches_brute_force_on_random_data_with_many_ties)
{
    enum { N = 500 };
    static double x[N], y[N];
    clnas_pcg32 r;
    for (int trial = 0; trial < 6; trial++) {
        clnas_pcg32_seed(&r, 1234 + trial, 1);
        /* few distinct values -> many ties, joint ties, and a correlated component */
        int kx = trial == 5 ? 2 : 4 + 3 * trial, ky = 3 + 5 * trial;
        for (int i = 0; i < N; i++) {
            x[i] = (double)clnas_pcg32_below(&r, (uint32_t)kx);
            y[i] = floor((x[i] * ky / kx + clnas_pcg32_below(&r, (uint32_t)ky)) / 2);
            if (trial == 4) x[i] += 0.9 * clnas_pcg32_double(&r); /* untied x, tied y */
        }
        clnas_corr c;
        cr_assert_eq(clnas_correlate(x, y, N, &c), CLNAS_OK);
        double bt = brute_tau_b(x, y, N), br = brute_rho(x, y, N);
        cr_assert_float_eq(c.tau, bt, 1e-12, "trial %d: tau %.15f vs brute %.15f", trial, c.tau, bt);
        cr_assert_float_eq(c.rho, br, 1e-12, "trial %d: rho %.15f vs brute %.15f", trial, c.rho, br);
        cr_assert(fabs(c.tau) > 0.05, "trial %d: the data should be correlated (tau %g)", trial, c.tau);
    }
}

Test(stats, combined_score_on_hand_made_table)
{
    /* kappa = [10, 20, 20, 5, NaN], R = [100, 300, 200, 100, 50]; arch 4 is undefined and is
     * ranked out. Over archs 0..3:
     *   rank(kappa asc):  5 -> 1 (a3), 10 -> 2 (a0), 20,20 -> 3.5 (a1, a2)
     *   rank(R desc):     300 -> 1 (a1), 200 -> 2 (a2), 100,100 -> 3.5 (a0, a3)
     *   combined:         a0 5.5, a1 4.5, a2 5.5, a3 4.5, a4 NaN  (lower is better) */
    const double kappa[] = {10, 20, 20, 5, NAN}, R[] = {100, 300, 200, 100, 50};
    double c[5];
    cr_assert_eq(clnas_tenas_combined(kappa, R, 5, c), CLNAS_OK);
    const double want[] = {5.5, 4.5, 5.5, 4.5};
    for (int i = 0; i < 4; i++) cr_assert_eq(c[i], want[i], "combined[%d] = %g", i, c[i]);
    cr_assert(isnan(c[4]));
    /* NaN R is undefined too */
    const double k2[] = {1, 2, 3}, r2[] = {3, NAN, 1};
    double c2[3];
    cr_assert_eq(clnas_tenas_combined(k2, r2, 3, c2), CLNAS_OK);
    cr_assert_eq(c2[0], 2.0); /* kappa rank 1 + R rank 1 */
    cr_assert(isnan(c2[1]));
    cr_assert_eq(c2[2], 4.0);
}

/* ---- the NB201 table ---- */

static const char *BEST_C10 =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";

Test(nb201_table, bundled_table_and_known_rows)
{
    char err[1024];
    clnas_nb201_table *t = NULL;
    cr_assert_eq(clnas_nb201_table_load(NULL, &t, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_nb201_table_size(t), 15625);
    /* PROVENANCE.md: max cifar10_test = 94.3733 at index 6111 */
    int row = -2;
    cr_assert_eq(clnas_nb201_table_find(t, BEST_C10, &row, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_geq(row, 0);
    const clnas_nb201_row *r = clnas_nb201_table_row(t, row);
    cr_assert_eq(r->index, 6111);
    cr_assert_float_eq(r->cifar10, 94.3733, 1e-9);
    cr_assert_str_eq(r->arch, BEST_C10);
    double best = -1;
    int best_i = -1;
    for (int i = 0; i < clnas_nb201_table_size(t); i++)
        if (clnas_nb201_table_row(t, i)->cifar10 > best) {
            best = clnas_nb201_table_row(t, i)->cifar10;
            best_i = i;
        }
    cr_assert_eq(clnas_nb201_table_row(t, best_i)->index, 6111);
    /* row 0 of the file */
    r = clnas_nb201_table_row(t, 0);
    cr_assert_eq(r->index, 0);
    cr_assert_float_eq(r->cifar100, 52.9133, 1e-9);
    cr_assert_float_eq(r->imagenet16, 26.6333, 1e-9);
    cr_assert_float_eq(clnas_nb201_row_acc(r, CLNAS_NB201_IMAGENET16), 26.6333, 1e-9);
    /* PROVENANCE.md: ResNet-like cell 93.91 / 70.89 / 44.23 (rounded) */
    cr_assert_eq(clnas_nb201_table_find(t, "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
                                        &row, err, sizeof err), CLNAS_OK);
    cr_assert_geq(row, 0);
    cr_assert_float_eq(clnas_nb201_table_row(t, row)->cifar10, 93.91, 0.006);
    /* a valid arch that is not a cell of the benchmark: a miss, not an error */
    cr_assert_eq(clnas_nb201_table_find(t, "supernet", &row, err, sizeof err), CLNAS_OK);
    cr_assert_eq(row, -1);
    /* a malformed string: an error with the parser's message */
    cr_assert_eq(clnas_nb201_table_find(t, "|conv~0|", &row, err, sizeof err), CLNAS_E_PARSE);
    cr_assert(strstr(err, "position") != NULL, "%s", err);
    cr_assert_null(clnas_nb201_table_row(t, -1));
    cr_assert_null(clnas_nb201_table_row(t, 15625));
    clnas_nb201_table_destroy(t);
    clnas_nb201_table_destroy(NULL);
}

static char tmpdir[256];

static void make_tmpdir(void) { tu_mkdtemp(tmpdir, sizeof tmpdir, "clnas_test_stats"); }

static void remove_tmpdir(void) { tu_rmrf(tmpdir); }

static void write_file(const char *path, const char *text) { tu_write_file(path, text); }

Test(nb201_table, canonicalisation_and_malformed_files, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/t.csv", tmpdir);
    /* a table whose first edge lists two ops in non-canonical order (a supernet row, which
     * needs quoting because of the comma), and a second row with a quoted standard string */
    write_file(path,
               "# a comment\n"
               "index,arch,cifar10_test,cifar100_test,imagenet16_test\n"
               "7,\"|nor_conv_3x3,skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|\",90.5,70.25,40\n"
               "\r\n"
               "9, \"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\" ,10,1,\r\n");
    clnas_nb201_table *t = NULL;
    cr_assert_eq(clnas_nb201_table_load(path, &t, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_nb201_table_size(t), 2);
    int row;
    /* the same edge op set written the other way round */
    cr_assert_eq(clnas_nb201_table_find(t, "|skip_connect,nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
                                        &row, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(row, 0);
    const clnas_nb201_row *r = clnas_nb201_table_row(t, 0);
    cr_assert_eq(r->index, 7);
    cr_assert_eq(r->line, 3);
    cr_assert_float_eq(r->cifar100, 70.25, 1e-12);
    /* the stored string is the canonical form (ops of an edge in op order) */
    cr_assert_str_eq(r->arch, "|skip_connect,nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|");
    cr_assert_eq(clnas_nb201_table_find(t, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", &row, err, sizeof err), CLNAS_OK);
    cr_assert_eq(row, 1);
    cr_assert(isnan(clnas_nb201_table_row(t, 1)->imagenet16)); /* empty field */
    clnas_nb201_arch a;
    cr_assert_eq(clnas_nb201_parse("|nor_conv_3x3,skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
                                   &a, NULL, 0), CLNAS_OK);
    cr_assert_eq(clnas_nb201_table_find_arch(t, &a), 0);
    clnas_nb201_table_destroy(t);

    /* malformed files: each error names the file and the line */
    struct { const char *text, *want; } bad[] = {
        {"index,arch,cifar10_test\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,abc\n", ":2: cifar10_test \"abc\""},
        {"index,arch,cifar10_test\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n1,|bogus~0|,2\n", ":3: malformed NAS-Bench-201 arch"},
        {"index,arch\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n1,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n", ":3: architecture"},
        {"index,cifar10_test\n0,1\n", ":1: the header has no 'arch' column"},
        {"index,arch,cifar10_test\n0,\"|none~0|,1\n", ":2: unterminated quoted field"},
        {"index,arch,cifar10_test\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n", ":2: 2 fields, the header has 3"},
        {"index,arch\n-3,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n", ":2: index"},
        {"", ":1: empty file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        t = (clnas_nb201_table *)1;
        clnas_status st = clnas_nb201_table_load(path, &t, err, sizeof err);
        cr_assert_eq(st, CLNAS_E_PARSE, "case %zu: status %d (%s)", i, st, err);
        cr_assert_null(t);
        cr_assert(strstr(err, path) && strstr(err, bad[i].want), "case %zu: message \"%s\" lacks \"%s\"", i, err, bad[i].want);
    }
    snprintf(path, sizeof path, "%s/missing.csv", tmpdir);
    cr_assert_eq(clnas_nb201_table_load(path, &t, err, sizeof err), CLNAS_E_IO);
    cr_assert(strstr(err, "missing.csv") != NULL);
}

Test(nb201_table, sampling_is_deterministic_uniform_and_distinct)
{
    char err[1024];
    clnas_nb201_table *t = NULL;
    cr_assert_eq(clnas_nb201_table_load(NULL, &t, err, sizeof err), CLNAS_OK, "%s", err);
    int n = clnas_nb201_table_size(t);
    int a[1000], b[1000], c[1000];
    cr_assert_eq(clnas_nb201_table_sample(t, 1000, 7, a), CLNAS_OK);
    cr_assert_eq(clnas_nb201_table_sample(t, 1000, 7, b), CLNAS_OK);
    cr_assert_eq(clnas_nb201_table_sample(t, 1000, 8, c), CLNAS_OK);
    cr_assert_arr_eq(a, b, sizeof a);
    int same = 0;
    for (int i = 0; i < 1000; i++) same += a[i] == c[i];
    cr_assert_lt(same, 10, "different seeds should draw different rows (%d equal)", same);
    /* a prefix of a longer draw is the shorter draw */
    int p[10];
    cr_assert_eq(clnas_nb201_table_sample(t, 10, 7, p), CLNAS_OK);
    cr_assert_arr_eq(p, a, sizeof p);
    char *seen = calloc((size_t)n, 1);
    double mean = 0;
    for (int i = 0; i < 1000; i++) {
        cr_assert(a[i] >= 0 && a[i] < n);
        cr_assert_eq(seen[a[i]], 0, "row %d drawn twice", a[i]);
        seen[a[i]] = 1;
        mean += a[i];
    }
    mean /= 1000;
    /* uniform over 0..15624: mean 7812, sd of the mean ~ 4510/sqrt(1000) = 143 */
    cr_assert(fabs(mean - (n - 1) / 2.0) < 5 * 143, "sample mean %g", mean);
    /* all rows: a permutation */
    int *all = malloc((size_t)n * sizeof *all);
    memset(seen, 0, (size_t)n);
    cr_assert_eq(clnas_nb201_table_sample(t, n, 1, all), CLNAS_OK);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(seen[all[i]], 0);
        seen[all[i]] = 1;
    }
    cr_assert_eq(clnas_nb201_table_sample(t, n + 1, 1, all), CLNAS_E_INVALID_ARG);
    cr_assert_eq(clnas_nb201_table_sample(t, -1, 1, all), CLNAS_E_INVALID_ARG);
    cr_assert_eq(clnas_nb201_table_sample(t, 0, 1, all), CLNAS_OK);
    free(all);
    free(seen);
    clnas_nb201_table_destroy(t);
}

/* ---- `clnas stats` ---- */

/* Runs CLNAS_BIN with args; stdout (+ stderr when merge) into a malloc'd string. */
static int run(const char *args, int merge, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s %s", CLNAS_BIN, args, merge ? "2>&1" : "2>/dev/null");
    return tu_run(cmd, out);
}

/* Value of "key": NUMBER after the first occurrence of `after` in a JSON text. */
static double json_after(const char *js, const char *after, const char *key)
{
    const char *p = strstr(js, after);
    cr_assert_not_null(p, "no %s in %s", after, js);
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    p = strstr(p, k);
    cr_assert_not_null(p, "no %s after %s", key, after);
    return strtod(p + strlen(k), NULL);
}

Test(cli_stats, small_csv_joined_with_the_table, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char err[1024];
    clnas_nb201_table *t = NULL;
    cr_assert_eq(clnas_nb201_table_load(NULL, &t, err, sizeof err), CLNAS_OK, "%s", err);
    enum { N = 40 };
    int idx[N];
    cr_assert_eq(clnas_nb201_table_sample(t, N, 3, idx), CLNAS_OK);
    double kappa[N], R[N], acc[N];
    char path[512];
    snprintf(path, sizeof path, "%s/scores.csv", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "# device: Test Device 9000\nindex,arch,kappa,kappa_r1,R\n");
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, 5, 5);
    for (int i = 0; i < N; i++) {
        const clnas_nb201_row *w = clnas_nb201_table_row(t, idx[i]);
        acc[i] = w->cifar10; /* the first column of the output */
        kappa[i] = pow(10, 6 - acc[i] / 20 + clnas_pcg32_uniform(&r, -1, 1));
        R[i] = floor(acc[i] * 20 + clnas_pcg32_uniform(&r, 0, 600));
        if (i == 4 || i == 17) kappa[i] = NAN;
        if (isnan(kappa[i])) fprintf(f, "%d,\"%s\",,,%.0f\n", w->index, w->arch, R[i]);
        else fprintf(f, "%d,\"%s\",%.17g,1,%.0f\n", w->index, w->arch, kappa[i], R[i]);
    }
    fclose(f);
    clnas_nb201_table_destroy(t);

    double negk[N], comb[N], negc[N];
    cr_assert_eq(clnas_tenas_combined(kappa, R, N, comb), CLNAS_OK);
    for (int i = 0; i < N; i++) { negk[i] = -kappa[i]; negc[i] = -comb[i]; }
    clnas_corr ck, cR, cc;
    clnas_correlate(negk, acc, N, &ck);
    clnas_correlate(R, acc, N, &cR);
    clnas_correlate(negc, acc, N, &cc);
    cr_assert_eq(ck.n_excluded, 2);

    char args[1024], *out;
    snprintf(args, sizeof args, "stats '%s'", path);
    int rc = run(args, 1, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "n         40 architectures") != NULL, "%s", out);
    cr_assert(strstr(out, "excluded  2") != NULL, "%s", out);
    char want[64];
    snprintf(want, sizeof want, "%+.4f", cR.tau);
    cr_assert(strstr(out, want) != NULL, "R tau %s not in\n%s", want, out);
    snprintf(want, sizeof want, "%+.4f", ck.rho);
    cr_assert(strstr(out, want) != NULL, "-kappa rho %s not in\n%s", want, out);
    free(out);

    snprintf(args, sizeof args, "stats --json '%s'", path);
    rc = run(args, 0, &out);
    cr_assert_eq(rc, 0);
    cr_assert_eq((int)json_after(out, "{", "n"), 40);
    cr_assert_eq((int)json_after(out, "{", "excluded"), 2);
    cr_assert_float_eq(json_after(out, "\"neg_kappa\"", "tau"), ck.tau, 1e-6 + 1e-9);
    cr_assert_float_eq(json_after(out, "\"R\": {", "rho"), cR.rho, 1e-6 + 1e-9);
    cr_assert_float_eq(json_after(out, "\"neg_combined\"", "tau"), cc.tau, 1e-6 + 1e-9);
    cr_assert_eq((int)json_after(out, "\"neg_kappa\"", "excluded"), 2);
    cr_assert(strstr(out, "\"accuracy_source\": \"NB201 table\"") != NULL, "%s", out);
    free(out);
}

Test(cli_stats, accuracies_from_the_file_and_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char path[512], args[1024], *out;
    snprintf(path, sizeof path, "%s/s.csv", tmpdir);
    /* accuracies given (arch strings need not be NB201 cells then); perfect orderings:
     * kappa falls and R rises with accuracy -> all correlations +1 */
    write_file(path,
               "arch,R,kappa,cifar10_test,cifar100_test,imagenet16_test\n"
               "a,10,400,80,50,20\n"
               "b,20,300,85,55,25\n"
               "c,30,200,90,60,30\n"
               "d,40,100,95,65,35\n"
               "e,5,undefined,10,1,1\n");
    snprintf(args, sizeof args, "stats --json '%s'", path);
    int rc = run(args, 1, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_float_eq(json_after(out, "\"neg_kappa\"", "tau"), 1.0, 1e-9);
    cr_assert_float_eq(json_after(out, "\"neg_combined\"", "rho"), 1.0, 1e-9);
    cr_assert_float_eq(json_after(out, "\"R\": {", "tau"), 1.0, 1e-9); /* e is lowest in both */
    cr_assert(strstr(out, "\"accuracy_source\": \"file\"") != NULL, "%s", out);
    free(out);

    struct { const char *text, *want; } bad[] = {
        {"arch,kappa,R\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,2\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,abc,2\n",
         ":3: kappa \"abc\" is not a number"},
        {"arch,kappa\nx,1\n", ":1: the header has no 'R' column"},
        {"arch,kappa,R\nx,1\n", ":2: 2 fields, the header has 3"},
        {"arch,kappa,R\n\"x,1,2\n", ":2: unterminated quoted field"},
        {"arch,kappa,R\n|bogus~0|,1,2\n", ":2: malformed NAS-Bench-201 arch string"},
        {"arch,kappa,R\nsupernet,1,2\n", ":2: supernet is not in the NB201 table"},
        {"", ":1: empty file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        snprintf(args, sizeof args, "stats '%s'", path);
        rc = run(args, 1, &out);
        cr_assert_eq(rc, 1, "case %zu: exit %d: %s", i, rc, out);
        char want[1024];
        snprintf(want, sizeof want, "%s%s", path, bad[i].want);
        cr_assert(strstr(out, want) != NULL, "case %zu: \"%s\" not in: %s", i, want, out);
        free(out);
    }
    rc = run("stats", 1, &out);
    cr_assert_eq(rc, 2);
    cr_assert(strstr(out, "no scores file given") && strstr(out, "usage: clnas stats"), "%s", out);
    free(out);
    rc = run("stats a.csv b.csv", 1, &out);
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    rc = run("stats --dataset cifar1000 a.csv", 1, &out);
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    rc = run("stats --bogus x.csv", 1, &out);
    cr_assert_eq(rc, 2);
    free(out);
    rc = run("stats /nonexistent/none.csv", 1, &out);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(out, "/nonexistent/none.csv") != NULL);
    free(out);
}

/* --json is one JSON object (read here by jansson) with the keys clnas has always written; file
 * names that JSON must escape read back exactly */
Test(cli_stats, json_is_valid_for_any_file_name, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char path[512], args[1200], *out;
    snprintf(path, sizeof path, "%s/s\"q\\b\tt.csv", tmpdir);
    write_file(path,
               "arch,R,kappa,cifar10_test,cifar100_test,imagenet16_test\n"
               "a,10,400,80,50,20\nb,20,300,85,55,25\nc,30,200,90,60,30\nd,40,100,95,65,35\ne,5,undefined,10,1,1\n");
    /* the shell's single quotes keep '"', '\\' and the tab as they are */
    snprintf(args, sizeof args, "stats --json '%s'", path);
    int rc = run(args, 0, &out);
    cr_assert_eq(rc, 0, "%s", out);
    json_error_t je;
    json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &je);
    cr_assert_not_null(j, "not JSON: %d:%d: %s\n%s", je.line, je.column, je.text, out);
    const char *keys[] = {"file", "n", "excluded", "accuracy_source", "table", "convention", "correlations", "plot"};
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(j, k, v) {
        cr_assert_lt(i, sizeof keys / sizeof keys[0], "extra key %s", k);
        cr_expect_str_eq(k, keys[i], "key %zu", i);
        i++;
    }
    cr_expect_eq(i, sizeof keys / sizeof keys[0]);
    cr_expect_str_eq(json_string_value(json_object_get(j, "file")), path);
    cr_expect_eq(json_integer_value(json_object_get(j, "n")), 5);
    cr_expect_eq(json_integer_value(json_object_get(j, "excluded")), 1);
    cr_expect(json_is_null(json_object_get(j, "table")) && json_is_null(json_object_get(j, "plot")));
    const char *sk[3] = {"neg_kappa", "R", "neg_combined"}, *dk[3] = {"cifar10", "cifar100", "imagenet16"};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            json_t *c = json_object_get(json_object_get(json_object_get(j, "correlations"), sk[a]), dk[b]);
            cr_assert(json_is_object(c), "%s/%s", sk[a], dk[b]);
            cr_expect_float_eq(json_real_value(json_object_get(c, "tau")), 1.0, 1e-12, "%s/%s", sk[a], dk[b]);
            cr_expect(json_is_real(json_object_get(c, "rho")) && json_is_integer(json_object_get(c, "n")) &&
                      json_is_integer(json_object_get(c, "excluded")));
        }
    json_decref(j);
    free(out);
}
