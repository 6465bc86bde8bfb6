/* proxy_vkdnw.c - VKDNW on one network (proxy_vkdnw.h), following the authors' NB201 code:
 *
 * - weights: Kaiming normal, fan_in, ReLU gain (conv and linear), zero biases, BN gamma 1 beta 0;
 *   inputs: B images of N(0,1) noise (the reference's default: vkdnw is not one of its
 *   real-input metrics); B = 64 (its --batch_size);
 * - BatchNorm in eval mode with the untouched running statistics (model.eval() right after
 *   init): y = gamma x / sqrt(1 + eps) + beta, so every sample goes through the network alone;
 * - theta: the first element (flat index 0) of each of the first 128 parameter tensors in PyTorch
 *   registration order (stem conv, stem BN weight, bias, then per cell its ops' conv, BN weight,
 *   BN bias, ..., lastact BN, classifier weight, bias); the history of the reference fixes
 *   index 0 (p = 1 of the later linspace) and params_grad_len = 128;
 * - J_n = d logits_n / d theta (classes x P) for each image n: one forward of that image at
 *   batch 1 and one backward of `classes` one-hot seeds (the executor's seeds in flight);
 * - L_n: the reference's Cholesky-type factor of the covariance of the label-smoothed softmax
 *   p = softmax * (1 - alpha) + alpha / C (alpha = 0.05 and both operations in float16):
 *   q = 1 - cumsum(p) with q_last = 0, d_j = sqrt(p_j q_j / q_{j-1}) (q_{-1} = 1),
 *   L_ij = d_j * (1 if i = j, -p_i / q_j if i > j, 0 above the diagonal);
 * - F = mean_n (L_n J_n)^T (L_n J_n) (P x P), in double; its spectrum by LAPACK (|eigenvalues|
 *   = the singular values the reference takes); then px_vkdnw_entropy. */
#define _POSIX_C_SOURCE 200809L
#include "metrics/proxy_vkdnw.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "clnas/stats.h"
#include "core/rng.h"
#include "core/util.h"
#include "model/graph.h"

/* v rounded to the nearest float16 (normal range, ties to even as IEEE rounding does). */
static double round_half(double v)
{
    int e;
    frexp(v, &e);
    return ldexp(nearbyint(ldexp(v, 11 - e)), e - 11);
}

void px_vkdnw_smoothing(int classes, double *one_minus_alpha, double *alpha_over_c)
{
    const double a = round_half(0.05);
    *one_minus_alpha = round_half(1.0 - a);
    *alpha_over_c = round_half(a / classes);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double px_vkdnw_entropy(int n, double *lam)
{
    for (int i = 0; i < n; i++) lam[i] = fabs(lam[i]);
    qsort(lam, (size_t)n, sizeof *lam, cmp_double);
    double q[9], l1 = 0;
    for (int k = 0; k < 9; k++) { /* torch.quantile, linear interpolation, at 0.1 ... 0.9 */
        double pos = (k + 1) / 10.0 * (n - 1);
        int lo = (int)floor(pos);
        int hi = lo + 1 < n ? lo + 1 : lo;
        q[k] = lam[lo] + (pos - lo) * (lam[hi] - lam[lo]);
        l1 += fabs(q[k]);
    }
    double h = 0;
    for (int k = 0; k < 9; k++) {
        double t = q[k] / (l1 + 1e-10);
        h -= t * log(t + 1e-10);
    }
    return h;
}

clnas_status px_vkdnw_inputs(const clnas_net *net, int batch, uint64_t seed, uint64_t stream, float **params,
                             float **images)
{
    int c, h, w;
    clnas_net_input_shape(net, &c, &h, &w);
    size_t n = (size_t)batch * c * h * w;
    *params = malloc(clnas_net_nparams(net) * sizeof(float));
    *images = malloc(n * sizeof(float));
    if (!*params || !*images) {
        free(*params);
        free(*images);
        *params = *images = NULL;
        return CLNAS_E_NOMEM;
    }
    clnas_net_init_params(net, seed, stream, CLNAS_INIT_KAIMING_FAN_IN, *params);
    uint64_t key = clnas_key_module(seed, stream, "vkdnw.images");
    for (size_t i = 0; i < n; i++) (*images)[i] = (float)clnas_ctr_normal(key, i);
    return CLNAS_OK;
}

/* Offsets of the first element of each parameter tensor in registration order (per layer its
 * weight, then its bias), with the layer (lay) and whether it is the bias (bias); returns how many
 * tensors there are, keeps the first `cap`. */
static int select_params(const clnas_net *net, size_t *off, int *lay, int *bias, int cap)
{
    int n = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->w_len) { if (n < cap) { off[n] = l->w_off; lay[n] = i; bias[n] = 0; } n++; }
        if (l->b_len) { if (n < cap) { off[n] = l->b_off; lay[n] = i; bias[n] = 1; } n++; }
    }
    return n;
}

/* L (K x K, row-major) of the reference's cholesky_covariance for one sample's logits z;
 * p, q: K doubles of scratch. */
static void smoothed_factor(int K, const float *z, double *L, double *p, double *q)
{
    double a1, a2, mx = z[0], s = 0;
    px_vkdnw_smoothing(K, &a1, &a2);
    for (int j = 1; j < K; j++) mx = z[j] > mx ? z[j] : mx;
    for (int j = 0; j < K; j++) s += exp((double)z[j] - mx);
    double cum = 0;
    for (int j = 0; j < K; j++) {
        p[j] = exp((double)z[j] - mx) / s * a1 + a2;
        cum += p[j];
        q[j] = j == K - 1 ? 0.0 : 1.0 - cum;
    }
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            double d = sqrt(p[j] * q[j] / (j ? q[j - 1] : 1.0));
            L[i * K + j] = i == j ? d : i > j ? -p[i] / q[j] * d : 0.0;
        }
}

/* F += (L J)^T (L J) for one sample: J is K x P (row c = d logit_c / d theta). */
static void fisher_add(int K, int P, const double *L, const double *J, double *M, double *F)
{
    for (int i = 0; i < K; i++)
        for (int j = 0; j < P; j++) {
            double s = 0;
            for (int k = 0; k <= i; k++) s += L[i * K + k] * J[k * P + j];
            M[i * P + j] = s;
        }
    for (int a = 0; a < P; a++)
        for (int b = a; b < P; b++) {
            double s = 0;
            for (int i = 0; i < K; i++) s += M[i * P + a] * M[i * P + b];
            F[a * P + b] += s;
            if (b != a) F[b * P + a] += s;
        }
}

/* Host and device scratch of one evaluation. */
typedef struct vk_work {
    int K, P, dim;
    size_t off[PX_VKDNW_TENSORS];
    int lay[PX_VKDNW_TENSORS], bias[PX_VKDNW_TENSORS];
    clnas_plan *plan;
    cl_mem G;                              /* K x nparams: the parameter gradients of the K seeds */
    float *eye, *z, *col;                  /* K x K one-hot seeds, K logits, K values of one parameter */
    double *L, *p, *q, *J, *M, *F, *lam;
} vk_work;

static void work_free(vk_work *w)
{
    clnas_plan_destroy(w->plan);
    clnas_buf_free(w->G);
    free(w->eye); free(w->z); free(w->col);
    free(w->L); free(w->p); free(w->q); free(w->J); free(w->M); free(w->F); free(w->lam);
}

static clnas_status work_init(vk_work *w, clnas_ctx *ctx, const clnas_net *net)
{
    memset(w, 0, sizeof *w);
    const size_t K = (size_t)clnas_net_classes(net);
    w->K = (int)K;
    w->dim = select_params(net, w->off, w->lay, w->bias, PX_VKDNW_TENSORS);
    w->P = w->dim < PX_VKDNW_TENSORS ? w->dim : PX_VKDNW_TENSORS;
    const size_t P = (size_t)w->P;
    w->eye = calloc(K * K, sizeof(float));
    w->z = malloc(K * sizeof(float));
    w->col = malloc(K * sizeof(float));
    w->L = malloc(K * K * sizeof(double));
    w->p = malloc(K * sizeof(double));
    w->q = malloc(K * sizeof(double));
    w->J = malloc(K * P * sizeof(double));
    w->M = malloc(K * P * sizeof(double));
    w->F = calloc(P * P, sizeof(double));
    w->lam = malloc(P * sizeof(double));
    if (!w->eye || !w->z || !w->col || !w->L || !w->p || !w->q || !w->J || !w->M || !w->F || !w->lam)
        return clnas_set_error(ctx, CLNAS_E_NOMEM, "vkdnw: out of host memory");
    for (size_t c = 0; c < K; c++) w->eye[c * K + c] = 1.0f;
    return CLNAS_OK;
}

/* The batch-1 plan with K seeds of sample_jacobian. */
static clnas_status work_device(vk_work *w, clnas_ctx *ctx, const clnas_net *net, const float *params)
{
    const size_t K = (size_t)w->K;
    clnas_status st = clnas_plan_create(ctx, net, 1, (int)K, 0, &w->plan);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, K * net->nparams * sizeof(float), &w->G);
    if (st == CLNAS_OK) st = clnas_plan_set_params(w->plan, params);
    if (st == CLNAS_OK) st = clnas_plan_bn_eval(w->plan, 1);
    return st;
}

/* J (K x P) of one image: forward at batch 1, backward of the K one-hot seeds, then the selected
 * column of each seed's gradient row (one rectangular read per parameter). */
static clnas_status sample_jacobian(vk_work *w, clnas_ctx *ctx, const clnas_net *net, const float *image)
{
    const int K = w->K;
    clnas_status st = clnas_plan_forward(w->plan, image);
    if (st == CLNAS_OK) st = clnas_plan_read_logits(w->plan, w->z);
    clnas_dt dl = clnas_plan_dlogits(w->plan);
    if (st == CLNAS_OK) st = clnas_buf_write(ctx, dl.m, dl.off * sizeof(float), (size_t)K * K * sizeof(float), w->eye);
    if (st == CLNAS_OK) st = clnas_plan_backward(w->plan, K, (clnas_dt){w->G, 0}, net->nparams, 0);
    if (st != CLNAS_OK) return st;
    const size_t host0[3] = {0, 0, 0}, region[3] = {sizeof(float), (size_t)K, 1};
    for (int j = 0; j < w->P; j++) {
        const size_t origin[3] = {w->off[j] * sizeof(float), 0, 0};
        CL_CHECK(ctx, clEnqueueReadBufferRect(ctx->queue, w->G, CL_TRUE, origin, host0, region,
                                              net->nparams * sizeof(float), 0, sizeof(float), 0, w->col, 0, NULL, NULL));
        for (int c = 0; c < K; c++) w->J[(size_t)c * w->P + j] = w->col[c];
    }
    return CLNAS_OK;
}

/* Whether every selected tensor belongs to a kind with a per-sample rule in vk_batched (NCHW
 * convolution, BatchNorm, linear layer). */
static int batched_ok(const clnas_net *net, const vk_work *w)
{
    for (int j = 0; j < w->P; j++) {
        const layer *l = &net->layers[w->lay[j]];
        if (l->kind != L_CONV && l->kind != L_BN && l->kind != L_LINEAR) return 0;
        if (net->tensors[l->in].tok || net->tensors[l->out].tok) return 0;
    }
    return 1;
}

/* Channel 0 of n samples of a tensor in buf (from float off, samples ld floats apart, hw floats
 * each) into dst [n][hw]; not waited for. */
static clnas_status read_ch0(clnas_ctx *ctx, cl_mem buf, size_t off, size_t ld, size_t hw, int n, float *dst)
{
    const size_t origin[3] = {off * sizeof(float), 0, 0}, host0[3] = {0, 0, 0}, region[3] = {hw * sizeof(float), (size_t)n, 1};
    CL_CHECK(ctx, clEnqueueReadBufferRect(ctx->queue, buf, CL_FALSE, origin, host0, region, ld * sizeof(float), 0,
                                          hw * sizeof(float), 0, dst, 0, NULL, NULL));
    return CLNAS_OK;
}

/* z [batch][K] and J [batch][K][P] of all images at once. BatchNorm in eval mode makes every sample
 * independent, so a plan of `chunk` images and one backward per class c (d logit_c of every image)
 * leaves each image's activation gradients apart; the first element of a tensor then has the
 * per-image gradient of its layer's channel 0: a convolution's W[0,0,0,0] = sum_p dy_0(p) x_0(p
 * shifted by the window's corner), its bias sum_p dy_0; BatchNorm's gamma[0] = sum_p dy_0 (x_0 -
 * mean_0) invstd_0, beta[0] = sum_p dy_0; a linear layer's W[0,0] = dy_0 x_0, b[0] = dy_0. The
 * convolutions' full weight gradients are skipped. */
static clnas_status vk_batched(vk_work *w, clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images,
                               int batch, float *z, double *J)
{
    const int K = w->K, P = w->P;
    int chunk = 1;
    for (int d = batch < 64 ? batch : 64; d >= 1; d--) if (batch % d == 0) { chunk = d; break; }
    int c0, h0, w0;
    clnas_net_input_shape(net, &c0, &h0, &w0);
    const size_t img = (size_t)c0 * h0 * w0;
    size_t xo[PX_VKDNW_TENSORS], yo[PX_VKDNW_TENSORS], nx = 0, ny = 0;
    for (int j = 0; j < P; j++) {
        const layer *l = &net->layers[w->lay[j]];
        const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
        xo[j] = nx;
        yo[j] = ny;
        if (!w->bias[j]) nx += (size_t)ti->h * ti->w * chunk;
        ny += (size_t)to->h * to->w * chunk;
    }
    clnas_plan *p = NULL;
    cl_mem G = NULL;
    float *xs = malloc((nx ? nx : 1) * sizeof(float)), *ys = malloc(ny * sizeof(float));
    float *dl = malloc((size_t)chunk * K * sizeof(float)), *stats = malloc((net->nstats ? net->nstats : 1) * sizeof(float));
    clnas_status st = xs && ys && dl && stats ? CLNAS_OK : clnas_set_error(ctx, CLNAS_E_NOMEM, "vkdnw: out of host memory");
    if (st == CLNAS_OK) st = clnas_plan_create(ctx, net, chunk, 1, 0, &p);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, net->nparams * sizeof(float), &G);
    if (st == CLNAS_OK) st = clnas_plan_set_params(p, params);
    if (st == CLNAS_OK) st = clnas_plan_bn_eval(p, 1);
    if (st == CLNAS_OK && net->nstats) st = clnas_buf_read(ctx, p->stats, 0, net->nstats * sizeof(float), stats);
    if (p) p->skip_conv_wgrad = 1;
    for (int b0 = 0; b0 < batch && st == CLNAS_OK; b0 += chunk) {
        st = clnas_plan_forward(p, images + (size_t)b0 * img);
        if (st == CLNAS_OK) st = clnas_plan_read_logits(p, z + (size_t)b0 * K);
        for (int j = 0; j < P && st == CLNAS_OK; j++) {
            const layer *l = &net->layers[w->lay[j]];
            const tensor_desc *ti = &net->tensors[l->in];
            size_t hw = (size_t)ti->h * ti->w;
            if (!w->bias[j]) st = read_ch0(ctx, p->act, plan_act_off(p, l->in), (size_t)plan_stride_c(net, l->in) * hw, hw, chunk, xs + xo[j]);
        }
        for (int c = 0; c < K && st == CLNAS_OK; c++) {
            for (int i = 0; i < chunk * K; i++) dl[i] = i % K == c ? 1.0f : 0.0f;
            clnas_dt d = clnas_plan_dlogits(p);
            st = clnas_buf_write(ctx, d.m, d.off * sizeof(float), (size_t)chunk * K * sizeof(float), dl);
            if (st == CLNAS_OK) st = clnas_plan_backward(p, 1, (clnas_dt){G, 0}, net->nparams, 0);
            for (int j = 0; j < P && st == CLNAS_OK; j++) {
                const layer *l = &net->layers[w->lay[j]];
                const int root = p->alias_root[l->out];
                const size_t hw = (size_t)net->tensors[l->out].h * net->tensors[l->out].w;
                st = read_ch0(ctx, p->grad, plan_grad_off(p, root), (size_t)plan_stride_c(net, root) * hw, hw, chunk, ys + yo[j]);
            }
            if (st == CLNAS_OK) st = clnas_ctx_finish(ctx);
            for (int j = 0; j < P && st == CLNAS_OK; j++) {
                const layer *l = &net->layers[w->lay[j]];
                const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
                const size_t hwi = (size_t)ti->h * ti->w, hwo = (size_t)to->h * to->w;
                const double sc = p->alias_scale[l->out];
                for (int n = 0; n < chunk; n++) {
                    const float *y = ys + yo[j] + (size_t)n * hwo, *x = xs + xo[j] + (size_t)n * hwi;
                    double g = 0;
                    if (w->bias[j]) {
                        for (size_t q = 0; q < hwo; q++) g += y[q];
                    } else if (l->kind == L_CONV) {
                        for (int oh = 0; oh < to->h; oh++) {
                            const int ih = oh * l->stride - l->pad;
                            if (ih < 0 || ih >= ti->h) continue;
                            for (int ow = 0; ow < to->w; ow++) {
                                const int iw = ow * l->stride - l->pad;
                                if (iw >= 0 && iw < ti->w) g += (double)y[(size_t)oh * to->w + ow] * x[(size_t)ih * ti->w + iw];
                            }
                        }
                    } else if (l->kind == L_BN) {
                        const double mean = stats[l->stats_off], invstd = stats[l->stats_off + (size_t)ti->c];
                        for (size_t q = 0; q < hwo; q++) g += (double)y[q] * ((x[q] - mean) * invstd);
                    } else { /* L_LINEAR */
                        g = (double)y[0] * x[0];
                    }
                    J[((size_t)(b0 + n) * K + c) * P + j] = g * sc;
                }
            }
        }
    }
    if (p) p->skip_conv_wgrad = 0;
    clnas_plan_destroy(p);
    clnas_buf_free(G);
    free(xs); free(ys); free(dl); free(stats);
    return st;
}

clnas_status px_vkdnw_jacobian(clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images, int batch,
                               int per_image, float *z, double *J)
{
    vk_work w;
    clnas_status st = work_init(&w, ctx, net);
    if (st == CLNAS_OK && !per_image && batched_ok(net, &w)) {
        st = vk_batched(&w, ctx, net, params, images, batch, z, J);
    } else if (st == CLNAS_OK && (st = work_device(&w, ctx, net, params)) == CLNAS_OK) {
        int c, h, wd;
        clnas_net_input_shape(net, &c, &h, &wd);
        const size_t img = (size_t)c * h * wd, KP = (size_t)w.K * w.P;
        for (int n = 0; n < batch && st == CLNAS_OK; n++) {
            st = sample_jacobian(&w, ctx, net, images + (size_t)n * img);
            if (st != CLNAS_OK) break;
            memcpy(z + (size_t)n * w.K, w.z, (size_t)w.K * sizeof(float));
            memcpy(J + n * KP, w.J, KP * sizeof(double));
        }
    }
    work_free(&w);
    return st;
}

clnas_status px_vkdnw(clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images, int batch,
                      px_vkdnw_out *out)
{
    out->entropy = out->value = NAN;
    out->dim = 0;
    out->why = NULL;
    vk_work w;
    clnas_status st = work_init(&w, ctx, net);
    const size_t KP = (size_t)w.K * w.P;
    float *z = st == CLNAS_OK ? malloc((size_t)batch * w.K * sizeof(float)) : NULL;
    double *J = st == CLNAS_OK ? malloc((size_t)batch * KP * sizeof(double)) : NULL;
    if (st == CLNAS_OK && (!z || !J)) st = clnas_set_error(ctx, CLNAS_E_NOMEM, "vkdnw: out of host memory");
    if (st == CLNAS_OK) st = px_vkdnw_jacobian(ctx, net, params, images, batch, 0, z, J);
    for (int n = 0; n < batch && st == CLNAS_OK; n++) {
        smoothed_factor(w.K, z + (size_t)n * w.K, w.L, w.p, w.q);
        fisher_add(w.K, w.P, w.L, J + n * KP, w.M, w.F);
    }
    free(z);
    free(J);
    if (st == CLNAS_OK) {
        const size_t PP = (size_t)w.P * w.P;
        for (size_t i = 0; i < PP; i++) w.F[i] /= batch;
        out->dim = w.dim;
        char why[256];
        clnas_status es = clnas_sym_eigvals(w.P, w.F, w.lam, why, sizeof why);
        if (es == CLNAS_OK) {
            out->entropy = px_vkdnw_entropy(w.P, w.lam);
            out->value = isfinite(out->entropy) ? w.dim + out->entropy / log(10.0) : NAN;
            if (!isfinite(out->value)) out->why = "the Fisher matrix's spectrum is not finite";
        } else {
            out->why = "the Fisher matrix is not finite (LAPACK refused it)";
        }
    }
    work_free(&w);
    return st;
}

/* ---------------------------------------------------------------- aggregation */
typedef struct vk_key {
    double v;
    int i;
} vk_key;

static int cmp_key(const void *a, const void *b)
{
    const vk_key *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v;
}

clnas_status px_vkdnw_aggregate(int n, const double *const cols[5], double *out)
{
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *rk = malloc((size_t)(n ? n : 1) * sizeof *rk);
    vk_key *key = malloc((size_t)(n ? n : 1) * sizeof *key);
    if (!x || !rk || !key) { free(x); free(rk); free(key); return CLNAS_E_NOMEM; }
    for (int i = 0; i < n; i++) out[i] = 0;
    for (int k = 0; k < 4; k++) {
        double fill = -INFINITY;
        if (k == 3) { /* jacov: an undefined value becomes the column's minimum */
            fill = NAN;
            for (int i = 0; i < n; i++)
                if (!isnan(cols[k][i]) && (isnan(fill) || cols[k][i] < fill)) fill = cols[k][i];
        }
        for (int i = 0; i < n; i++) x[i] = isnan(cols[k][i]) ? fill : cols[k][i];
        if (clnas_rank_average(x, n, rk) != CLNAS_OK) { /* NaN (jacov all undefined) ranks NaN */
            free(x); free(rk); free(key);
            return CLNAS_E_NOMEM;
        }
        for (int i = 0; i < n; i++) out[i] += isnan(x[i]) ? NAN : log(rk[i]);
    }
    int m = 0; /* vkdnw: dense rank of the defined values, 1 = lowest */
    for (int i = 0; i < n; i++)
        if (isnan(cols[4][i])) out[i] = NAN;
        else key[m++] = (vk_key){cols[4][i], i};
    qsort(key, (size_t)m, sizeof *key, cmp_key);
    for (int j = 0, d = 0; j < m; j++) {
        if (j == 0 || key[j].v != key[j - 1].v) d++;
        out[key[j].i] += log((double)d);
    }
    free(x);
    free(rk);
    free(key);
    return CLNAS_OK;
}
