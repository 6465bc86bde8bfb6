/* proxies.c - zero-cost proxies on one network through the device executor (proxies.h).
 *
 * Shared by all: B images with their labels, BatchNorm in train mode, cross-entropy averaged over
 * the batch, PyTorch's default initialisation; "the weights" are every convolution and linear
 * weight (zero-cost-nas's get_layer_metric_array: nn.Conv2d and nn.Linear), never BN or biases.
 * - grad_norm  sum over weight tensors of ||dL/dW||_2
 * - snip       sum |W * dL/dW| (the gradient w.r.t. a multiplicative mask of ones)
 * - grasp      -sum W * (H g), g = dL/dW, H the Hessian of L in the weights; computed as -g . (H W)
 *              (H symmetric) with H W by a central difference of two gradients along the weights
 *              themselves, (grad L((1 + e) W) - grad L((1 - e) W)) / 2e (e = grasp_eps, default 1e-3;
 *              only the weights move; BN stays in train mode), every ReLU and max pool frozen at the
 *              unperturbed on/off pattern and winners (clnas_plan_freeze), which is what
 *              autograd's double backward differentiates (ReLU'' = 0, the argmax a constant)
 * - fisher     per conv/linear output channel k: 0.5 * mean_n (sum_hw a * dL/da)^2 with a the
 *              layer's output, summed over channels after the reference's broadcast to every
 *              weight of the channel (so each channel counts fan_in times)
 * - jacob_cov  J = d(sum of logits)/d(input), one row per image; C = corrcoef(J); with the
 *              eigenvalues v of C and k = 1e-5: -sum(log(v + k) + 1/(v + k))
 * - synflow    the network without BatchNorm, every parameter replaced by its absolute value,
 *              one all-ones input, R = sum of logits: sum |W * dR/dW|, in float32 on the device with
 *              every tensor scaled by a power of two (synflow_f32: the product over layers overflows
 *              float32 unscaled), or in double on the host reference where a layer kind has no
 *              scaling rule (or CLNAS_SYNFLOW=f64)
 * - naswot     binary codes c (ReLU input > 0) of every ReLU of the network on the batch,
 *              K_ij = number of positions where c_i and c_j agree; log|det K|
 * - zico       gradients of batch 0 and (accumulated, as the reference never zeroes them) of
 *              batch 0 + batch 1; per weight tensor: log sum over entries with nonzero std of
 *              mean|g| / std(g) over the two; summed over tensors
 * - jacov_kaiming  jacob_cov on weights of its own drawn as VKDNW's init_model draws them (Kaiming
 *              normal fan_in, ReLU gain, for every conv and linear weight; zero biases; BN gamma 1,
 *              beta 0), BN in train mode, batch 0: VKDNW's NB201 compute_jacov_score.py (its
 *              Jacobian and score are zero-cost-nas's; numpy's eigh instead of eig, same values) */
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
                                        "jacob_cov", "synflow", "naswot", "zico", "az_expressivity",
                                        "az_progressivity", "az_trainability", "vkdnw",
                                        "jacov_kaiming"};
static const char *const HELP[PX_N] = {
    "number of parameters",
    "forward FLOPs of one image (convolutions and classifier, a multiply-add = 2), in millions",
    "sum over conv/linear weights of ||dL/dW|| (zero-cost-nas)",
    "sum |W dL/dW| (zero-cost-nas)",
    "-sum W (H dL/dW) = -g (H W), H W by a central difference of gradients at (1 +- 1e-3) W, ReLUs, max pools frozen (zero-cost-nas)",
    "sum over conv/linear output channels of 0.5 mean_n (sum_hw a dL/da)^2, times fan-in (zero-cost-nas)",
    "-sum(log(v+1e-5) + 1/(v+1e-5)), v eigenvalues of corrcoef of input Jacobian rows (zero-cost-nas)",
    "no BN, |params|, all-ones input: sum |W dR/dW|, R = sum of logits, scaled float32 or float64 (zero-cost-nas)",
    "log|det K|, K = agreements of ReLU codes between images (NASWOT)",
    "sum over weights tensors of log sum mean|g|/std(g) over two batches (ZiCo)",
    "AZ-NAS: sum over stem and cell outputs of the entropy of their channel covariance's spectrum",
    "AZ-NAS: min over successive stem/cell outputs of the increase of that entropy",
    "AZ-NAS: mean over cells of 2 - s - 1/s, s the top singular value of E[g_in g_out^T]",
    "aleph + H/ln 10: H entropy of the deciles of the Fisher spectrum of 128 weights, aleph = parameter tensors (VKDNW)",
    "jacob_cov on its own Kaiming-normal fan_in weights (zero biases), BN train mode (VKDNW's jacov)",
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
        else if (!strcmp(t, "az_nas")) {
            *mask |= (1u << PX_FLOPS) | (1u << PX_AZ_EXPRESSIVITY) | (1u << PX_AZ_PROGRESSIVITY) | (1u << PX_AZ_TRAINABILITY);
            found = 1;
        }
        for (int i = 0; i < PX_N && !found; i++)
            if (!strcmp(t, NAMES[i])) { *mask |= 1u << i; found = 1; }
        if (!found) {
            snprintf(err, errlen, "unknown metric \"%s\" (known: ntk, lr, params, flops, grad_norm, snip, grasp, fisher, "
                                  "jacob_cov, synflow, naswot, zico, az_nas (= flops, az_expressivity, az_progressivity, "
                                  "az_trainability), vkdnw, jacov_kaiming, all)", t);
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
    az_inputs_free(&in->az);
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
    in->seed = seed;
    in->stream = stream;
    clnas_sampler *s = NULL;
    clnas_status st = (!in->params || !in->images || !in->labels) ? CLNAS_E_NOMEM : CLNAS_OK;
    if (st == CLNAS_OK) st = clnas_sampler_create(data, seed, 0, &s);
    if (st == CLNAS_OK) st = az_inputs_make(net, batch, seed, stream, &in->az);
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

/* A draw of its own (VKDNW re-initialises the network for each of its proxies), on demand: it costs
   about as long as the proxy itself on the largest NB201 networks. */
void px_jacov_kaiming_params(const clnas_net *net, const px_inputs *in, float *params)
{
    clnas_net_init_params(net, in->seed, in->stream ^ 0x6a61636f76ULL /* "jacov" */, CLNAS_INIT_KAIMING_FAN_IN, params);
}

/* ---------------------------------------------------------------- device state */
typedef struct px_run {
    clnas_ctx *ctx;
    const clnas_net *net;
    const px_inputs *in;
    clnas_plan *plan;                    /* batch B with parameter gradients; NULL when no proxy needs it */
    int fwd0;                            /* the plan holds batch 0's forward at the inputs' weights (a
                                            backward leaves the activations as they are) */
    float *logits, *dlogits, *g0, *work; /* g0: gradient of batch 0; work: nparams scratch */
} px_run;

/* The reference's nn.Conv2d / nn.Linear layers: depthwise convolutions (DARTS's ops) are Conv2d too. */
static int is_weight_layer(const layer *l)
{
    return (l->kind == L_CONV || l->kind == L_DWCONV || l->kind == L_LINEAR) && l->w_len;
}

static size_t img_floats(const px_inputs *in) { return (size_t)in->c * in->hw * in->hw; }

/* Forward of images (batch b of the inputs) with params, and dlogits of the mean cross-entropy. */
static clnas_status forward_ce(px_run *r, const float *params, int b)
{
    const px_inputs *in = r->in;
    int B = in->batch, K = in->classes;
    r->fwd0 = 0;
    clnas_status st = clnas_plan_set_params(r->plan, params);
    if (st == CLNAS_OK) st = clnas_plan_forward(r->plan, in->images + (size_t)b * B * img_floats(in));
    if (st == CLNAS_OK) st = clnas_plan_read_logits(r->plan, r->logits);
    if (st != CLNAS_OK) return st;
    r->fwd0 = params == in->params && b == 0;
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

/* The plan holding batch 0's forward at the inputs' weights: reused when it already does. */
static clnas_status forward0(px_run *r)
{
    if (r->fwd0) return CLNAS_OK;
    clnas_status st = clnas_plan_set_params(r->plan, r->in->params);
    if (st == CLNAS_OK) st = clnas_plan_forward(r->plan, r->in->images);
    r->fwd0 = st == CLNAS_OK;
    return st;
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
        int root = p->alias_root[l->out];
        float scale = p->alias_scale[l->out];
        /* a view (a FactorizedReduce conv writing into its concatenation) has its samples its
           storage's channels apart: read the span of the B samples and step over the rest */
        size_t hw = (size_t)t->h * t->w, cs = (size_t)t->c * hw;
        size_t sa = (size_t)plan_stride_c(net, l->out) * hw, sg = (size_t)plan_stride_c(net, root) * hw;
        size_t na = (size_t)(B - 1) * sa + cs, ng = (size_t)(B - 1) * sg + cs;
        float *a = malloc((na + ng) * sizeof(float));
        if (!a) return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "fisher: out of host memory");
        float *d = a + na;
        clnas_status st = clnas_buf_read(r->ctx, p->act, plan_act_off(p, l->out) * sizeof(float), na * sizeof(float), a);
        if (st == CLNAS_OK) st = clnas_buf_read(r->ctx, p->grad, plan_grad_off(p, root) * sizeof(float), ng * sizeof(float), d);
        if (st != CLNAS_OK) { free(a); return st; }
        double fan_in = (double)l->w_len / t->c, layer_sum = 0;
        for (int k = 0; k < t->c; k++) {
            double acc = 0;
            for (int s = 0; s < B; s++) {
                const float *as = a + (size_t)s * sa + (size_t)k * hw, *ds = d + (size_t)s * sg + (size_t)k * hw;
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

/* grasp: -sum W (H g) = -g . (H W) (H is symmetric) with H W = (grad((1+e) W) - grad((1-e) W)) / 2e over
   the weights, every ReLU and max pool frozen at the unperturbed pattern and winners (an argmax that
   flipped within the step would add its jump / 2e to H W: DARTS_V2, C=8, 5 cells, batch 32, unfrozen
   -0.498 where autograd gives -0.144). Differencing along W, not along g: the
   loss is nearly quadratic along W (each conv feeding a BatchNorm is scale-invariant, so its gradient
   just scales by 1/(1+e), the classifier's logits scale linearly), so e = 1e-3 has a truncation error
   ~ 2e-5 relative and every weight moves by e relative (float32 rounding ~ 6e-5 of the step); along g
   the loss bends within a step of a few 1e-3 ||W|| (README, "grasp's step"). */
static clnas_status grasp(px_run *r, double e, double *out, const char **why)
{
    const clnas_net *net = r->net;
    const float *w = r->in->params;
    size_t np = net->nparams;
    double gn = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) gn += (double)r->g0[j] * r->g0[j];
    }
    if (!(gn > 0) || !isfinite(gn)) {
        *why = "zero or non-finite gradient";
        *out = NAN;
        return CLNAS_OK;
    }
    float *gp = malloc(2 * np * sizeof(float));
    if (!gp) return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "grasp: out of host memory");
    float *gm = gp + np;
    /* freeze the ReLUs and max pools at the unperturbed forward's pattern and winners: autograd's
       Hessian treats each ReLU as that fixed mask (relu'' = 0) and each max pool as a fixed gather, and
       a difference across a kink would not converge to it */
    clnas_status st = forward0(r);
    if (st == CLNAS_OK) st = clnas_plan_freeze(r->plan, 1);
    for (int sgn = 0; sgn < 2 && st == CLNAS_OK; sgn++) {
        memcpy(r->work, w, np * sizeof(float));
        for (int i = 0; i < net->nlayers; i++) {
            const layer *l = &net->layers[i];
            if (!is_weight_layer(l)) continue;
            for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) r->work[j] = (float)((double)w[j] * (sgn ? 1 - e : 1 + e));
        }
        st = loss_grad(r, r->work, 0, sgn ? gm : gp);
    }
    clnas_status st2 = clnas_plan_freeze(r->plan, 0);
    if (st == CLNAS_OK) st = st2;
    double s = 0;
    for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
        const layer *l = &net->layers[i];
        if (!is_weight_layer(l)) continue;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) s -= (double)r->g0[j] * (((double)gp[j] - gm[j]) / (2 * e));
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

/* jacob_cov: input gradients of the logit sum at the weights params (the inputs' own, or
   jacov_kaiming's), their correlation matrix and its spectrum. */
static clnas_status jacob_cov(px_run *r, const float *params, double *out, const char **why)
{
    const px_inputs *in = r->in;
    int B = in->batch;
    size_t D = img_floats(in), nl = (size_t)B * in->classes;
    double *J = malloc((size_t)B * D * sizeof(double) + 2 * (size_t)B * B * sizeof(double));
    float *dx = malloc((size_t)B * D * sizeof(float));
    if (!J || !dx) { free(J); free(dx); return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "jacob_cov: out of host memory"); }
    double *C = J + (size_t)B * D, *v = C + (size_t)B * B;
    for (size_t i = 0; i < nl; i++) r->dlogits[i] = 1.0f;
    clnas_status st = CLNAS_OK;
    if (params == in->params) {
        st = forward0(r);
    } else { /* the plan no longer holds batch 0's forward at the inputs' weights */
        r->fwd0 = 0;
        st = clnas_plan_set_params(r->plan, params);
        if (st == CLNAS_OK) st = clnas_plan_forward(r->plan, in->images);
    }
    r->plan->skip_conv_wgrad = 1; /* only the input gradient is used */
    if (st == CLNAS_OK) st = clnas_plan_backward_host(r->plan, 1, r->dlogits, r->work, dx);
    r->plan->skip_conv_wgrad = 0;
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

/* |parameters| of the network without BatchNorm into p, matched by name with the network's. */
static clnas_status synflow_abs_params(px_run *r, const clnas_net *nobn, double *p)
{
    const clnas_net *net = r->net;
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
        if (off2 == (size_t)-1 || cnt2 != cnt)
            return clnas_set_error(r->ctx, CLNAS_E_INVALID_ARG, "synflow: parameter %s has no match in the network", name);
        for (size_t q = 0; q < cnt; q++) p[off + q] = fabs((double)r->in->params[off2 + q]);
    }
    return CLNAS_OK;
}

/* synflow on the network without BatchNorm, in double on the host reference. */
static clnas_status synflow(px_run *r, const clnas_net *nobn, double *out)
{
    size_t np = nobn->nparams;
    int c, h, w;
    clnas_net_input_shape(nobn, &c, &h, &w);
    size_t nx = (size_t)c * h * w, nl = (size_t)clnas_net_classes(nobn);
    double *p = calloc(2 * np + nx + nl, sizeof(double));
    if (!p) return clnas_set_error(r->ctx, CLNAS_E_NOMEM, "synflow: out of host memory");
    double *g = p + np, *x = g + np, *dl = x + nx;
    clnas_status st = synflow_abs_params(r, nobn, p);
    if (st != CLNAS_OK) { free(p); return st; }
    for (size_t q = 0; q < nx; q++) x[q] = 1;
    for (size_t q = 0; q < nl; q++) dl[q] = 1;
    st = clnas_ref_backward(nobn, 1, p, x, dl, g, NULL);
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

/* ---------------------------------------------------------------- synflow in float32 on the device
 * Every value of the synflow network is >= 0 (all-ones input, |weights|, no BatchNorm: the ReLUs
 * pass everything), and its activations grow by about a layer's row sum of |W| per layer (to 1e49
 * and beyond), out of float32's range. So each tensor t is stored scaled, a_t = true_t * 2^-s_t:
 * a convolution or linear layer from t to u gets the weights |W| 2^(s_t - s_u), a sum's
 * coefficients c_j 2^(s_j - s_u), the shape-only layers (ReLU, pooling, shift) keep the scale. The
 * stored network then computes logits * 2^-s_out, and with its weights W' and their gradient G' of
 * the stored logit sum, |W| dR/d|W| = 2^s_out W' G' exactly (powers of two), so synflow =
 * 2^s_out sum W' G', accumulated in double. The scales come from a per-channel "mean field" of the
 * all-ones input (each layer applied to spatially constant channels, in double): the stored values
 * stay within a few powers of two of 1 and the gradients of their sum of order 1 / size. The
 * parts of a concatenation (DARTS's cell outputs) share its storage and so one scale: the largest
 * of theirs, imposed on each part's producer (force) and the scales computed again until stable. */
typedef struct sf_scale {
    int *s;      /* per tensor */
    double *m;   /* per tensor channel: mean-field magnitude (true scale) */
    size_t *mo;  /* offset of tensor t's channels in m */
    int *force;  /* per tensor: the scale its concatenation imposes, or SF_FREE */
} sf_scale;
#define SF_FREE (-1000000)

static int exp2_of(double v, int dflt)
{
    if (!(v > 0) || !isfinite(v)) return dflt;
    int e;
    frexp(v, &e);
    return e - 1; /* v in [2^(e-1), 2^e) */
}

/* Whether sf_scales has a rule for a layer kind. */
static int sf_kind_scales(int kind)
{
    switch (kind) {
    case L_CONV: case L_DWCONV: case L_LINEAR: case L_RELU: case L_AVGPOOL: case L_MAXPOOL: case L_SHIFT: case L_GAP:
    case L_SUM: case L_CONCAT:
        return 1;
    default:
        return 0;
    }
}

/* Fills sc for net with the |parameters| p; fails with a message on a kind it cannot scale. */
static clnas_status sf_scales(clnas_ctx *ctx, const clnas_net *net, const double *p, sf_scale *sc, int *changed)
{
    *changed = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        int multi = l->kind == L_SUM || l->kind == L_CONCAT; /* no single input */
        const tensor_desc *ti = &net->tensors[multi ? 0 : l->in], *to = &net->tensors[l->out];
        const double *mi = sc->m + sc->mo[multi ? 0 : l->in];
        double *mo = sc->m + sc->mo[l->out], mx = 0;
        int si = sc->s[multi ? 0 : l->in];
        switch (l->kind) {
        case L_CONV: case L_DWCONV: case L_LINEAR: {
            size_t hw = l->kind == L_LINEAR ? (size_t)ti->h * ti->w : 1, fan = l->w_len / (size_t)to->c;
            for (int o = 0; o < to->c; o++) {
                double acc = 0;
                for (size_t f = 0; f < fan; f++) {
                    size_t ci = l->kind == L_CONV ? f / ((size_t)l->k * l->k) : l->kind == L_LINEAR ? f / hw : (size_t)o;
                    acc += p[l->w_off + (size_t)o * fan + f] * mi[ci];
                }
                mo[o] = acc;
                mx = acc > mx ? acc : mx;
            }
            sc->s[l->out] = exp2_of(mx, si);
            break;
        }
        case L_RELU: case L_AVGPOOL: case L_MAXPOOL: case L_SHIFT: case L_GAP:
            memcpy(mo, mi, (size_t)to->c * sizeof(double));
            sc->s[l->out] = si;
            break;
        case L_SUM:
            for (int c = 0; c < to->c; c++) {
                double acc = 0;
                for (int j = 0; j < l->nin; j++) acc += fabs((double)l->coef[j]) * sc->m[sc->mo[l->ins[j]] + c];
                mo[c] = acc;
                mx = acc > mx ? acc : mx;
            }
            sc->s[l->out] = exp2_of(mx, l->nin ? sc->s[l->ins[0]] : 0);
            break;
        case L_CONCAT: {
            int so = SF_FREE;
            for (int j = 0, c0 = 0; j < l->nin; c0 += net->tensors[l->ins[j]].c, j++) {
                memcpy(mo + c0, sc->m + sc->mo[l->ins[j]], (size_t)net->tensors[l->ins[j]].c * sizeof(double));
                so = sc->s[l->ins[j]] > so ? sc->s[l->ins[j]] : so;
            }
            for (int j = 0; j < l->nin; j++)
                if (sc->s[l->ins[j]] != so) { sc->force[l->ins[j]] = so; (*changed)++; }
            sc->s[l->out] = so;
            break;
        }
        default: /* keep sf_kind_scales in step */
            return clnas_set_error(ctx, CLNAS_E_UNSUPPORTED,
                                   "synflow float32: layer %s (kind %d) has no scaling rule; use the float64 host path "
                                   "(CLNAS_SYNFLOW=f64)", l->name, (int)l->kind);
        }
        if (sc->force[l->out] != SF_FREE) sc->s[l->out] = sc->force[l->out];
    }
    return CLNAS_OK;
}

/* The scaled copy of net (sum coefficients) and its float32 weights from the |parameters| p. */
static void sf_apply(const clnas_net *net, const double *p, const sf_scale *sc, layer *lay, float *w)
{
    memcpy(lay, net->layers, (size_t)net->nlayers * sizeof(layer));
    for (size_t q = 0; q < net->nparams; q++) w[q] = (float)p[q];
    for (int i = 0; i < net->nlayers; i++) {
        layer *l = &lay[i];
        int so = sc->s[l->out];
        if (l->kind == L_SUM) {
            for (int j = 0; j < l->nin; j++) l->coef[j] = (float)ldexp((double)l->coef[j], sc->s[l->ins[j]] - so);
        } else if (l->w_len) {
            for (size_t q = l->w_off; q < l->w_off + l->w_len; q++) w[q] = (float)ldexp(p[q], sc->s[l->in] - so);
            for (size_t q = l->b_off; q < l->b_off + l->b_len; q++) w[q] = (float)ldexp(p[q], -so);
        }
    }
}

/* Forward and backward of the scaled copy on the device; synflow = 2^s_out sum W' G'. */
static clnas_status sf_device(px_run *r, const clnas_net *scaled, const float *w, int s_out, double *out)
{
    clnas_ctx *ctx = r->ctx;
    int c, h, wd;
    clnas_net_input_shape(scaled, &c, &h, &wd);
    size_t nx = (size_t)c * h * wd, nl = (size_t)clnas_net_classes(scaled), np = scaled->nparams;
    float *x = malloc((nx + nl + np) * sizeof(float));
    if (!x) return clnas_set_error(ctx, CLNAS_E_NOMEM, "synflow: out of host memory");
    float *dl = x + nx, *g = dl + nl;
    for (size_t q = 0; q < nx; q++) x[q] = 1;
    for (size_t q = 0; q < nl; q++) dl[q] = 1;
    clnas_plan *plan = NULL;
    clnas_status st = clnas_plan_create(ctx, scaled, 1, 1, CLNAS_PLAN_PARAM_GRADS, &plan);
    if (st == CLNAS_OK) st = clnas_plan_set_params(plan, w);
    if (st == CLNAS_OK) st = clnas_plan_forward(plan, x);
    if (st == CLNAS_OK) st = clnas_plan_backward_host(plan, 1, dl, g, NULL);
    clnas_plan_destroy(plan);
    double s = 0;
    for (int i = 0; i < scaled->nlayers && st == CLNAS_OK; i++) {
        const layer *l = &scaled->layers[i];
        if (!is_weight_layer(l)) continue;
        for (size_t j = l->w_off; j < l->w_off + l->w_len; j++) s += fabs((double)w[j] * g[j]);
    }
    free(x);
    if (st == CLNAS_OK && !isfinite(s))
        st = clnas_set_error(ctx, CLNAS_E_NUMERIC, "synflow float32: a non-finite value despite the scaling");
    if (st == CLNAS_OK) *out = ldexp(s, s_out);
    return st;
}

/* synflow in float32 on the device with per-tensor power-of-two scales (see above). */
static clnas_status synflow_f32(px_run *r, const clnas_net *nobn, double *out)
{
    const clnas_net *net = nobn;
    size_t np = net->nparams, nch = 0;
    for (int t = 0; t < net->ntensors; t++) nch += (size_t)net->tensors[t].c;
    sf_scale sc = {malloc((size_t)net->ntensors * sizeof(int)), calloc(nch, sizeof(double)),
                   malloc((size_t)net->ntensors * sizeof(size_t)), malloc((size_t)net->ntensors * sizeof(int))};
    double *p = calloc(np, sizeof(double));
    float *w = malloc(np * sizeof(float));
    layer *lay = malloc((size_t)net->nlayers * sizeof(layer));
    clnas_status st = (sc.s && sc.m && sc.mo && sc.force && p && w && lay) ? CLNAS_OK
                                                               : clnas_set_error(r->ctx, CLNAS_E_NOMEM, "synflow: out of host memory");
    if (st == CLNAS_OK) {
        for (int t = 0, o = 0; t < net->ntensors; o += net->tensors[t].c, t++) {
            sc.mo[t] = (size_t)o;
            sc.s[t] = 0;
            sc.force[t] = SF_FREE;
        }
        for (int ch = 0; ch < net->tensors[0].c; ch++) sc.m[ch] = 1; /* the all-ones input */
        st = synflow_abs_params(r, nobn, p);
    }
    /* forced scales only grow (each the largest of its concatenation's), so this ends */
    for (int changed = 1, pass = 0; st == CLNAS_OK && changed; pass++) {
        st = sf_scales(r->ctx, net, p, &sc, &changed);
        if (st == CLNAS_OK && changed && pass == 64)
            st = clnas_set_error(r->ctx, CLNAS_E_NUMERIC, "synflow float32: the concatenations' scales do not settle");
    }
    if (st == CLNAS_OK) {
        sf_apply(net, p, &sc, lay, w);
        clnas_net scaled = *net;
        scaled.layers = lay;
        st = sf_device(r, &scaled, w, sc.s[net->output], out);
    }
    free(sc.s); free(sc.m); free(sc.mo); free(sc.force); free(p); free(w); free(lay);
    return st;
}

/* Set bits of x (portable: __builtin_popcountll becomes a libgcc call without -mpopcnt). */
static inline uint64_t popcount64(uint64_t x)
{
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (x * 0x0101010101010101ull) >> 56;
}

/* naswot: log|det| of the agreement kernel of the ReLU codes of batch 0. The codes stay packed as
   the device wrote them (clnas_lr_codes: bits past each layer's end are 0 in every row, so they
   never differ); K_ij = bits - popcount(c_i ^ c_j). */
static clnas_status naswot(px_run *r, double *out, const char **why)
{
    const px_inputs *in = r->in;
    int B = in->batch;
    size_t bits = clnas_net_relu_bits(r->net);
    clnas_lr *lr = NULL;
    clnas_status st = clnas_lr_create(r->ctx, r->net, B, &lr);
    size_t w32 = st == CLNAS_OK ? clnas_lr_words(lr) : 0, w64 = (w32 + 1) / 2;
    uint32_t *rows = calloc((size_t)B * (w32 ? w32 : 1), sizeof(uint32_t));
    uint64_t *pk = calloc((size_t)B * (w64 ? w64 : 1), sizeof(uint64_t));
    double *K = malloc(2 * (size_t)B * B * sizeof(double));
    if (st == CLNAS_OK && !(rows && pk && K)) st = clnas_set_error(r->ctx, CLNAS_E_NOMEM, "naswot: out of host memory");
    int nonfinite = 0;
    if (st == CLNAS_OK) st = clnas_lr_set_params(lr, in->params);
    if (st == CLNAS_OK) st = clnas_lr_codes(lr, in->images, rows, &nonfinite);
    clnas_lr_destroy(lr);
    if (st == CLNAS_OK) {
        for (int i = 0; i < B; i++) /* pairs of 32-bit words into 64-bit ones (an odd last word: high half 0) */
            for (size_t q = 0; q < w32; q++) pk[(size_t)i * w64 + q / 2] |= (uint64_t)rows[(size_t)i * w32 + q] << (32 * (q % 2));
        for (int i = 0; i < B; i++)
            for (int j = 0; j <= i; j++) {
                const uint64_t *a = pk + (size_t)i * w64, *c = pk + (size_t)j * w64;
                uint64_t ham = 0;
                for (size_t q = 0; q < w64; q++) ham += popcount64(a[q] ^ c[q]);
                K[(size_t)i * B + j] = K[(size_t)j * B + i] = (double)(bits - (size_t)ham);
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
    free(rows);
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

static clnas_status run_init(px_run *r, clnas_ctx *ctx, const clnas_net *net, const px_inputs *in, int need_plan)
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
    return need_plan ? clnas_plan_create(ctx, net, in->batch, 1, CLNAS_PLAN_PARAM_GRADS, &r->plan) : CLNAS_OK;
}

#define HAS(m, id) ((m) & (1u << (id)))

/* synflow's path: the option, else CLNAS_SYNFLOW=f32|f64, else float32 on the device wherever every
   layer kind has a scaling rule (the same value to a few 1e-8, 10-20x faster than the host's float64),
   the float64 host reference otherwise. */
static int synflow_uses_f32(const clnas_net *nobn, const px_opts *o)
{
    if (o && o->synflow_mode) return o->synflow_mode == PX_SYNFLOW_F32;
    const char *e = getenv("CLNAS_SYNFLOW");
    if (e && !strcmp(e, "f32")) return 1;
    if (e && !strcmp(e, "f64")) return 0;
    for (int i = 0; i < nobn->nlayers; i++)
        if (!sf_kind_scales(nobn->layers[i].kind)) return 0;
    return 1;
}

#define NEEDS_G0 ((1u << PX_GRAD_NORM) | (1u << PX_SNIP) | (1u << PX_GRASP) | (1u << PX_FISHER) | (1u << PX_ZICO))

/* The proxies on the batch-B plan: those that need the batch-0 gradient (fisher its activations, read
   right after it) and jacob_cov, which reuses that gradient's forward (then grasp reuses it too). */
static clnas_status eval_gradient_proxies(px_run *r, unsigned mask, const px_opts *o, px_result *res)
{
    clnas_status st = CLNAS_OK;
    double t = clnas_now();
    if (!(mask & NEEDS_G0)) {
        if (HAS(mask, PX_JACOB_COV)) st = jacob_cov(r, r->in->params, &res->value[PX_JACOB_COV], &res->why[PX_JACOB_COV]);
        res->seconds[PX_JACOB_COV] = clnas_now() - t;
        return st;
    }
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
    if (st == CLNAS_OK && HAS(mask, PX_JACOB_COV)) { /* its own work: the forward is the gradient's */
        t = clnas_now();
        st = jacob_cov(r, r->in->params, &res->value[PX_JACOB_COV], &res->why[PX_JACOB_COV]);
        res->seconds[PX_JACOB_COV] = clnas_now() - t;
    }
    if (st == CLNAS_OK && HAS(mask, PX_GRASP)) {
        t = clnas_now();
        st = grasp(r, o && o->grasp_eps > 0 ? o->grasp_eps : 1e-3, &res->value[PX_GRASP], &res->why[PX_GRASP]);
        res->seconds[PX_GRASP] = clnas_now() - t + res->seconds[PX_GRAD_NORM];
    }
    if (st == CLNAS_OK && HAS(mask, PX_ZICO)) {
        t = clnas_now();
        st = zico(r, &res->value[PX_ZICO]);
        res->seconds[PX_ZICO] = clnas_now() - t + res->seconds[PX_GRAD_NORM];
    }
    return st;
}

/* AZ-NAS's three components (one pass gives all three; each is billed the whole time). */
static clnas_status eval_aznas(clnas_ctx *ctx, const clnas_net *net, const px_inputs *in, unsigned mask, px_result *res)
{
    if (!HAS(mask, PX_AZ_EXPRESSIVITY) && !HAS(mask, PX_AZ_PROGRESSIVITY) && !HAS(mask, PX_AZ_TRAINABILITY)) return CLNAS_OK;
    if (!in->az.params) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "az_nas: the inputs have no AZ-NAS weights");
    double t = clnas_now(), v[AZ_NCOMP];
    const char *why[AZ_NCOMP];
    char err[512];
    clnas_status st = az_eval(ctx, net, in->batch, &in->az, v, why, err, sizeof err);
    if (st != CLNAS_OK) return clnas_set_error(ctx, st, "%s", err);
    for (int k = 0; k < AZ_NCOMP; k++) {
        if (!HAS(mask, PX_AZ_EXPRESSIVITY + k)) continue;
        res->value[PX_AZ_EXPRESSIVITY + k] = v[k];
        res->why[PX_AZ_EXPRESSIVITY + k] = why[k];
        res->seconds[PX_AZ_EXPRESSIVITY + k] = clnas_now() - t;
    }
    return CLNAS_OK;
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
    const int need_plan = (mask & (NEEDS_G0 | 1u << PX_JACOB_COV | 1u << PX_JACOV_KAIMING)) != 0;
    clnas_status st = run_init(&r, ctx, net, in, need_plan);
    if (st == CLNAS_OK && need_plan) st = eval_gradient_proxies(&r, mask, opts, res);
    double t = clnas_now();
    if (st == CLNAS_OK && HAS(mask, PX_JACOV_KAIMING)) { /* after the proxies that reuse batch 0's forward */
        float *w = malloc(net->nparams * sizeof *w);
        if (!w) st = clnas_set_error(ctx, CLNAS_E_NOMEM, "jacov_kaiming: out of host memory");
        else px_jacov_kaiming_params(net, in, w);
        if (w) st = jacob_cov(&r, w, &res->value[PX_JACOV_KAIMING], &res->why[PX_JACOV_KAIMING]);
        free(w);
        res->seconds[PX_JACOV_KAIMING] = clnas_now() - t; /* the draw included, as the reference's init_model */
    }
    t = clnas_now();
    if (st == CLNAS_OK && HAS(mask, PX_SYNFLOW)) {
        st = synflow_uses_f32(nobn, opts) ? synflow_f32(&r, nobn, &res->value[PX_SYNFLOW])
                                   : synflow(&r, nobn, &res->value[PX_SYNFLOW]);
        res->seconds[PX_SYNFLOW] = clnas_now() - t;
    }
    run_free(&r);
    if (st == CLNAS_OK) st = eval_aznas(ctx, net, in, mask, res);
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

clnas_status px_eval_repeat(clnas_ctx *ctx, const clnas_net *net, const clnas_net *nobn, const px_inputs *in,
                            unsigned mask, const px_opts *opts, int repeat, px_result *r)
{
    if (repeat < 1) return px_eval(ctx, net, nobn, in, mask, opts, r);
    double *t = malloc((size_t)repeat * PX_N * sizeof *t);
    if (!t) return clnas_set_error(ctx, CLNAS_E_NOMEM, "proxies: out of host memory");
    clnas_status st = px_eval(ctx, net, nobn, in, mask, opts, r); /* warm-up, not timed */
    for (int k = 0; k < repeat && st == CLNAS_OK; k++) {
        st = px_eval(ctx, net, nobn, in, mask, opts, r);
        for (int i = 0; i < PX_N; i++) t[(size_t)i * repeat + k] = r->seconds[i];
    }
    for (int i = 0; i < PX_N && st == CLNAS_OK; i++) r->seconds[i] = clnas_median(t + (size_t)i * repeat, repeat);
    free(t);
    return st;
}
