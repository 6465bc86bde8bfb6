/* ntk.c - the empirical NTK of one network on one batch (TENAS.md §1): one forward in
 * train-mode BN, B per-sample backward passes of the logit sums run S seeds at a time
 * straight into the rows of the Jacobian G, Theta = G G^T through CLBlast, spectrum in
 * double on the host. Nothing is allocated and nothing is read back inside an evaluation
 * except Theta (B x B). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "model/graph.h"

struct clnas_ntk {
    clnas_ctx *ctx;
    const clnas_net *net;
    clnas_plan *plan;
    int B, S, fp64;
    cl_mem G;      /* B x nparams floats: row i = gradients of seed i (Jacobian = first njac columns) */
    cl_mem theta;  /* B x B, float or double */
    cl_mem G64;    /* B x njac doubles (fp64 Gram only) */
    float *theta_f;
    double *theta_d, *work, *w; /* host scratch: Theta in double, its copy for LAPACK, eigenvalues */
};

/* Seeds in flight: $CLNAS_SEEDS if set, else as many as fit a 256 MiB activation-gradient budget. */
static int auto_seeds(const clnas_net *net, int B)
{
    const char *e = getenv("CLNAS_SEEDS");
    if (e && atoi(e) > 0) return atoi(e) < B ? atoi(e) : B;
    double per_seed = (double)net->act_per_sample * B * sizeof(float);
    int s = (int)(256.0 * 1048576.0 / (per_seed > 1 ? per_seed : 1));
    if (s < 1) s = 1;
    return s < B ? s : B;
}

clnas_status clnas_ntk_create(clnas_ctx *ctx, const clnas_net *net, const clnas_ntk_config *cfg, clnas_ntk **out)
{
    *out = NULL;
    if (cfg->batch < 1)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "NTK batch must be >= 1 (got %d)", cfg->batch);
    if (cfg->fp64_gram && !ctx->info.fp64)
        return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED, "fp64 Gram matrix requested but \"%s\" has no cl_khr_fp64",
                               ctx->info.name);
    clnas_ntk *n = calloc(1, sizeof *n);
    if (!n) return CLNAS_E_NOMEM;
    n->ctx = ctx;
    n->net = net;
    n->B = cfg->batch;
    n->S = cfg->seeds > 0 ? (cfg->seeds < cfg->batch ? cfg->seeds : cfg->batch) : auto_seeds(net, cfg->batch);
    n->fp64 = cfg->fp64_gram;
    size_t B = (size_t)n->B;
    clnas_status st;
    n->theta_f = malloc(B * B * sizeof(float));
    n->theta_d = malloc(B * B * sizeof(double));
    n->work = malloc(B * B * sizeof(double));
    n->w = malloc(B * sizeof(double));
    if (!n->theta_f || !n->theta_d || !n->work || !n->w) { st = CLNAS_E_NOMEM; goto fail; }
    CLNAS_TRY(clnas_plan_create(ctx, net, n->B, n->S, &n->plan));
    CLNAS_TRY(clnas_buf_alloc(ctx, B * net->nparams * sizeof(float), &n->G));
    CLNAS_TRY(clnas_buf_alloc(ctx, B * B * (n->fp64 ? sizeof(double) : sizeof(float)), &n->theta));
    if (n->fp64) CLNAS_TRY(clnas_buf_alloc(ctx, B * net->njac * sizeof(double), &n->G64));
    *out = n;
    return CLNAS_OK;
fail:
    clnas_ntk_destroy(n);
    return st;
}

void clnas_ntk_destroy(clnas_ntk *n)
{
    if (!n) return;
    clnas_plan_destroy(n->plan);
    clnas_buf_free(n->G);
    clnas_buf_free(n->theta);
    clnas_buf_free(n->G64);
    free(n->theta_f);
    free(n->theta_d);
    free(n->work);
    free(n->w);
    free(n);
}

int clnas_ntk_seeds(const clnas_ntk *n) { return n->S; }

clnas_status clnas_ntk_set_params(clnas_ntk *n, const float *params) { return clnas_plan_set_params(n->plan, params); }

static clnas_status gram(clnas_ntk *n)
{
    const clnas_net *net = n->net;
    size_t B = (size_t)n->B;
    if (!n->fp64) {
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
    if (st == CLNAS_OK) st = clnas_launch(n->ctx, k, 2, gws, lws);
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
    const int B = n->B, K = net->cfg.classes;
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
    st = clnas_sym_eigvals(B, n->work, w);
    if (st == CLNAS_E_NUMERIC) {
        /* NaN/inf in Theta: a result (the original maps it to 1e5), not a failure */
        for (int i = 0; i < B; i++) w[i] = NAN;
        st = CLNAS_OK;
    } else if (st == CLNAS_E_LAPACK) {
        return clnas_set_error(ctx, st, "LAPACKE_dsyevd failed to converge on the %dx%d NTK", B, B);
    }
    *out = clnas_kappa_from_eigs(B, w);
    if (eigs) memcpy(eigs, w, (size_t)B * sizeof(double));
    t.eig = clnas_now() - t3;
    if (gnorm || G) {
        /* diagnostics for dumps: read the Jacobian back (outside the timed stages) */
        float *row = malloc(net->nparams * sizeof(float));
        if (!row) return CLNAS_E_NOMEM;
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
