/* tune_gemm.c - the search for the CLBlast single-precision GEMM parameters that are fastest on
 * the GEMMs clnas runs (`clnas tune`, part 1; the seeds in flight are tune_seeds.c).
 *
 * CLBlast builds one OpenCL program per GEMM routine holding both of its kernels: the indirect
 * "Xgemm" (on padded / transposed copies of the operands) and "XgemmDirect"; it runs m*n*k below
 * XGEMM_MIN_INDIRECT_SIZE cubed direct. Any change of any parameter rebuilds that whole program,
 * which takes seconds to minutes on a CPU OpenCL, so the search is a short list, one build per
 * candidate, under a wall-clock budget:
 *   1. baseline: CLBlast's own parameters on the three shapes;
 *   2. Xgemm candidates, with the switch-over size set so that all three shapes go indirect;
 *   3. XgemmDirect candidates (with the best Xgemm for the square), switch-over size set so that
 *      the Gram shapes go direct;
 *   4. the Gram shapes (the only GEMMs clnas runs) take whichever kernel served them best: the
 *      best three builds are measured again in interleaved turns (no further build), so that the
 *      machine's changing load hits them alike; the winner, with the best set of the other
 *      kernel (usually already in its build), is the result.
 * The Gram rates compared (baseline and result) are medians over several turns, each a median of
 * the repeats after a warm-up; the square is one median of the repeats. Every measured result is
 * checked against a double reference at sampled entries: a parameter set that computes wrong
 * numbers is never kept. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_impl.h"
#include "core/rng.h"

/* ------------------------------------------------------------------ the candidates
 * xgemm:  GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN
 * direct: KWID MDIMAD MDIMCD NDIMBD NDIMCD PADA PADB VWMD VWND WGD
 * First CLBlast's own database entries for CPUs and unknown devices, then sets for CPU OpenCL
 * (measured on PoCL: the 2D-register kernel GEMMK=1 without local memory, and tiles that divide
 * the batch of 72, so that the Gram's padded copies add no work), then GPU-style sets. The
 * device's current tuning file and shipped default are tried first. `quick` marks what --quick
 * tries. */
typedef struct xgemm_set { size_t v[CLNAS_TUNE_NX]; int quick; } xgemm_set;
typedef struct direct_set { size_t v[CLNAS_TUNE_ND]; int quick; } direct_set;

static const xgemm_set xgrid[] = {
    {{0, 1, 32, 2, 16, 16, 64, 8, 8, 64, 0, 0, 0, 0, 4, 4}, 1},   /* CLBlast: Intel CPU default */
    {{1, 4, 1, 1, 2, 2, 24, 2, 2, 24, 0, 0, 0, 0, 4, 4}, 1},      /* 24x24 tiles, 12x12 per work-item */
    {{0, 1, 32, 2, 8, 8, 32, 16, 16, 32, 1, 1, 0, 0, 4, 2}, 0},   /* CLBlast: generic default */
    {{1, 4, 1, 1, 6, 6, 72, 6, 6, 72, 0, 0, 0, 0, 4, 4}, 0},      /* 72x72 tiles: big squares */
    {{1, 4, 1, 1, 4, 4, 32, 4, 4, 32, 0, 0, 0, 0, 4, 4}, 0},      /* 32x32 tiles, 8x8 per work-item */
    {{1, 4, 1, 1, 3, 3, 24, 3, 3, 24, 0, 0, 0, 0, 4, 4}, 0},      /* 24x24 tiles, 8x8 per work-item */
    {{1, 4, 1, 1, 3, 3, 36, 3, 3, 36, 0, 0, 0, 0, 4, 4}, 0},      /* 36x36 tiles, 12x12 per work-item */
    {{0, 1, 16, 2, 16, 16, 64, 16, 16, 64, 1, 1, 0, 0, 4, 4}, 0}, /* GPU-style: local memory, 256 items */
};
static const direct_set dgrid[] = {
    {{2, 8, 8, 8, 8, 1, 1, 4, 4, 32}, 1},     /* CLBlast: Intel CPU default */
    {{2, 4, 4, 4, 4, 0, 0, 4, 4, 32}, 0},     /* 16 work-items of 8x8 */
    {{2, 8, 8, 8, 8, 1, 1, 1, 1, 16}, 0},     /* CLBlast: generic default */
    {{2, 16, 16, 16, 16, 1, 1, 2, 2, 64}, 0}, /* GPU-style: 256 work-items */
};
#define NXGRID (sizeof xgrid / sizeof xgrid[0])
#define NDGRID (sizeof dgrid / sizeof dgrid[0])
#define ROUNDS_MAX 8
#define PLAYOFF_N 3

/* ------------------------------------------------------------------ GEMM timing */

typedef struct gemm_bench {
    clnas_ctx *ctx;
    cl_mem A, B, C;
    float *hA, *hB, *hC; /* host copies of the operands, and room to read C back */
    int reps;
} gemm_bench;

static clnas_status gemm_bench_init(gemm_bench *g, clnas_ctx *ctx, const clnas_tune_shape *sh, int nsh, int reps)
{
    size_t na = 0, nb = 0, nc = 0;
    for (int i = 0; i < nsh; i++) {
        if (sh[i].m * sh[i].k > na) na = sh[i].m * sh[i].k;
        if (sh[i].n * sh[i].k > nb) nb = sh[i].n * sh[i].k;
        if (sh[i].m * sh[i].n > nc) nc = sh[i].m * sh[i].n;
    }
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    g->reps = reps;
    g->hA = malloc(na * sizeof(float));
    g->hB = malloc(nb * sizeof(float));
    g->hC = malloc(nc * sizeof(float));
    if (!g->hA || !g->hB || !g->hC) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, 2021, 1);
    for (size_t i = 0; i < na; i++) g->hA[i] = (float)clnas_pcg32_uniform(&r, -1, 1);
    for (size_t i = 0; i < nb; i++) g->hB[i] = (float)clnas_pcg32_uniform(&r, -1, 1);
    clnas_status st = clnas_buf_alloc(ctx, na * 4, &g->A);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, nb * 4, &g->B);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, nc * 4, &g->C);
    if (st == CLNAS_OK) st = clnas_buf_write(ctx, g->A, 0, na * 4, g->hA);
    if (st == CLNAS_OK) st = clnas_buf_write(ctx, g->B, 0, nb * 4, g->hB);
    return st;
}

static void gemm_bench_free(gemm_bench *g)
{
    clnas_buf_free(g->A);
    clnas_buf_free(g->B);
    clnas_buf_free(g->C);
    free(g->hA);
    free(g->hB);
    free(g->hC);
}

/* Compares C with a double reference at 97 entries: the first, the last and 95 spread over the
 * matrix, each to within float rounding of its own dot product (a wrong kernel is off by whole
 * products, orders of magnitude more). CLNAS_E_NUMERIC for a wrong result; the reason in why. */
static clnas_status check_c(gemm_bench *g, const clnas_tune_shape *s, char *why, size_t len)
{
    clnas_status st = clnas_buf_read(g->ctx, g->C, 0, s->m * s->n * 4, g->hC);
    if (st != CLNAS_OK) {
        snprintf(why, len, "%s", clnas_ctx_errmsg(g->ctx));
        return st;
    }
    for (int t = 0; t < 97; t++) {
        size_t i = t == 0 ? 0 : t == 1 ? s->m - 1 : (size_t)t * 7919u % s->m;
        size_t j = t == 0 ? 0 : t == 1 ? s->n - 1 : (size_t)t * 104729u % s->n;
        double ref = 0, mag = 0;
        for (size_t p = 0; p < s->k; p++) {
            double a = g->hA[i * s->k + p], b = s->trans_b ? g->hB[j * s->k + p] : g->hB[p * s->n + j];
            ref += a * b;
            mag += fabs(a * b);
        }
        double got = g->hC[i * s->n + j];
        if (!(fabs(got - ref) <= 1e-5 * mag + 1e-6)) {
            snprintf(why, len, "C[%zu][%zu] = %g, reference %g", i, j, got, ref);
            return CLNAS_E_NUMERIC;
        }
    }
    return CLNAS_OK;
}

/* GFLOP/s of one shape: a warm-up run (builds the program when the parameters are new; its time
 * goes to *build_s), then the median of g->reps runs; the result is checked. On failure (a GEMM
 * error, or CLNAS_E_NUMERIC for wrong numbers) the reason is in why. */
static clnas_status time_shape(gemm_bench *g, const clnas_tune_shape *s, double *gflops, double *build_s, char *why,
                               size_t len)
{
    double *t = calloc((size_t)g->reps, sizeof *t);
    if (!t) {
        snprintf(why, len, "out of host memory");
        return CLNAS_E_NOMEM;
    }
    clnas_status st = CLNAS_OK;
    for (int r = -1; st == CLNAS_OK && r < g->reps; r++) {
        double t0 = clnas_now();
        st = clnas_gemm(g->ctx, 0, s->trans_b, s->m, s->n, s->k, 1.0f, g->A, 0, s->k, g->B, 0, s->trans_b ? s->k : s->n,
                        0.0f, g->C, 0, s->n);
        if (st == CLNAS_OK) st = clnas_ctx_finish(g->ctx);
        double dt = clnas_now() - t0;
        if (r >= 0) t[r] = dt;
        else if (build_s) *build_s += dt;
    }
    if (st != CLNAS_OK) snprintf(why, len, "%s", clnas_ctx_errmsg(g->ctx));
    else st = check_c(g, s, why, len);
    if (st == CLNAS_OK) *gflops = 2.0 * (double)s->m * (double)s->n * (double)s->k / clnas_median(t, g->reps) / 1e9;
    free(t);
    return st;
}

static double geomean2(double a, double b) { return sqrt(a * b); }
static double gram_score(const clnas_tune_cand *c)
{
    return c->gram[0] > 0 && c->gram[1] > 0 ? geomean2(c->gram[0], c->gram[1]) : 0;
}

/* Gram rates as the median over `rounds` turns (each turn a median of g->reps runs), so that one
 * burst of other work on the machine does not decide; 0 when a run fails. */
static void gram_rounds(gemm_bench *g, const clnas_tune_shape *sh, int rounds, double rate[2])
{
    double v[2][ROUNDS_MAX];
    char why[256];
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < 2; s++) {
            double bs = 0;
            if (time_shape(g, &sh[1 + s], &v[s][r], &bs, why, sizeof why) != CLNAS_OK) v[s][r] = 0;
        }
    for (int s = 0; s < 2; s++) rate[s] = clnas_median(v[s], rounds);
}

/* ------------------------------------------------------------------ candidates */

static void add_cand(clnas_tune_result *r, int kind, const size_t *x, const size_t *dd, size_t t_over, const char *from)
{
    for (int i = 0; i < r->ncands; i++)
        if (r->cands[i].kind == kind &&
            memcmp(kind == 'x' ? r->cands[i].t.xgemm : r->cands[i].t.direct, kind == 'x' ? x : dd,
                   kind == 'x' ? sizeof r->cands[i].t.xgemm : sizeof r->cands[i].t.direct) == 0)
            return;
    if (r->ncands == CLNAS_TUNE_MAX_CANDS) return;
    clnas_tune_cand *c = &r->cands[r->ncands++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->t.gemm = 1;
    memcpy(c->t.xgemm, x, sizeof c->t.xgemm);
    memcpy(c->t.direct, dd, sizeof c->t.direct);
    c->t.min_indirect = t_over;
    c->from = from;
}

/* Builds and measures one candidate (nothing when the budget is spent or it does not fit). */
static void run_cand(gemm_bench *g, const clnas_tune_opts *o, clnas_tune_cand *c, const clnas_tune_shape *sh, int idx,
                     int total, double t0, double budget)
{
    const clnas_device_info *d = clnas_ctx_device(g->ctx);
    const char *kname = c->kind == 'x' ? "Xgemm" : "XgemmDirect";
    char why[256] = "";
    if (clnas_now() - t0 > budget) {
        snprintf(c->why, sizeof c->why, "not tried: the build budget of %.0f s was spent", budget);
        bench_log(o, "  %-11s %2d/%d (%s): not tried, the build budget (--budget %.0f) is spent", kname, idx, total,
                  c->from, budget);
        return;
    }
    if (!clnas_tune_xgemm_ok(c->t.xgemm, d->local_mem_bytes, d->max_work_group) ||
        !clnas_tune_direct_ok(c->t.direct, d->local_mem_bytes, d->max_work_group)) {
        snprintf(c->why, sizeof c->why, "does not fit this device (local memory or work-group size)");
        bench_log(o, "  %-11s %2d/%d (%s): %s", kname, idx, total, c->from, c->why);
        return;
    }
    if (clnas_tune_apply(g->ctx, &c->t) != CLNAS_OK) {
        snprintf(c->why, sizeof c->why, "%.150s", clnas_ctx_errmsg(g->ctx));
        return;
    }
    if (c->kind == 'x' && time_shape(g, &sh[0], &c->sq, &c->build_s, why, sizeof why) != CLNAS_OK) {
        c->sq = 0;
        snprintf(c->why, sizeof c->why, "%.150s", why);
    }
    for (int s = 0; s < 2 && !c->why[0]; s++)
        if (time_shape(g, &sh[1 + s], &c->gram[s], &c->build_s, why, sizeof why) != CLNAS_OK) {
            c->gram[s] = 0;
            snprintf(c->why, sizeof c->why, "%.150s", why);
        }
    if (c->kind == 'x')
        bench_log(o, "  Xgemm       %2d/%d (%s): square %6.1f  Grams %6.1f %6.1f GFLOP/s  (build %.1f s)%s%s", idx, total,
                  c->from, c->sq, c->gram[0], c->gram[1], c->build_s, c->why[0] ? "  " : "", c->why);
    else
        bench_log(o, "  XgemmDirect %2d/%d (%s):                Grams %6.1f %6.1f GFLOP/s  (build %.1f s)%s%s", idx,
                  total, c->from, c->gram[0], c->gram[1], c->build_s, c->why[0] ? "  " : "", c->why);
}

/* The finalists fin[0..n) measured again on the Gram shapes in `rounds` interleaved turns (their
 * programs are built: switching costs nothing), so that a change in the machine's load hits them
 * all alike: each shape's rate is the median over the turns. Returns the index (in fin) of the
 * one with the best geometric mean of its two Gram rates. */
static int playoff(gemm_bench *g, const clnas_tune_opts *o, const clnas_tune_result *r, const int *fin, int n)
{
    double v[PLAYOFF_N][2][ROUNDS_MAX], med[PLAYOFF_N][2];
    char why[256];
    for (int t = 0; t < r->rounds; t++)
        for (int f = 0; f < n; f++) {
            int ok = clnas_tune_apply(g->ctx, &r->cands[fin[f]].t) == CLNAS_OK;
            for (int s = 0; s < 2; s++) {
                double bs = 0;
                if (!ok || time_shape(g, &r->shapes[1 + s], &v[f][s][t], &bs, why, sizeof why) != CLNAS_OK) v[f][s][t] = 0;
            }
        }
    int w = 0;
    for (int f = 0; f < n; f++) {
        const clnas_tune_cand *c = &r->cands[fin[f]];
        med[f][0] = clnas_median(v[f][0], r->rounds);
        med[f][1] = clnas_median(v[f][1], r->rounds);
        if (n > 1)
            bench_log(o, "  finalist %d (%s, %s): Grams %6.1f %6.1f GFLOP/s (medians of %d turns)", f + 1,
                      c->kind == 'x' ? "Xgemm" : "XgemmDirect", c->from, med[f][0], med[f][1], r->rounds);
        if (geomean2(med[f][0], med[f][1]) > geomean2(med[w][0], med[w][1])) w = f;
    }
    return w;
}

/* The best candidate (index) of one kind and score among cands[from..to), -1 when none worked. */
static int best_of(const clnas_tune_result *r, int from, int to, int square)
{
    int b = -1;
    for (int c = from; c < to; c++) {
        const clnas_tune_cand *k = &r->cands[c];
        const double s = square ? k->sq : gram_score(k), sb = b < 0 ? 0 : square ? r->cands[b].sq : gram_score(&r->cands[b]);
        if (s > 0 && !k->why[0] && (b < 0 || s > sb)) b = c;
    }
    return b;
}

/* Steps 2-4: every candidate, then the playoff of the best three for the Grams. Returns the
 * winner (index into r->cands, -1 when none worked) and in *bdg the best direct set. */
static int search(gemm_bench *g, const clnas_tune_opts *o, clnas_tune_result *r, const tune_sizes *z, int *bdg)
{
    const double budget = o->budget_s >= 0 ? o->budget_s : o->quick ? CLNAS_TUNE_BUDGET_QUICK_S : CLNAS_TUNE_BUDGET_FULL_S;
    const double t_search = clnas_now();
    /* 2. Xgemm candidates, every shape indirect. The direct set in these builds is a fixed one
     * (the device's current / shipped one, else the first of the grid): it serves only GEMMs
     * smaller than any measured here. */
    const size_t *d_ref = z->current ? z->current->direct : z->shipped ? z->shipped->direct : dgrid[0].v;
    if (z->current) add_cand(r, 'x', z->current->xgemm, d_ref, z->t_indirect, "current tuning file");
    if (z->shipped) add_cand(r, 'x', z->shipped->xgemm, d_ref, z->t_indirect, "shipped default");
    for (size_t i = 0; i < NXGRID; i++)
        if (!o->quick || xgrid[i].quick) add_cand(r, 'x', xgrid[i].v, d_ref, z->t_indirect, "grid");
    const int nx = r->ncands;
    for (int c = 0; c < nx; c++) run_cand(g, o, &r->cands[c], r->shapes, c + 1, nx, t_search, budget);
    const int bsq = best_of(r, 0, nx, 1); /* best Xgemm for the square */
    /* 3. XgemmDirect candidates, the Grams direct, the square with the best Xgemm for it */
    const size_t *x_sq = bsq >= 0 ? r->cands[bsq].t.xgemm : xgrid[0].v;
    if (z->current) add_cand(r, 'd', x_sq, z->current->direct, z->t_direct, "current tuning file");
    if (z->shipped) add_cand(r, 'd', x_sq, z->shipped->direct, z->t_direct, "shipped default");
    for (size_t i = 0; i < NDGRID; i++)
        if (!o->quick || dgrid[i].quick) add_cand(r, 'd', x_sq, dgrid[i].v, z->t_direct, "grid");
    for (int c = nx; c < r->ncands; c++) run_cand(g, o, &r->cands[c], r->shapes, c - nx + 1, r->ncands - nx, t_search, budget);
    *bdg = best_of(r, nx, r->ncands, 0);
    /* 4. the Grams take the kernel that served them best. Candidates were measured minutes
     * apart, under whatever else the machine was doing, so the best few are measured again in
     * turns (their programs are built: switching costs nothing) */
    int order[CLNAS_TUNE_MAX_CANDS], nfin = 0;
    for (int c = 0; c < r->ncands; c++) {
        if (gram_score(&r->cands[c]) <= 0 || r->cands[c].why[0]) continue;
        int at = nfin++; /* insertion sort, best Gram score first */
        while (at > 0 && gram_score(&r->cands[order[at - 1]]) < gram_score(&r->cands[c])) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = c;
    }
    if (nfin > PLAYOFF_N) nfin = PLAYOFF_N;
    return nfin ? order[playoff(g, o, r, order, nfin)] : -1;
}

/* The result: the Gram's winner with the best set of the other kernel for the GEMM sizes it
 * serves (the same as the winner's build in the usual case; else one more build), measured like
 * the baseline; kept only when the Grams gain >= 5 % (geometric mean). */
static void finish(gemm_bench *g, const clnas_tune_opts *o, clnas_tune_result *r, int win, int bdg)
{
    char why[256] = "";
    memset(&r->best, 0, sizeof r->best);
    if (win >= 0) {
        r->best = r->cands[win].t;
        if (r->cands[win].kind == 'x' && bdg >= 0) memcpy(r->best.direct, r->cands[bdg].t.direct, sizeof r->best.direct);
        double b = 0, after2[2] = {0, 0};
        if (clnas_tune_apply(g->ctx, &r->best) == CLNAS_OK &&
            time_shape(g, &r->shapes[0], &r->shapes[0].after, &b, why, sizeof why) == CLNAS_OK)
            gram_rounds(g, r->shapes, r->rounds, after2);
        r->shapes[1].after = after2[0];
        r->shapes[2].after = after2[1];
        if (r->shapes[0].after <= 0 || r->shapes[1].after <= 0 || r->shapes[2].after <= 0) {
            bench_log(o, "  warning: the chosen parameters failed: %s", why[0] ? why : clnas_ctx_errmsg(g->ctx));
            win = -1;
        }
    }
    r->win = win;
    r->gram_gain = 0;
    r->tuned = 0;
    if (win >= 0) {
        r->gram_gain = geomean2(r->shapes[1].after / r->shapes[1].before, r->shapes[2].after / r->shapes[2].before);
        r->tuned = r->gram_gain >= 1.05;
        r->gram_kernel = r->cands[win].kind == 'x' ? "Xgemm" : "XgemmDirect";
    } else {
        for (int s = 0; s < 3; s++) r->shapes[s].after = r->shapes[s].before;
        r->gram_kernel = "unchanged";
        bench_log(o, "  warning: no candidate worked; CLBlast's own parameters are kept");
    }
    r->best.gemm = r->tuned;
}

clnas_status tune_gemm_search(clnas_ctx *ctx, const clnas_tune_opts *o, const tune_sizes *z, clnas_tune_result *r)
{
    gemm_bench g;
    char why[256] = "";
    clnas_status st = gemm_bench_init(&g, ctx, r->shapes, 3, r->reps);
    /* 1. baseline: CLBlast's own parameters (nothing has been overridden in this process); the
     * Gram shapes in turns, like the final result they are compared with */
    for (int s = 0; s < 3 && st == CLNAS_OK; s++) {
        double b = 0;
        if (time_shape(&g, &r->shapes[s], &r->shapes[s].before, &b, why, sizeof why) != CLNAS_OK)
            st = clnas_set_error(ctx, CLNAS_E_CLBLAST, "SGEMM %s with CLBlast's own parameters failed: %s",
                                 r->shapes[s].name, why);
    }
    if (st == CLNAS_OK) {
        double r2[2];
        gram_rounds(&g, r->shapes, r->rounds, r2);
        r->shapes[1].before = r2[0];
        r->shapes[2].before = r2[1];
        bench_log(o, "  CLBlast's own parameters:   square %6.1f  Grams %6.1f %6.1f GFLOP/s", r->shapes[0].before,
                  r->shapes[1].before, r->shapes[2].before);
        int bdg = -1;
        const int win = search(&g, o, r, z, &bdg);
        finish(&g, o, r, win, bdg);
    }
    gemm_bench_free(&g);
    return st;
}
