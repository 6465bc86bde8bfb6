/* ntk.c - the empirical NTK of one network on one batch (TENAS.md §1): one forward in
 * train-mode BN, B per-sample backward passes of the logit sums run S seeds at a time
 * straight into the rows of the Jacobian G, Theta = G G^T through CLBlast, spectrum in
 * double on the host. Nothing is allocated and nothing is read back inside an evaluation
 * except Theta (B x B). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "core/fault.h"
#include "metrics/ntk_seeds.h"
#include "model/graph.h"

struct clnas_ntk {
    clnas_ctx *ctx;
    const clnas_net *net;
    clnas_plan *plan;
    int B, S, fp64;
    int host64;    /* fp64 Gram asked for on a device without cl_khr_fp64: Theta in double on the host */
    cl_mem G;      /* B x nparams floats: row i = gradients of seed i (Jacobian = first njac columns) */
    cl_mem theta;  /* B x B, float or double */
    cl_mem G64;    /* B x njac doubles (fp64 Gram only) */
    int nchunk;    /* Gram over column chunks of G (1: one GEMM, see gram()) */
    size_t kc;     /* columns per chunk (the last one takes the rest) */
    cl_mem part;   /* nchunk x B x B partial Grams (nchunk > 1 only), float or double */
    void *part_h;  /* their host copy */
    float *theta_f;
    float *G_h;    /* host copy of G's Jacobian columns (host64 only), B x njac */
    double *theta_d, *work, *w; /* host scratch: Theta in double, its copy for LAPACK, eigenvalues */
};

int clnas_ntk_seeds_for_budget(double budget, double per_seed, double max_alloc, int batch)
{
    if (per_seed < 1) per_seed = 1;
    double s = budget / per_seed;
    if (max_alloc > 0 && s * per_seed > max_alloc) s = max_alloc / per_seed;
    if (s < 1) s = 1;
    return s < batch ? (int)s : batch;
}

/* Seeds in flight: $CLNAS_SEEDS if set, else as many as fit the device's activation-gradient
 * budget (ntk_seeds.h): the per-device value `clnas tune` measured for it (its tuning file or the
 * shipped default, read through the context), else 256 MiB. Never more seeds than one device
 * allocation can hold. */
static int auto_seeds(const clnas_ctx *ctx, const clnas_net *net, int B)
{
    long env = 0;
    if (clnas_env_long("CLNAS_SEEDS", 1, 100000, &env, NULL, 0) > 0) return env < B ? (int)env : B;
    double budget = 0;
    if (!clnas_ctx_device_param(ctx, CLNAS_NTK_SEED_BUDGET_KEY, &budget) || !(budget > 0))
        budget = CLNAS_NTK_SEED_BUDGET_DEFAULT;
    return clnas_ntk_seeds_for_budget(budget, (double)net->act_per_sample * B * sizeof(float),
                                      (double)ctx->info.max_alloc_bytes, B);
}

/* Theta = G G^T has a tiny output (B x B) and a long inner dimension (the Jacobian's columns:
 * 14,364 for the TE-NAS proxy supernet, 1.5 million for the full NB201 network). One GEMM
 * parallelises over output tiles only, so for B <= 128 a long product runs on one or a few
 * work-groups (measured: 13 s for the full network at B = 16 and 64 alike on a 2-core CPU).
 * Beyond GRAM_CHUNK columns the product is cut into column chunks, computed as one batched
 * GEMM (parallel across chunks), and the partial Grams are summed on the host in double, in
 * chunk order (deterministic). Up to GRAM_CHUNK columns: one GEMM, as before. */
#define GRAM_CHUNK ((size_t)65536)
static void gram_chunks(size_t k, int *nchunk, size_t *kc)
{
    size_t chunk = GRAM_CHUNK;
    long env = 0; /* for tests: force the chunked path on small nets (checked in clnas_ntk_create) */
    if (clnas_env_long("CLNAS_GRAM_CHUNK", 1, 1L << 40, &env, NULL, 0) > 0) chunk = (size_t)env;
    size_t n = (k + chunk - 1) / chunk;
    if (n < 1) n = 1;
    *nchunk = (int)n;
    *kc = (k + n - 1) / n;
}

static void device_free(clnas_ntk *n)
{
    clnas_plan_destroy(n->plan);
    clnas_buf_free(n->G);
    clnas_buf_free(n->theta);
    clnas_buf_free(n->G64);
    clnas_buf_free(n->part);
    n->plan = NULL;
    n->G = n->theta = n->G64 = n->part = NULL;
}

/* The device side with n->S seeds in flight: the plan, the Jacobian, Theta, the partial Grams. */
static clnas_status device_alloc(clnas_ntk *n)
{
    clnas_ctx *ctx = n->ctx;
    const clnas_net *net = n->net;
    size_t B = (size_t)n->B, es = n->fp64 ? sizeof(double) : sizeof(float);
    clnas_status st;
    CLNAS_TRY(clnas_plan_create(ctx, net, n->B, n->S, 0, &n->plan));
    CLNAS_TRY(clnas_buf_alloc(ctx, B * net->nparams * sizeof(float), &n->G));
    CLNAS_TRY(clnas_buf_alloc(ctx, B * B * es, &n->theta));
    if (n->fp64) CLNAS_TRY(clnas_buf_alloc(ctx, B * net->njac * sizeof(double), &n->G64));
    if (n->nchunk > 1) CLNAS_TRY(clnas_buf_alloc(ctx, (size_t)n->nchunk * B * B * es, &n->part));
    return CLNAS_OK;
fail:
    device_free(n);
    return st;
}

/* Device memory runs out: fewer seeds in flight (halved down to 1; the numbers change only in
 * float rounding), then an error that says what one seed needs and what the device had. */
static clnas_status device_fallback(clnas_ntk *n)
{
    clnas_status st;
    int first = n->S;
    size_t held = clnas_buf_in_use();
    while ((st = device_alloc(n)) == CLNAS_E_DEVICE_MEM && n->S > 1) n->S = n->S > 2 ? n->S / 2 : 1;
    if (st == CLNAS_E_DEVICE_MEM) {
        const clnas_net *net = n->net;
        double need = ((double)net->nparams * (2 + n->B) + (double)net->act_per_sample * n->B * 2 + (double)n->B * n->B * 8) *
                      sizeof(float) / 1048576.0;
        clnas_append_error(n->ctx, "; the NTK at batch %d needs about %.1f MiB of device memory even with 1 seed in flight "
                                   "(tried %d first; %.1f MiB were held before it, device \"%s\" has %.1f MiB): use a "
                                   "smaller --batch", n->B, need, first, (double)held / 1048576.0, n->ctx->info.name,
                           (double)n->ctx->info.global_mem_bytes / 1048576.0);
    }
    return st;
}

clnas_status clnas_ntk_create(clnas_ctx *ctx, const clnas_net *net, const clnas_ntk_config *cfg, clnas_ntk **out)
{
    *out = NULL;
    if (cfg->batch < 1)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "NTK batch must be >= 1 (got %d)", cfg->batch);
    char eerr[256];
    long ev;
    if (clnas_env_long("CLNAS_SEEDS", 1, 100000, &ev, eerr, sizeof eerr) < 0 ||
        clnas_env_long("CLNAS_GRAM_CHUNK", 1, 1L << 40, &ev, eerr, sizeof eerr) < 0)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s", eerr);
    clnas_ntk *n = calloc(1, sizeof *n);
    if (!n) return clnas_set_error(ctx, CLNAS_E_NOMEM, "NTK: out of host memory");
    n->ctx = ctx;
    n->net = net;
    n->B = cfg->batch;
    n->S = cfg->seeds > 0 ? (cfg->seeds < cfg->batch ? cfg->seeds : cfg->batch) : auto_seeds(ctx, net, cfg->batch);
    /* Without cl_khr_fp64 (GPU drivers such as Mesa's rusticl) the fp64 Gram is computed on the
     * host from the device's fp32 Jacobian: same numbers, paid in host time instead. */
    n->host64 = cfg->fp64_gram && !ctx->info.fp64;
    n->fp64 = cfg->fp64_gram && !n->host64;
    size_t B = (size_t)n->B;
    clnas_status st;
    if (n->host64 && !(n->G_h = malloc(B * net->njac * sizeof(float)))) {
        st = clnas_set_error(ctx, CLNAS_E_NOMEM, "NTK: out of host memory for the %dx%zu Jacobian of the host fp64 Gram",
                             n->B, net->njac);
        goto fail;
    }
    n->theta_f = malloc(B * B * sizeof(float));
    n->theta_d = malloc(B * B * sizeof(double));
    n->work = malloc(B * B * sizeof(double));
    n->w = malloc(B * sizeof(double));
    if (!n->theta_f || !n->theta_d || !n->work || !n->w) {
        st = clnas_set_error(ctx, CLNAS_E_NOMEM, "NTK: out of host memory for the %dx%d Gram matrix (%.1f MiB): use a "
                                                 "smaller --batch", n->B, n->B, (double)B * B * 20 / 1048576.0);
        goto fail;
    }
    gram_chunks(net->njac, &n->nchunk, &n->kc);
    if (n->host64) n->nchunk = 1;
    if ((st = device_fallback(n)) != CLNAS_OK) goto fail;
    if (n->nchunk > 1 && !(n->part_h = malloc((size_t)n->nchunk * B * B * (n->fp64 ? sizeof(double) : sizeof(float))))) {
        st = clnas_set_error(ctx, CLNAS_E_NOMEM, "NTK: out of host memory for %d partial Gram matrices", n->nchunk);
        goto fail;
    }
    *out = n;
    return CLNAS_OK;
fail:
    clnas_ntk_destroy(n);
    return st;
}

void clnas_ntk_destroy(clnas_ntk *n)
{
    if (!n) return;
    device_free(n);
    free(n->part_h);
    free(n->theta_f);
    free(n->G_h);
    free(n->theta_d);
    free(n->work);
    free(n->w);
    free(n);
}

int clnas_ntk_seeds(const clnas_ntk *n) { return n->S; }

clnas_status clnas_ntk_set_params(clnas_ntk *n, const float *params) { return clnas_plan_set_params(n->plan, params); }

/* Partial Grams of the column chunks into n->part: chunks 0..nchunk-2 (kc columns each) as
 * one batched GEMM, the last (the rest of the columns) as a plain GEMM; then their sum in
 * double into n->theta_d. A is G (or G64) with row stride ld. */
static clnas_status gram_chunked(clnas_ntk *n, cl_mem A, size_t ld)
{
    const size_t B = (size_t)n->B, BB = B * B, nb = (size_t)n->nchunk - 1, kc = n->kc;
    const size_t klast = n->net->njac - nb * kc;
    size_t offs[64], coff[64];
    clnas_status st = CLNAS_OK;
    for (size_t c0 = 0; c0 < nb && st == CLNAS_OK; c0 += 64) { /* batches of at most 64 chunks */
        size_t cnt = nb - c0 < 64 ? nb - c0 : 64;
        for (size_t c = 0; c < cnt; c++) { offs[c] = (c0 + c) * kc; coff[c] = (c0 + c) * BB; }
        st = clnas_gemm_batched(n->ctx, n->fp64, 0, 1, B, B, kc, A, offs, ld, A, offs, ld, n->part, coff, B, cnt);
    }
    if (st == CLNAS_OK)
        st = n->fp64 ? clnas_dgemm(n->ctx, 0, 1, B, B, klast, 1.0, A, nb * kc, ld, A, nb * kc, ld, 0.0, n->part, nb * BB, B)
                     : clnas_gemm(n->ctx, 0, 1, B, B, klast, 1.0f, A, nb * kc, ld, A, nb * kc, ld, 0.0f, n->part, nb * BB, B);
    const size_t es = n->fp64 ? sizeof(double) : sizeof(float);
    if (st == CLNAS_OK) st = clnas_buf_read(n->ctx, n->part, 0, (nb + 1) * BB * es, n->part_h);
    if (st != CLNAS_OK) return st;
    for (size_t i = 0; i < BB; i++) {
        double acc = 0;
        for (size_t c = 0; c <= nb; c++)
            acc += n->fp64 ? ((const double *)n->part_h)[c * BB + i] : (double)((const float *)n->part_h)[c * BB + i];
        n->theta_d[i] = acc;
    }
    return CLNAS_OK;
}

/* Theta = G G^T in double on the host (host64): reads the Jacobian columns of every row of G,
 * then sums each entry's products in double, in column order (deterministic), filling the
 * lower triangle and mirroring it. */
static clnas_status gram_host(clnas_ntk *n)
{
    const size_t B = (size_t)n->B, nj = n->net->njac, np = n->net->nparams;
    for (size_t i = 0; i < B; i++) {
        clnas_status st = clnas_buf_read(n->ctx, n->G, i * np * sizeof(float), nj * sizeof(float), n->G_h + i * nj);
        if (st != CLNAS_OK) return st;
    }
    for (size_t i = 0; i < B; i++) {
        const float *gi = n->G_h + i * nj;
        for (size_t j = 0; j <= i; j++) {
            const float *gj = n->G_h + j * nj;
            double acc = 0;
            for (size_t q = 0; q < nj; q++) acc += (double)gi[q] * (double)gj[q];
            n->theta_d[i * B + j] = n->theta_d[j * B + i] = acc;
        }
    }
    return CLNAS_OK;
}

static clnas_status gram(clnas_ntk *n)
{
    const clnas_net *net = n->net;
    size_t B = (size_t)n->B;
    if (n->host64) return gram_host(n);
    if (!n->fp64) {
        if (n->nchunk > 1) return gram_chunked(n, n->G, net->nparams);
        clnas_status st = clnas_gemm(n->ctx, 0, 1, B, B, net->njac, 1.0f, n->G, 0, net->nparams, n->G, 0,
                                     net->nparams, 0.0f, n->theta, 0, B);
        if (st == CLNAS_OK) st = clnas_buf_read(n->ctx, n->theta, 0, B * B * sizeof(float), n->theta_f);
        if (st == CLNAS_OK)
            for (size_t i = 0; i < B * B; i++) n->theta_d[i] = n->theta_f[i];
        return st;
    }
    cl_kernel k;
    clnas_status st = clnas_kernel_get(n->ctx, "convert.cl", "", "convert_f32_f64", &k);
    if (st == CLNAS_OK)
        st = clnas_kernel_args(n->ctx, k, "miimiii", n->G, 0, (int)net->nparams, n->G64, (int)net->njac, (int)B,
                               (int)net->njac);
    size_t gws[2] = {net->njac, B}, lws[2] = {64, 1};
    if (st == CLNAS_OK) st = clnas_lws_capped(n->ctx, k, 64, &lws[0]);
    if (st == CLNAS_OK) st = clnas_launch(n->ctx, k, 2, gws, lws);
    if (st == CLNAS_OK && n->nchunk > 1) return gram_chunked(n, n->G64, net->njac);
    if (st == CLNAS_OK)
        st = clnas_dgemm(n->ctx, 0, 1, B, B, net->njac, 1.0, n->G64, 0, net->njac, n->G64, 0, net->njac, 0.0,
                         n->theta, 0, B);
    if (st == CLNAS_OK) st = clnas_buf_read(n->ctx, n->theta, 0, B * B * sizeof(double), n->theta_d);
    return st;
}

clnas_status clnas_ntk_eval(clnas_ntk *n, const float *images, clnas_kappa *out, double *theta, double *eigs,
                            double *gnorm, float *G, clnas_ntk_times *times)
{
    clnas_ctx *ctx = n->ctx;
    const clnas_net *net = n->net;
    const int B = n->B, K = clnas_net_classes(net);
    clnas_ntk_times t = {0, 0, 0, 0};
    double t0 = clnas_now();
    clnas_status st = clnas_plan_forward(n->plan, images);
    if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
    double t1 = clnas_now();
    t.forward = t1 - t0;
    for (int row0 = 0; row0 < B && st == CLNAS_OK; row0 += n->S) {
        int s = B - row0 < n->S ? B - row0 : n->S;
        st = clnas_seed_rows(ctx, s, B, K, row0, clnas_plan_dlogits(n->plan));
        if (st == CLNAS_OK) {
            clnas_dt g = {n->G, (size_t)row0 * net->nparams};
            st = clnas_plan_backward(n->plan, s, g, net->nparams, 0);
        }
    }
    if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
    double t2 = clnas_now();
    t.backward = t2 - t1;
    if (st == CLNAS_OK) st = gram(n);
    double t3 = clnas_now();
    t.gram = t3 - t2;
    if (st != CLNAS_OK) return st;
    size_t BB = (size_t)B * B;
    if (theta) memcpy(theta, n->theta_d, BB * sizeof(double));
    memcpy(n->work, n->theta_d, BB * sizeof(double));
    double *w = n->w;
    char why[256];
    st = clnas_sym_eigvals(B, n->work, w, why, sizeof why);
    if (st == CLNAS_E_NUMERIC) {
        /* NaN/inf in Theta: a result (the original maps it to 1e5), not a failure */
        for (int i = 0; i < B; i++) w[i] = NAN;
        st = CLNAS_OK;
    } else if (st != CLNAS_OK) {
        return clnas_set_error(ctx, st, "the NTK's spectrum: %s", why);
    }
    *out = clnas_kappa_from_eigs(B, w);
    if (eigs) memcpy(eigs, w, (size_t)B * sizeof(double));
    t.eig = clnas_now() - t3;
    if (gnorm || G) {
        /* diagnostics for dumps: read the Jacobian back (outside the timed stages) */
        float *row = malloc(net->nparams * sizeof(float));
        if (!row) return clnas_set_error(ctx, CLNAS_E_NOMEM, "NTK: out of host memory reading the Jacobian back");
        for (int i = 0; i < B && st == CLNAS_OK; i++) {
            st = clnas_buf_read(ctx, n->G, (size_t)i * net->nparams * sizeof(float), net->nparams * sizeof(float), row);
            if (st != CLNAS_OK) break;
            double s2 = 0;
            for (size_t j = 0; j < net->njac; j++) s2 += (double)row[j] * row[j];
            if (gnorm) gnorm[i] = sqrt(s2);
            if (G) memcpy(G + (size_t)i * net->njac, row, net->njac * sizeof(float));
        }
        free(row);
    }
    if (times) *times = t;
    return st;
}

/* Everything the NTK holds on the device: its plan (activations, S seeds of activation
 * gradients, workspace) plus the Jacobian G (B x nparams floats), Theta and, for the fp64
 * Gram, G in double. Computed from the sizes the buffers were created with, so it costs
 * nothing; CLBlast's own temporaries during the Gram GEMM are not included. */
size_t clnas_ntk_device_bytes(const clnas_ntk *n)
{
    const size_t B = (size_t)n->B;
    size_t bytes = clnas_plan_device_bytes(n->plan) + B * n->net->nparams * sizeof(float) +
                   B * B * (n->fp64 ? sizeof(double) : sizeof(float));
    if (n->fp64) bytes += B * n->net->njac * sizeof(double);
    if (n->nchunk > 1) bytes += (size_t)n->nchunk * B * B * (n->fp64 ? sizeof(double) : sizeof(float));
    return bytes;
}
