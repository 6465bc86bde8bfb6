/* asvit_score.c - As-ViT's kappa and length distortion (asvit_score.h, TENAS.md §8.3-8.4):
 * inputs (per-copy weights, one image batch, per-copy circles), kappa through the NTK machinery
 * of ntk.c, L by one forward-mode JVP per point (or, as a cross-check, by per-coordinate reverse
 * passes that return the input gradient: the original's algorithm), and the same two numbers
 * on the double-precision host reference for small networks (tests). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/asvit_score.h"
#include "core/rng.h"
#include "core/util.h"
#include "data/image.h"
#include "model/graph.h"

void clnas_asvit_score_opts_default(clnas_asvit_score_opts *o)
{
    memset(o, 0, sizeof *o);
    o->metrics = CLNAS_ASVIT_METRIC_NTK | CLNAS_ASVIT_METRIC_LD;
    o->batch = 16;
    o->repeats = 5;
    o->points = 10;
    o->augment = 1;
}

void clnas_asvit_inputs_free(clnas_asvit_inputs *in)
{
    if (!in) return;
    free(in->params);
    free(in->images);
    free(in->circle);
    memset(in, 0, sizeof *in);
}

clnas_status clnas_asvit_feature_nets(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, clnas_net **feat_ln,
                                      clnas_net **feat_id, char *err, size_t errlen)
{
    clnas_asvit_config c = *cfg;
    c.head = 0;
    clnas_status st = CLNAS_OK;
    if (feat_ln) {
        *feat_ln = NULL;
        c.norm = 1;
        st = clnas_asvit_build(t, &c, feat_ln, err, errlen);
    }
    if (st == CLNAS_OK && feat_id) {
        *feat_id = NULL;
        c.norm = 0;
        st = clnas_asvit_build(t, &c, feat_id, err, errlen);
        if (st != CLNAS_OK && feat_ln) {
            clnas_net_destroy(*feat_ln);
            *feat_ln = NULL;
        }
    }
    return st;
}

/* ---- inputs ---- */

/* torchvision's RandomResizedCrop(scale (0.08, 1), ratio (3/4, 4/3)) box on an s x s image. */
static void rrc_box(clnas_pcg32 *r, int s, int *x0, int *y0, int *w, int *h)
{
    const double area = (double)s * s, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; attempt++) {
        double ta = area * clnas_pcg32_uniform(r, 0.08, 1.0), ar = exp(clnas_pcg32_uniform(r, lr0, lr1));
        int cw = (int)lround(sqrt(ta * ar)), ch = (int)lround(sqrt(ta / ar));
        if (cw > 0 && cw <= s && ch > 0 && ch <= s) {
            *y0 = (int)clnas_pcg32_below(r, (uint32_t)(s - ch + 1));
            *x0 = (int)clnas_pcg32_below(r, (uint32_t)(s - cw + 1));
            *w = cw;
            *h = ch;
            return;
        }
    }
    *x0 = *y0 = 0; /* square image: the fallback is the whole image */
    *w = *h = s;
}

/* One image of the batch: (crop), resize to hw, (flip), /255, ImageNet normalisation. */
static clnas_status one_image(const uint8_t *planar, int s, int hw, int augment, clnas_pcg32 *r, uint8_t *crop,
                              uint8_t *big, float *out)
{
    int x0 = 0, y0 = 0, w = s, h = s, flip = 0;
    if (augment) {
        rrc_box(r, s, &x0, &y0, &w, &h);
        flip = clnas_pcg32_double(r) < 0.5;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) crop[((size_t)y * w + x) * 3 + c] = planar[((size_t)c * s + y0 + y) * s + x0 + x];
    clnas_status st = clnas_resize_bilinear_aa(crop, w, h, 3, big, hw, hw);
    if (st != CLNAS_OK) return st;
    float mean[3], sd[3];
    clnas_dataset_norm(CLNAS_DS_IMAGENET, mean, sd);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < hw; y++)
            for (int x = 0; x < hw; x++) {
                int sx = flip ? hw - 1 - x : x;
                out[((size_t)c * hw + y) * hw + x] = ((float)big[((size_t)y * hw + sx) * 3 + c] / 255.0f - mean[c]) / sd[c];
            }
    return CLNAS_OK;
}

static clnas_status make_images(const clnas_dataset *d, const clnas_asvit_score_opts *o, int hw, float *out,
                                char *err, size_t errlen)
{
    const int s = clnas_dataset_hw(clnas_dataset_kind_of(d)), n = clnas_dataset_size(d);
    if (n < o->batch) {
        if (err) snprintf(err, errlen, "the data set holds %d images, the batch needs %d", n, o->batch);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, o->seed, 0xA5F17);
    uint8_t *crop = malloc((size_t)s * s * 3), *big = malloc((size_t)hw * hw * 3);
    int *idx = malloc((size_t)n * sizeof *idx);
    clnas_status st = crop && big && idx ? CLNAS_OK : CLNAS_E_NOMEM;
    for (int i = 0; st == CLNAS_OK && i < n; i++) idx[i] = i;
    for (int b = 0; st == CLNAS_OK && b < o->batch; b++) { /* partial Fisher-Yates: distinct images */
        int j = b + (int)clnas_pcg32_below(&r, (uint32_t)(n - b)), tmp = idx[b];
        idx[b] = idx[j];
        idx[j] = tmp;
        st = one_image(clnas_dataset_image(d, idx[b]), s, hw, o->augment, &r, crop, big, out + (size_t)b * 3 * hw * hw);
    }
    free(crop);
    free(big);
    free(idx);
    if (st != CLNAS_OK && err) snprintf(err, errlen, "making the image batch failed (%s)", clnas_status_str(st));
    return st;
}

/* Two orthonormal Gaussian directions (Gram-Schmidt in double; the original takes the left
 * singular vectors of the same kind of matrix: another orthonormal basis of such a plane). */
static void make_circle(uint64_t seed, int r, size_t n, float *u, float *v)
{
    const uint64_t ku = clnas_key_combine(clnas_key_combine(seed, 0xC12C1E), (uint64_t)r * 2);
    const uint64_t kv = clnas_key_combine(clnas_key_combine(seed, 0xC12C1E), (uint64_t)r * 2 + 1);
    double nu = 0, dot = 0, nv = 0;
    for (size_t i = 0; i < n; i++) nu += clnas_ctr_normal(ku, i) * clnas_ctr_normal(ku, i);
    nu = sqrt(nu);
    for (size_t i = 0; i < n; i++) dot += clnas_ctr_normal(kv, i) * clnas_ctr_normal(ku, i) / nu;
    for (size_t i = 0; i < n; i++) {
        double w = clnas_ctr_normal(kv, i) - dot * clnas_ctr_normal(ku, i) / nu;
        nv += w * w;
    }
    nv = sqrt(nv);
    for (size_t i = 0; i < n; i++) {
        u[i] = (float)(clnas_ctr_normal(ku, i) / nu);
        v[i] = (float)((clnas_ctr_normal(kv, i) - dot * clnas_ctr_normal(ku, i) / nu) / nv);
    }
}

static const layer *find_layer(const clnas_net *n, const char *name)
{
    for (int i = 0; i < n->nlayers; i++)
        if (!strcmp(n->layers[i].name, name)) return &n->layers[i];
    return NULL;
}

/* Copy r's weights: stream + r, except the patch conv, which keeps stream's draw. */
static void copy_params(const clnas_net *net, const clnas_asvit_score_opts *o, int r, float *p, float *tmp)
{
    clnas_net_init_params(net, o->seed, o->stream + (uint64_t)r, CLNAS_INIT_PYTORCH, p);
    if (r == 0) return;
    clnas_net_init_params(net, o->seed, o->stream, CLNAS_INIT_PYTORCH, tmp);
    const layer *pe = find_layer(net, "patch_embed.proj");
    if (!pe) return;
    memcpy(p + pe->w_off, tmp + pe->w_off, pe->w_len * sizeof(float));
    memcpy(p + pe->b_off, tmp + pe->b_off, pe->b_len * sizeof(float));
}

clnas_status clnas_asvit_inputs_make(const clnas_net *feat_ln, const clnas_dataset *data,
                                     const clnas_asvit_score_opts *o, clnas_asvit_inputs *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    if (o->batch < 2 || o->repeats < 1 || o->repeats > CLNAS_MAX_REPEATS || o->points < 1 || o->points > 1000) {
        if (err) snprintf(err, errlen, "batch must be >= 2, repeats in [1, %d], points in [1, 1000]", CLNAS_MAX_REPEATS);
        return CLNAS_E_INVALID_ARG;
    }
    int c, h, w;
    clnas_net_input_shape(feat_ln, &c, &h, &w);
    in->repeats = o->repeats;
    in->batch = o->batch;
    in->hw = h;
    in->points = o->points;
    in->nparams = clnas_net_nparams(feat_ln);
    const size_t px = (size_t)3 * h * w;
    in->params = malloc((size_t)o->repeats * in->nparams * sizeof(float));
    in->images = malloc((size_t)o->batch * px * sizeof(float));
    in->circle = malloc((size_t)o->repeats * 2 * px * sizeof(float));
    float *tmp = malloc(in->nparams * sizeof(float));
    clnas_status st = in->params && in->images && in->circle && tmp ? CLNAS_OK : CLNAS_E_NOMEM;
    for (int r = 0; st == CLNAS_OK && r < o->repeats; r++) {
        copy_params(feat_ln, o, r, in->params + (size_t)r * in->nparams, tmp);
        make_circle(o->seed, r, px, in->circle + (size_t)r * 2 * px, in->circle + ((size_t)r * 2 + 1) * px);
    }
    free(tmp);
    if (st == CLNAS_OK && (o->metrics & CLNAS_ASVIT_METRIC_NTK)) st = make_images(data, o, h, in->images, err, errlen);
    else if (st == CLNAS_OK) memset(in->images, 0, (size_t)o->batch * px * sizeof(float));
    if (st == CLNAS_E_NOMEM && err) snprintf(err, errlen, "out of host memory for the score inputs");
    if (st != CLNAS_OK) clnas_asvit_inputs_free(in);
    return st;
}

/* Copies the tensors of net `src` (params s) into those of the same name in `dst` (params d):
 * the identity-LN network's weights are the LayerNorm network's minus the LayerNorms. */
static void map_params(const clnas_net *src, const float *s, const clnas_net *dst, float *d)
{
    for (int i = 0; i < dst->nlayers; i++) {
        const layer *l = &dst->layers[i];
        if (!l->w_len && !l->b_len) continue;
        const layer *m = find_layer(src, l->name);
        if (!m) continue;
        if (l->w_len) memcpy(d + l->w_off, s + m->w_off, l->w_len * sizeof(float));
        if (l->b_len) memcpy(d + l->b_off, s + m->b_off, l->b_len * sizeof(float));
    }
}

/* The original's kappa value entering its mean: lambda_max / lambda_min as computed, -1 for NaN. */
static double kappa_orig(const clnas_kappa *k)
{
    if (k->status == CLNAS_KAPPA_NAN) return -1;
    return k->lambda_max / k->lambda_min;
}

/* ---- host reference (double) ---- */

static double *to_double(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (d)
        for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* kappa on the host: per-sample gradients of the sum of the features, one sample at a time. */
static clnas_status kappa_host(const clnas_net *net, const float *params, const float *images, int B, clnas_kappa *out)
{
    const size_t P = net->nparams, J = net->njac, px = tensor_size(&net->tensors[0]);
    const int F = clnas_net_classes(net);
    double *p = to_double(params, P), *G = malloc((size_t)B * J * sizeof *G), *pg = malloc(P * sizeof *pg);
    double *ones = malloc((size_t)F * sizeof *ones), *th = malloc((size_t)B * B * sizeof *th), *w = malloc((size_t)B * sizeof *w);
    double *x = to_double(images, (size_t)B * px);
    clnas_status st = p && G && pg && ones && th && w && x ? CLNAS_OK : CLNAS_E_NOMEM;
    for (int c = 0; st == CLNAS_OK && c < F; c++) ones[c] = 1;
    for (int i = 0; st == CLNAS_OK && i < B; i++) {
        memset(pg, 0, P * sizeof *pg);
        st = clnas_ref_backward(net, 1, p, x + (size_t)i * px, ones, pg, NULL);
        if (st == CLNAS_OK) memcpy(G + (size_t)i * J, pg, J * sizeof *G);
    }
    for (int i = 0; st == CLNAS_OK && i < B; i++)
        for (int j = 0; j < B; j++) {
            double acc = 0;
            for (size_t k = 0; k < J; k++) acc += G[(size_t)i * J + k] * G[(size_t)j * J + k];
            th[(size_t)i * B + j] = acc;
        }
    if (st == CLNAS_OK) {
        clnas_status es = clnas_sym_eigvals(B, th, w, NULL, 0);
        if (es == CLNAS_E_NUMERIC) for (int i = 0; i < B; i++) w[i] = NAN;
        else if (es != CLNAS_OK) st = es;
        if (st == CLNAS_OK) *out = clnas_kappa_from_eigs(B, w);
    }
    free(p); free(G); free(pg); free(ones); free(th); free(w); free(x);
    return st;
}

/* Point k of P on the circle of (u, v): x = cos t u + sin t v and dx/dt = -sin t u + cos t v,
 * t = 2 pi k / (P - 1) (linspace(0, 2 pi, P); one point at t = 0 for P = 1). */
static void circle_point(const float *u, const float *v, size_t n, int k, int P, float *x, float *dx)
{
    const double t = P > 1 ? 6.283185307179586476925 * k / (P - 1) : 0.0, c = cos(t), s = sin(t);
    for (size_t i = 0; i < n; i++) {
        if (x) x[i] = (float)(c * u[i] + s * v[i]);
        if (dx) dx[i] = (float)(-s * u[i] + c * v[i]);
    }
}

/* L on the host: for every point and output coordinate, the input gradient dotted with dx/dt. */
static clnas_status ld_host_reverse(const clnas_net *net, const float *params, const float *u, const float *v, int P,
                            double *L)
{
    const size_t NP = net->nparams, px = tensor_size(&net->tensors[0]);
    const int F = clnas_net_classes(net);
    double *p = to_double(params, NP), *pg = malloc(NP * sizeof *pg), *xd = malloc(px * sizeof *xd);
    double *dxd = malloc(px * sizeof *dxd), *gin = malloc(px * sizeof *gin), *e = calloc((size_t)F, sizeof *e);
    float *x = malloc(px * sizeof *x), *dx = malloc(px * sizeof *dx);
    clnas_status st = p && pg && xd && dxd && gin && e && x && dx ? CLNAS_OK : CLNAS_E_NOMEM;
    double sum = 0;
    for (int k = 0; st == CLNAS_OK && k < P; k++) {
        circle_point(u, v, px, k, P, x, dx);
        for (size_t i = 0; i < px; i++) { xd[i] = x[i]; dxd[i] = dx[i]; }
        double n2 = 0;
        for (int c = 0; st == CLNAS_OK && c < F; c++) {
            e[c] = 1;
            memset(gin, 0, px * sizeof *gin);
            st = clnas_ref_backward(net, 1, p, xd, e, pg, gin);
            e[c] = 0;
            double jv = 0;
            for (size_t i = 0; i < px; i++) jv += gin[i] * dxd[i];
            n2 += jv * jv;
        }
        sum += sqrt(n2);
    }
    *L = sum;
    free(p); free(pg); free(xd); free(dxd); free(gin); free(e); free(x); free(dx);
    return st;
}

/* ---- device ---- */

static clnas_status kappa_device(clnas_ctx *ctx, const clnas_net *net, const clnas_asvit_score_opts *o,
                                 const float *params, const float *images, clnas_kappa *out)
{
    clnas_ntk_config nc = {o->batch, o->seeds, o->fp64_gram};
    clnas_ntk *ntk = NULL;
    clnas_status st = clnas_ntk_create(ctx, net, &nc, &ntk);
    if (st == CLNAS_OK) st = clnas_ntk_set_params(ntk, params);
    if (st == CLNAS_OK) st = clnas_ntk_eval(ntk, images, out, NULL, NULL, NULL, NULL, NULL);
    clnas_ntk_destroy(ntk);
    return st;
}

/* Seeds (output coordinates) per reverse pass for L: $CLNAS_SEEDS, else what fits 256 MiB of
 * activation gradients, at most F. */
static int ld_seeds(const clnas_net *net, int pb, int F, int given)
{
    int s = given;
    const char *e = getenv("CLNAS_SEEDS");
    if (s <= 0 && e && atoi(e) > 0) s = atoi(e);
    if (s <= 0) s = (int)((256.0 * 1024 * 1024) / ((double)net->act_per_sample * pb * sizeof(float)));
    if (s < 1) s = 1;
    return s < F ? s : F;
}

/* L on the device: the points in one batch, S output coordinates per reverse pass; the input
 * gradient of coordinate c at point k dotted with dx/dt is (dy/dt)_c at t_k. */
static clnas_status ld_device_reverse(clnas_ctx *ctx, const clnas_net *net, const clnas_asvit_score_opts *o,
                              const float *params, const float *u, const float *v, double *L)
{
    const int P = o->points, F = clnas_net_classes(net);
    const size_t px = tensor_size(&net->tensors[0]);
    const int S = ld_seeds(net, P, F, o->seeds);
    clnas_plan *plan = NULL;
    float *x = malloc((size_t)P * px * sizeof *x), *dx = malloc((size_t)P * px * sizeof *dx);
    float *dl = calloc((size_t)S * P * F, sizeof *dl), *pg = malloc((size_t)S * net->nparams * sizeof *pg);
    float *din = malloc((size_t)S * P * px * sizeof *din);
    double *jv = calloc((size_t)P * F, sizeof *jv);
    clnas_status st = x && dx && dl && pg && din && jv ? CLNAS_OK : CLNAS_E_NOMEM;
    for (int k = 0; st == CLNAS_OK && k < P; k++) circle_point(u, v, px, k, P, x + (size_t)k * px, dx + (size_t)k * px);
    if (st == CLNAS_OK) st = clnas_plan_create(ctx, net, P, S, CLNAS_PLAN_PARAM_GRADS, &plan);
    if (st == CLNAS_OK) st = clnas_plan_set_params(plan, params);
    if (st == CLNAS_OK) st = clnas_plan_forward(plan, x);
    for (int c0 = 0; st == CLNAS_OK && c0 < F; c0 += S) {
        const int s = F - c0 < S ? F - c0 : S;
        memset(dl, 0, (size_t)S * P * F * sizeof *dl);
        for (int j = 0; j < s; j++)
            for (int k = 0; k < P; k++) dl[((size_t)j * P + k) * F + c0 + j] = 1.0f;
        st = clnas_plan_backward_host(plan, s, dl, pg, din);
        for (int j = 0; st == CLNAS_OK && j < s; j++)
            for (int k = 0; k < P; k++) {
                const float *g = din + ((size_t)j * P + k) * px, *t = dx + (size_t)k * px;
                double acc = 0;
                for (size_t i = 0; i < px; i++) acc += (double)g[i] * t[i];
                jv[(size_t)k * F + c0 + j] = acc;
            }
    }
    double sum = 0;
    for (int k = 0; st == CLNAS_OK && k < P; k++) {
        double n2 = 0;
        for (int c = 0; c < F; c++) n2 += jv[(size_t)k * F + c] * jv[(size_t)k * F + c];
        sum += sqrt(n2);
    }
    *L = sum;
    clnas_plan_destroy(plan);
    free(x); free(dx); free(dl); free(pg); free(din); free(jv);
    return st;
}

/* ---- L by forward mode: one JVP per point along dx/dt ---- */

static clnas_status ld_host_jvp(const clnas_net *net, const float *params, const float *u, const float *v, int P,
                                double *L)
{
    const size_t NP = net->nparams, px = tensor_size(&net->tensors[0]);
    const int F = clnas_net_classes(net);
    double *p = to_double(params, NP), *xd = malloc(px * sizeof *xd), *dxd = malloc(px * sizeof *dxd);
    double *ty = malloc((size_t)F * sizeof *ty);
    float *x = malloc(px * sizeof *x), *dx = malloc(px * sizeof *dx);
    clnas_status st = p && xd && dxd && ty && x && dx ? CLNAS_OK : CLNAS_E_NOMEM;
    double sum = 0;
    for (int k = 0; st == CLNAS_OK && k < P; k++) {
        circle_point(u, v, px, k, P, x, dx);
        for (size_t i = 0; i < px; i++) { xd[i] = x[i]; dxd[i] = dx[i]; }
        st = clnas_ref_jvp(net, 1, p, xd, dxd, NULL, ty);
        double n2 = 0;
        for (int c = 0; c < F; c++) n2 += ty[c] * ty[c];
        sum += sqrt(n2);
    }
    *L = sum;
    free(p); free(xd); free(dxd); free(ty); free(x); free(dx);
    return st;
}

/* Points per device pass: all of them, or fewer when their activations would pass 1 GiB. */
static int ld_points_per_pass(const clnas_net *net, int P)
{
    double per = (double)net->act_per_sample * 2 * sizeof(float); /* activations + tangents */
    int pb = (int)((1024.0 * 1024 * 1024) / per);
    if (pb < 1) pb = 1;
    return pb < P ? pb : P;
}

static clnas_status ld_device_jvp(clnas_ctx *ctx, const clnas_net *net, const clnas_asvit_score_opts *o,
                                  const float *params, const float *u, const float *v, double *L)
{
    const int P = o->points, F = clnas_net_classes(net), pb = ld_points_per_pass(net, P);
    const size_t px = tensor_size(&net->tensors[0]);
    clnas_plan *plan = NULL;
    float *x = malloc((size_t)pb * px * sizeof *x), *dx = malloc((size_t)pb * px * sizeof *dx);
    float *ty = malloc((size_t)pb * F * sizeof *ty);
    clnas_status st = x && dx && ty ? CLNAS_OK : CLNAS_E_NOMEM;
    if (st == CLNAS_OK) st = clnas_plan_create(ctx, net, pb, 1, 0, &plan);
    if (st == CLNAS_OK) st = clnas_plan_set_params(plan, params);
    double sum = 0;
    for (int k0 = 0; st == CLNAS_OK && k0 < P; k0 += pb) {
        /* a short last pass repeats its last point in the unused slots (same shapes, ignored) */
        for (int j = 0; j < pb; j++) {
            int k = k0 + j < P ? k0 + j : P - 1;
            circle_point(u, v, px, k, P, x + (size_t)j * px, dx + (size_t)j * px);
        }
        st = clnas_plan_forward(plan, x);
        if (st == CLNAS_OK) st = clnas_plan_jvp(plan, dx, ty);
        for (int j = 0; st == CLNAS_OK && j < pb && k0 + j < P; j++) {
            double n2 = 0;
            for (int c = 0; c < F; c++) n2 += (double)ty[(size_t)j * F + c] * ty[(size_t)j * F + c];
            sum += sqrt(n2);
        }
    }
    *L = sum;
    clnas_plan_destroy(plan);
    free(x); free(dx); free(ty);
    return st;
}

/* ---- the recipe ---- */

static void summarise(clnas_asvit_score_result *res, int R)
{
    double s = 0, sc = 0, sl = 0;
    int ok = 0;
    for (int r = 0; r < R; r++) {
        res->kappa_orig[r] = kappa_orig(&res->ntk[r]);
        s += res->kappa_orig[r];
        if (res->ntk[r].status == CLNAS_KAPPA_OK) { sc += res->ntk[r].kappa; ok++; }
        sl += res->ld[r];
    }
    res->kappa_mean = s / R;
    res->kappa_defined = ok;
    res->kappa_mean_clean = ok ? sc / ok : NAN;
    res->ld_mean = sl / R;
}

clnas_status clnas_asvit_score_run(clnas_ctx *ctx, const clnas_net *feat_ln, const clnas_net *feat_id,
                                   const clnas_asvit_score_opts *o, const clnas_asvit_inputs *in,
                                   clnas_asvit_score_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if ((!ctx && !o->host) || in->nparams != clnas_net_nparams(feat_ln) || in->repeats < 1) {
        if (err) snprintf(err, errlen, "As-ViT score: %s", !ctx && !o->host ? "no device context" : "inputs do not match the network");
        return CLNAS_E_INVALID_ARG;
    }
    const double t0 = clnas_now();
    const size_t px = (size_t)3 * in->hw * in->hw;
    res->repeats = in->repeats;
    res->params = clnas_net_nparams(feat_ln);
    res->jacobian = clnas_net_njacobian(feat_ln);
    float *pid = malloc(clnas_net_nparams(feat_id) * sizeof *pid);
    clnas_status st = pid ? CLNAS_OK : CLNAS_E_NOMEM;
    for (int r = 0; st == CLNAS_OK && r < in->repeats; r++) {
        const float *p = in->params + (size_t)r * in->nparams, *u = in->circle + (size_t)r * 2 * px, *v = u + px;
        double t1 = clnas_now();
        if (o->metrics & CLNAS_ASVIT_METRIC_NTK)
            st = o->host ? kappa_host(feat_ln, p, in->images, in->batch, &res->ntk[r])
                         : kappa_device(ctx, feat_ln, o, p, in->images, &res->ntk[r]);
        double t2 = clnas_now();
        res->t_ntk += t2 - t1;
        if (st == CLNAS_OK && (o->metrics & CLNAS_ASVIT_METRIC_LD)) {
            map_params(feat_ln, p, feat_id, pid);
            st = o->host ? (o->ld_reverse ? ld_host_reverse(feat_id, pid, u, v, in->points, &res->ld[r])
                                          : ld_host_jvp(feat_id, pid, u, v, in->points, &res->ld[r]))
                         : (o->ld_reverse ? ld_device_reverse(ctx, feat_id, o, pid, u, v, &res->ld[r])
                                          : ld_device_jvp(ctx, feat_id, o, pid, u, v, &res->ld[r]));
        }
        res->t_ld += clnas_now() - t2;
    }
    free(pid);
    if (st != CLNAS_OK) {
        if (err) snprintf(err, errlen, "As-ViT score failed: %s", ctx && *clnas_ctx_errmsg(ctx) ? clnas_ctx_errmsg(ctx) : clnas_status_str(st));
        return st;
    }
    summarise(res, in->repeats);
    res->t_total = clnas_now() - t0;
    return CLNAS_OK;
}
