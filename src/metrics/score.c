/* score.c - TE-NAS's scoring recipe (TENAS.md §1-§2, §6) on the two proxies of one architecture:
 * NTK proxy (C=3, N=1) on K batches of B augmented training images with the same weights;
 * linear-region proxy (C=1, one cell, no stem) on K x lr_batches x lr_batch patches with the
 * same weights. Weights come from the counter-based generator keyed by (seed, stream, module),
 * so architectures scored with the same seed and stream share every module they have in
 * common; images and patches come from samplers keyed by the seed alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "internal.h"
#include "metrics/streams.h"


void clnas_score_opts_default(clnas_score_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dataset = CLNAS_DS_CIFAR10;
    o->metrics = CLNAS_METRIC_NTK | CLNAS_METRIC_LR;
    o->batch = 72;
    o->repeats = 3;
    o->lr_batch = 1000;
    o->lr_batches = 3;
    o->seed = 0;
    o->stream = 0;
    o->init = CLNAS_INIT_PYTORCH;
}

static int check_opts(const clnas_score_opts *o, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (o->batch < 2) bad = "the NTK batch must be >= 2 (kappa needs at least two eigenvalues)";
    else if (o->repeats < 1 || o->repeats > CLNAS_MAX_REPEATS) bad = "repeats must be in [1, 64]";
    else if (o->lr_batch < 1 || o->lr_batches < 1) bad = "linear-region batch and batch count must be >= 1";
    else if (!(o->metrics & (CLNAS_METRIC_NTK | CLNAS_METRIC_LR))) bad = "no metric selected";
    if (bad && err) snprintf(err, errlen, "%s", bad);
    return bad == NULL;
}

void clnas_score_inputs_free(clnas_score_inputs *in)
{
    if (!in) return;
    free(in->ntk_params);
    free(in->lr_params);
    free(in->images);
    free(in->patches);
    memset(in, 0, sizeof *in);
}

/* The proxies' input shapes against the options: images of the data set, 1 x 3 x 3 patches. */
static int check_nets(const clnas_net *nn, const clnas_net *ln, const clnas_score_opts *o, char *err, size_t errlen)
{
    int c, h, w, hw = clnas_dataset_hw(o->dataset);
    clnas_net_input_shape(nn, &c, &h, &w);
    if (c != 3 || h != hw || w != hw) {
        if (err) snprintf(err, errlen, "the NTK network takes %dx%dx%d inputs, %s images are 3x%dx%d", c, h, w,
                          clnas_dataset_name(o->dataset), hw, hw);
        return 0;
    }
    clnas_net_input_shape(ln, &c, &h, &w);
    if (c != 1 || h != 3 || w != 3) {
        if (err) snprintf(err, errlen, "the linear-region network takes %dx%dx%d inputs, the patches are 1x3x3", c, h, w);
        return 0;
    }
    return 1;
}

clnas_status clnas_score_inputs_make(const clnas_net *nn, const clnas_net *ln, const clnas_dataset *data,
                                     const clnas_score_opts *o, clnas_score_inputs *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    if (!check_opts(o, err, errlen) || !check_nets(nn, ln, o, err, errlen)) return CLNAS_E_INVALID_ARG;
    if (clnas_dataset_kind_of(data) != o->dataset) {
        if (err) snprintf(err, errlen, "the data set is %s but the scores were asked for %s",
                          clnas_dataset_name(clnas_dataset_kind_of(data)), clnas_dataset_name(o->dataset));
        return CLNAS_E_INVALID_ARG;
    }
    if (clnas_net_classes(nn) != clnas_dataset_num_classes(data)) { /* an ImageNet folder may hold fewer classes */
        if (err) snprintf(err, errlen, "the NTK network has %d outputs but the data set (%s) has %d classes",
                          clnas_net_classes(nn), clnas_dataset_source(data), clnas_dataset_num_classes(data));
        return CLNAS_E_INVALID_ARG;
    }
    clnas_status st = CLNAS_OK;
    clnas_sampler *si = NULL, *sp = NULL;
    in->repeats = o->repeats;
    in->batch = o->batch;
    in->channels = 3;
    in->hw = clnas_dataset_hw(o->dataset);
    in->lr_n = o->lr_batch * o->lr_batches;
    /* the NTK and LR nets draw from different weight streams: 2*stream and 2*stream+1 */
    in->ntk_nparams = clnas_net_nparams(nn);
    in->lr_nparams = clnas_net_nparams(ln);
    in->ntk_params = malloc(in->ntk_nparams * sizeof(float));
    in->lr_params = malloc(in->lr_nparams * sizeof(float));
    size_t img = (size_t)in->channels * in->hw * in->hw;
    if (o->metrics & CLNAS_METRIC_NTK) in->images = malloc((size_t)o->repeats * o->batch * img * sizeof(float));
    if (o->metrics & CLNAS_METRIC_LR) in->patches = malloc((size_t)o->repeats * in->lr_n * 9 * sizeof(float));
    if (!in->ntk_params || !in->lr_params || ((o->metrics & CLNAS_METRIC_NTK) && !in->images) ||
        ((o->metrics & CLNAS_METRIC_LR) && !in->patches)) {
        if (err) snprintf(err, errlen, "out of host memory for the inputs (%.1f MiB of images, %.1f MiB of patches, weights)",
                          (double)o->repeats * o->batch * img * 4 / 1048576.0, (double)o->repeats * in->lr_n * 36 / 1048576.0);
        st = CLNAS_E_NOMEM;
        goto done;
    }
    clnas_net_init_params(nn, o->seed, 2 * o->stream, o->init, in->ntk_params);
    clnas_net_init_params(ln, o->seed, 2 * o->stream + 1, o->init, in->lr_params);
    if ((st = clnas_sampler_create(data, o->seed, CLNAS_STREAM_NTK_DATA, &si)) != CLNAS_OK ||
        (st = clnas_sampler_create(data, o->seed, CLNAS_STREAM_LR_DATA, &sp)) != CLNAS_OK) {
        if (err) snprintf(err, errlen, "cannot create the data samplers (%s)", clnas_status_str(st));
        goto done;
    }
    for (int r = 0; r < o->repeats; r++) {
        if (in->images) clnas_sampler_batch(si, o->batch, 1, in->images + (size_t)r * o->batch * img, NULL);
        if (in->patches) clnas_sampler_patches(sp, in->lr_n, in->patches + (size_t)r * in->lr_n * 9);
    }
done:
    clnas_sampler_destroy(si);
    clnas_sampler_destroy(sp);
    if (st != CLNAS_OK) {
        if (err && st == CLNAS_E_NOMEM) snprintf(err, errlen, "out of host memory preparing the score inputs");
        clnas_score_inputs_free(in);
    }
    return st;
}

clnas_status clnas_score_run(clnas_ctx *ctx, const clnas_net *nn, const clnas_net *ln, const clnas_score_opts *o,
                             const clnas_score_inputs *in, clnas_score_result *res, clnas_score_outputs *out)
{
    char err[512] = "";
    memset(res, 0, sizeof *res);
    if (!check_opts(o, err, sizeof err) || !check_nets(nn, ln, o, err, sizeof err))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s", err);
    double t_start = clnas_now();
    clnas_ntk *ntk = NULL;
    clnas_lr *lr = NULL;
    clnas_status st = CLNAS_OK;
    res->repeats = o->repeats;
    res->ntk_params = clnas_net_nparams(nn);
    res->ntk_jacobian = clnas_net_njacobian(nn);
    res->lr_params = clnas_net_nparams(ln);
    res->lr_bits = clnas_net_relu_bits(ln);
    if (in->ntk_nparams != res->ntk_params || in->lr_nparams != res->lr_params || in->repeats != o->repeats ||
        in->batch != o->batch || in->lr_n != o->lr_batch * o->lr_batches) {
        st = clnas_set_error(ctx, CLNAS_E_SHAPE, "score inputs do not match the architecture and options "
                             "(%zu/%zu NTK and %zu/%zu LR parameters, %d/%d repeats)", in->ntk_nparams,
                             res->ntk_params, in->lr_nparams, res->lr_params, in->repeats, o->repeats);
        goto done;
    }
    if (o->metrics & CLNAS_METRIC_NTK) {
        clnas_ntk_config nc = {o->batch, o->seeds, o->fp64_gram};
        CLNAS_TRY(clnas_ntk_create(ctx, nn, &nc, &ntk));
        CLNAS_TRY(clnas_ntk_set_params(ntk, in->ntk_params));
        res->ntk_seeds = clnas_ntk_seeds(ntk);
    }
    if (o->metrics & CLNAS_METRIC_LR) {
        CLNAS_TRY(clnas_lr_create(ctx, ln, o->lr_batch, &lr));
        CLNAS_TRY(clnas_lr_set_params(lr, in->lr_params));
    }
    res->t_setup = clnas_now() - t_start;
    size_t img = (size_t)in->channels * in->hw * in->hw, B = (size_t)o->batch;
    double ksum = 0, klog = 0, rsum = 0;
    int kbad = 0, rbad = 0;
    for (int r = 0; r < o->repeats; r++) {
        if (ntk) {
            clnas_ntk_times t;
            CLNAS_TRY(clnas_ntk_eval(ntk, in->images + (size_t)r * B * img, &res->ntk[r],
                                     out && out->theta ? out->theta + (size_t)r * B * B : NULL,
                                     out && out->eigs ? out->eigs + (size_t)r * B : NULL,
                                     out && out->gnorm ? out->gnorm + (size_t)r * B : NULL, NULL, &t));
            res->t_forward += t.forward;
            res->t_backward += t.backward;
            res->t_gram += t.gram;
            res->t_eig += t.eig;
            if (res->ntk[r].status != CLNAS_KAPPA_OK) kbad = 1;
            ksum += res->ntk[r].kappa;
            klog += log(res->ntk[r].kappa);
        }
        if (lr) {
            double t0 = clnas_now();
            CLNAS_TRY(clnas_lr_count(lr, in->patches + (size_t)r * in->lr_n * 9, in->lr_n, &res->regions[r],
                                     &res->regions_nonfinite[r],
                                     out && out->codes ? out->codes + (size_t)r * in->lr_n * res->lr_bits : NULL));
            res->t_lr += clnas_now() - t0;
            rsum += (double)res->regions[r];
            if (res->regions_nonfinite[r]) rbad = 1;
        }
    }
    res->kappa_mean = ntk && !kbad ? ksum / o->repeats : NAN;
    res->kappa_geomean = ntk && !kbad ? exp(klog / o->repeats) : NAN;
    res->regions_mean = lr && !rbad ? rsum / o->repeats : NAN; /* undefined like kappa: NaN has no sign */
    res->t_total = clnas_now() - t_start;
done:
    clnas_ntk_destroy(ntk);
    clnas_lr_destroy(lr);
    return st;
fail:
    goto done;
}

clnas_status clnas_score_nb201(clnas_ctx *ctx, const clnas_nb201_arch *arch, const clnas_dataset *data,
                               const clnas_score_opts *opts, clnas_score_result *res)
{
    clnas_score_inputs in;
    char err[512] = "";
    clnas_net *nn = NULL, *ln = NULL;
    clnas_status st = clnas_nb201_proxies(arch, opts->dataset, &nn, &ln, err, sizeof err);
    if (st != CLNAS_OK) return clnas_set_error(ctx, st, "%s", err);
    st = clnas_score_inputs_make(nn, ln, data, opts, &in, err, sizeof err);
    if (st == CLNAS_OK) {
        st = clnas_score_run(ctx, nn, ln, opts, &in, res, NULL);
        clnas_score_inputs_free(&in);
    } else {
        clnas_set_error(ctx, st, "%s", err);
    }
    clnas_net_destroy(nn);
    clnas_net_destroy(ln);
    return st;
}
