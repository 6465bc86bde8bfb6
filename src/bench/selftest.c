/* selftest.c - `clnas selftest` in the library: one NAS-Bench-201 network run forward and
 * backward on the device (S seeds at once, the NTK's one-hot logit-sum seeds) and the same on the
 * double-precision host reference, and how far apart the logits and the parameter gradients are. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_impl.h"
#include "core/rng.h"

/* max |got - ref| over the reference's scale (max |ref|); inf when got has a NaN or inf. */
static double rel_err(const float *got, const double *ref, size_t n)
{
    double scale = 1e-30, worst = 0;
    for (size_t i = 0; i < n; i++) if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        double e = fabs((double)got[i] - ref[i]);
        if (e > worst) worst = e;
    }
    return worst / scale;
}

/* Host buffers of one case: device results (float) and the reference's (double). */
typedef struct st_bufs {
    float *x, *params, *logits, *dl, *pg;
    double *xd, *pd, *ld, *dld, *pgd;
} st_bufs;

static void bufs_free(st_bufs *b)
{
    free(b->x); free(b->xd); free(b->params); free(b->pd); free(b->logits);
    free(b->ld); free(b->dl); free(b->dld); free(b->pg); free(b->pgd);
}

/* The reference's errors against the device's results in b: forward (*ef) and the worst seed's
 * parameter gradients (*eb). */
static clnas_status compare(clnas_ctx *ctx, const clnas_net *net, int B, int S, st_bufs *b, double *ef, double *eb)
{
    const int K = clnas_net_classes(net);
    const size_t np = clnas_net_nparams(net), nl = (size_t)B * K;
    if (clnas_ref_forward(net, B, b->pd, b->xd, b->ld) != CLNAS_OK)
        return clnas_set_error(ctx, CLNAS_E_NUMERIC, "the host reference forward failed");
    *ef = rel_err(b->logits, b->ld, nl);
    *eb = 0;
    for (int s = 0; s < S; s++) {
        memset(b->dld, 0, nl * sizeof *b->dld);
        for (int k = 0; k < K; k++) b->dld[(size_t)(s % B) * K + k] = 1.0;
        if (clnas_ref_backward(net, B, b->pd, b->xd, b->dld, b->pgd, NULL) != CLNAS_OK)
            return clnas_set_error(ctx, CLNAS_E_NUMERIC, "the host reference backward failed");
        double e = rel_err(b->pg + (size_t)s * np, b->pgd, np);
        if (e > *eb) *eb = e;
    }
    return CLNAS_OK;
}

clnas_status clnas_selftest_run(clnas_ctx *ctx, const clnas_selftest_case *c, double *ef, double *eb, double *secs)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_default(&cfg);
    cfg.C = c->C; cfg.N = c->N; cfg.input_hw = c->input; cfg.use_stem = c->stem; cfg.depth = c->depth;
    cfg.in_channels = c->in_ch;
    clnas_net *net = NULL;
    clnas_plan *plan = NULL;
    st_bufs b;
    memset(&b, 0, sizeof b);
    clnas_status st = bench_build_net(ctx, &cfg, c->arch, &net);
    if (st != CLNAS_OK) return st;
    int ic, ih, iw;
    clnas_net_input_shape(net, &ic, &ih, &iw);
    const int B = c->batch, S = c->seeds, K = clnas_net_classes(net);
    size_t nx = (size_t)B * ic * ih * iw, np = clnas_net_nparams(net), nl = (size_t)B * K;
    b.x = malloc(nx * sizeof *b.x); b.xd = malloc(nx * sizeof *b.xd);
    b.params = malloc(np * sizeof *b.params); b.pd = malloc(np * sizeof *b.pd);
    b.logits = malloc(nl * sizeof *b.logits); b.ld = malloc(nl * sizeof *b.ld);
    b.dl = calloc((size_t)S * nl, sizeof *b.dl); b.dld = calloc(nl, sizeof *b.dld);
    b.pg = malloc((size_t)S * np * sizeof *b.pg); b.pgd = malloc(np * sizeof *b.pgd);
    if (!b.x || !b.xd || !b.params || !b.pd || !b.logits || !b.ld || !b.dl || !b.dld || !b.pg || !b.pgd) {
        st = clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory");
        goto done;
    }
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, 42, 1);
    for (size_t i = 0; i < nx; i++) { b.x[i] = (float)clnas_pcg32_uniform(&r, -2, 2); b.xd[i] = b.x[i]; }
    clnas_net_init_params(net, 7, 0, CLNAS_INIT_PYTORCH, b.params);
    for (size_t i = 0; i < np; i++) b.pd[i] = b.params[i];
    double t0 = clnas_now();
    CLNAS_TRY(clnas_plan_create(ctx, net, B, S, CLNAS_PLAN_PARAM_GRADS, &plan));
    CLNAS_TRY(clnas_plan_set_params(plan, b.params));
    CLNAS_TRY(clnas_plan_forward(plan, b.x));
    CLNAS_TRY(clnas_plan_read_logits(plan, b.logits));
    /* the NTK seeds: d(sum of logits of sample s)/d(everything) */
    for (int s = 0; s < S; s++)
        for (int k = 0; k < K; k++) b.dl[(size_t)s * nl + (size_t)(s % B) * K + k] = 1.0f;
    CLNAS_TRY(clnas_plan_backward_host(plan, S, b.dl, b.pg, NULL));
    *secs = clnas_now() - t0;
    st = compare(ctx, net, B, S, &b, ef, eb);
fail:
done:
    clnas_plan_destroy(plan);
    clnas_net_destroy(net);
    bufs_free(&b);
    return st;
}
