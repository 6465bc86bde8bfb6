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
 * weight, then its bias); returns how many tensors there are, keeps the first `cap`. */
static int select_params(const clnas_net *net, size_t *off, int cap)
{
    int n = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->w_len) { if (n < cap) off[n] = l->w_off; n++; }
        if (l->b_len) { if (n < cap) off[n] = l->b_off; n++; }
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

static clnas_status work_init(vk_work *w, clnas_ctx *ctx, const clnas_net *net, const float *params)
{
    memset(w, 0, sizeof *w);
    const size_t K = (size_t)clnas_net_classes(net);
    w->K = (int)K;
    w->dim = select_params(net, w->off, PX_VKDNW_TENSORS);
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

clnas_status px_vkdnw(clnas_ctx *ctx, const clnas_net *net, const float *params, const float *images, int batch,
                      px_vkdnw_out *out)
{
    out->entropy = out->value = NAN;
    out->dim = 0;
    out->why = NULL;
    int c, h, wd;
    clnas_net_input_shape(net, &c, &h, &wd);
    const size_t img = (size_t)c * h * wd;
    vk_work w;
    clnas_status st = work_init(&w, ctx, net, params);
    for (int n = 0; n < batch && st == CLNAS_OK; n++) {
        st = sample_jacobian(&w, ctx, net, images + (size_t)n * img);
        if (st != CLNAS_OK) break;
        smoothed_factor(w.K, w.z, w.L, w.p, w.q);
        fisher_add(w.K, w.P, w.L, w.J, w.M, w.F);
    }
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
