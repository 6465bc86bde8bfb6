/* cmd_tune.c - `clnas tune`: finds, for one device, the CLBlast single-precision GEMM parameters
 * that are fastest on the GEMMs clnas runs, and how many NTK backward seeds to run at once, and
 * stores them in the device's tuning file (src/runtime/tune.c), which every later context on that
 * device applies.
 *
 * The GEMM search. CLBlast builds one OpenCL program per GEMM routine holding both of its kernels:
 * the indirect "Xgemm" (on padded / transposed copies of the operands) and "XgemmDirect"; it runs
 * m*n*k below XGEMM_MIN_INDIRECT_SIZE cubed direct. Any change of any parameter rebuilds that
 * whole program, which takes seconds to minutes on a CPU OpenCL, so the search is a short list,
 * one build per candidate, under a wall-clock budget:
 *   1. baseline: CLBlast's own parameters on the three shapes;
 *   2. Xgemm candidates, with the switch-over size set so that all three shapes go indirect;
 *   3. XgemmDirect candidates (with the best Xgemm for the square), switch-over size set so that
 *      the Gram shapes go direct;
 *   4. the Gram shapes (the only GEMMs clnas runs) take whichever kernel served them best: the
 *      best three builds are measured again in interleaved turns (no further build), so that the
 *      machine's changing load hits them alike; the winner, with the best set of the other
 *      kernel (usually already in its build), is the result.
 * The Gram rates compared (baseline and result) are medians over several turns, each a median of
 * --repeat runs after a warm-up; the square is one median of --repeat runs.
 * Every measured result is checked against a double reference at sampled entries: a parameter
 * set that computes wrong numbers is never kept.
 *
 * The seed search times one kappa of the TE-NAS proxy supernet and of one single path for a few
 * seed counts S and stores one activation-gradient budget in bytes (see choose_budget). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "clnas/data.h"
#include "clnas/nb201.h"
#include "clnas/nb201.h"
#include "clnas/score.h"
#include "core/rng.h"
#include "internal.h"
#include "metrics/ntk_seeds.h"
#include "model/graph.h"

#define BATCH 72 /* TE-NAS's NTK batch on NAS-Bench-201 */
static const char *const SINGLE_PATH =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

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

/* Wall-clock budget for the candidate builds: a build is not interrupted, but none starts after
 * it (the best found so far is kept, and a rerun is faster: the OpenCL compiler caches). */
#define BUDGET_FULL_S 240.0
#define BUDGET_QUICK_S 60.0

/* ------------------------------------------------------------------ small helpers */


static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void print_params(FILE *f, const char *const *names, const size_t *v, int n)
{
    for (int i = 0; i < n; i++) fprintf(f, "%s%s=%zu", i ? " " : "", names[i], v[i]);
}

static void json_params(const char *const *names, const size_t *v, int n)
{
    printf("{");
    for (int i = 0; i < n; i++) printf("%s\"%s\": %zu", i ? ", " : "", names[i], v[i]);
    printf("}");
}

/* ------------------------------------------------------------------ GEMM timing */

typedef struct shape {
    const char *name, *key; /* for people, for the tuning file */
    size_t m, n, k;
    int transB;
    double before, after; /* GFLOP/s */
} shape;

typedef struct gemm_bench {
    clnas_ctx *ctx;
    cl_mem A, B, C;
    float *hA, *hB, *hC; /* host copies of the operands, and room to read C back */
    int reps;
} gemm_bench;

static int bench_init(gemm_bench *g, clnas_ctx *ctx, const shape *sh, int nsh, int reps)
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
    if (!g->hA || !g->hB || !g->hC) {
        clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
        return 0;
    }
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, 2021, 1);
    for (size_t i = 0; i < na; i++) g->hA[i] = (float)clnas_pcg32_uniform(&r, -1, 1);
    for (size_t i = 0; i < nb; i++) g->hB[i] = (float)clnas_pcg32_uniform(&r, -1, 1);
    return clnas_buf_alloc(ctx, na * 4, &g->A) == CLNAS_OK && clnas_buf_alloc(ctx, nb * 4, &g->B) == CLNAS_OK &&
           clnas_buf_alloc(ctx, nc * 4, &g->C) == CLNAS_OK && clnas_buf_write(ctx, g->A, 0, na * 4, g->hA) == CLNAS_OK &&
           clnas_buf_write(ctx, g->B, 0, nb * 4, g->hB) == CLNAS_OK;
}

static void bench_free(gemm_bench *g)
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
 * products, orders of magnitude more). */
static int check_c(gemm_bench *g, const shape *s, char *why, size_t len)
{
    if (clnas_buf_read(g->ctx, g->C, 0, s->m * s->n * 4, g->hC) != CLNAS_OK) {
        snprintf(why, len, "%s", clnas_ctx_errmsg(g->ctx));
        return 0;
    }
    for (int t = 0; t < 97; t++) {
        size_t i = t == 0 ? 0 : t == 1 ? s->m - 1 : (size_t)t * 7919u % s->m;
        size_t j = t == 0 ? 0 : t == 1 ? s->n - 1 : (size_t)t * 104729u % s->n;
        double ref = 0, mag = 0;
        for (size_t p = 0; p < s->k; p++) {
            double a = g->hA[i * s->k + p], b = s->transB ? g->hB[j * s->k + p] : g->hB[p * s->n + j];
            ref += a * b;
            mag += fabs(a * b);
        }
        double got = g->hC[i * s->n + j];
        if (!(fabs(got - ref) <= 1e-5 * mag + 1e-6)) {
            snprintf(why, len, "C[%zu][%zu] = %g, reference %g", i, j, got, ref);
            return 0;
        }
    }
    return 1;
}

/* GFLOP/s of one shape: a warm-up run (builds the program when the parameters are new; its time
 * goes to *build_s), then the median of g->reps runs; the result is checked. 0: failed or wrong. */
static int time_shape(gemm_bench *g, const shape *s, double *gflops, double *build_s, char *why, size_t len)
{
    double *t = calloc((size_t)g->reps, sizeof *t);
    if (!t) {
        snprintf(why, len, "out of host memory");
        return 0;
    }
    int ok = 1;
    for (int r = -1; ok && r < g->reps; r++) {
        double t0 = clnas_now();
        ok = clnas_gemm(g->ctx, 0, s->transB, s->m, s->n, s->k, 1.0f, g->A, 0, s->k, g->B, 0, s->transB ? s->k : s->n,
                        0.0f, g->C, 0, s->n) == CLNAS_OK &&
             clnas_ctx_finish(g->ctx) == CLNAS_OK;
        double dt = clnas_now() - t0;
        if (r >= 0) t[r] = dt;
        else if (build_s) *build_s += dt;
    }
    if (!ok) snprintf(why, len, "%s", clnas_ctx_errmsg(g->ctx));
    ok = ok && check_c(g, s, why, len);
    if (ok) *gflops = 2.0 * (double)s->m * (double)s->n * (double)s->k / clnas_cli_median(t, g->reps) / 1e9;
    free(t);
    return ok;
}

static double geomean2(double a, double b) { return sqrt(a * b); }

/* ------------------------------------------------------------------ seeds in flight */

typedef struct seed_net {
    const char *what, *arch;
    double per_seed; /* bytes of activation gradients one seed needs: act_per_sample * B * 4 */
    double t[16];    /* median kappa seconds per tested S */
    int best;        /* index into the tested S */
} seed_net;

/* Times one kappa of each network for every seed count in S. The machine's load drifts while
 * this runs (minutes), and a sweep from small to large S would turn that drift into a trend, so
 * the work goes in rounds: each round visits every S (in alternating directions) and, for each,
 * every network: a fresh NTK object, one warm-up evaluation (first touches of its buffers,
 * kernel builds), one timed evaluation. Each time is the median over the rounds. */
#define NETS 2
static int seed_sweep(clnas_ctx *ctx, const clnas_dataset *data, seed_net *sn, const int *S, int nS, int rounds)
{
    clnas_net *net[NETS] = {NULL, NULL};
    float *p[NETS] = {NULL, NULL}, *x = malloc((size_t)BATCH * 3 * 32 * 32 * sizeof *x);
    double *t = calloc((size_t)NETS * (size_t)nS * (size_t)rounds, sizeof *t);
    clnas_sampler *smp = NULL;
    int ok = x && t && clnas_sampler_create(data, 0, 1, &smp) == CLNAS_OK;
    if (!ok) clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
    for (int j = 0; ok && j < NETS; j++) {
        clnas_nb201_arch arch;
        clnas_nb201_config cfg;
        clnas_nb201_config_ntk(&cfg, 10, 32);
        ok = clnas_nb201_parse(sn[j].arch, &arch, NULL, 0) == CLNAS_OK &&
             clnas_nb201_build(&cfg, &arch, &net[j], NULL, 0) == CLNAS_OK &&
             (p[j] = malloc(clnas_net_nparams(net[j]) * sizeof(float))) != NULL;
        if (!ok) {
            clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "cannot build the %s network", sn[j].what);
            break;
        }
        sn[j].per_seed = (double)net[j]->act_per_sample * BATCH * sizeof(float);
        clnas_net_init_params(net[j], 0, 0, CLNAS_INIT_PYTORCH, p[j]);
    }
    for (int r = 0; ok && r < rounds; r++)
        for (int ii = 0; ok && ii < nS; ii++) {
            const int i = r % 2 ? nS - 1 - ii : ii;
            for (int j = 0; ok && j < NETS; j++) {
                clnas_ntk_config nc = {BATCH, S[i], 0};
                clnas_ntk *ntk = NULL;
                ok = clnas_ntk_create(ctx, net[j], &nc, &ntk) == CLNAS_OK && clnas_ntk_set_params(ntk, p[j]) == CLNAS_OK;
                for (int e = 0; ok && e < 2; e++) { /* e = 0: warm-up */
                    clnas_sampler_batch(smp, BATCH, 1, x, NULL);
                    clnas_kappa k;
                    double t0 = clnas_now();
                    ok = clnas_ntk_eval(ntk, x, &k, NULL, NULL, NULL, NULL, NULL) == CLNAS_OK;
                    if (e) t[((size_t)j * (size_t)nS + (size_t)i) * (size_t)rounds + (size_t)r] = clnas_now() - t0;
                }
                clnas_ntk_destroy(ntk);
            }
            if (ok && ii == nS - 1) {
                fprintf(stderr, "  round %d/%d:", r + 1, rounds);
                for (int j = 0; j < NETS; j++) {
                    fprintf(stderr, "  %s", sn[j].what);
                    for (int q = 0; q < nS; q++)
                        fprintf(stderr, " %.2f", t[((size_t)j * (size_t)nS + (size_t)q) * (size_t)rounds + (size_t)r]);
                }
                fprintf(stderr, " s\n");
            }
        }
    for (int j = 0; ok && j < NETS; j++) {
        sn[j].best = 0;
        for (int i = 0; i < nS; i++) {
            sn[j].t[i] = clnas_cli_median(&t[((size_t)j * (size_t)nS + (size_t)i) * (size_t)rounds], rounds);
            if (sn[j].t[i] < sn[j].t[sn[j].best]) sn[j].best = i;
        }
    }
    for (int j = 0; j < NETS; j++) {
        free(p[j]);
        clnas_net_destroy(net[j]);
    }
    free(x);
    free(t);
    clnas_sampler_destroy(smp);
    return ok;
}

/* The seeds a budget gives a network, as the NTK chooses them (metrics/ntk_seeds.h, without the
 * env var and the device's allocation limit). */
static int seeds_for(double budget, double per_seed) { return clnas_ntk_seeds_for_budget(budget, per_seed, 0, BATCH); }

/* Estimated kappa time of a net at s seeds: measured where tested, linear between tested
 * neighbours. Callers never ask outside the tested range. */
static double time_at(const seed_net *sn, const int *S, int nS, int s)
{
    for (int i = 0; i < nS; i++) {
        if (S[i] == s) return sn->t[i];
        if (S[i] > s && i > 0) {
            double w = (double)(s - S[i - 1]) / (double)(S[i] - S[i - 1]);
            return (1 - w) * sn->t[i - 1] + w * sn->t[i];
        }
    }
    return sn->t[nS - 1];
}

/* One budget for every network. The right S differs by network, and a budget in bytes carries
 * over to networks never timed: the same budget gives a network with more activations per sample
 * proportionally fewer seeds, i.e. about the same bytes (and work) per kernel launch. Among the
 * budgets that put one of the tested networks exactly on a tested S (and none outside the tested
 * range), the one with the smallest mean ratio of each network's time to its own best time, so
 * that the small single path counts as much as the big supernet and one noisy point cannot
 * decide alone; ties go to the smaller budget (less memory). *worst gets the largest ratio. */
static double choose_budget(const seed_net *nets, int nn, const int *S, int nS, double *worst)
{
    double best_b = 0, best_mean = INFINITY, best_worst = 0;
    for (int a = 0; a < nn; a++)
        for (int i = 0; i < nS; i++) {
            double b = (double)S[i] * nets[a].per_seed, mean = 0, w = 0;
            int fits = 1;
            for (int j = 0; j < nn && fits; j++) {
                int s = seeds_for(b, nets[j].per_seed);
                if (s > S[nS - 1] || s < S[0]) fits = 0;
                double r = time_at(&nets[j], S, nS, s) / nets[j].t[nets[j].best];
                mean += r / nn;
                w = fmax(w, r);
            }
            if (fits && (mean < best_mean - 1e-9 || (fabs(mean - best_mean) <= 1e-9 && b < best_b))) {
                best_mean = mean;
                best_worst = w;
                best_b = b;
            }
        }
    if (best_b == 0) {
        /* the networks are too far apart for the tested range: the smallest of their own best
         * budgets, which gives no network more seeds than its best */
        best_b = INFINITY;
        for (int j = 0; j < nn; j++) best_b = fmin(best_b, (double)S[nets[j].best] * nets[j].per_seed);
        for (int j = 0; j < nn; j++) {
            int s = seeds_for(best_b, nets[j].per_seed);
            s = s < S[0] ? S[0] : s > S[nS - 1] ? S[nS - 1] : s;
            best_worst = fmax(best_worst, time_at(&nets[j], S, nS, s) / nets[j].t[nets[j].best]);
        }
    }
    *worst = best_worst;
    return best_b;
}

/* "1,2,4" -> sorted distinct seed counts in [1, BATCH]; 0 on anything else. */
static int parse_seed_list(const char *v, int *S, int max, int *n)
{
    *n = 0;
    const char *p = v;
    while (*p) {
        char *end = NULL;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > BATCH || *n >= max || (*end && *end != ',')) return 0;
        int at = *n;
        while (at > 0 && S[at - 1] > x) at--;
        if (at > 0 && S[at - 1] == x) return 0;
        memmove(S + at + 1, S + at, (size_t)(*n - at) * sizeof *S);
        S[at] = (int)x;
        (*n)++;
        p = *end ? end + 1 : end;
        if (*end && !*p) return 0;
    }
    return *n > 0;
}

/* ------------------------------------------------------------------ the command */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clnas tune [--device D] [--quick] [--json] [--reset] [--repeat N] [--budget SECONDS]\n"
            "                  [--seeds LIST | --no-seeds]\n\n"
            "Tunes one OpenCL device for clnas and stores the result in its tuning file\n"
            "(<cache>/tune/, next to the program cache: $CLNAS_CACHE_DIR, else $XDG_CACHE_HOME/clnas,\n"
            "else ~/.cache/clnas), which every later run on that device applies when it opens it:\n\n"
            "  GEMM: CLBlast's single-precision GEMM kernel parameters (kernels Xgemm and XgemmDirect,\n"
            "        and the size at which CLBlast switches between them), searched over a short list\n"
            "        of candidates on the shapes clnas runs: the NTK Gram matrix Theta = G G^T\n"
            "        (72 x 72 x P, B transposed, P = 14364 for the proxy supernet and 11382 for a\n"
            "        single path) and a 1024^3 square for reference. Before/after GFLOP/s per shape\n"
            "        are reported; when the best is not at least 5%% faster than CLBlast's own\n"
            "        parameters, the file says so and CLBlast's are kept.\n"
            "  seeds: how many NTK backward passes run at once (the activation-gradient budget that\n"
            "        sets the seeds in flight), from one kappa of the proxy supernet and of a single\n"
            "        path timed for S = 1, 2, 3, 4, 6, 8, 12 (and more on GPUs).\n\n"
            "It takes a few minutes on a 2-core CPU: each GEMM candidate is a new OpenCL build, and\n"
            "no new build starts after the build budget; candidates left out are listed, and a rerun\n"
            "gets further (the OpenCL compiler caches what was built). --quick tries fewer candidates\n"
            "and seed counts.\n\n"
            "options:\n"
            "  --device D    index from `clnas devices` or part of a device name (default as usual)\n"
            "  --quick       fewer candidates and seed counts, fewer repeats\n"
            "  --budget S    no new GEMM build starts after S seconds (default %.0f; --quick %.0f)\n"
            "  --repeat N    timed repeats per measurement, median reported (default 5; --quick 3)\n"
            "  --seeds LIST  seed counts to time, e.g. 2,4,8 (default 1,2,3,4,6,8,12, on GPUs also\n"
            "                24,36,72; --quick 2,4,8)\n"
            "  --no-seeds    GEMM only; the seed budget of the current tuning (if any) is kept\n"
            "  --json        print the result as one JSON object\n"
            "  --reset       delete the device's tuning file (shipped defaults apply again)\n\n"
            "Precedence when a context opens a device: its tuning file, else clnas's shipped default\n"
            "for that kind of device (`clnas devices` shows which), else CLBlast's own database.\n"
            "CLNAS_TUNE=off applies none of them (for A/B comparisons); CLNAS_SEEDS=S and an explicit\n"
            "seed count still override the seed budget.\n",
            BUDGET_FULL_S, BUDGET_QUICK_S);
}

/* Opens the device with nothing applied, so that the baseline is CLBlast's own parameters.
 * CLBlast's overrides are per process, so this only concerns this command. */
static clnas_ctx *open_untuned(const char *device)
{
    const char *old = getenv("CLNAS_TUNE");
    char *saved = old ? strdup(old) : NULL;
    setenv("CLNAS_TUNE", "off", 1);
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create(device, &ctx);
    if (saved) {
        setenv("CLNAS_TUNE", saved, 1);
        free(saved);
    } else {
        unsetenv("CLNAS_TUNE");
    }
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas tune: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        return NULL;
    }
    return ctx;
}

static int do_reset(const char *device, int json)
{
    clnas_ctx *ctx = open_untuned(device);
    if (!ctx) return 1;
    const clnas_device_info *d = clnas_ctx_device(ctx);
    char path[1200];
    int rc = 0;
    if (clnas_tune_path(d, path, sizeof path, NULL, 0) != CLNAS_OK) {
        fprintf(stderr, "clnas tune: no cache directory (CLNAS_CACHE_DIR=off, or no HOME): nothing to reset\n");
        rc = 1;
    } else {
        int existed = remove(path) == 0;
        if (json) {
            printf("{\"device\": ");
            json_str(d->name);
            printf(", \"device_index\": %d, \"tuning_file\": ", d->index);
            json_str(path);
            printf(", \"removed\": %s}\n", existed ? "true" : "false");
        } else {
            printf("device %d (%s): %s %s\n", d->index, d->name, existed ? "removed" : "no tuning file at", path);
        }
    }
    clnas_ctx_destroy(ctx);
    return rc;
}

/* One build: a full parameter set, and what it measured. kind 'x': an Xgemm candidate, all three
 * shapes through Xgemm; kind 'd': an XgemmDirect candidate, the Gram shapes through it. */
typedef struct cand {
    int kind;
    clnas_tuning t;
    const char *from;
    double sq, gram[2]; /* GFLOP/s; 0 = not measured */
    double build_s;
    char why[160];      /* why it was not measured or failed, "" if not */
} cand;

static double gram_score(const cand *c) { return c->gram[0] > 0 && c->gram[1] > 0 ? geomean2(c->gram[0], c->gram[1]) : 0; }

static void add_cand(cand *cs, int *n, int kind, const size_t *x, const size_t *dd, size_t t_over, const char *from)
{
    for (int i = 0; i < *n; i++)
        if (cs[i].kind == kind && memcmp(kind == 'x' ? cs[i].t.xgemm : cs[i].t.direct, kind == 'x' ? x : dd,
                                         kind == 'x' ? sizeof cs[i].t.xgemm : sizeof cs[i].t.direct) == 0)
            return;
    cand *c = &cs[(*n)++];
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->t.gemm = 1;
    memcpy(c->t.xgemm, x, sizeof c->t.xgemm);
    memcpy(c->t.direct, dd, sizeof c->t.direct);
    c->t.min_indirect = t_over;
    c->from = from;
}

/* Builds and measures one candidate (nothing when the budget is spent or it does not fit). */
static void run_cand(gemm_bench *g, const clnas_device_info *d, cand *c, shape *sh, int idx, int total, double t0,
                     double budget)
{
    char why[256] = "";
    if (clnas_now() - t0 > budget) {
        snprintf(c->why, sizeof c->why, "not tried: the build budget of %.0f s was spent", budget);
        fprintf(stderr, "  %-11s %2d/%d (%s): not tried, the build budget (--budget %.0f) is spent\n",
                c->kind == 'x' ? "Xgemm" : "XgemmDirect", idx, total, c->from, budget);
        return;
    }
    if (!clnas_tune_xgemm_ok(c->t.xgemm, d->local_mem_bytes, d->max_work_group) ||
        !clnas_tune_direct_ok(c->t.direct, d->local_mem_bytes, d->max_work_group)) {
        snprintf(c->why, sizeof c->why, "does not fit this device (local memory or work-group size)");
        fprintf(stderr, "  %-11s %2d/%d (%s): %s\n", c->kind == 'x' ? "Xgemm" : "XgemmDirect", idx, total, c->from, c->why);
        return;
    }
    if (clnas_tune_apply(g->ctx, &c->t) != CLNAS_OK) {
        snprintf(c->why, sizeof c->why, "%.150s", clnas_ctx_errmsg(g->ctx));
        return;
    }
    if (c->kind == 'x' && !time_shape(g, &sh[0], &c->sq, &c->build_s, why, sizeof why)) {
        c->sq = 0;
        snprintf(c->why, sizeof c->why, "%.150s", why);
    }
    for (int s = 0; s < 2 && !c->why[0]; s++)
        if (!time_shape(g, &sh[1 + s], &c->gram[s], &c->build_s, why, sizeof why)) {
            c->gram[s] = 0;
            snprintf(c->why, sizeof c->why, "%.150s", why);
        }
    if (c->kind == 'x')
        fprintf(stderr, "  Xgemm       %2d/%d (%s): square %6.1f  Grams %6.1f %6.1f GFLOP/s  (build %.1f s)%s%s\n", idx,
                total, c->from, c->sq, c->gram[0], c->gram[1], c->build_s, c->why[0] ? "  " : "", c->why);
    else
        fprintf(stderr, "  XgemmDirect %2d/%d (%s):                Grams %6.1f %6.1f GFLOP/s  (build %.1f s)%s%s\n", idx,
                total, c->from, c->gram[0], c->gram[1], c->build_s, c->why[0] ? "  " : "", c->why);
}

/* Gram rates as the median over `rounds` turns (each turn a median of g->reps runs), so that one
 * burst of other work on the machine does not decide; 0 when a run fails. */
#define ROUNDS_MAX 8
static void gram_rounds(gemm_bench *g, shape *sh, int rounds, double rate[2])
{
    double v[2][ROUNDS_MAX];
    char why[256];
    for (int r = 0; r < rounds; r++)
        for (int s = 0; s < 2; s++) {
            double bs = 0;
            if (!time_shape(g, &sh[1 + s], &v[s][r], &bs, why, sizeof why)) v[s][r] = 0;
        }
    for (int s = 0; s < 2; s++) rate[s] = clnas_cli_median(v[s], rounds);
}

/* The finalists fin[0..n) measured again on the Gram shapes in `rounds` interleaved turns (their
 * programs are built: switching costs nothing), so that a change in the machine's load hits them
 * all alike: each shape's rate is the median over the turns. Returns the index (in fin) of the
 * one with the best geometric mean of its two Gram rates. */
#define PLAYOFF_N 3
static int playoff(gemm_bench *g, cand *cs, const int *fin, int n, shape *sh, int rounds)
{
    double v[PLAYOFF_N][2][ROUNDS_MAX], med[PLAYOFF_N][2];
    char why[256];
    for (int r = 0; r < rounds; r++)
        for (int f = 0; f < n; f++) {
            int ok = clnas_tune_apply(g->ctx, &cs[fin[f]].t) == CLNAS_OK;
            for (int s = 0; s < 2; s++) {
                double bs = 0;
                if (!ok || !time_shape(g, &sh[1 + s], &v[f][s][r], &bs, why, sizeof why)) v[f][s][r] = 0;
            }
        }
    int w = 0;
    for (int f = 0; f < n; f++) {
        med[f][0] = clnas_cli_median(v[f][0], rounds);
        med[f][1] = clnas_cli_median(v[f][1], rounds);
        if (n > 1)
            fprintf(stderr, "  finalist %d (%s, %s): Grams %6.1f %6.1f GFLOP/s (medians of %d turns)\n", f + 1,
                    cs[fin[f]].kind == 'x' ? "Xgemm" : "XgemmDirect", cs[fin[f]].from, med[f][0], med[f][1], rounds);
        if (geomean2(med[f][0], med[f][1]) > geomean2(med[w][0], med[w][1])) w = f;
    }
    return w;
}

int clnas_cmd_tune(int argc, char **argv)
{
    const char *device = NULL, *v;
    int quick = 0, json = 0, reset = 0, no_seeds = 0, Sset[16], nS = 0;
    long reps = 0, budget_s = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) {
            if (!*v) return 2;
            device = v;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--repeat"))) {
            if (!clnas_cli_int("--repeat", v, 1, 100, &reps)) return 2;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--budget"))) {
            if (!clnas_cli_int("--budget", v, 0, 86400, &budget_s)) return 2;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds"))) {
            if (!parse_seed_list(v, Sset, 16, &nS)) {
                fprintf(stderr, "clnas tune: --seeds expects distinct counts in [1, %d] separated by commas, got \"%s\"\n",
                        BATCH, v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--reset")) reset = 1;
        else if (!strcmp(argv[i], "--no-seeds")) no_seeds = 1;
        else {
            fprintf(stderr, "clnas tune: unknown option \"%s\" (see clnas tune --help)\n", argv[i]);
            return 2;
        }
    }
    if (no_seeds && nS) {
        fprintf(stderr, "clnas tune: --seeds and --no-seeds contradict each other\n");
        return 2;
    }
    if (reset) return do_reset(device, json);
    if (!reps) reps = quick ? 3 : 5;
    const double t_start = clnas_now();

    clnas_ctx *ctx = open_untuned(device);
    if (!ctx) return 1;
    const clnas_device_info *d = clnas_ctx_device(ctx);
    char path[1200];
    int have_path = clnas_tune_path(d, path, sizeof path, NULL, 0) == CLNAS_OK;
    /* what this device has now: tried as candidates, and its seed budget kept by --no-seeds */
    clnas_tuning current, shipped;
    char note[512];
    int have_file = 0;
    if (have_path && clnas_tune_read(path, d, &current, &have_file, note, sizeof note) != CLNAS_OK) have_file = 0;
    int have_shipped = clnas_tune_shipped(d, &shipped);
    fprintf(stderr, "clnas tune: device %d: %s (%s; %s, driver %s; CLBlast %s)\n", d->index, d->name, d->type,
            d->platform_name, d->driver_version, clnas_clblast_version());

    /* the Gram shapes come from the networks themselves, so they follow the model */
    seed_net nets[2] = {{"proxy supernet", "supernet", 0, {0}, 0}, {"single path", SINGLE_PATH, 0, {0}, 0}};
    size_t P[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        clnas_nb201_arch arch;
        clnas_nb201_config cfg;
        clnas_net *net = NULL;
        clnas_nb201_parse(nets[i].arch, &arch, NULL, 0);
        clnas_nb201_config_ntk(&cfg, 10, 32);
        if (clnas_nb201_build(&cfg, &arch, &net, NULL, 0) != CLNAS_OK) {
            fprintf(stderr, "clnas tune: cannot build the %s network\n", nets[i].what);
            clnas_ctx_destroy(ctx);
            return 1;
        }
        P[i] = clnas_net_njacobian(net);
        clnas_net_destroy(net);
    }
    char gname[2][64];
    snprintf(gname[0], sizeof gname[0], "Gram %dx%dx%zu (supernet)", BATCH, BATCH, P[0]);
    snprintf(gname[1], sizeof gname[1], "Gram %dx%dx%zu (single path)", BATCH, BATCH, P[1]);
    shape sh[3] = {
        {"square 1024x1024x1024", "square_1024", 1024, 1024, 1024, 0, 0, 0},
        {gname[0], "gram_supernet", BATCH, BATCH, P[0], 1, 0, 0},
        {gname[1], "gram_single_path", BATCH, BATCH, P[1], 1, 0, 0},
    };
    /* Switch-over sizes (XGEMM_MIN_INDIRECT_SIZE; m*n*k below its cube runs direct). Gram direct:
     * a round size above it with room to spare, so that big GEMMs stay indirect (CLBlast's own
     * rule). Gram indirect: somewhat below it, so that small GEMMs keep the direct kernel's lower
     * overhead. Each is also what the candidate builds of its kernel use, so the final choice
     * reuses a build that was already measured. */
    const double gram_max = fmax((double)BATCH * BATCH * (double)P[0], (double)BATCH * BATCH * (double)P[1]);
    const double gram_min = fmin((double)BATCH * BATCH * (double)P[0], (double)BATCH * BATCH * (double)P[1]);
    size_t t_direct = 64;
    while ((double)t_direct * t_direct * t_direct <= 1.2 * gram_max) t_direct += 64;
    const size_t t_indirect = (size_t)(0.8 * cbrt(gram_min)) / 32 * 32;
    if (t_direct > 1024 || t_indirect < 32) {
        fprintf(stderr, "clnas tune: the Gram shapes (%.0f multiply-adds) do not fit between small GEMMs and the "
                        "1024^3 reference; not supported\n", gram_max);
        clnas_ctx_destroy(ctx);
        return 1;
    }

    gemm_bench g;
    memset(&g, 0, sizeof g);
    int rc = 0;
    char why[256] = "";
    cand *cs = calloc(NXGRID + NDGRID + 4, sizeof *cs);
    int nc = 0;
    if (!cs || !bench_init(&g, ctx, sh, 3, (int)reps)) {
        fprintf(stderr, "clnas tune: %s\n", cs ? clnas_ctx_errmsg(ctx) : "out of host memory");
        bench_free(&g);
        free(cs);
        clnas_ctx_destroy(ctx);
        return 1;
    }

    /* 1. baseline: CLBlast's own parameters (nothing has been overridden in this process); the
     * Gram shapes in turns, like the final result they are compared with */
    const int rounds = quick ? 3 : 5;
    for (int s = 0; s < 3; s++) {
        double b = 0;
        if (!time_shape(&g, &sh[s], &sh[s].before, &b, why, sizeof why)) {
            fprintf(stderr, "clnas tune: SGEMM %s with CLBlast's own parameters failed: %s\n", sh[s].name, why);
            rc = 1;
            goto done;
        }
    }
    {
        double r2[2];
        gram_rounds(&g, sh, rounds, r2);
        sh[1].before = r2[0];
        sh[2].before = r2[1];
    }
    fprintf(stderr, "  CLBlast's own parameters:   square %6.1f  Grams %6.1f %6.1f GFLOP/s\n", sh[0].before,
            sh[1].before, sh[2].before);

    /* 2. Xgemm candidates, every shape indirect. The direct set in these builds is a fixed one
     * (the device's current / shipped one, else the first of the grid): it serves only GEMMs
     * smaller than any measured here. */
    const double budget = budget_s >= 0 ? (double)budget_s : quick ? BUDGET_QUICK_S : BUDGET_FULL_S;
    const double t_search = clnas_now();
    const size_t *d_ref = have_file && current.gemm ? current.direct : have_shipped && shipped.gemm ? shipped.direct
                                                                                                    : dgrid[0].v;
    if (have_file && current.gemm) add_cand(cs, &nc, 'x', current.xgemm, d_ref, t_indirect, "current tuning file");
    if (have_shipped && shipped.gemm) add_cand(cs, &nc, 'x', shipped.xgemm, d_ref, t_indirect, "shipped default");
    for (size_t i = 0; i < NXGRID; i++)
        if (!quick || xgrid[i].quick) add_cand(cs, &nc, 'x', xgrid[i].v, d_ref, t_indirect, "grid");
    const int nx = nc;
    for (int c = 0; c < nx; c++) run_cand(&g, d, &cs[c], sh, c + 1, nx, t_search, budget);
    int bsq = -1, bxg = -1; /* best Xgemm for the square, for the Grams */
    for (int c = 0; c < nx; c++) {
        if (cs[c].sq > 0 && !cs[c].why[0] && (bsq < 0 || cs[c].sq > cs[bsq].sq)) bsq = c;
        if (gram_score(&cs[c]) > 0 && !cs[c].why[0] && (bxg < 0 || gram_score(&cs[c]) > gram_score(&cs[bxg]))) bxg = c;
    }

    /* 3. XgemmDirect candidates, the Grams direct, the square with the best Xgemm for it */
    const size_t *x_sq = bsq >= 0 ? cs[bsq].t.xgemm : xgrid[0].v;
    if (have_file && current.gemm) add_cand(cs, &nc, 'd', x_sq, current.direct, t_direct, "current tuning file");
    if (have_shipped && shipped.gemm) add_cand(cs, &nc, 'd', x_sq, shipped.direct, t_direct, "shipped default");
    for (size_t i = 0; i < NDGRID; i++)
        if (!quick || dgrid[i].quick) add_cand(cs, &nc, 'd', x_sq, dgrid[i].v, t_direct, "grid");
    for (int c = nx; c < nc; c++) run_cand(&g, d, &cs[c], sh, c - nx + 1, nc - nx, t_search, budget);
    int bdg = -1; /* best direct set for the Grams */
    for (int c = nx; c < nc; c++)
        if (gram_score(&cs[c]) > 0 && !cs[c].why[0] && (bdg < 0 || gram_score(&cs[c]) > gram_score(&cs[bdg]))) bdg = c;

    /* 4. the Grams take the kernel that served them best; that build is the result. Candidates
     * were measured minutes apart, under whatever else the machine was doing, so the best few
     * are measured again in turns (their programs are built: switching costs nothing) */
    int *order = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *order), nfin = 0;
    for (int c = 0; order && c < nc; c++) {
        if (gram_score(&cs[c]) <= 0 || cs[c].why[0]) continue;
        int at = nfin++; /* insertion sort, best Gram score first */
        while (at > 0 && gram_score(&cs[order[at - 1]]) < gram_score(&cs[c])) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = c;
    }
    if (nfin > PLAYOFF_N) nfin = PLAYOFF_N;
    int win = nfin ? order[playoff(&g, cs, order, nfin, sh, rounds)] : -1;
    free(order);
    clnas_tuning best;
    memset(&best, 0, sizeof best);
    if (win >= 0) {
        /* the best set of each kernel: the Gram's winner, and the best of the other kernel for
         * the GEMM sizes it serves (the same as the winner's build in the usual case; else one
         * more build); then measured like the baseline */
        best = cs[win].t;
        if (cs[win].kind == 'x' && bdg >= 0) memcpy(best.direct, cs[bdg].t.direct, sizeof best.direct);
        double b = 0, after2[2] = {0, 0};
        if (clnas_tune_apply(ctx, &best) == CLNAS_OK && time_shape(&g, &sh[0], &sh[0].after, &b, why, sizeof why))
            gram_rounds(&g, sh, rounds, after2);
        sh[1].after = after2[0];
        sh[2].after = after2[1];
        if (sh[0].after <= 0 || sh[1].after <= 0 || sh[2].after <= 0) {
            fprintf(stderr, "clnas tune: the chosen parameters failed: %s\n", why[0] ? why : clnas_ctx_errmsg(ctx));
            win = -1;
        }
    }
    /* keep CLBlast's own unless the Gram GEMMs (what clnas runs) are measurably faster: geometric
     * mean of their gains >= 5%; the square is for reference only */
    double gram_gain = 0;
    int tuned = 0;
    if (win >= 0) {
        gram_gain = geomean2(sh[1].after / sh[1].before, sh[2].after / sh[2].before);
        tuned = gram_gain >= 1.05;
    } else {
        for (int s = 0; s < 3; s++) sh[s].after = sh[s].before;
        fprintf(stderr, "clnas tune: no candidate worked; CLBlast's own parameters are kept\n");
    }
    best.gemm = tuned;

    /* 5. seeds in flight */
    if (!nS) {
        static const int full[] = {1, 2, 3, 4, 6, 8, 12, 24, 36, 72}, q[] = {2, 4, 8};
        const int gpu = d->type && strcmp(d->type, "GPU") == 0;
        nS = quick ? 3 : gpu ? 10 : 7; /* GPUs want many seeds at once; CPUs run out of cache */
        memcpy(Sset, quick ? q : full, (size_t)nS * sizeof *Sset);
    }
    double seed_worst = 0, seed_budget = 0;
    int seeds_done = 0;
    const int srounds = quick ? 1 : 3;
    if (no_seeds) {
        /* the per-device values of the current tuning are kept */
        const clnas_tuning *keep = have_file ? &current : have_shipped ? &shipped : NULL;
        best.nparams = 0;
        for (int i = 0; keep && i < keep->nparams; i++)
            clnas_tuning_set_param(NULL, &best, keep->params[i].key, keep->params[i].value);
    } else {
        char err[512];
        clnas_dataset *data = NULL;
        if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas tune: %s\n", err);
            rc = 1;
            goto done;
        }
        fprintf(stderr, "  seeds in flight: one kappa at batch %d for S =", BATCH);
        for (int i = 0; i < nS; i++) fprintf(stderr, " %d", Sset[i]);
        fprintf(stderr, ", %d round%s (a minute or a few)\n", srounds, srounds > 1 ? "s" : "");
        if (!seed_sweep(ctx, data, nets, Sset, nS, srounds)) {
            fprintf(stderr, "clnas tune: timing the seeds in flight failed: %s\n", clnas_ctx_errmsg(ctx));
            rc = 1;
        }
        clnas_dataset_destroy(data);
        if (rc) goto done;
        const clnas_tuning *keep = have_file ? &current : have_shipped ? &shipped : NULL;
        best.nparams = 0;
        for (int i = 0; keep && i < keep->nparams; i++)
            clnas_tuning_set_param(NULL, &best, keep->params[i].key, keep->params[i].value);
        seed_budget = choose_budget(nets, 2, Sset, nS, &seed_worst);
        if (clnas_tuning_set_param(ctx, &best, CLNAS_NTK_SEED_BUDGET_KEY, seed_budget) != CLNAS_OK) {
            fprintf(stderr, "clnas tune: %s\n", clnas_ctx_errmsg(ctx));
            rc = 1;
            goto done;
        }
        seeds_done = 1;
    }

    /* 6. store */
    char extra[2048];
    size_t o = 0;
    time_t now = time(NULL);
    struct tm tmv;
    char date[32] = "";
    if (gmtime_r(&now, &tmv)) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    o += (size_t)snprintf(extra + o, sizeof extra - o, "measured.date=%s\nmeasured.mode=%s\nmeasured.repeats=%ld\n", date,
                          quick ? "quick" : "full", reps);
    for (int s = 0; s < 3 && o < sizeof extra; s++)
        o += (size_t)snprintf(extra + o, sizeof extra - o, "measured.gflops.%s.clblast=%.2f\nmeasured.gflops.%s.tuned=%.2f\n",
                              sh[s].key, sh[s].before, sh[s].key, sh[s].after);
    for (int i = 0; seeds_done && i < 2 && o < sizeof extra; i++)
        o += (size_t)snprintf(extra + o, sizeof extra - o, "measured.seeds.%s.best=%d\nmeasured.seeds.%s.seconds=%.3f\n",
                              i ? "single_path" : "supernet", Sset[nets[i].best], i ? "single_path" : "supernet",
                              nets[i].t[nets[i].best]);
    int stored = 0;
    if (have_path) {
        if (clnas_tune_write(ctx, path, d, &best, extra) == CLNAS_OK) stored = 1;
        else {
            fprintf(stderr, "clnas tune: %s\n", clnas_ctx_errmsg(ctx));
            rc = 1;
        }
    } else {
        fprintf(stderr, "clnas tune: no cache directory (CLNAS_CACHE_DIR=off, or no HOME): the result is not stored\n");
    }
    const double total_s = clnas_now() - t_start;
    const char *gram_path = win < 0 ? "unchanged" : cs[win].kind == 'x' ? "Xgemm" : "XgemmDirect";

    /* 7. report */
    if (json) {
        printf("{\"device\": ");
        json_str(d->name);
        printf(", \"device_index\": %d, \"device_type\": \"%s\", \"platform\": ", d->index, d->type);
        json_str(d->platform_name);
        printf(", \"driver\": ");
        json_str(d->driver_version);
        printf(", \"clblast\": \"%s\", \"mode\": \"%s\", \"repeats\": %ld, \"gram_turns\": %d, \"tuning_file\": ",
               clnas_clblast_version(), quick ? "quick" : "full", reps, rounds);
        if (stored) json_str(path);
        else printf("null");
        printf(", \"gemm\": \"%s\", \"gram_gain\": %.4f, \"shapes\": [", tuned ? "tuned" : "default", gram_gain);
        for (int s = 0; s < 3; s++)
            printf("%s{\"name\": \"%s\", \"m\": %zu, \"n\": %zu, \"k\": %zu, \"trans_b\": %d, \"clblast_gflops\": %.3f, "
                   "\"tuned_gflops\": %.3f}",
                   s ? ", " : "", sh[s].key, sh[s].m, sh[s].n, sh[s].k, sh[s].transB, sh[s].before, sh[s].after);
        printf("], \"chosen\": ");
        if (win >= 0) {
            printf("{\"gram_kernel\": \"%s\", \"xgemm\": ", gram_path);
            json_params(clnas_tune_xgemm_names, best.xgemm, CLNAS_TUNE_NX);
            printf(", \"xgemm_direct\": ");
            json_params(clnas_tune_direct_names, best.direct, CLNAS_TUNE_ND);
            printf(", \"xgemm_min_indirect_size\": %zu}", best.min_indirect);
        } else {
            printf("null");
        }
        printf(", \"candidates\": [");
        for (int c = 0; c < nc; c++) {
            printf("%s{\"kernel\": \"%s\", \"from\": \"%s\", \"params\": ", c ? ", " : "",
                   cs[c].kind == 'x' ? "Xgemm" : "XgemmDirect", cs[c].from);
            if (cs[c].kind == 'x') json_params(clnas_tune_xgemm_names, cs[c].t.xgemm, CLNAS_TUNE_NX);
            else json_params(clnas_tune_direct_names, cs[c].t.direct, CLNAS_TUNE_ND);
            printf(", \"xgemm_min_indirect_size\": %zu, \"square_gflops\": %.3f, \"gram_gflops\": [%.3f, %.3f], "
                   "\"build_s\": %.2f, \"problem\": ", cs[c].t.min_indirect, cs[c].sq, cs[c].gram[0], cs[c].gram[1],
                   cs[c].build_s);
            if (cs[c].why[0]) json_str(cs[c].why);
            else printf("null");
            printf("}");
        }
        printf("], \"seeds\": ");
        if (seeds_done) {
            printf("{\"tested\": [");
            for (int i = 0; i < nS; i++) printf("%s%d", i ? ", " : "", Sset[i]);
            printf("], \"batch\": %d, \"rounds\": %d, \"nets\": [", BATCH, srounds);
            for (int n = 0; n < 2; n++) {
                printf("%s{\"what\": \"%s\", \"arch\": \"%s\", \"per_seed_bytes\": %.0f, \"kappa_seconds\": [", n ? ", " : "",
                       nets[n].what, nets[n].arch, nets[n].per_seed);
                for (int i = 0; i < nS; i++) printf("%s%.4f", i ? ", " : "", nets[n].t[i]);
                printf("], \"best_seeds\": %d, \"budget_seeds\": %d}", Sset[nets[n].best],
                       seeds_for(seed_budget, nets[n].per_seed));
            }
            printf("], \"budget_bytes\": %.0f, \"worst_ratio_to_best\": %.4f}", seed_budget, seed_worst);
        } else {
            printf("null");
        }
        printf(", \"seconds\": %.1f}\n", total_s);
    } else {
        printf("device %d: %s (%s), CLBlast %s\nGEMM: medians of %ld runs after a warm-up; Gram shapes: median of %d such "
               "turns\n\n", d->index, d->name, d->type, clnas_clblast_version(), reps, rounds);
        printf("%-34s %14s %14s %8s\n", "SGEMM (GFLOP/s)", "CLBlast's own", "tuned", "gain");
        for (int s = 0; s < 3; s++)
            printf("%-34s %14.1f %14.1f %7.2fx\n", sh[s].name, sh[s].before, sh[s].after, sh[s].after / sh[s].before);
        if (win >= 0) {
            printf("\nXgemm        ");
            print_params(stdout, clnas_tune_xgemm_names, best.xgemm, CLNAS_TUNE_NX);
            printf("\nXgemmDirect  ");
            print_params(stdout, clnas_tune_direct_names, best.direct, CLNAS_TUNE_ND);
            printf("\nXGEMM_MIN_INDIRECT_SIZE=%zu: the Gram GEMMs run through %s\n", best.min_indirect, gram_path);
        }
        printf("%s\n", tuned ? "-> stored as the device's GEMM tuning"
                             : "-> the Gram GEMMs are not at least 5% faster: CLBlast's own parameters are kept (gemm=default)");
        if (seeds_done) {
            printf("\nseeds in flight, one kappa at batch %d (seconds, median of %d round%s):\n%-16s", BATCH, srounds,
                   srounds > 1 ? "s" : "", "S");
            for (int i = 0; i < nS; i++) printf(" %7d", Sset[i]);
            for (int n = 0; n < 2; n++) {
                printf("\n%-16s", nets[n].what);
                for (int i = 0; i < nS; i++) printf(" %7.3f", nets[n].t[i]);
            }
            printf("\nbudget %.1f MiB of activation gradients -> supernet %d seeds (best measured %d), single path %d "
                   "(best %d); at worst %.1f%% slower than a net's best\n",
                   seed_budget / 1048576.0, seeds_for(seed_budget, nets[0].per_seed), Sset[nets[0].best],
                   seeds_for(seed_budget, nets[1].per_seed), Sset[nets[1].best], 100 * (seed_worst - 1));
        }
        printf("\n%s %s (%.0f s)\n", stored ? "stored in" : "NOT stored:", stored ? path : "no cache directory", total_s);
    }

done:
    bench_free(&g);
    free(cs);
    clnas_ctx_destroy(ctx);
    return rc;
}
