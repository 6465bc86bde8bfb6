/* score_multi.c - `clnas score --devices`: the repeats of one score spread over a device pool.
 *
 * The inputs (weights, the repeats' batches and patch sets) are drawn once on the host, exactly
 * as for one device; repeat r is then computed on some device as a one-repeat score of the r-th
 * batch and patch set, with the same weights. The results are put back together in repeat order
 * with the same arithmetic as clnas_score_run (sums in repeat order), so identical devices give
 * identical numbers to a one-device score. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/multi.h"
#include "cli/score_multi.h"
#include "core/util.h"

typedef struct rep_job {
    const clnas_net *nn, *ln;
    const clnas_score_opts *o;
    const clnas_score_inputs *in;
    clnas_score_outputs *out;
    clnas_score_result *part; /* [repeats]: repeat r as a one-repeat score */
    int *dev;                 /* [repeats]: the device that computed it */
    size_t lr_bits;
} rep_job;

static clnas_status rep_work(void *ud, clnas_ctx *ctx, int d, int r)
{
    rep_job *j = ud;
    const clnas_score_inputs *in = j->in;
    size_t img = (size_t)in->channels * in->hw * in->hw, B = (size_t)in->batch;
    clnas_score_opts o1 = *j->o;
    o1.repeats = 1;
    clnas_score_inputs one = *in;
    one.repeats = 1;
    one.images = in->images ? in->images + (size_t)r * B * img : NULL;
    one.patches = in->patches ? in->patches + (size_t)r * in->lr_n * 9 : NULL;
    clnas_score_outputs o, *out = NULL;
    if (j->out) {
        o.theta = j->out->theta ? j->out->theta + (size_t)r * B * B : NULL;
        o.eigs = j->out->eigs ? j->out->eigs + (size_t)r * B : NULL;
        o.gnorm = j->out->gnorm ? j->out->gnorm + (size_t)r * B : NULL;
        o.codes = j->out->codes ? j->out->codes + (size_t)r * in->lr_n * j->lr_bits : NULL;
        out = &o;
    }
    j->dev[r] = d;
    return clnas_score_run(ctx, j->nn, j->ln, &o1, &one, &j->part[r], out);
}

/* Puts the repeats together as clnas_score_run would have (sums in repeat order). */
static void combine(const clnas_score_opts *o, const clnas_score_result *part, clnas_score_result *res, double wall)
{
    memset(res, 0, sizeof *res);
    const clnas_score_result *p0 = &part[0];
    res->repeats = o->repeats;
    res->ntk_params = p0->ntk_params;
    res->ntk_jacobian = p0->ntk_jacobian;
    res->lr_params = p0->lr_params;
    res->lr_bits = p0->lr_bits;
    res->ntk_seeds = p0->ntk_seeds;
    double ksum = 0, klog = 0, rsum = 0;
    int kbad = 0, ntk = o->metrics & CLNAS_METRIC_NTK, lr = o->metrics & CLNAS_METRIC_LR;
    for (int r = 0; r < o->repeats; r++) {
        const clnas_score_result *p = &part[r];
        res->ntk[r] = p->ntk[0];
        res->regions[r] = p->regions[0];
        res->regions_nonfinite[r] = p->regions_nonfinite[0];
        res->t_setup += p->t_setup;
        res->t_forward += p->t_forward;
        res->t_backward += p->t_backward;
        res->t_gram += p->t_gram;
        res->t_eig += p->t_eig;
        res->t_lr += p->t_lr;
        if (ntk) {
            if (res->ntk[r].status != CLNAS_KAPPA_OK) kbad = 1;
            ksum += res->ntk[r].kappa;
            klog += log(res->ntk[r].kappa);
        }
        if (lr) rsum += (double)res->regions[r];
    }
    res->kappa_mean = ntk && !kbad ? ksum / o->repeats : NAN;
    res->kappa_geomean = ntk && !kbad ? exp(klog / o->repeats) : NAN;
    res->regions_mean = lr ? rsum / o->repeats : NAN;
    res->t_total = wall;
}

clnas_status cli_score_run_pool(clnas_pool *pool, const clnas_net *nn, const clnas_net *ln, const clnas_score_opts *o,
                                const clnas_score_inputs *in, clnas_score_result *res, clnas_score_outputs *out,
                                char *err, size_t errlen)
{
    if (clnas_pool_size(pool) == 1) {
        clnas_status st = clnas_score_run(clnas_pool_ctx(pool, 0), nn, ln, o, in, res, out);
        if (st != CLNAS_OK) snprintf(err, errlen, "%s", clnas_ctx_errmsg(clnas_pool_ctx(pool, 0)));
        return st;
    }
    if (o->repeats < 1 || o->repeats > CLNAS_MAX_REPEATS || in->repeats != o->repeats) {
        snprintf(err, errlen, "the score inputs hold %d repeats, the options ask for %d", in->repeats, o->repeats);
        return CLNAS_E_SHAPE;
    }
    rep_job j = {nn, ln, o, in, out, calloc((size_t)o->repeats, sizeof *j.part), calloc((size_t)o->repeats, sizeof(int)),
                 clnas_net_relu_bits(ln)};
    clnas_status st = CLNAS_E_NOMEM;
    if (!j.part || !j.dev) snprintf(err, errlen, "out of host memory");
    else {
        clnas_pool_job job = {o->repeats, rep_work, NULL, NULL, NULL, &j, 1, NULL};
        double t0 = clnas_now();
        st = clnas_pool_run(pool, &job, NULL, err, errlen);
        if (st == CLNAS_OK) combine(o, j.part, res, clnas_now() - t0);
    }
    free(j.part);
    free(j.dev);
    return st;
}
