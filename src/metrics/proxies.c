/* proxies.c - zero-cost proxies on one network through the device executor (proxies.h).
 *
 * Shared by all: B images with their labels, BatchNorm in train mode, cross-entropy averaged over
 * the batch, PyTorch's default initialisation; "the weights" are every convolution and linear
 * weight (zero-cost-nas's get_layer_metric_array: nn.Conv2d and nn.Linear), never BN or biases.
 * - grad_norm  sum over weight tensors of ||dL/dW||_2
 * - snip       sum |W * dL/dW| (the gradient w.r.t. a multiplicative mask of ones)
 * - grasp      -sum W * (H g), g = dL/dW, H the Hessian of L in the weights; H g by a central
 *              difference of two gradients, (grad L(W + e g) - grad L(W - e g)) / 2e, with
 *              e = grasp_eps * ||W|| / ||g|| (default 1e-5; only the weights move; BN stays in train
 *              mode) with every ReLU frozen at the unperturbed pattern (clnas_plan_freeze_relu), which
 *              is what autograd's double backward differentiates (ReLU'' = 0)
 * - fisher     per conv/linear output channel k: 0.5 * mean_n (sum_hw a * dL/da)^2 with a the
 *              layer's output, summed over channels after the reference's broadcast to every
 *              weight of the channel (so each channel counts fan_in times)
 * - jacob_cov  J = d(sum of logits)/d(input), one row per image; C = corrcoef(J); with the
 *              eigenvalues v of C and k = 1e-5: -sum(log(v + k) + 1/(v + k))
 * - synflow    the network without BatchNorm, every parameter replaced by its absolute value,
 *              one all-ones input, R = sum of logits: sum |W * dR/dW|, in double on the host
 *              reference (the product over layers overflows float32)
 * - naswot     binary codes c (ReLU input > 0) of every ReLU of the network on the batch,
 *              K_ij = number of positions where c_i and c_j agree; log|det K|
 * - zico       gradients of batch 0 and (accumulated, as the reference never zeroes them) of
 *              batch 0 + batch 1; per weight tensor: log sum over entries with nonzero std of
 *              mean|g| / std(g) over the two; summed over tensors */
#define _POSIX_C_SOURCE 200809L
#include "metrics/proxies.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "core/util.h"
#include "model/graph.h"
#include "metrics/proxy_vkdnw.h"

static const char *const NAMES[PX_N] = {"params", "flops", "grad_norm", "snip", "grasp", "fisher",
                                        "jacob_cov", "synflow", "naswot", "zico", "vkdnw"};
static const char *const HELP[PX_N] = {
    "number of parameters",
    "forward FLOPs of one image (convolutions and classifier, a multiply-add = 2), in millions",
    "sum over conv/linear weights of ||dL/dW|| (zero-cost-nas)",
    "sum |W dL/dW| (zero-cost-nas)",
    "-sum W (H dL/dW), H g by a central difference of gradients, ReLUs frozen (zero-cost-nas)",
    "sum over conv/linear output channels of 0.5 mean_n (sum_hw a dL/da)^2, times fan-in (zero-cost-nas)",
    "-sum(log(v+1e-5) + 1/(v+1e-5)), v eigenvalues of corrcoef of input Jacobian rows (zero-cost-nas)",
    "no BN, |params|, all-ones input: sum |W dR/dW|, R = sum of logits, float64 (zero-cost-nas)",
    "log|det K|, K = agreements of ReLU codes between images (NASWOT)",
    "sum over weights tensors of log sum mean|g|/std(g) over two batches (ZiCo)",
    "aleph + H/ln 10: H entropy of the deciles of the Fisher spectrum of 128 weights, aleph = parameter tensors (VKDNW)",
};

const char *px_name(int id) { return id >= 0 && id < PX_N ? NAMES[id] : NULL; }
const char *px_help(int id) { return id >= 0 && id < PX_N ? HELP[id] : NULL; }

int px_parse(const char *list, unsigned *mask, int *tenas, char *err, size_t errlen)
{
    *mask = 0;
    *tenas = 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        if (!strcmp(t, "all")) { *mask = (1u << PX_N) - 1; *tenas = CLNAS_METRIC_NTK | CLNAS_METRIC_LR; found = 1; }
        else if (!strcmp(t, "ntk")) { *tenas |= CLNAS_METRIC_NTK; found = 1; }
        else if (!strcmp(t, "lr")) { *tenas |= CLNAS_METRIC_LR; found = 1; }
        for (int i = 0; i < PX_N && !found; i++)
            if (!strcmp(t, NAMES[i])) { *mask |= 1u << i; found = 1; }
        if (!found) {
            snprintf(err, errlen, "unknown metric \"%s\" (known: ntk, lr, params, flops, grad_norm, snip, grasp, fisher, "
                                  "jacob_cov, synflow, naswot, zico, vkdnw, all)", t);
            return -1;
        }
    }
    if (!*mask && !*tenas) {
        snprintf(err, errlen, "no metric named in \"%s\"", list);
        return -1;
    }
    return 0;
}

void px_inputs_free(px_inputs *in)
{
    free(in->params);
    free(in->images);
    free(in->labels);
    free(in->vk_params);
    free(in->vk_images);
    memset(in, 0, sizeof *in);
}

clnas_status px_inputs_make(const clnas_net *net, const clnas_dataset *data, int batch, uint64_t seed,
                            uint64_t stream, clnas_init init, px_inputs *in, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    if (batch < 2) {
        snprintf(err, errlen, "proxy batch must be >= 2 (got %d)", batch);
        return CLNAS_E_INVALID_ARG;
    }
    int h, w;
    clnas_net_input_shape(net, &in->c, &h, &w);
    in->hw = h;
    in->batch = batch;
    in->classes = clnas_net_classes(net);
    in->nparams = clnas_net_nparams(net);
    size_t img = (size_t)in->c * h * w;
    in->params = malloc(in->nparams * sizeof(float));
    in->images = malloc(2 * (size_t)batch * img * sizeof(float));
    in->labels = malloc(2 * (size_t)batch * sizeof(int));
    clnas_sampler *s = NULL;
    clnas_status st = (!in->params || !in->images || !in->labels) ? CLNAS_E_NOMEM : CLNAS_OK;
    if (st == CLNAS_OK) st = clnas_sampler_create(data, seed, 0, &s);
    if (st != CLNAS_OK) {
        snprintf(err, errlen, "proxy inputs: out of host memory");
        px_inputs_free(in);
        return st;
    }
    clnas_net_init_params(net, seed, stream, init, in->params);
    for (int b = 0; b < 2; b++) {
        clnas_sampler_batch(s, batch, 1, in->images + (size_t)b * batch * img, in->labels + (size_t)b * batch);
        for (int i = 0; i < batch; i++) {
            int *l = &in->labels[(size_t)b * batch + i];
            *l = clnas_dataset_label(data, *l);
        }
    }
    clnas_sampler_destroy(s);
    if (px_vkdnw_inputs(net, batch, seed, stream, &in->vk_params, &in->vk_images) != CLNAS_OK) {
        snprintf(err, errlen, "proxy inputs: out of host memory");
        px_inputs_free(in);
        return CLNAS_E_NOMEM;
    }
    return CLNAS_OK;
}

/* ---------------------------------------------------------------- device state */
typedef struct px_run {
    clnas_ctx *ctx;
    const clnas_net *net;
    const px_inputs *in;
    clnas_plan *plan;
    float *logits, *dlogits, *g0, *work; /* g0: gradient of batch 0; work: nparams scratch */
} px_run;

static int is_weight_layer(const layer *l) { return (l->kind == L_CONV || l->kind == L_LINEAR) && l->w_len; }

static size_t img_floats(const px_inputs *in) { return (size_t)in->c * in->hw * in->hw; }

/* Forward of images (batch b of the inputs) with params, and dlogits of the mean cross-entropy. */
static clnas_status forward_ce(px_run *r, const float *params, int b)
{
    const px_inputs *in = r->in;
    int B = in->batch, K = in->classes;
    clnas_status st = clnas_plan_set_params(r->plan, params);
    if (st == CLNAS_OK) st = clnas_plan_forward(r->plan, in->images + (size_t)b * B * img_floats(in));
    if (st == CLNAS_OK) st = clnas_plan_read_logits(r->plan, r->logits);
    if (st != CLNAS_OK) return st;
    for (int i = 0; i < B; i++) {
        const float *z = r->logits + (size_t)i * K;
        float *d = r->dlogits + (size_t)i * K;
        double m = z[0], s = 0;
        for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - m);
        int y = in->labels[(size_t)b * B + i];
        for (int k = 0; k < K; k++) d[k] = (float)((exp((double)z[k] - m) / s - (k == y)) / B);
    }
    return CLNAS_OK;
}

/* Parameter gradient of the mean cross-entropy of batch b at params into g. */
static clnas_status loss_grad(px_run *r, const float *params, int b, float *g)
{
    clnas_status st = forward_ce(r, params, b);
    if (st == CLNAS_OK) st = clnas_plan_backward_host(r->plan, 1, r->dlogits, g, NULL);
    return st;
}

/* ---------------------------------------------------------------- gradient proxies */
static void grad_norm_snip(const clnas_net *net, const float *w, const float *g, double *gn, double *snip)
{
    *gn = 0;
    *snip = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        double s2 = 0;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) {
            s2 += (double)g[j] * g[j];
            *snip += fabs((double)w[j] * g[j]);
        }
        *gn += sqrt(s2);
    }
}

/* fisher from the activations and activation gradients the plan holds after the backward of g0. */
static clnas_status fisher(px_run *r, double *out)
{
    const clnas_net *net = r->net;
    clnas_plan *p = r->plan;
    int B = r->in->batch;
    *out = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        const tensor_desc *t = &net->tensors[l->out];
        size_t hw = (size_t)t->h * t->w, n = tensor_size(t) * (size_t)B;
        int root = p->alias_root[l->out];
        float scale = p->alias_scale[l->out];
        float *a = malloc(2 * n * sizeof(float));
        if (!a) return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "fisher: out of host memory");
        float *d = a + n;
        clnas_status st = clnas_buf_read(r->ctx, p->act, plan_act_off(p, l->out) * sizeof(float), n * sizeof(float), a);
        if (st == CLNAS_OK) st = clnas_buf_read(r->ctx, p->grad, plan_grad_off(p, root) * sizeof(float), n * sizeof(float), d);
        if (st != CLNAS_OK) { free(a); return st; }
        double fan_in = (double)l->w_len / t->c, layer_sum = 0;
        for (int k = 0; k < t->c; k++) {
            double acc = 0;
            for (int s = 0; s < B; s++) {
                const float *as = a + ((size_t)s * t->c + k) * hw, *ds = d + ((size_t)s * t->c + k) * hw;
                double gnk = 0;
                for (size_t q = 0; q < hw; q++) gnk += (double)as[q] * ((double)ds[q] * scale);
                acc += gnk * gnk;
            }
            layer_sum += fabs(0.5 * acc / B) * fan_in;
        }
        *out += layer_sum;
        free(a);
    }
    return CLNAS_OK;
}

/* grasp: -sum W (H g) with H g = (grad(W + e g) - grad(W - e g)) / 2e over the weights. */
static clnas_status grasp(px_run *r, double eps_rel, double *out, const char **why)
{
    const clnas_net *net = r->net;
    const float *w = r->in->params;
    size_t np = net->nparams;
    double wn = 0, gn = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) { wn += (double)w[j] * w[j]; gn += (double)r->g0[j] * r->g0[j]; }
    }
    if (!(gn > 0) || !isfinite(gn)) {
        *why = "zero or non-finite gradient";
        *out = NAN;
        return CLNAS_OK;
    }
    double e = eps_rel * sqrt(wn) / sqrt(gn);
    float *gp = malloc(2 * np * sizeof(float));
    if (!gp) return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "grasp: out of host memory");
    float *gm = gp + np;
    /* freeze the ReLUs at the unperturbed forward's pattern: autograd's Hessian treats each ReLU as
       that fixed mask (relu'' = 0), and a difference across a ReLU's kink would not converge to it */
    clnas_status st = clnas_plan_set_params(r->plan, w);
    if (st == CLNAS_OK) st = clnas_plan_forward(r->plan, r->in->images);
    if (st == CLNAS_OK) st = clnas_plan_freeze_relu(r->plan, 1);
    for (int sgn = 0; sgn < 2 && st == CLNAS_OK; sgn++) {
        memcpy(r->work, w, np * sizeof(float));
        for (int i = 0; i < net->nlayers; i++) {
            const layer *l = &net->layers[i];
            if (!is_weight_layer(l)) continue;
            for (size_t j = l->w_off; j < l->w_off + l->w_len; j++)
                r->work[j] = (float)((double)w[j] + (sgn ? -e : e) * r->g0[j]);
        }
        st = loss_grad(r, r->work, 0, sgn ? gm : gp);
    }
    clnas_status st2 = clnas_plan_freeze_relu(r->plan, 0);
    if (st == CLNAS_OK) st = st2;
    double s = 0;
    for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) s -= (double)w[j] * (((double)gp[j] - gm[j]) / (2 * e));
    }
    free(gp);
    *out = s;
    return st;
}

/* zico from g0 (batch 0) and the accumulated gradient g0 + g1 (ZiCo never zeroes .grad between batches). */
static clnas_status zico(px_run *r, double *out)
{
    const clnas_net *net = r->net;
    clnas_status st = loss_grad(r, r->in->params, 1, r->work);
    if (st != CLNAS_OK) return st;
    double total = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        double sum = 0;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) {
            /* two samples a and b = a + g1: std = |g1| / 2, formed in double (not from a rounded b) */
            double a = r->g0[j], g1 = r->work[j], b = a + g1, sd = 0.5 * fabs(g1);
            if (sd != 0) sum += 0.5 * (fabs(a) + fabs(b)) / sd;
        }
        if (sum != 0) total += log(sum);
    }
    *out = total;
    return CLNAS_OK;
}

/* jacob_cov: input gradients of the logit sum, their correlation matrix and its spectrum. */
static clnas_status jacob_cov(px_run *r, double *out, const char **why)
{
    const px_inputs *in = r->in;
    int B = in->batch;
    size_t D = img_floats(in), nl = (size_t)B * in->classes;
    double *J = malloc((size_t)B * D * sizeof(double) + 2 * (size_t)B * B * sizeof(double));
    float *dx = malloc((size_t)B * D * sizeof(float));
    if (!J || !dx) { free(J); free(dx); return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "jacob_cov: out of host memory"); }
    double *C = J + (size_t)B * D, *v = C + (size_t)B * B;
    for (size_t i = 0; i < nl; i++) r->dlogits[i] = 1.0f;
    clnas_status st = clnas_plan_set_params(r->plan, in->params);
    if (st == CLNAS_OK) st = clnas_plan_forward(r->plan, in->images);
    if (st == CLNAS_OK) st = clnas_plan_backward_host(r->plan, 1, r->dlogits, r->work, dx);
    if (st != CLNAS_OK) { free(J); free(dx); return st; }
    for (int i = 0; i < B; i++) { /* centre each row and scale it to unit norm: C = rows' dot products */
        double m = 0, ss = 0;
        for (size_t q = 0; q < D; q++) m += dx[(size_t)i * D + q];
        m /= (double)D;
        for (size_t q = 0; q < D; q++) { double t = dx[(size_t)i * D + q] - m; J[(size_t)i * D + q] = t; ss += t * t; }
        double inv = ss > 0 ? 1 / sqrt(ss) : NAN;
        for (size_t q = 0; q < D; q++) J[(size_t)i * D + q] *= inv;
    }
    for (int i = 0; i < B; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            for (size_t q = 0; q < D; q++) s += J[(size_t)i * D + q] * J[(size_t)j * D + q];
            s = s > 1 ? 1 : (s < -1 ? -1 : s); /* numpy.corrcoef clips to [-1, 1] */
            C[(size_t)i * B + j] = C[(size_t)j * B + i] = s;
        }
    free(dx);
    char err[256];
    *out = NAN;
    if (clnas_sym_eigvals(B, C, v, err, sizeof err) != CLNAS_OK) {
        *why = "input Jacobian with a constant row (NaN correlation)";
    } else {
        double s = 0, k = 1e-5;
        for (int i = 0; i < B; i++) s += log(v[i] + k) + 1 / (v[i] + k);
        if (isfinite(s)) *out = -s;
        else *why = "eigenvalue of the correlation matrix below -1e-5";
    }
    free(J);
    return CLNAS_OK;
}

/* synflow on the network without BatchNorm, in double on the host reference. */
static clnas_status synflow(px_run *r, const clnas_net *nobn, double *out)
{
    const clnas_net *net = r->net;
    size_t np = nobn->nparams;
    int c, h, w;
    clnas_net_input_shape(nobn, &c, &h, &w);
    size_t nx = (size_t)c * h * w, nl = (size_t)clnas_net_classes(nobn);
    double *p = calloc(2 * np + nx + nl, sizeof(double));
    if (!p) return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "synflow: out of host memory");
    double *g = p + np, *x = g + np, *dl = x + nx;
    /* |parameters|, matched by name with the network that has BatchNorm */
    for (int i = 0; i < clnas_net_nparam_tensors(nobn); i++) {
        const char *nm;
        size_t off, cnt, off2 = (size_t)-1, cnt2 = 0;
        int sh[4];
        clnas_net_param_tensor(nobn, i, &nm, &off, &cnt, sh);
        char name[160];
        snprintf(name, sizeof name, "%s", nm);
        for (int j = 0; j < clnas_net_nparam_tensors(net) && off2 == (size_t)-1; j++) {
            clnas_net_param_tensor(net, j, &nm, &off2, &cnt2, sh);
            if (strcmp(nm, name) != 0) off2 = (size_t)-1;
        }
        if (off2 == (size_t)-1 || cnt2 != cnt) {
            free(p);
            return clnas_set_error(r->ctx, CLNAS_E_INVALID_ARG, "synflow: parameter %s has no match in the network", name);
        }
        for (size_t q = 0; q < cnt; q++) p[off + q] = fabs((double)r->in->params[off2 + q]);
    }
    for (size_t q = 0; q < nx; q++) x[q] = 1;
    for (size_t q = 0; q < nl; q++) dl[q] = 1;
    clnas_status st = clnas_ref_backward(nobn, 1, p, x, dl, g, NULL);
    double s = 0;
    for (int i = 0; i < nobn->nlayers && st == CLNAS_OK; i++) {
        const layer *l = &nobn->layers[i];
        if (!is_weight_layer(l)) continue;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) s += fabs(p[j] * g[j]);
    }
    free(p);
    if (st != CLNAS_OK) return clnas_set_error(r->ctx, st, "synflow: the host reference failed");
    *out = s;
    return CLNAS_OK;
}

/* naswot: log|det| of the agreement kernel of the ReLU codes of batch 0. */
static clnas_status naswot(px_run *r, double *out, const char **why)
{
    const px_inputs *in = r->in;
    int B = in->batch;
    size_t bits = clnas_net_relu_bits(r->net), words = (bits + 63) / 64;
    clnas_lr *lr = NULL;
    uint8_t *codes = malloc((size_t)B * (bits ? bits : 1));
    uint64_t *pk = calloc((size_t)B * (words ? words : 1), sizeof(uint64_t));
    double *K = malloc(2 * (size_t)B * B * sizeof(double));
    clnas_status st = (codes && pk && K) ? CLNAS_OK : clnas_set_error(r->ctx, CLNAS_E_NOMEM, "naswot: out of host memory");
    size_t regions = 0;
    int nonfinite = 0;
    if (st == CLNAS_OK) st = clnas_lr_create(r->ctx, r->net, B, &lr);
    if (st == CLNAS_OK) st = clnas_lr_set_params(lr, in->params);
    if (st == CLNAS_OK) st = clnas_lr_count(lr, in->images, B, &regions, &nonfinite, codes);
    clnas_lr_destroy(lr);
    if (st == CLNAS_OK) {
        for (int i = 0; i < B; i++)
            for (size_t q = 0; q < bits; q++)
                if (codes[(size_t)i * bits + q]) pk[(size_t)i * words + q / 64] |= 1ull << (q % 64);
        for (int i = 0; i < B; i++)
            for (int j = 0; j <= i; j++) {
                size_t ham = 0;
                for (size_t q = 0; q < words; q++) ham += (size_t)__builtin_popcountll(pk[(size_t)i * words + q] ^ pk[(size_t)j * words + q]);
                K[(size_t)i * B + j] = K[(size_t)j * B + i] = (double)(bits - ham);
            }
        double *v = K + (size_t)B * B, s = 0;
        char err[256];
        *out = NAN;
        if (nonfinite) *why = "NaN or infinity before a ReLU";
        else if (clnas_sym_eigvals(B, K, v, err, sizeof err) != CLNAS_OK) *why = "eigensolver failed";
        else {
            for (int i = 0; i < B; i++) s += log(fabs(v[i]));
            if (isfinite(s)) *out = s;
            else *why = "singular kernel (two images with the same code)";
        }
    }
    free(codes);
    free(pk);
    free(K);
    return st;
}

/* ---------------------------------------------------------------- driver */
static void run_free(px_run *r)
{
    clnas_plan_destroy(r->plan);
    free(r->logits);
    free(r->dlogits);
    free(r->g0);
    free(r->work);
}

static clnas_status run_init(px_run *r, clnas_ctx *ctx, const clnas_net *net, const px_inputs *in)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->net = net;
    r->in = in;
    if (in->nparams != net->nparams || in->classes != clnas_net_classes(net))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "proxies: the inputs were made for another network");
    size_t nl = (size_t)in->batch * in->classes;
    r->logits = malloc(nl * sizeof(float));
    r->dlogits = malloc(nl * sizeof(float));
    r->g0 = malloc(net->nparams * sizeof(float));
    r->work = malloc(net->nparams * sizeof(float));
    if (!r->logits || !r->dlogits || !r->g0 || !r->work) return clnas_set_error(ctx, CLNAS_E_NOMEM, "proxies: out of host memory");
    return clnas_plan_create(ctx, net, in->batch, 1, CLNAS_PLAN_PARAM_GRADS, &r->plan);
}

#define HAS(m, id) ((m) & (1u << (id)))

/* The proxies that need the batch-0 gradient (and fisher its activations, read right after it). */
static clnas_status eval_gradient_proxies(px_run *r, unsigned mask, const px_opts *o, px_result *res)
{
    const unsigned needs_g0 = (1u << PX_GRAD_NORM) | (1u << PX_SNIP) | (1u << PX_GRASP) | (1u << PX_FISHER) | (1u << PX_ZICO);
    clnas_status st = CLNAS_OK;
    if (!(mask & needs_g0)) return st;
    double t = clnas_now();
    st = loss_grad(r, r->in->params, 0, r->g0);
    double gn, sn;
    if (st == CLNAS_OK) grad_norm_snip(r->net, r->in->params, r->g0, &gn, &sn);
    if (st == CLNAS_OK && HAS(mask, PX_GRAD_NORM)) res->value[PX_GRAD_NORM] = gn;
    if (st == CLNAS_OK && HAS(mask, PX_SNIP)) res->value[PX_SNIP] = sn;
    res->seconds[PX_GRAD_NORM] = res->seconds[PX_SNIP] = clnas_now() - t;
    if (st == CLNAS_OK && HAS(mask, PX_FISHER)) {
        t = clnas_now();
        st = fisher(r, &res->value[PX_FISHER]);
        res->seconds[PX_FISHER] = clnas_now() - t + res->seconds[PX_GRAD_NORM];
    }
    if (st == CLNAS_OK && HAS(mask, PX_GRASP)) {
        t = clnas_now();
        st = grasp(r, o && o->grasp_eps > 0 ? o->grasp_eps : 1e-5, &res->value[PX_GRASP], &res->why[PX_GRASP]);
        res->seconds[PX_GRASP] = clnas_now() - t + res->seconds[PX_GRAD_NORM];
    }
    if (st == CLNAS_OK && HAS(mask, PX_ZICO)) {
        t = clnas_now();
        st = zico(r, &res->value[PX_ZICO]);
        res->seconds[PX_ZICO] = clnas_now() - t + res->seconds[PX_GRAD_NORM];
    }
    return st;
}

clnas_status px_eval(clnas_ctx *ctx, const clnas_net *net, const clnas_net *nobn, const px_inputs *in, unsigned mask,
                     const px_opts *opts, px_result *res)
{
    for (int i = 0; i < PX_N; i++) { res->value[i] = NAN; res->why[i] = NULL; res->seconds[i] = 0; }
    res->vkdnw_entropy = res->vkdnw_dim = NAN;
    if (HAS(mask, PX_SYNFLOW) && !nobn)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "synflow needs the network without BatchNorm");
    double fwd, bwd;
    clnas_net_flops(net, 1, &fwd, &bwd);
    if (HAS(mask, PX_PARAMS)) res->value[PX_PARAMS] = (double)clnas_net_nparams(net);
    if (HAS(mask, PX_FLOPS)) res->value[PX_FLOPS] = fwd / 1e6;
    px_run r;
    clnas_status st = run_init(&r, ctx, net, in);
    if (st == CLNAS_OK) st = eval_gradient_proxies(&r, mask, opts, res);
    double t = clnas_now();
    if (st == CLNAS_OK && HAS(mask, PX_JACOB_COV)) {
        st = jacob_cov(&r, &res->value[PX_JACOB_COV], &res->why[PX_JACOB_COV]);
        res->seconds[PX_JACOB_COV] = clnas_now() - t;
    }
    t = clnas_now();
    if (st == CLNAS_OK && HAS(mask, PX_SYNFLOW)) {
        st = synflow(&r, nobn, &res->value[PX_SYNFLOW]);
        res->seconds[PX_SYNFLOW] = clnas_now() - t;
    }
    run_free(&r);
    t = clnas_now();
    if (st == CLNAS_OK && HAS(mask, PX_NASWOT)) {
        r.ctx = ctx; r.net = net; r.in = in;
        st = naswot(&r, &res->value[PX_NASWOT], &res->why[PX_NASWOT]);
        res->seconds[PX_NASWOT] = clnas_now() - t;
    }
    t = clnas_now();
    if (st == CLNAS_OK && HAS(mask, PX_VKDNW)) {
        px_vkdnw_out vk;
        st = px_vkdnw(ctx, net, in->vk_params, in->vk_images, in->batch, &vk);
        res->value[PX_VKDNW] = vk.value;
        res->why[PX_VKDNW] = vk.why;
        res->vkdnw_entropy = vk.entropy;
        res->vkdnw_dim = vk.dim;
        res->seconds[PX_VKDNW] = clnas_now() - t;
    }
    return st;
}
