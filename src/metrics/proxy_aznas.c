/* proxy_aznas.c - AZ-NAS's expressivity, progressivity and trainability (proxy_aznas.h).
 *
 * The network is cut into its stem and its cells (by layer name); each piece is rebuilt as a
 * network of its own (input = the piece's input feature, output = its output feature) with the
 * same parameters, so the ordinary executor runs a piece's forward and its backward from a
 * given output gradient to the input gradient: the vector-Jacobian product of one cell, batch
 * statistics of train-mode BatchNorm included, as torch.autograd.grad(F_i, F_{i-1}) computes it.
 * Everything after the executor (covariances, spectra, the products of probes) is double on the
 * host. */
#define _POSIX_C_SOURCE 200809L
#include "metrics/proxy_aznas.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "clnas/stats.h"
#include "core/rng.h"
#include "model/graph.h"

/* ---------------------------------------------------------------- inputs */
clnas_status az_inputs_make(const clnas_net *net, int batch, uint64_t seed, uint64_t stream, az_inputs *az)
{
    memset(az, 0, sizeof *az);
    int c, h, w;
    clnas_net_input_shape(net, &c, &h, &w);
    size_t nx = (size_t)batch * c * h * w;
    az->params = malloc(clnas_net_nparams(net) * sizeof(float));
    az->input = malloc(nx * sizeof(float));
    if (!az->params || !az->input) {
        az_inputs_free(az);
        return CLNAS_E_NOMEM;
    }
    /* a stream of its own, so the draws do not repeat the other proxies' weights */
    clnas_net_init_params(net, seed, stream ^ 0x617a6e6173ULL, CLNAS_INIT_KAIMING_FAN_IN, az->params);
    uint64_t k = clnas_key_combine(clnas_mix64(seed), 0x617a2d696e707574ULL); /* "az-input" */
    for (size_t i = 0; i < nx; i++) az->input[i] = (float)clnas_ctr_normal(k, i);
    az->probe_key = clnas_key_combine(clnas_mix64(seed), 0x617a2d70726f6265ULL); /* "az-probe" */
    return CLNAS_OK;
}

void az_inputs_free(az_inputs *az)
{
    free(az->params);
    free(az->input);
    memset(az, 0, sizeof *az);
}

clnas_status az_dump(st_writer *w, const clnas_net *net, int batch, const az_inputs *az)
{
    int c, h, wd;
    clnas_net_input_shape(net, &c, &h, &wd);
    int64_t ish[4] = {batch, c, h, wd};
    clnas_status st = st_writer_add(w, "az_input", ST_F32, 4, ish, az->input);
    if (st == CLNAS_OK) st = st_writer_add_params(w, net, az->params, "az_w.");
    char v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)az->probe_key);
    if (st == CLNAS_OK) st = st_writer_meta(w, "az_probe_key", v);
    return st;
}

float az_probe(uint64_t probe_key, int feature, uint64_t j)
{
    return (clnas_mix64(clnas_key_combine(probe_key, (uint64_t)feature) + j) >> 63) ? -1.0f : 1.0f;
}

/* The probe of a whole feature (n elements): az_probe with the feature's key formed once. */
static void probes(uint64_t probe_key, int feature, size_t n, double *g)
{
    uint64_t k = clnas_key_combine(probe_key, (uint64_t)feature);
    for (size_t j = 0; j < n; j++) g[j] = (clnas_mix64(k + j) >> 63) ? -1.0 : 1.0;
}

/* ---------------------------------------------------------------- host math */
/* sum_i x[i] * y[i] in four interleaved partial sums: contiguous rows, and a chain of additions
 * four times shorter than one running sum (the compiler may not reorder a double sum itself). */
static double dot4(const double *x, const double *y, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i] * y[i];
        s1 += x[i + 1] * y[i + 1];
        s2 += x[i + 2] * y[i + 2];
        s3 += x[i + 3] * y[i + 3];
    }
    for (; i < n; i++) s0 += x[i] * y[i];
    return (s0 + s1) + (s2 + s3);
}

double az_entropy(const double *f, int B, int c, int hw)
{
    /* m: channel means; S: the lower triangle of the channel covariance over the B * hw positions;
     * v: one sample's centred maps (c rows of hw), so every entry of S is a sum of row dot products */
    double *m = calloc((size_t)c, sizeof *m), *S = calloc((size_t)c * c + (size_t)c, sizeof *S),
           *v = malloc((size_t)c * hw * sizeof *v);
    if (!m || !S || !v) { free(m); free(S); free(v); return NAN; }
    double *ev = S + (size_t)c * c, N = (double)B * hw;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < c; k++)
            for (int p = 0; p < hw; p++) m[k] += f[((size_t)b * c + k) * hw + p];
    for (int k = 0; k < c; k++) m[k] /= N;
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < c; k++)
            for (int p = 0; p < hw; p++) v[(size_t)k * hw + p] = f[((size_t)b * c + k) * hw + p] - m[k];
        for (int k = 0; k < c; k++)
            for (int l = 0; l <= k; l++) S[(size_t)k * c + l] += dot4(v + (size_t)k * hw, v + (size_t)l * hw, (size_t)hw);
    }
    for (int k = 0; k < c; k++)
        for (int l = 0; l <= k; l++) S[(size_t)k * c + l] /= N;
    double e = NAN;
    if (clnas_sym_eigvals(c, S, ev, NULL, 0) == CLNAS_OK) {
        double sum = 0;
        for (int k = 0; k < c; k++) sum += ev[k];
        e = 0;
        for (int k = 0; k < c; k++) {
            double p = ev[k] / sum; /* 0/0 = NaN for a constant map, as torch gives */
            e += -p * log(p + 1e-8);
        }
    }
    free(m);
    free(S);
    free(v);
    return e;
}

double az_smax(const double *gin, int ci, int hi, int wi, const double *gout, int B, int co, int ho, int wo)
{
    int r = hi / ho, R = ci * r * r; /* nn.PixelUnshuffle(r): row c*r*r + dy*r + dx */
    size_t P = (size_t)ho * wo;
    double *M = calloc((size_t)R * co + (size_t)R * R + (size_t)R, sizeof *M);
    double *u = r > 1 ? malloc((size_t)R * P * sizeof *u) : NULL;
    if (!M || (r > 1 && !u)) { free(M); free(u); return NAN; }
    double *G = M + (size_t)R * co, *ev = G + (size_t)R * R;
    /* M = sum over samples of U_b Go_b^T / N: U_b the sample's unshuffled input gradient (R rows of
     * ho * wo; the gradient itself when r = 1), Go_b its output gradient (co rows) */
    for (int b = 0; b < B; b++) {
        const double *ub = gin + (size_t)b * ci * hi * wi, *gb = gout + (size_t)b * co * P;
        if (r > 1) {
            for (int c = 0; c < ci; c++)
                for (int dy = 0; dy < r; dy++)
                    for (int dx = 0; dx < r; dx++) {
                        double *row = u + (size_t)((c * r + dy) * r + dx) * P;
                        for (int y = 0; y < ho; y++)
                            for (int x = 0; x < wo; x++)
                                row[(size_t)y * wo + x] = ub[((size_t)c * hi + y * r + dy) * wi + x * r + dx];
                    }
            ub = u;
        }
        for (int a = 0; a < R; a++)
            for (int o = 0; o < co; o++) M[(size_t)a * co + o] += dot4(ub + (size_t)a * P, gb + (size_t)o * P, P);
    }
    double N = (double)B * ho * wo;
    for (size_t q = 0; q < (size_t)R * co; q++) M[q] /= N;
    /* s_max^2 = largest eigenvalue of the smaller Gram matrix */
    int small = R < co ? R : co;
    for (int i = 0; i < small; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0;
            if (R >= co) for (int a = 0; a < R; a++) s += M[(size_t)a * co + i] * M[(size_t)a * co + j];
            else for (int o = 0; o < co; o++) s += M[(size_t)i * co + o] * M[(size_t)j * co + o];
            G[(size_t)i * small + j] = s;
        }
    double smax = NAN;
    if (clnas_sym_eigvals(small, G, ev, NULL, 0) == CLNAS_OK) smax = sqrt(ev[small - 1] > 0 ? ev[small - 1] : 0);
    free(u);
    free(M);
    return smax;
}

/* ---------------------------------------------------------------- pieces of the network */
typedef struct az_seg {
    int l0, l1;     /* layers [l0, l1] */
    int tin, tout;  /* input and output tensors */
} az_seg;

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* The stem and the cells: n pieces, or -1 with a message. */
static int find_segments(const clnas_net *net, az_seg *seg, int max, char *err, size_t len)
{
    int n = 0, i = 0, L = net->nlayers, tin = 0;
    char pre[32];
    while (i < L && n < max) {
        if (n == 0) snprintf(pre, sizeof pre, "stem.");
        else snprintf(pre, sizeof pre, "cells.%d.", n - 1);
        if (!has_prefix(net->layers[i].name, pre)) break;
        int j = i;
        while (j + 1 < L && has_prefix(net->layers[j + 1].name, pre)) j++;
        seg[n] = (az_seg){i, j, tin, net->layers[j].out};
        tin = seg[n].tout;
        n++;
        i = j + 1;
    }
    if (n < 3) {
        snprintf(err, len, "az_nas needs a network of a stem (stem.*) and at least two cells (cells.<i>.*); "
                           "found %d such pieces", n);
        return -1;
    }
    return n;
}

/* Rebuilds layers [s->l0, s->l1] as a network of their own. */
static clnas_status make_sub(const clnas_net *net, const az_seg *s, clnas_net **out, char *err, size_t len)
{
    const tensor_desc *ti = &net->tensors[s->tin];
    clnas_net *n = graph_new(ti->c, ti->h, ti->w);
    int *map = malloc((size_t)net->ntensors * sizeof *map);
    if (!n || !map) { clnas_net_destroy(n); free(map); snprintf(err, len, "az_nas: out of host memory"); return CLNAS_E_NOMEM; }
    for (int t = 0; t < net->ntensors; t++) map[t] = -1;
    map[s->tin] = 0;
    clnas_status st = CLNAS_OK;
    for (int i = s->l0; i <= s->l1 && st == CLNAS_OK; i++) {
        const layer *l = &net->layers[i];
        const tensor_desc *to = &net->tensors[l->out];
        int ins[MAX_SUM_IN], y = -1, ok = 1, x = l->kind == L_SUM ? 0 : map[l->in];
        if (l->kind == L_SUM)
            for (int j = 0; j < l->nin; j++) { ins[j] = map[l->ins[j]]; ok &= ins[j] >= 0; }
        if (x < 0 || !ok) {
            snprintf(err, len, "az_nas: layer %s reads a tensor from outside its cell", l->name);
            st = CLNAS_E_INVALID_ARG;
            break;
        }
        switch (l->kind) {
        case L_CONV: y = graph_conv(n, x, l->cout, l->k, l->stride, l->pad, "%s", l->name); break;
        case L_BN: y = graph_bn(n, x, "%s", l->name); break;
        case L_RELU: y = graph_relu(n, x, "%s", l->name); break;
        case L_AVGPOOL: y = graph_avgpool(n, x, l->k, l->stride, l->pad, "%s", l->name); break;
        case L_MAXPOOL: y = graph_maxpool(n, x, l->k, l->stride, l->pad, "%s", l->name); break;
        case L_SUM: y = graph_sum(n, l->nin, ins, l->coef, to->c, to->h, to->w, "%s", l->name); break;
        default:
            snprintf(err, len, "az_nas: layer %s is a %s, which a cell here may not hold (conv, bn, relu, pools, sums)",
                     l->name, graph_kind_name(l->kind));
            st = CLNAS_E_UNSUPPORTED;
        }
        map[l->out] = y;
    }
    if (st == CLNAS_OK) st = graph_finish(n, map[s->tout] < 0 ? 0 : map[s->tout], err, len);
    free(map);
    if (st != CLNAS_OK) { clnas_net_destroy(n); return st; }
    *out = n;
    return CLNAS_OK;
}

/* The piece's parameters, copied by name from the whole network's. */
static clnas_status sub_params(const clnas_net *net, const float *all, const clnas_net *sub, float *p, char *err, size_t len)
{
    for (int i = 0; i < clnas_net_nparam_tensors(sub); i++) {
        const char *nm;
        size_t off, cnt, off2 = (size_t)-1, cnt2 = 0;
        int sh[4];
        clnas_net_param_tensor(sub, i, &nm, &off, &cnt, sh);
        char name[200];
        snprintf(name, sizeof name, "%s", nm);
        for (int j = 0; j < clnas_net_nparam_tensors(net) && off2 == (size_t)-1; j++) {
            clnas_net_param_tensor(net, j, &nm, &off2, &cnt2, sh);
            if (strcmp(nm, name) != 0) off2 = (size_t)-1;
        }
        if (off2 == (size_t)-1 || cnt2 != cnt) {
            snprintf(err, len, "az_nas: parameter %s has no match in the network", name);
            return CLNAS_E_INVALID_ARG;
        }
        memcpy(p + off, all + off2, cnt * sizeof(float));
    }
    return CLNAS_OK;
}

static int reads_input(const clnas_net *n)
{
    for (int i = 0; i < n->nlayers; i++) {
        const layer *l = &n->layers[i];
        if (l->kind == L_SUM) { for (int j = 0; j < l->nin; j++) if (l->ins[j] == 0) return 1; }
        else if (l->in == 0) return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- running one piece */
/* Forward of the piece on x (B inputs) into y and, when gout is not NULL, the input gradient gin
 * of the output gradient gout; on the device ctx, or on the double host reference (ctx NULL). */
static clnas_status seg_run(clnas_ctx *ctx, const clnas_net *sub, int B, const float *p, const double *x, double *y,
                            const double *gout, double *gin, float *f, char *err, size_t len)
{
    size_t np = sub->nparams, nx = tensor_size(&sub->tensors[0]) * (size_t)B,
           ny = tensor_size(&sub->tensors[sub->output]) * (size_t)B, big = nx > ny ? nx : ny;
    int want_in = gout && reads_input(sub);
    if (gout && !want_in) memset(gin, 0, nx * sizeof *gin); /* the cell ignores its input (no active op) */
    clnas_status st = CLNAS_OK;
    if (!ctx) {
        double *pd = malloc((np + 1) * 2 * sizeof *pd);
        if (!pd) { snprintf(err, len, "az_nas: out of host memory"); return CLNAS_E_NOMEM; }
        for (size_t i = 0; i < np; i++) pd[i] = p[i];
        st = clnas_ref_forward(sub, B, pd, x, y);
        if (st == CLNAS_OK && want_in) st = clnas_ref_backward(sub, B, pd, x, gout, pd + np + 1, gin);
        free(pd);
        if (st != CLNAS_OK) snprintf(err, len, "az_nas: the host reference failed on a cell (%s)", clnas_status_str(st));
        return st;
    }
    clnas_plan *plan = NULL;
    float *f2 = f + big; /* f: 2 * big floats of the caller's (kept across cells: no fresh pages each time) */
    for (size_t i = 0; i < nx; i++) f[i] = (float)x[i];
    st = clnas_plan_create(ctx, sub, B, 1, np ? CLNAS_PLAN_PARAM_GRADS : 0u, &plan);
    if (st == CLNAS_OK) st = clnas_plan_set_params(plan, p);
    if (st == CLNAS_OK) st = clnas_plan_forward(plan, f);
    if (st == CLNAS_OK) st = clnas_plan_read_logits(plan, f2);
    for (size_t i = 0; i < ny && st == CLNAS_OK; i++) y[i] = f2[i];
    if (st == CLNAS_OK && want_in) {
        for (size_t i = 0; i < ny; i++) f2[i] = (float)gout[i];
        /* clnas_plan_backward_host without its parameter gradients (a cell may have none) */
        st = clnas_buf_write(ctx, plan->grad, plan_grad_off(plan, sub->output) * sizeof(float), ny * sizeof(float), f2);
        clnas_dt g = {plan->pgrad, 0};
        plan->skip_conv_wgrad = 1; /* only g_in is wanted (torch.autograd.grad(..., inputs=f_in) computes no weight gradient) */
        if (st == CLNAS_OK) st = clnas_plan_backward(plan, 1, g, np, 1);
        if (st == CLNAS_OK) st = clnas_buf_read(ctx, plan->grad, plan_grad_off(plan, 0) * sizeof(float), nx * sizeof(float), f);
        for (size_t i = 0; i < nx && st == CLNAS_OK; i++) gin[i] = f[i];
    }
    clnas_plan_destroy(plan);
    if (st != CLNAS_OK) snprintf(err, len, "az_nas: %s", clnas_ctx_errmsg(ctx));
    return st;
}

/* Trainability score of one cell from its probe and input gradient. */
static double cell_score(const tensor_desc *ti, const tensor_desc *to, int B, const double *gin, const double *gout)
{
    size_t nx = tensor_size(ti) * (size_t)B;
    if (ti->c == to->c && ti->h == to->h && ti->w == to->w && memcmp(gin, gout, nx * sizeof *gin) == 0)
        return -INFINITY; /* an identity cell: the reference's g_in == g_out */
    double s = az_smax(gin, ti->c, ti->h, ti->w, gout, B, to->c, to->h, to->w);
    return -s - 1 / (s + 1e-6) + 2;
}

/* ---------------------------------------------------------------- the components */
typedef struct az_bufs {
    double *x, *y, *gout, *gin, *e, *tr;
    float *p, *f; /* the piece's parameters; 2 x the largest feature of staging floats */
} az_bufs;

static void bufs_free(az_bufs *b)
{
    free(b->x); free(b->y); free(b->gout); free(b->gin); free(b->e); free(b->tr); free(b->p); free(b->f);
}

static void finish(const az_bufs *b, int nseg, double out[AZ_NCOMP], const char *why[AZ_NCOMP])
{
    double ex = 0, prog = INFINITY, tr = 0;
    for (int s = 0; s < nseg; s++) ex += b->e[s];
    for (int s = 1; s < nseg; s++) {
        double d = b->e[s] - b->e[s - 1];
        prog = isnan(d) || isnan(prog) ? NAN : (d < prog ? d : prog); /* np.min propagates NaN */
        tr += b->tr[s];
    }
    tr /= nseg - 1;
    out[AZ_EXPRESSIVITY] = ex;
    out[AZ_PROGRESSIVITY] = prog;
    out[AZ_TRAINABILITY] = tr;
    static const char *const nan_why[AZ_NCOMP] = {
        "-inf: a feature map without variance (NaN entropy mapped to -inf as AZ-NAS does)",
        "-inf: a feature map without variance (NaN entropy mapped to -inf as AZ-NAS does)",
        "-inf: NaN singular value (mapped to -inf as AZ-NAS does)"};
    for (int k = 0; k < AZ_NCOMP; k++) {
        why[k] = NULL;
        if (isnan(out[k])) { out[k] = -INFINITY; why[k] = nan_why[k]; }
        else if (out[k] == -INFINITY) why[k] = "-inf: an identity cell (g_in == g_out) as AZ-NAS scores it";
    }
}

#define AZ_MAXSEG 256

clnas_status az_eval(clnas_ctx *ctx, const clnas_net *net, int batch, const az_inputs *az, double out[AZ_NCOMP],
                     const char *why[AZ_NCOMP], char *err, size_t errlen)
{
    az_seg seg[AZ_MAXSEG];
    int nseg = find_segments(net, seg, AZ_MAXSEG, err, errlen);
    if (nseg < 0) return CLNAS_E_UNSUPPORTED;
    size_t big = 0;
    for (int s = 0; s < nseg; s++) {
        size_t a = tensor_size(&net->tensors[seg[s].tin]), b = tensor_size(&net->tensors[seg[s].tout]);
        big = a > big ? a : big;
        big = b > big ? b : big;
    }
    big *= (size_t)batch;
    az_bufs b = {malloc(big * sizeof(double)), malloc(big * sizeof(double)), malloc(big * sizeof(double)),
                 malloc(big * sizeof(double)), calloc((size_t)nseg, sizeof(double)), calloc((size_t)nseg, sizeof(double)),
                 malloc((net->nparams + 1) * sizeof(float)), malloc(2 * big * sizeof(float))};
    clnas_status st = CLNAS_OK;
    if (!b.x || !b.y || !b.gout || !b.gin || !b.e || !b.tr || !b.p || !b.f) {
        snprintf(err, errlen, "az_nas: out of host memory");
        st = CLNAS_E_NOMEM;
    }
    size_t nx0 = tensor_size(&net->tensors[0]) * (size_t)batch;
    for (size_t i = 0; i < nx0 && st == CLNAS_OK; i++) b.x[i] = az->input[i];
    for (int s = 0; s < nseg && st == CLNAS_OK; s++) {
        const tensor_desc *ti = &net->tensors[seg[s].tin], *to = &net->tensors[seg[s].tout];
        clnas_net *sub = NULL;
        st = make_sub(net, &seg[s], &sub, err, errlen);
        if (st == CLNAS_OK) st = sub_params(net, az->params, sub, b.p, err, errlen);
        size_t ny = tensor_size(to) * (size_t)batch;
        if (s > 0) probes(az->probe_key, s, ny, b.gout);
        if (st == CLNAS_OK) st = seg_run(ctx, sub, batch, b.p, b.x, b.y, s > 0 ? b.gout : NULL, b.gin, b.f, err, errlen);
        clnas_net_destroy(sub);
        if (st != CLNAS_OK) break;
        b.e[s] = az_entropy(b.y, batch, to->c, to->h * to->w);
        if (s > 0) b.tr[s] = cell_score(ti, to, batch, b.gin, b.gout);
        double *t = b.x; /* this output is the next piece's input */
        b.x = b.y;
        b.y = t;
    }
    if (st == CLNAS_OK) finish(&b, nseg, out, why);
    bufs_free(&b);
    return st;
}

/* ---------------------------------------------------------------- aggregation */
clnas_status az_aggregate(int n, const double *const cols[4], double *out)
{
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *rk = malloc((size_t)(n ? n : 1) * sizeof *rk);
    if (!x || !rk) { free(x); free(rk); return CLNAS_E_NOMEM; }
    for (int i = 0; i < n; i++) out[i] = 0;
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < n; i++) x[i] = isnan(cols[k][i]) ? -INFINITY : cols[k][i];
        clnas_rank_average(x, n, rk);
        for (int i = 0; i < n; i++) out[i] += log(rk[i] / n);
    }
    free(x);
    free(rk);
    return CLNAS_OK;
}
