/* cmd_proxies.c - the zero-cost proxies (metrics/proxies.h) on the command line:
 * `clnas score --metric LIST`, `clnas rank --metric LIST` and `clnas stats` of such a study.
 * clnas_cmd_score / clnas_cmd_rank / clnas_cmd_stats hand over to these when the metric list
 * names a proxy other than TE-NAS's ntk and lr (or the CSV is a proxy study). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/cmd_proxies.h"
#include "clnas/bench201.h"
#include "clnas/darts.h"
#include "clnas/stats.h"
#include "core/util.h"
#include "metrics/proxies.h"
#include "metrics/proxy_vkdnw.h"
#include "model/graph.h"
#include "ops/ops.h"
#include "report/safetensors.h"
#include "spaces/nb201_internal.h"

#define PX_DEFAULT_BATCH 64
/* --space darts: DARTS's NetworkCIFAR of the genotype at NAS-Bench-301's size (README, "On DARTS networks") */
#define PX_DARTS_C 32
#define PX_DARTS_LAYERS 8
#define PX_AZ_BITS (1u << PX_AZ_EXPRESSIVITY | 1u << PX_AZ_PROGRESSIVITY | 1u << PX_AZ_TRAINABILITY)

/* An ensemble member: a proxy column (its px_id), AZ-NAS's aggregate over the rows (PX_N) or
   VKDNW's (PX_N + 1). */
#define PX_AZ_AGG PX_N
#define PX_VK_AGG (PX_N + 1)
#define PX_NMEMBER (PX_N + 2)

/* The members of the ensemble (rank sum, no weights): chosen by `stats --choose-ensemble` on rows
 * 1-1000 of the 3,000-architecture seed-0 study and tested on its rows 1001-3000 (README,
 * data/studies/PROVENANCE.md). Until 2026-12-03 it was flops, jacob_cov, synflow, naswot, zico,
 * fixed from published values. */
static const int ENSEMBLE[] = {PX_JACOB_COV, PX_SYNFLOW, PX_AZ_AGG};
#define NENSEMBLE ((int)(sizeof ENSEMBLE / sizeof ENSEMBLE[0]))

static int aznas_sidecar(const char *csv);

int clnas_proxies_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--metric") && i + 1 < argc) v = argv[i + 1];
        else if (!strncmp(argv[i], "--metric=", 9)) v = argv[i] + 9;
        if (!v) continue;
        unsigned mask;
        int tenas;
        char err[256];
        /* a list with a proxy, or an unknown word (the proxies' parser names it and lists all) */
        if (px_parse(v, &mask, &tenas, err, sizeof err) != 0 || mask) return 1;
    }
    return 0;
}

/* rank and search score NB201 architectures only; 0 or exit status 2 with a message. */
static int nb201_only(const char *cmd, const char *space)
{
    if (!space || !strcmp(space, "nb201")) return 0;
    fprintf(stderr, "clnas %s: the zero-cost proxies of a study or a sampling search are on NB201 only; score one DARTS "
                    "genotype with clnas score --space darts --genotype G --metric LIST\n", cmd);
    return 2;
}

static int parse_metric(const char *cmd, const char *opt, const char *v, void *ud)
{
    unsigned *m = ud; /* m[0] proxies, m[1] TE-NAS bits */
    int tenas;
    char err[512];
    if (px_parse(v, &m[0], &tenas, err, sizeof err) != 0) {
        fprintf(stderr, "clnas %s: %s: %s\n", cmd, opt, err);
        return 0;
    }
    m[1] = (unsigned)tenas;
    return 1;
}

/* --metric of the sampling search: the mask as parse_metric makes it, and the list itself (its members) */
typedef struct metric_list {
    unsigned *mask;
    const char *list;
} metric_list;

static int parse_metric_list(const char *cmd, const char *opt, const char *v, void *ud)
{
    metric_list *a = ud;
    if (!parse_metric(cmd, opt, v, a->mask)) return 0;
    a->list = v;
    return 1;
}

static const char DEFS[] =
"Zero-cost proxies (all on the NB201 network C=16 N=5 - with --space darts the genotype's NetworkCIFAR,\n"
"C=32, 8 cells - of the data set's classes, PyTorch's default initialisation, BatchNorm in train mode,\n"
"B = --batch augmented training images (default 64, as zero-cost-nas) with their labels, mean\n"
"cross-entropy; 'weights' = every conv (depthwise included) and linear weight):\n"
"  params     number of parameters\n"
"  flops      forward MFLOPs of one image (convolutions + classifier, multiply-add = 2)\n"
"  grad_norm  sum over weight tensors of ||dL/dW||\n"
"  snip       sum |W dL/dW|\n"
"  grasp      -sum W (H g), g = dL/dW, computed as -g (H W) with H W by a central difference of\n"
"             two gradients at (1 +- 1e-3) W with every ReLU and max pool frozen at the unperturbed\n"
"             on/off pattern and winners (what autograd's double backward differentiates), not\n"
"             double backward itself\n"
"  fisher     sum over conv/linear output channels of 0.5 mean_n (sum_hw a dL/da)^2 x fan-in\n"
"  jacob_cov  -sum(log(v + 1e-5) + 1/(v + 1e-5)), v = eigenvalues of corrcoef of the rows of\n"
"             d(sum of logits)/d(input)\n"
"  synflow    network without BatchNorm, |parameters|, one all-ones input: sum |W dR/dW|,\n"
"             R = sum of logits; float32 on the device with power-of-two scales per tensor, or\n"
"             float64 on the host reference (a layer kind without scaling rule, or CLNAS_SYNFLOW=f64)\n"
"  naswot     log|det K|, K_ij = ReLU-code positions where images i and j agree (all ReLUs)\n"
"  zico       two batches, gradients accumulated as ZiCo's code does: sum over weight tensors of\n"
"             log sum mean|g| / std(g)\n"
"  vkdnw      VKDNW (CVPR 2025) as its NB201 code: its own weights (Kaiming normal fan_in, zero\n"
"             biases) and B N(0,1) noise images, BatchNorm in eval mode (fresh running stats);\n"
"             J = d logits / d theta per image, theta = the first element of each of the first 128\n"
"             parameter tensors; F = mean (L J)^T (L J), L the code's factor of the covariance of\n"
"             the label-smoothed softmax (alpha 0.05, float16 constants); H = entropy of the\n"
"             deciles of |eig F| normalised to sum 1; value = aleph + H / ln 10 (aleph = number\n"
"             of parameter tensors: the order of the reference's rank by (aleph, H))\n"
"  jacov_kaiming  VKDNW's jacov (its compute_jacov_score.py): jacob_cov on weights of its own, drawn\n"
"             as VKDNW's init_model (Kaiming normal fan_in for conv and linear weights, zero biases,\n"
"             BN gamma 1 beta 0), BatchNorm in train mode, the same images (batch 0)\n"
;
/* The rest of the definitions (one literal would pass the 4095 characters C99 guarantees). */
static const char DEFS_AGG[] =
"  az_nas     AZ-NAS (cvlab-yonsei/AZ-NAS): flops and three columns, on its own network copy (NB201\n"
"             only: its trainability needs one-input cells, a DARTS cell has two):\n"
"             Kaiming-normal fan-in weights (whatever --init), B N(0,1) random images (not data),\n"
"             BN in train mode;\n"
"             features = the stem's and every cell's output (3N+3 maps)\n"
"    az_expressivity   sum over features of -sum p log(p + 1e-8), p = eigenvalues of the channel\n"
"                      covariance over batch and positions, normalised to sum 1\n"
"    az_progressivity  min over successive features of the increase of that entropy\n"
"    az_trainability   mean over cells of 2 - s - 1/(s + 1e-6), s = top singular value of\n"
"                      E[g_in g_out^T], g_in = the cell's vector-Jacobian product of a +-1 probe\n"
"                      g_out (pixel-unshuffled at reductions); -inf for an identity cell\n"
"             probes and input are clnas's counter-based draws of the seed (not torch's); a NaN\n"
"             component is -inf as in the reference (an empty cell + status in a CSV). The\n"
"             aggregate az_nas = sum of log(rank / n) of the four columns needs a set: rank and\n"
"             stats compute it over the rows present (rank writes OUT.az_nas.csv, recomputed\n"
"             on every resumed run); score prints the four columns.\n"
"  vkdnw_agg  (stats, with the columns flops, az_expressivity, az_trainability, jacov_kaiming and\n"
"             vkdnw) VKDNW's aggregate: log rank(flops) + log rank(az_expressivity) + log\n"
"             rank(az_trainability) + log rank(jacov_kaiming, undefined = the column's minimum) +\n"
"             log of the dense rank of vkdnw, average ranks over the rows present\n"
"  ensemble   (rank and stats) sum of the average ranks of jacob_cov, synflow and az_nas (those\n"
"             present): chosen on 1,000 architectures, tested on 2,000 others (README)\n"
;

/* DEFS and DEFS_AGG, the --help footer of score, rank and search. */
static const char *defs(void)
{
    static char buf[sizeof DEFS + sizeof DEFS_AGG];
    if (!*buf) snprintf(buf, sizeof buf, "%s%s", DEFS, DEFS_AGG);
    return buf;
}

/* ---------------------------------------------------------------- one architecture */
typedef struct px_cmd {
    const char *arch_s, *data_path, *device, *dump, *space, *genotype;
    unsigned metric[2];
    int batch, json, repeat;
    uint64_t seed;
    clnas_init init;
    clnas_dataset_kind dataset;
    int darts, C, layers;       /* --space darts: the genotype's NetworkCIFAR, C and layers */
    clnas_darts_genotype geno;
} px_cmd;

/* The network of a DARTS genotype (p->darts) with and (for synflow) without BatchNorm: DARTS's
 * NetworkCIFAR (every data set here is 32x32 or smaller, ImageNet included) of `classes` outputs,
 * no auxiliary head, no drop path. */
static clnas_status darts_nets(const px_cmd *p, int classes, unsigned mask, clnas_net **net, clnas_net **nobn, char *err,
                               size_t len)
{
    clnas_darts_eval_config c;
    clnas_darts_eval_config_cifar(&c);
    c.C = p->C;
    c.layers = p->layers;
    c.classes = classes;
    c.input_hw = clnas_dataset_hw(p->dataset);
    clnas_status st = clnas_darts_eval_build(&c, &p->geno, net, err, len);
    c.no_bn = 1;
    if (st == CLNAS_OK && (mask & (1u << PX_SYNFLOW))) st = clnas_darts_eval_build(&c, &p->geno, nobn, err, len);
    return st;
}

/* The network with and (for synflow) without BatchNorm for a data set of `classes`. */
static clnas_status build_nets(const px_cmd *p, const clnas_nb201_arch *a, int classes, unsigned mask,
                               clnas_net **net, clnas_net **nobn, char *err, size_t len)
{
    clnas_dataset_kind k = p->dataset;
    *net = *nobn = NULL;
    if (p->darts) return darts_nets(p, classes, mask, net, nobn, err, len);
    clnas_nb201_config c;
    clnas_nb201_config_default(&c);
    c.classes = classes;
    c.input_hw = clnas_dataset_hw(k);
    clnas_status st = clnas_nb201_build(&c, a, net, err, len);
    if (st == CLNAS_OK && (mask & (1u << PX_SYNFLOW))) st = nb201_build_nobn(&c, a, nobn, err, len);
    return st;
}

/* The ReLU codes (input > 0, in layer order) of batch 0 as the device computes them, [B][bits] 0/1
 * bytes (malloc'd into *codes), for the dump's px_relu_codes: tools/verify_proxies.py takes the side
 * of the few units float32 cannot place (inputs within rounding of 0) from them when it checks grasp. */
static clnas_status relu_codes(clnas_ctx *ctx, const clnas_net *net, const px_inputs *in, uint8_t **codes)
{
    size_t bits = clnas_net_relu_bits(net), regions;
    int nonfinite;
    *codes = malloc((size_t)in->batch * (bits ? bits : 1));
    clnas_lr *lr = NULL;
    clnas_status st = *codes ? clnas_lr_create(ctx, net, in->batch, &lr) : CLNAS_E_NOMEM;
    if (st == CLNAS_OK) st = clnas_lr_set_params(lr, in->params);
    if (st == CLNAS_OK) st = clnas_lr_count(lr, in->images, in->batch, &regions, &nonfinite, *codes);
    clnas_lr_destroy(lr);
    return st;
}

/* The winner of every max-pool window (its tap kh*k + kw) on batch 0, as the device computes the
 * pools' inputs: [B][*per] bytes (malloc'd into *taps; layers in order, each [C][Hout][Wout]), for the
 * dump's px_maxpool_taps. grasp freezes these winners (clnas_plan_freeze), so tools/verify_proxies.py
 * takes them for the windows whose two largest inputs are within rounding of each other. */
static clnas_status maxpool_taps(clnas_ctx *ctx, const clnas_net *net, const px_inputs *in, uint8_t **taps, size_t *per)
{
    const int B = in->batch;
    size_t n = 0, big = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const layer *l = &net->layers[i];
        if (l->kind != L_MAXPOOL) continue;
        const tensor_desc *ti = &net->tensors[l->in], *to = &net->tensors[l->out];
        n += (size_t)to->c * to->h * to->w;
        if ((size_t)ti->c * ti->h * ti->w > big) big = (size_t)ti->c * ti->h * ti->w;
    }
    *per = n;
    *taps = malloc((size_t)B * (n ? n : 1));
    float *xf = malloc((big ? big : 1) * sizeof(float));
    double *xd = malloc((big ? big : 1) * sizeof(double));
    int *idx = malloc((n ? n : 1) * sizeof(int));
    clnas_plan *plan = NULL;
    clnas_status st = *taps && xf && xd && idx ? clnas_plan_create(ctx, net, B, 1, 0, &plan) : CLNAS_E_NOMEM;
    if (st == CLNAS_OK) st = clnas_plan_set_params(plan, in->params);
    if (st == CLNAS_OK) st = clnas_plan_forward(plan, in->images);
    for (int b = 0, pos = 0; b < B && st == CLNAS_OK; b++, pos = 0)
        for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
            const layer *l = &net->layers[i];
            if (l->kind != L_MAXPOOL) continue;
            const tensor_desc *ti = &net->tensors[l->in];
            const size_t hw = (size_t)ti->h * ti->w, sz = (size_t)ti->c * hw; /* one sample; a slice's are further apart */
            st = clnas_buf_read(ctx, plan->act, (plan_act_off(plan, l->in) + (size_t)b * plan_stride_c(net, l->in) * hw) * sizeof(float),
                                sz * sizeof(float), xf);
            if (st != CLNAS_OK) break;
            for (size_t j = 0; j < sz; j++) xd[j] = xf[j];
            clnas_pool_shape s;
            clnas_pool_shape_init(&s, 1, ti->c, ti->h, ti->w, l->k, l->stride, l->pad);
            clnas_maxpool_argmax_ref(&s, xd, idx);
            for (int c = 0, q = 0; c < s.c; c++)
                for (int oh = 0; oh < s.hout; oh++)
                    for (int ow = 0; ow < s.wout; ow++, q++) {
                        const int h = idx[q] / s.w, w = idx[q] % s.w;
                        (*taps)[(size_t)b * n + (size_t)pos + (size_t)q] =
                            (uint8_t)((h - (oh * s.stride - s.pad)) * s.k + w - (ow * s.stride - s.pad));
                    }
            pos += s.c * s.hout * s.wout;
        }
    clnas_plan_destroy(plan);
    free(xf);
    free(xd);
    free(idx);
    return st;
}

/* vkdnw's own weights (px_vkdnw/NAME) and noise images, and its two parts in the metadata. */
static clnas_status dump_vkdnw(st_writer *w, const clnas_net *net, const px_inputs *in, const px_result *r)
{
    clnas_status st = st_writer_add_params(w, net, in->vk_params, "px_vkdnw/");
    int64_t ish[4] = {in->batch, in->c, in->hw, in->hw};
    if (st == CLNAS_OK) st = st_writer_add(w, "px_vkdnw_images", ST_F32, 4, ish, in->vk_images);
    char v[64];
    snprintf(v, sizeof v, "%.17g", r->vkdnw_entropy);
    if (st == CLNAS_OK) st = st_writer_meta(w, "vkdnw_entropy", v);
    snprintf(v, sizeof v, "%.17g", r->vkdnw_dim);
    if (st == CLNAS_OK) st = st_writer_meta(w, "vkdnw_dim", v);
    return st;
}

static clnas_status save_dump(const px_cmd *p, clnas_ctx *ctx, const char *dir, const char *arch, const clnas_net *net,
                              const px_inputs *in, unsigned mask, const px_result *r, char *err, size_t len)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, len, "cannot create %s: %s", dir, strerror(errno));
        return CLNAS_E_IO;
    }
    st_writer *w = st_writer_new();
    if (!w) { snprintf(err, len, "out of memory"); return CLNAS_E_NOMEM; }
    clnas_status st = CLNAS_OK;
    int64_t *lab = malloc(2 * (size_t)in->batch * sizeof *lab);
    if (!lab) st = CLNAS_E_NOMEM;
    for (int i = 0; lab && i < 2 * in->batch; i++) lab[i] = in->labels[i];
    if (st == CLNAS_OK) st = st_writer_add_params(w, net, in->params, NULL);
    int64_t ish[5] = {2, in->batch, in->c, in->hw, in->hw}, lsh[2] = {2, in->batch};
    if (st == CLNAS_OK) st = st_writer_add(w, "px_images", ST_F32, 5, ish, in->images);
    if (st == CLNAS_OK) st = st_writer_add(w, "px_labels", ST_I64, 2, lsh, lab);
    uint8_t *codes = NULL, *taps = NULL;
    if (st == CLNAS_OK && (mask & (1u << PX_GRASP))) {
        int64_t csh[2] = {in->batch, (int64_t)clnas_net_relu_bits(net)};
        if ((st = relu_codes(ctx, net, in, &codes)) != CLNAS_OK) {
            snprintf(err, len, "ReLU codes for the dump: %s", clnas_ctx_errmsg(ctx));
            st_writer_free(w);
            free(lab);
            free(codes);
            return st;
        }
        st = st_writer_add(w, "px_relu_codes", ST_U8, 2, csh, codes);
        size_t per = 0;
        if (st == CLNAS_OK && (st = maxpool_taps(ctx, net, in, &taps, &per)) != CLNAS_OK) {
            snprintf(err, len, "max-pool winners for the dump: %s", clnas_ctx_errmsg(ctx));
            st_writer_free(w);
            free(lab);
            free(codes);
            free(taps);
            return st;
        }
        int64_t tsh[2] = {in->batch, (int64_t)per};
        if (st == CLNAS_OK && per) st = st_writer_add(w, "px_maxpool_taps", ST_U8, 2, tsh, taps);
    }
    if (st == CLNAS_OK && (mask & (1u << PX_VKDNW))) st = dump_vkdnw(w, net, in, r);
    float *jk = NULL; /* the writer keeps pointers: freed after the save */
    if (st == CLNAS_OK && (mask & (1u << PX_JACOV_KAIMING))) {
        jk = malloc(clnas_net_nparams(net) * sizeof *jk);
        if (jk) px_jacov_kaiming_params(net, in, jk);
        st = jk ? st_writer_add_params(w, net, jk, "px_jacov/") : CLNAS_E_NOMEM;
    }
    char v[64];
    if (st == CLNAS_OK && (mask & (1u << PX_AZ_EXPRESSIVITY | 1u << PX_AZ_PROGRESSIVITY | 1u << PX_AZ_TRAINABILITY)))
        st = az_dump(w, net, in->batch, &in->az);
    if (st == CLNAS_OK) st = st_writer_meta(w, "arch", arch);
    snprintf(v, sizeof v, "%d", in->classes);
    if (st == CLNAS_OK) st = st_writer_meta(w, "classes", v);
    if (st == CLNAS_OK && p->darts) { /* the genotype's NetworkCIFAR (arch: the genotype as DARTS prints it) */
        st = st_writer_meta(w, "space", "darts");
        snprintf(v, sizeof v, "%d", p->C);
        if (st == CLNAS_OK) st = st_writer_meta(w, "darts_C", v);
        snprintf(v, sizeof v, "%d", p->layers);
        if (st == CLNAS_OK) st = st_writer_meta(w, "darts_layers", v);
    }
    for (int i = 0; i < PX_N && st == CLNAS_OK; i++) {
        if (!(mask & (1u << i))) continue;
        snprintf(v, sizeof v, "%.17g", r->value[i]);
        st = st_writer_meta(w, px_name(i), v);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/proxies.safetensors", dir);
    if (st == CLNAS_OK) st = st_writer_save(w, path, err, len);
    else snprintf(err, len, "cannot collect the dump's tensors (out of memory)");
    st_writer_free(w);
    free(lab);
    free(codes);
    free(jk);
    free(taps);
    return st;
}

static void print_result(const px_cmd *p, const char *arch, const char *dev, unsigned mask, const px_result *r,
                         const clnas_score_result *te, int tenas)
{
    if (p->json) {
        printf("{\"arch\": \"%s\", \"device\": \"%s\", \"batch\": %d, \"seed\": %llu", arch, dev, p->batch,
               (unsigned long long)p->seed);
        if (p->darts) printf(", \"space\": \"darts\", \"C\": %d, \"layers\": %d", p->C, p->layers);
        for (int i = 0; i < PX_N; i++) {
            if (!(mask & (1u << i))) continue;
            if (isfinite(r->value[i])) printf(", \"%s\": %.10g", px_name(i), r->value[i]);
            else printf(", \"%s\": null, \"%s_status\": \"%s\"", px_name(i), px_name(i), r->why[i] ? r->why[i] : "undefined");
            printf(", \"%s_seconds\": %.4f", px_name(i), r->seconds[i]);
        }
        if ((mask & (1u << PX_VKDNW)) && isfinite(r->vkdnw_entropy))
            printf(", \"vkdnw_entropy\": %.10g, \"vkdnw_dim\": %.0f", r->vkdnw_entropy, r->vkdnw_dim);
        if (tenas & CLNAS_METRIC_NTK) printf(", \"kappa\": %.10g", te->kappa_geomean);
        if (tenas & CLNAS_METRIC_LR) printf(", \"R\": %.10g", te->regions_mean);
        printf("}\n");
        return;
    }
    char netd[96];
    if (p->darts) snprintf(netd, sizeof netd, "DARTS NetworkCIFAR C=%d layers=%d (no auxiliary head)", p->C, p->layers);
    else snprintf(netd, sizeof netd, "NB201 C=16 N=5");
    printf("arch     %s\ndevice   %s\nproxies  %s, batch %d, seed %llu, BN train mode\n", arch, dev, netd, p->batch,
           (unsigned long long)p->seed);
    for (int i = 0; i < PX_N; i++) {
        if (!(mask & (1u << i))) continue;
        if (isfinite(r->value[i])) printf("  %-10s %.10g   (%.3f s)\n", px_name(i), r->value[i], r->seconds[i]);
        else printf("  %-10s undefined: %s\n", px_name(i), r->why[i] ? r->why[i] : "undefined");
        if (i == PX_VKDNW) printf("             aleph %.0f, H %.10g (own weights and noise images, BN eval mode)\n", r->vkdnw_dim, r->vkdnw_entropy);
    }
    if (tenas & CLNAS_METRIC_NTK) printf("  %-10s %.10g (TE-NAS NTK kappa, geometric mean)\n", "ntk", te->kappa_geomean);
    if (tenas & CLNAS_METRIC_LR) printf("  %-10s %.10g (TE-NAS linear regions, mean)\n", "lr", te->regions_mean);
}

/* Scores one architecture; 0 or the exit status (message printed). */
static int score_one(const px_cmd *p, clnas_ctx *ctx, const clnas_dataset *data, const clnas_nb201_arch *a,
                     unsigned mask, px_result *r, char *err, size_t len, px_inputs *keep)
{
    clnas_net *net = NULL, *nobn = NULL;
    px_inputs in;
    memset(&in, 0, sizeof in);
    int rc = 0;
    if (build_nets(p, a, clnas_dataset_num_classes(data), mask, &net, &nobn, err, len) != CLNAS_OK ||
        px_inputs_make(net, data, p->batch, p->seed, 0, p->init, &in, err, len) != CLNAS_OK) {
        rc = 1;
    } else if (px_eval_repeat(ctx, net, nobn, &in, mask, NULL, p->repeat, r) != CLNAS_OK) {
        snprintf(err, len, "%s", clnas_ctx_errmsg(ctx));
        rc = 1;
    } else if (p->dump) {
        char archs[1200];
        if (p->darts) clnas_darts_genotype_format(&p->geno, archs, sizeof archs);
        else clnas_nb201_format(a, archs, sizeof archs);
        char e2[512];
        if (save_dump(p, ctx, p->dump, archs, net, &in, mask, r, e2, sizeof e2) != CLNAS_OK) {
            snprintf(err, len, "--dump %.400s: %s", p->dump, e2);
            rc = 1;
        }
    }
    if (keep && rc == 0) *keep = in;
    else px_inputs_free(&in);
    clnas_net_destroy(net);
    clnas_net_destroy(nobn);
    return rc;
}

/* --space darts: the genotype, and the proxies it has (exit status 2 with a message, or 0). */
static int darts_args(px_cmd *p)
{
    char err[1024];
    if (p->arch_s) {
        fprintf(stderr, "clnas score: --space darts takes --genotype G, not --arch\n");
        return 2;
    }
    if (!p->genotype) {
        fprintf(stderr, "clnas score: --space darts needs --genotype G (DARTS's Genotype(...) text, or DARTS_V1, DARTS_V2, "
                        "PC_DARTS)\n");
        return 2;
    }
    if (clnas_darts_genotype_parse(p->genotype, &p->geno, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: --genotype: %s\n", err);
        return 2;
    }
    clnas_net *n = NULL, *nb = NULL; /* C and layers checked now (usage), not after loading the data */
    if (darts_nets(p, 10, 0, &n, &nb, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: --space darts: %s\n", err);
        return 2;
    }
    clnas_net_destroy(n);
    int all = p->metric[0] == (1u << PX_N) - 1;
    if (all) { /* every proxy defined on a DARTS network */
        p->metric[0] &= ~PX_AZ_BITS;
        p->metric[1] = 0;
        fprintf(stderr, "clnas score: --space darts: \"all\" leaves out az_nas (not defined on DARTS cells, see --help) and "
                        "ntk, lr (clnas score --space darts --genotype G without --metric)\n");
    }
    if (p->metric[0] & PX_AZ_BITS) {
        fprintf(stderr, "clnas score: --space darts: az_nas is not defined on DARTS networks: its trainability is the "
                        "vector-Jacobian product of a cell from its output to its one input feature, and a DARTS cell "
                        "has two inputs (the two previous cells' outputs); AZ-NAS's reference has NB201 and MobileNetV2 "
                        "code only. Leave az_nas out\n");
        return 2;
    }
    if (p->metric[1]) {
        fprintf(stderr, "clnas score: --space darts: ntk and lr are TE-NAS's scores of its own DARTS proxy networks: use "
                        "clnas score --space darts --genotype G without --metric (or --metric ntk,lr alone)\n");
        return 2;
    }
    return 0;
}

int clnas_cmd_score_proxies(int argc, char **argv)
{
    px_cmd p;
    memset(&p, 0, sizeof p);
    p.batch = PX_DEFAULT_BATCH;
    cli c;
    p.C = PX_DARTS_C;
    p.layers = PX_DARTS_LAYERS;
    cli_init(&c, "score", "usage: clnas score --arch STR --metric LIST [options]\n"
                          "       clnas score --space darts --genotype G --metric LIST [--C 32 --layers 8] [options]\n\n"
                          "Computes the listed training-free proxies of one NAS-Bench-201 architecture, or of the network\n"
                          "a DARTS genotype describes (--space darts: DARTS's NetworkCIFAR at NAS-Bench-301's size, C=32,\n"
                          "8 cells, as NASLib's nasbench301 space computes proxies; no auxiliary head, no drop path; the\n"
                          "classifier has the data set's classes; az_nas is not defined there, see below).\n", defs());
    cli_add_space(&c, &p.space);
    cli_add(&c, "arch", &p.arch_s);
    cli_add(&c, "genotype", &p.genotype);
    cli_add_help(&c, "C", &p.C, "--space darts: initial channels (default 32, NAS-Bench-301's)");
    cli_add_help(&c, "layers", &p.layers, "--space darts: cells (default 8, NAS-Bench-301's)");
    cli_add_fn(&c, "metric", parse_metric, p.metric, "comma list of ntk, lr, params, flops, grad_norm, snip, grasp, fisher, "
                                                       "jacob_cov, synflow, naswot, zico, az_nas, vkdnw, jacov_kaiming, or all");
    cli_add_help(&c, "batch", &p.batch, "proxy batch (default 64, zero-cost-nas's; NASWOT used 128)");
    cli_add_fn(&c, "dataset", cli_parse_dataset, &p.dataset, NULL);
    cli_add(&c, "data", &p.data_path);
    cli_add(&c, "device", &p.device);
    cli_add(&c, "seed", &p.seed);
    cli_add_fn(&c, "init", cli_parse_init, &p.init, NULL);
    cli_add(&c, "json", &p.json);
    cli_add_help(&c, "repeat", &p.repeat, "time the proxies: one untimed warm-up, then K evaluations on the same inputs, "
                                          "median seconds printed (default: one evaluation, compiles included)");
    cli_add_help(&c, "dump", &p.dump, "write weights, images, labels and the values to DIR/proxies.safetensors "
                                      "(check with /usr/bin/python3 tools/verify_proxies.py DIR)");
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    char err[1024] = "";
    clnas_nb201_arch a;
    p.darts = p.space && !strcmp(p.space, "darts");
    if (p.darts) {
        int rc = darts_args(&p);
        if (rc) return rc;
    } else if (p.genotype || cli_given(&c, "C") || cli_given(&c, "layers")) {
        fprintf(stderr, "clnas score: --genotype, --C and --layers describe a DARTS network: add --space darts\n");
        return 2;
    } else if (!p.arch_s) {
        fprintf(stderr, "clnas score: --arch is required\n");
        return 2;
    } else if (clnas_nb201_parse(p.arch_s, &a, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: --arch: %s\n", err);
        return 2;
    }
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(p.dataset, p.data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", err);
        return 1;
    }
    clnas_ctx *ctx = NULL;
    int rc = 0;
    if (clnas_ctx_create(p.device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", clnas_ctx_errmsg(ctx));
        rc = 1;
        goto done;
    }
    px_result r;
    clnas_score_result te;
    memset(&te, 0, sizeof te);
    if ((rc = score_one(&p, ctx, data, p.darts ? NULL : &a, p.metric[0], &r, err, sizeof err, NULL)) != 0) {
        fprintf(stderr, "clnas score: %s\n", err);
        goto done;
    }
    if (p.metric[1]) {
        clnas_score_opts o;
        clnas_score_opts_default(&o);
        o.dataset = p.dataset;
        o.seed = p.seed;
        o.init = p.init;
        o.metrics = (int)p.metric[1];
        if (clnas_score_nb201(ctx, &a, data, &o, &te) != CLNAS_OK) {
            fprintf(stderr, "clnas score: %s\n", clnas_ctx_errmsg(ctx));
            rc = 1;
            goto done;
        }
    }
    char archs[1200];
    if (p.darts) clnas_darts_genotype_format(&p.geno, archs, sizeof archs);
    else clnas_nb201_format(&a, archs, sizeof archs);
    print_result(&p, archs, clnas_ctx_device(ctx)->name, p.metric[0], &r, &te, (int)p.metric[1]);
done:
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    return rc;
}

/* ---------------------------------------------------------------- a study of many architectures */
typedef struct px_rank {
    px_cmd p;
    const char *out, *archs_file;
    int sample, all, quiet;
} px_rank;

static void header(FILE *f, unsigned mask)
{
    fputs("index,arch", f);
    for (int i = 0; i < PX_N; i++) if (mask & (1u << i)) fprintf(f, ",%s", px_name(i));
    fputs(",cifar10_test,cifar100_test,imagenet16_test,status", f);
    for (int i = 0; i < PX_N; i++) if (mask & (1u << i)) fprintf(f, ",t_%s", px_name(i));
    fputc('\n', f);
}

/* Arch strings already in the CSV (sorted); 0 with a message when the header differs. */
static int load_done(const char *path, unsigned mask, char ***done, int *n)
{
    *done = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT;
    char want[1024], line[8192];
    FILE *m = fmemopen(want, sizeof want, "w");
    if (!m) { fclose(f); return 0; }
    header(m, mask);
    fclose(m);
    int ok = 1, cap = 0;
    if (fgets(line, sizeof line, f) && strcmp(line, want) != 0) {
        fprintf(stderr, "clnas rank: %s exists with other columns (%.*s): use another --out or the same --metric\n", path,
                (int)strcspn(line, "\n"), line);
        ok = 0;
    }
    while (ok && fgets(line, sizeof line, f)) {
        char *a = strchr(line, '"'), *e = a ? strchr(a + 1, '"') : NULL;
        if (!e || !strchr(e, '\n')) continue; /* a partial last line: scored again */
        *e = 0;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **q = realloc(*done, (size_t)cap * sizeof *q);
            if (!q) { ok = 0; break; }
            *done = q;
        }
        (*done)[(*n)++] = strdup(a + 1);
    }
    fclose(f);
    return ok;
}

static int cmps(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void write_row(FILE *f, const clnas_nb201_row *w, const char *arch, unsigned mask, const px_result *r)
{
    fprintf(f, "%d,\"%s\"", w ? w->index : -1, arch);
    for (int i = 0; i < PX_N; i++)
        if (mask & (1u << i)) {
            if (isfinite(r->value[i])) fprintf(f, ",%.10g", r->value[i]);
            else fputc(',', f);
        }
    double acc[3] = {w ? w->cifar10 : NAN, w ? w->cifar100 : NAN, w ? w->imagenet16 : NAN};
    for (int k = 0; k < 3; k++) {
        if (isfinite(acc[k])) fprintf(f, ",%.4f", acc[k]);
        else fputc(',', f);
    }
    fputc(',', f);
    int any = 0;
    for (int i = 0; i < PX_N; i++)
        if ((mask & (1u << i)) && !isfinite(r->value[i])) {
            fprintf(f, "%s%s: %s", any ? "; " : "", px_name(i), r->why[i] ? r->why[i] : "undefined");
            any = 1;
        }
    if (!any) fputs("ok", f);
    for (int i = 0; i < PX_N; i++) if (mask & (1u << i)) fprintf(f, ",%.4f", r->seconds[i]);
    fputc('\n', f);
    fflush(f);
}

static int parse_rank(int argc, char **argv, px_rank *k)
{
    memset(k, 0, sizeof *k);
    k->p.batch = PX_DEFAULT_BATCH;
    cli c;
    cli_init(&c, "rank", "usage: clnas rank --metric LIST (--sample N [--seed S] | --archs FILE | --all) --out scores.csv\n\n"
                         "Scores many NB201 architectures with the listed zero-cost proxies as one paired study (the\n"
                         "same images for all, the same weights for every shared module), one CSV row each, appended\n"
                         "as computed (rerun to resume); then tau-b and rho per proxy and of the ensemble.\n", defs());
    cli_add_space(&c, &k->p.space);
    cli_add_fn(&c, "metric", parse_metric, k->p.metric, "comma list of proxies (see below), or all");
    cli_opt *s = cli_add_help(&c, "sample", &k->sample, "N architectures drawn uniformly from the 15,625 (--seed)");
    s->hi = 15625;
    cli_add(&c, "archs", &k->archs_file);
    cli_add(&c, "all", &k->all);
    cli_add_help(&c, "seed", &k->p.seed, "study seed: the sample, the weights and the images (default 0)");
    cli_add_help(&c, "out", &k->out, "the CSV (required)");
    cli_add_help(&c, "batch", &k->p.batch, "proxy batch (default 64)");
    cli_add_fn(&c, "dataset", cli_parse_dataset, &k->p.dataset, NULL);
    cli_add(&c, "data", &k->p.data_path);
    cli_add(&c, "device", &k->p.device);
    cli_add_fn(&c, "init", cli_parse_init, &k->p.init, NULL);
    cli_add(&c, "quiet", &k->quiet);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (nb201_only("rank", k->p.space)) return 2;
    if (k->p.metric[0] == (1u << PX_N) - 1) k->p.metric[1] = 0; /* "all": every zero-cost proxy */
    if (k->p.metric[1]) {
        fprintf(stderr, "clnas rank: ntk and lr are scored by clnas rank without --metric (its own CSV); list only "
                        "zero-cost proxies here\n");
        return 2;
    }
    if (!k->out) { fprintf(stderr, "clnas rank: --out FILE.csv is required\n"); return 2; }
    if ((k->sample > 0) + (k->archs_file != NULL) + k->all != 1) {
        fprintf(stderr, "clnas rank: give exactly one of --sample N, --archs FILE, --all\n");
        return 2;
    }
    return -1;
}

/* The architectures to score, canonical; NULL (message printed) on failure. */
static char **study_archs(const px_rank *k, const clnas_nb201_table *t, int *n)
{
    *n = 0;
    char **v = NULL;
    if (k->archs_file) {
        FILE *f = fopen(k->archs_file, "r");
        if (!f) { fprintf(stderr, "clnas rank: cannot open %s: %s\n", k->archs_file, strerror(errno)); return NULL; }
        char line[4096], err[512];
        int lineno = 0, cap = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            line[strcspn(line, "\r\n")] = 0;
            char *s = line + strspn(line, " \t");
            if (!*s || *s == '#') continue;
            clnas_nb201_arch a;
            if (clnas_nb201_parse(s, &a, err, sizeof err) != CLNAS_OK) {
                fprintf(stderr, "clnas rank: %s:%d: %s\n", k->archs_file, lineno, err);
                fclose(f);
                for (int i = 0; i < *n; i++) free(v[i]);
                free(v);
                return NULL;
            }
            if (*n == cap) { cap = cap ? 2 * cap : 64; v = realloc(v, (size_t)cap * sizeof *v); if (!v) break; }
            char canon[512];
            clnas_nb201_format(&a, canon, sizeof canon);
            v[(*n)++] = strdup(canon);
        }
        fclose(f);
        return v;
    }
    if (!t) return NULL;
    int want = k->all ? clnas_nb201_table_size(t) : k->sample;
    int *idx = malloc((size_t)want * sizeof *idx);
    v = malloc((size_t)want * sizeof *v);
    if (!idx || !v) { free(idx); free(v); return NULL; }
    if (k->all) for (int i = 0; i < want; i++) idx[i] = i;
    else clnas_nb201_table_sample(t, want, k->p.seed, idx);
    for (int i = 0; i < want; i++) v[(*n)++] = strdup(clnas_nb201_table_row(t, idx[i])->arch);
    free(idx);
    return v;
}

static int rank_loop(const px_rank *k, const clnas_nb201_table *t, char **archs, int narch, char **done, int ndone, FILE *csv)
{
    char err[1024] = "";
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(k->p.dataset, k->p.data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    clnas_ctx *ctx = NULL;
    int rc = 0, todo = 0, n = 0;
    if (clnas_ctx_create(k->p.device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        return 1;
    }
    for (int i = 0; i < narch; i++) todo += !(ndone && bsearch(&archs[i], done, (size_t)ndone, sizeof *done, cmps));
    fprintf(stderr, "clnas rank: %d architectures, %d already in %s, %d to score on %s\n", narch, narch - todo, k->out, todo,
            clnas_ctx_device(ctx)->name);
    double t0 = clnas_now();
    for (int i = 0; i < narch && rc == 0; i++) {
        if (ndone && bsearch(&archs[i], done, (size_t)ndone, sizeof *done, cmps)) continue;
        clnas_nb201_arch a;
        clnas_nb201_parse(archs[i], &a, NULL, 0);
        px_result r;
        if ((rc = score_one(&k->p, ctx, data, &a, k->p.metric[0], &r, err, sizeof err, NULL)) != 0) {
            fprintf(stderr, "clnas rank: %s: %s\n", archs[i], err);
            break;
        }
        int row = t ? clnas_nb201_table_find_arch(t, &a) : -1;
        write_row(csv, row >= 0 ? clnas_nb201_table_row(t, row) : NULL, archs[i], k->p.metric[0], &r);
        n++;
        if (!k->quiet && isatty(2))
            fprintf(stderr, "\r%d/%d  %.2f s/arch ", n, todo, (clnas_now() - t0) / n);
    }
    fprintf(stderr, "%sclnas rank: scored %d architectures in %.1f s; rows in %s\n", !k->quiet && isatty(2) ? "\n" : "", n,
            clnas_now() - t0, k->out);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    return rc;
}

int clnas_cmd_rank_proxies(int argc, char **argv)
{
    px_rank k;
    int rc = parse_rank(argc, argv, &k);
    if (rc >= 0) return rc;
    char err[1024] = "";
    clnas_nb201_table *t = NULL;
    if (clnas_nb201_table_load(NULL, &t, err, sizeof err) != CLNAS_OK && !k.archs_file) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    int narch = 0, ndone = 0;
    char **archs = study_archs(&k, t, &narch), **done = NULL;
    rc = 1;
    if (!archs) goto end;
    if (!load_done(k.out, k.p.metric[0], &done, &ndone)) goto end;
    if (ndone > 1) qsort(done, (size_t)ndone, sizeof *done, cmps);
    FILE *csv = fopen(k.out, "a");
    if (!csv) { fprintf(stderr, "clnas rank: cannot write %s: %s\n", k.out, strerror(errno)); goto end; }
    if (ftell(csv) == 0) header(csv, k.p.metric[0]);
    rc = rank_loop(&k, t, archs, narch, done, ndone, csv);
    if (fclose(csv) != 0 && rc == 0) { fprintf(stderr, "clnas rank: error writing %s\n", k.out); rc = 1; }
    if (rc == 0) rc = clnas_proxies_stats(k.out);
    if (rc == 0 && (k.p.metric[0] >> PX_AZ_EXPRESSIVITY & 7u) == 7u && (k.p.metric[0] & 1u << PX_FLOPS))
        rc = aznas_sidecar(k.out);
end:
    for (int i = 0; i < ndone; i++) free(done[i]);
    free(done);
    for (int i = 0; i < narch; i++) free(archs[i]);
    free(archs);
    clnas_nb201_table_destroy(t);
    return rc;
}

/* ---------------------------------------------------------------- statistics of a study */
typedef struct px_table {
    int ncol;                 /* proxy columns */
    int id[PX_N];             /* their px_id */
    int n, cap;
    double *v;                /* rows x (ncol + 3): proxies then the three accuracies */
    double *tv;               /* rows x ncol: each row's seconds per proxy (its t_ columns) */
    int *index;               /* rows: the index column (the NB201 table row, -1 when none) */
    char **arch;              /* rows: the arch strings */
    double tsum[PX_N];        /* summed seconds per proxy */
} px_table;

static void table_free(px_table *t)
{
    for (int i = 0; t->arch && i < t->n; i++) free(t->arch[i]);
    free(t->arch);
    free(t->index);
    free(t->tv);
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* Splits a CSV line into fields (a quoted field may hold commas). */
static int split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            f[n++] = ++p;
            p = strchr(p, '"');
            if (!p) break;
            *p++ = 0;
        } else {
            f[n++] = p;
        }
        p += strcspn(p, ",\n");
        if (*p != ',') { *p = 0; break; }
        *p++ = 0;
    }
    return n;
}

/* Reads a study; with lo > 0 only its data rows lo..hi (1-based, in file order; hi 0: to the end).
 * *total (may be NULL) gets the number of data rows in the file. */
static int read_rows(const char *path, px_table *t, int lo, int hi, int *total)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "clnas stats: cannot open %s: %s\n", path, strerror(errno)); return 0; }
    char line[8192], *fl[64];
    int nf = fgets(line, sizeof line, f) ? split(line, fl, 64) : 0, acc0 = -1;
    for (int i = 2; i < nf && acc0 < 0; i++) {
        if (!strcmp(fl[i], "cifar10_test")) { acc0 = i; break; }
        for (int j = 0; j < PX_N; j++) if (!strcmp(fl[i], px_name(j))) t->id[t->ncol++] = j;
    }
    if (acc0 != 2 + t->ncol || t->ncol == 0) {
        fprintf(stderr, "clnas stats: %s is not a proxy study (header index,arch,<proxies>,cifar10_test,...)\n", path);
        fclose(f);
        return 0;
    }
    int w = t->ncol + 3, row = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) continue;
        int n = split(line, fl, 64);
        if (n < acc0 + 3) continue;
        row++;
        if ((lo > 0 && row < lo) || (hi > 0 && row > hi)) continue;
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 1024;
            double *q = realloc(t->v, (size_t)cap * w * sizeof *q), *qt = q ? realloc(t->tv, (size_t)cap * t->ncol * sizeof *qt) : NULL;
            if (q) t->v = q;
            if (qt) t->tv = qt;
            int *qi = qt ? realloc(t->index, (size_t)cap * sizeof *qi) : NULL;
            if (qi) t->index = qi;
            char **qa = qi ? realloc(t->arch, (size_t)cap * sizeof *qa) : NULL;
            if (qa) t->arch = qa;
            if (!qa) { fclose(f); fprintf(stderr, "clnas stats: out of memory reading %s\n", path); return 0; }
            t->cap = cap;
        }
        for (int j = 0; j < w; j++) {
            const char *s = fl[2 + j];
            t->v[(size_t)t->n * w + j] = *s ? strtod(s, NULL) : NAN;
        }
        for (int j = 0; j < t->ncol; j++) {
            t->tv[(size_t)t->n * t->ncol + j] = acc0 + 4 + j < n ? strtod(fl[acc0 + 4 + j], NULL) : 0;
            t->tsum[t->id[j]] += t->tv[(size_t)t->n * t->ncol + j];
        }
        char *end;
        long ix = strtol(fl[0], &end, 10);
        t->index[t->n] = end != fl[0] && !*end && ix >= 0 && ix < 1000000000L ? (int)ix : -1;
        if (!(t->arch[t->n] = strdup(fl[1]))) { fclose(f); fprintf(stderr, "clnas stats: out of memory reading %s\n", path); return 0; }
        t->n++;
    }
    fclose(f);
    if (total) *total = row;
    return 1;
}

static int read_table(const char *path, px_table *t) { return read_rows(path, t, 0, 0, NULL); }


static int aznas_column(const px_table *t, double *out);
static int vkdnw_agg_column(const px_table *t, double *out);

static const char *member_name(int id) { return id == PX_AZ_AGG ? "az_nas" : id == PX_VK_AGG ? "vkdnw_agg" : px_name(id); }

/* The values of member id over the table's rows (NaN = undefined); 0 when the table lacks it. */
static int member_values(const px_table *t, int id, double *out)
{
    if (id == PX_AZ_AGG) return aznas_column(t, out);
    if (id == PX_VK_AGG) return vkdnw_agg_column(t, out);
    int w = t->ncol + 3;
    for (int j = 0; j < t->ncol; j++) {
        if (t->id[j] != id) continue;
        for (int i = 0; i < t->n; i++) out[i] = t->v[(size_t)i * w + j];
        return 1;
    }
    return 0;
}

/* The rank sum of m members given their values (vals[k][n]): the sum of their average ranks
 * (ascending: higher = predicted better); NaN where a member is undefined (each member is ranked
 * with such rows at the bottom, then the row is masked). Returns 0 when out of memory. */
static int rank_sum(int n, int m, const double *const *vals, double *out)
{
    double *col = malloc((size_t)(n ? n : 1) * sizeof *col), *rk = malloc((size_t)(n ? n : 1) * sizeof *rk);
    if (!col || !rk) { free(col); free(rk); return 0; }
    for (int i = 0; i < n; i++) out[i] = 0;
    for (int k = 0; k < m; k++) {
        for (int i = 0; i < n; i++) col[i] = isfinite(vals[k][i]) ? vals[k][i] : -HUGE_VAL;
        clnas_rank_average(col, n, rk);
        for (int i = 0; i < n; i++) out[i] += isfinite(vals[k][i]) ? rk[i] : NAN;
    }
    free(col);
    free(rk);
    return 1;
}

/* Parses --ensemble LIST (proxy names, az_nas / vkdnw_agg for the aggregates) into ids[PX_NMEMBER]; every
 * member must be in the table. Returns the count, or -1 after a message. */
static int parse_members(const char *list, const px_table *t, int *ids, const char *csv)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf) {
        fprintf(stderr, "clnas stats: --ensemble: the list is too long\n");
        return -1;
    }
    int m = 0;
    double *probe = malloc((size_t)(t->n ? t->n : 1) * sizeof *probe);
    if (!probe) return -1;
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        int id = -1;
        if (!strcmp(w, "az_nas")) id = PX_AZ_AGG;
        if (!strcmp(w, "vkdnw_agg")) id = PX_VK_AGG;
        for (int j = 0; j < PX_N && id < 0; j++) if (!strcmp(w, px_name(j))) id = j;
        if (id < 0 || !member_values(t, id, probe)) {
            fprintf(stderr, "clnas stats: --ensemble: '%s' is %s of %s (members: its proxy columns, az_nas when flops "
                            "and the three az_ columns are there, vkdnw_agg when flops, az_expressivity, "
                            "az_trainability, jacov_kaiming and vkdnw are)\n", w, id < 0 ? "no proxy name" : "not a column", csv);
            free(probe);
            return -1;
        }
        for (int k = 0; k < m; k++)
            if (ids[k] == id) {
                fprintf(stderr, "clnas stats: --ensemble: '%s' is listed twice\n", w);
                free(probe);
                return -1;
            }
        ids[m++] = id; /* at most PX_NMEMBER distinct ids exist */
    }
    free(probe);
    if (m == 0) fprintf(stderr, "clnas stats: --ensemble: no members given\n");
    return m ? m : -1;
}

/* The ensemble over the table: members ids[m] (NULL: the fixed ENSEMBLE), those present. Returns
 * how many members it has and names them in note. */
static int ensemble(const px_table *t, const int *ids, int m, double *out, char *note, size_t len)
{
    int n = t->n ? t->n : 1, nm = 0;
    double *v = malloc((size_t)PX_NMEMBER * n * sizeof *v);
    const double *vals[PX_NMEMBER] = {NULL};
    if (!v) return 0;
    if (!ids) {
        ids = ENSEMBLE;
        m = NENSEMBLE;
    }
    int off = snprintf(note, len, "ensemble: sum of the ranks of");
    for (int k = 0; k < m; k++) {
        double *c = v + (size_t)nm * n;
        if (!member_values(t, ids[k], c)) continue;
        vals[nm++] = c;
        if (off > 0 && (size_t)off < len) off += snprintf(note + off, len - (size_t)off, "%s %s", nm > 1 ? "," : "", member_name(ids[k]));
    }
    if (!rank_sum(t->n, nm, vals, out)) nm = 0;
    free(v);
    return nm;
}

static void print_members(const int *cand, int nc, unsigned set)
{
    for (int k = 0, first = 1; k < nc; k++)
        if (set & (1u << k)) {
            printf("%s%s", first ? "" : ",", member_name(cand[k]));
            first = 0;
        }
}

/* --choose-ensemble: every subset of at least two of the candidates, scored by the mean tau-b of
 * its rank sum against the three accuracy columns over the table's rows; prints the best ten and
 * the --ensemble list of the first. */
static int choose_ensemble(const char *csv, const px_table *t, const int *cand, int nc, int first_row, int last_row)
{
    if (nc < 2 || nc > 16) {
        fprintf(stderr, "clnas stats: --choose-ensemble: %d candidates; give 2 to 16 (--ensemble LIST)\n", nc);
        return 2;
    }
    int n = t->n ? t->n : 1, w = t->ncol + 3;
    double *v = malloc((size_t)(nc + 4) * n * sizeof *v);
    if (!v) { fprintf(stderr, "clnas stats: out of memory\n"); return 1; }
    const double *vals[16];
    double *acc = v + (size_t)nc * n, *x = acc + 3 * (size_t)n;
    for (int k = 0; k < nc; k++) member_values(t, cand[k], v + (size_t)k * n);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < t->n; i++) acc[(size_t)k * n + i] = t->v[(size_t)i * w + t->ncol + k];
    enum { TOP = 10 };
    struct pick { unsigned set; double mean, tau[3]; int used; } top[TOP];
    int ntop = 0;
    for (unsigned set = 1; set < (1u << nc); set++) {
        int m = 0;
        for (int k = 0; k < nc; k++) if (set & (1u << k)) vals[m++] = v + (size_t)k * n;
        if (m < 2 || !rank_sum(t->n, m, vals, x)) continue;
        struct pick p = {set, 0, {0, 0, 0}, 0};
        for (int k = 0; k < 3; k++) {
            clnas_kendall_tau_b(x, acc + (size_t)k * n, t->n, &p.tau[k], &p.used, NULL);
            p.mean += p.tau[k] / 3;
        }
        if (!isfinite(p.mean) || (ntop == TOP && p.mean <= top[TOP - 1].mean)) continue;
        int at = ntop < TOP ? ntop++ : TOP - 1;
        while (at > 0 && top[at - 1].mean < p.mean) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = p;
    }
    printf("%s: rows %d..%d (%d architectures): the rank sum of every subset of these %d candidates,\n"
           "best first by the mean Kendall tau-b against CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy\n"
           "(n: the rows where every member is defined)\n\n", csv, first_row, last_row, t->n, nc);
    printf("  candidates  ");
    print_members(cand, nc, (1u << nc) - 1);
    printf("\n\n    mean   cifar10  cifar100  imagenet16     n  members\n");
    for (int r = 0; r < ntop; r++) {
        printf("  %+.4f  %+.4f  %+.4f     %+.4f  %4d  ", top[r].mean, top[r].tau[0], top[r].tau[1], top[r].tau[2], top[r].used);
        print_members(cand, nc, top[r].set);
        printf("\n");
    }
    if (ntop) {
        printf("\nchosen  --ensemble ");
        print_members(cand, nc, top[0].set);
        printf("\n(to test it on other rows: clnas stats %s --rows A-B --ensemble LIST)\n", csv);
    }
    free(v);
    return ntop ? 0 : 1;
}

/* AZ-NAS's aggregation over the rows of the table (proxy_aznas.h: sum of log(rank / n) of flops
 * and its three components; an empty cell is one of AZ-NAS's -inf and ranks lowest). Returns 0
 * when the table lacks one of the four columns. */
static int aznas_column(const px_table *t, double *out)
{
    static const int need[4] = {PX_FLOPS, PX_AZ_EXPRESSIVITY, PX_AZ_PROGRESSIVITY, PX_AZ_TRAINABILITY};
    int w = t->ncol + 3, col[4] = {-1, -1, -1, -1};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < t->ncol; j++) if (t->id[j] == need[k]) col[k] = j;
    if (col[0] < 0 || col[1] < 0 || col[2] < 0 || col[3] < 0 || t->n < 1) return 0;
    double *c = malloc(4 * (size_t)t->n * sizeof *c);
    if (!c) return 0;
    const double *cols[4] = {c, c + t->n, c + 2 * (size_t)t->n, c + 3 * (size_t)t->n};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < t->n; i++) c[(size_t)k * t->n + i] = t->v[(size_t)i * w + col[k]];
    int ok = az_aggregate(t->n, cols, out) == CLNAS_OK;
    free(c);
    return ok;
}

/* VKDNW's aggregate over the rows of the table (px_vkdnw_aggregate). Returns 0 when the table lacks
 * one of its five columns. */
static int vkdnw_agg_column(const px_table *t, double *out)
{
    static const int need[5] = {PX_FLOPS, PX_AZ_EXPRESSIVITY, PX_AZ_TRAINABILITY, PX_JACOV_KAIMING, PX_VKDNW};
    int w = t->ncol + 3, col[5] = {-1, -1, -1, -1, -1};
    for (int k = 0; k < 5; k++)
        for (int j = 0; j < t->ncol; j++) if (t->id[j] == need[k]) col[k] = j;
    for (int k = 0; k < 5; k++) if (col[k] < 0) return 0;
    if (t->n < 1) return 0;
    double *c = malloc(5 * (size_t)t->n * sizeof *c);
    if (!c) return 0;
    const double *cols[5];
    for (int k = 0; k < 5; k++) {
        cols[k] = c + (size_t)k * t->n;
        for (int i = 0; i < t->n; i++) c[(size_t)k * t->n + i] = t->v[(size_t)i * w + col[k]];
    }
    int ok = px_vkdnw_aggregate(t->n, cols, out) == CLNAS_OK;
    free(c);
    return ok;
}

/* Writes CSV.az_nas.csv: arch, the aggregated az_nas of every row present, the accuracies;
 * recomputed whole at the end of every rank run (the aggregate depends on all rows). */
static int aznas_sidecar(const char *csv)
{
    px_table t;
    if (!read_table(csv, &t)) { table_free(&t); return 1; }
    double *a = malloc((size_t)(t.n ? t.n : 1) * sizeof *a);
    int rc = 0;
    if (a && aznas_column(&t, a)) {
        char path[4096], line[8192], *fl[64];
        snprintf(path, sizeof path, "%s.az_nas.csv", csv);
        FILE *in = fopen(csv, "r"), *o = fopen(path, "w");
        if (!in || !o) { fprintf(stderr, "clnas rank: cannot write %s\n", path); rc = 1; }
        else fprintf(o, "arch,az_nas,cifar10_test,cifar100_test,imagenet16_test\n");
        int r = 0, w = t.ncol + 3;
        if (!rc && !fgets(line, sizeof line, in)) rc = 1; /* the header */
        while (!rc && r < t.n && fgets(line, sizeof line, in)) { /* the rows read_table kept, in its order */
            if (!strchr(line, '\n') || split(line, fl, 64) < 2 + w) continue;
            const double *v = t.v + (size_t)r * w + t.ncol;
            fprintf(o, "\"%s\",%.10g,%.4f,%.4f,%.4f\n", fl[1], a[r], v[0], v[1], v[2]);
            r++;
        }
        if (in) fclose(in);
        if (o && fclose(o) != 0) rc = 1;
        if (!rc) fprintf(stderr, "clnas rank: AZ-NAS aggregate over %d rows in %s\n", t.n, path);
    }
    free(a);
    table_free(&t);
    return rc;
}

int clnas_proxies_is_study(const char *csv)
{
    FILE *f = fopen(csv, "r");
    if (!f) return 0;
    char line[256];
    int yes = fgets(line, sizeof line, f) && !strncmp(line, "index,arch,", 11) && strncmp(line, "index,arch,kappa", 16) != 0;
    fclose(f);
    return yes;
}

int clnas_proxies_stats(const char *csv) { return clnas_proxies_stats_opts(csv, NULL); }

/* Whether two values of one column in two files agree: both undefined, or within 1e-6 relative (a
   study prints 10 digits; another build or device moves a float32 proxy by ~1e-7). */
static int values_agree(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b || fabs(a - b) <= 1e-6 * fmax(fabs(a), fabs(b));
}

/* Row of each index in t (map[index] = row, -1 none; map has nmap entries); 0 after a message
   when an index repeats or is missing. */
static int index_map(const char *file, const px_table *t, int *map, int nmap)
{
    for (int i = 0; i < nmap; i++) map[i] = -1;
    for (int r = 0; r < t->n; r++) {
        int ix = t->index[r];
        if (ix < 0 || ix >= nmap) {
            fprintf(stderr, "clnas stats: %s: data row %d (%s) has no NB201 index; studies are joined on their index "
                            "column\n", file, r + 1, t->arch[r]);
            return 0;
        }
        if (map[ix] >= 0) {
            fprintf(stderr, "clnas stats: %s: index %d is in data rows %d and %d; a study has each architecture once\n",
                    file, ix, map[ix] + 1, r + 1);
            return 0;
        }
        map[ix] = r;
    }
    return 1;
}

/* Joins the studies files[0..nf) (nf >= 2) on their index column into *t: data rows lo..hi of the
 * first (1-based, its order; lo 0: all), those present in every file; the arch strings must match
 * and a column present in several files must agree (values_agree), else an error naming both
 * files. Columns in px_id order, each from the first file that has it (its seconds too).
 * *total: the first file's data rows. Returns 0, or the exit status after a message. */
#define JOIN_MAX 16

static int join_tables(int nf, const char *const *files, int lo, int hi, px_table *t, int *total)
{
    memset(t, 0, sizeof *t);
    if (nf > JOIN_MAX) {
        fprintf(stderr, "clnas stats: %d files; at most %d studies are joined\n", nf, JOIN_MAX);
        return 2;
    }
    px_table *in = calloc((size_t)nf, sizeof *in);
    if (!in) { fprintf(stderr, "clnas stats: out of memory\n"); return 1; }
    int nmap = 1, rc = 0, *map = NULL;
    for (int k = 0; k < nf && !rc; k++) {
        if (!read_rows(files[k], &in[k], 0, 0, k ? NULL : total)) rc = 1;
        for (int r = 0; !rc && r < in[k].n; r++) nmap = in[k].index[r] >= nmap ? in[k].index[r] + 1 : nmap;
    }
    if (!rc && !(map = malloc((size_t)nf * nmap * sizeof *map))) { fprintf(stderr, "clnas stats: out of memory\n"); rc = 1; }
    for (int k = 0; k < nf && !rc; k++)
        if (!index_map(files[k], &in[k], map + (size_t)k * nmap, nmap)) rc = 1;
    int src[PX_N], col[PX_N]; /* per px_id: the first file with it and its column there (-1 none) */
    for (int id = 0; id < PX_N; id++) src[id] = col[id] = -1;
    for (int k = 0; k < nf && !rc; k++)
        for (int j = 0; j < in[k].ncol; j++)
            if (src[in[k].id[j]] < 0) { src[in[k].id[j]] = k; col[in[k].id[j]] = j; }
    for (int id = 0; id < PX_N && !rc; id++) if (src[id] >= 0) t->id[t->ncol++] = id;
    int w = t->ncol + 3, first = lo > 0 ? lo - 1 : 0, last = rc ? 0 : hi > 0 && hi < in[0].n ? hi : in[0].n, missing = 0;
    if (!rc && first < last) {
        int cap = last - first;
        t->v = malloc((size_t)cap * w * sizeof *t->v);
        t->tv = malloc((size_t)cap * (t->ncol ? t->ncol : 1) * sizeof *t->tv);
        t->index = malloc((size_t)cap * sizeof *t->index);
        t->arch = calloc((size_t)cap, sizeof *t->arch);
        t->cap = cap;
        if (!t->v || !t->tv || !t->index || !t->arch) { fprintf(stderr, "clnas stats: out of memory\n"); rc = 1; }
    }
    for (int r = first; r < last && !rc; r++) {
        int ix = in[0].index[r], row[JOIN_MAX], here = 1; /* row[k]: its row in file k */
        for (int k = 0; k < nf; k++) {
            row[k] = map[(size_t)k * nmap + ix];
            if (row[k] < 0) here = 0;
        }
        if (!here) { missing++; continue; }
        for (int k = 1; k < nf && !rc; k++)
            if (strcmp(in[k].arch[row[k]], in[0].arch[r]) != 0) {
                fprintf(stderr, "clnas stats: %s and %s disagree on index %d: %s in %s, %s in %s; join only studies of "
                                "the same architectures\n", files[0], files[k], ix, in[0].arch[r], files[0], in[k].arch[row[k]],
                        files[k]);
                rc = 1;
            }
        double *v = t->v + (size_t)t->n * w;
        for (int q = 0; q < w && !rc; q++) { /* each column from its first file, checked against the others */
            int id = q < t->ncol ? t->id[q] : -1, k0 = id >= 0 ? src[id] : 0;
            const px_table *a = &in[k0];
            int ja = id >= 0 ? col[id] : a->ncol + q - t->ncol;
            v[q] = a->v[(size_t)row[k0] * (a->ncol + 3) + ja];
            if (id >= 0) t->tv[(size_t)t->n * t->ncol + q] = a->tv[(size_t)row[k0] * a->ncol + ja];
            for (int k = k0 + 1; k < nf && !rc; k++) {
                const px_table *b = &in[k];
                int jb = -1;
                if (id < 0) jb = b->ncol + q - t->ncol;
                else for (int j = 0; j < b->ncol; j++) if (b->id[j] == id) jb = j;
                if (jb < 0) continue;
                double y = b->v[(size_t)row[k] * (b->ncol + 3) + jb];
                if (!values_agree(v[q], y)) {
                    static const char *const accn[3] = {"cifar10_test", "cifar100_test", "imagenet16_test"};
                    fprintf(stderr, "clnas stats: %s and %s disagree on %s at index %d (%s): %.10g in %s, %.10g in %s; "
                                    "join only studies of the same --sample/--seed, --batch, --dataset and --init\n",
                            files[k0], files[k], id >= 0 ? px_name(id) : accn[q - t->ncol], ix, in[0].arch[r], v[q],
                            files[k0], y, files[k]);
                    rc = 1;
                }
            }
        }
        if (rc) break;
        t->index[t->n] = ix;
        if (!(t->arch[t->n] = strdup(in[0].arch[r]))) { fprintf(stderr, "clnas stats: out of memory\n"); rc = 1; }
        else t->n++;
    }
    for (int j = 0; j < t->ncol && !rc; j++)
        for (int i = 0; i < t->n; i++) t->tsum[t->id[j]] += t->tv[(size_t)i * t->ncol + j];
    if (!rc) { /* how many rows the join leaves out */
        fprintf(stderr, "clnas stats: joined %d studies on their index column: %d rows in all of them", nf, t->n);
        if (missing) fprintf(stderr, "; left out %d of %s's%s rows (not in every file)", missing, files[0], lo > 0 ? " selected" : "");
        for (int k = 1; k < nf; k++) {
            int extra = 0;
            for (int r = 0; r < in[k].n; r++) extra += map[in[k].index[r]] < 0; /* not in the first file at all */
            if (extra) fprintf(stderr, "; %s has %d rows that %s lacks", files[k], extra, files[0]);
        }
        fputc('\n', stderr);
    }
    for (int k = 0; k < nf; k++) table_free(&in[k]);
    free(in);
    free(map);
    return rc;
}

int clnas_proxies_stats_opts(const char *csv, const px_stats_opts *o)
{
    px_table t;
    int lo = o ? o->row_lo : 0, hi = o ? o->row_hi : 0, total = 0, nf = o && o->nfiles > 1 ? o->nfiles : 1;
    char label[4096];
    snprintf(label, sizeof label, "%s", csv);
    if (nf > 1) { /* several studies joined on their index: "A.csv B.csv" names them in the output */
        for (int k = 1, at = (int)strlen(label); k < nf && at < (int)sizeof label; k++)
            at += snprintf(label + at, sizeof label - (size_t)at, " %s", o->files[k]);
        int rc = join_tables(nf, o->files, lo, hi, &t, &total);
        if (rc) { table_free(&t); return rc; }
    } else if (!read_rows(csv, &t, lo, hi, &total)) {
        table_free(&t);
        return 1;
    }
    csv = label;
    const char *file0 = nf > 1 ? o->files[0] : csv;
    if ((lo > 0 || nf > 1) && t.n == 0) {
        if (lo > 0 && total < lo) fprintf(stderr, "clnas stats: --rows %d-%d: %s has only %d data rows\n", lo, hi, file0, total);
        else fprintf(stderr, "clnas stats: no data row of %s%s is in every file\n", file0, lo > 0 ? " in --rows" : "");
        table_free(&t);
        return lo > 0 && total < lo ? 2 : 1;
    }
    int ids[PX_NMEMBER], m = -1;
    if (o && o->ensemble && (m = parse_members(o->ensemble, &t, ids, csv)) < 0) { table_free(&t); return 2; }
    if (o && o->choose) {
        if (m < 0) { /* every proxy column, and the aggregates that can be formed */
            double *probe = malloc((size_t)(t.n ? t.n : 1) * sizeof *probe);
            m = 0;
            for (int j = 0; j < t.ncol; j++) ids[m++] = t.id[j];
            if (probe && aznas_column(&t, probe)) ids[m++] = PX_AZ_AGG;
            if (probe && vkdnw_agg_column(&t, probe)) ids[m++] = PX_VK_AGG;
            free(probe);
        }
        int first = lo > 0 ? lo : 1, last = hi > 0 && hi < total ? hi : total;
        int rc = choose_ensemble(csv, &t, ids, m, first, nf > 1 ? last : first + t.n - 1);
        table_free(&t);
        return rc;
    }
    int w = t.ncol + 3, n = t.n ? t.n : 1, nc = 0;
    double *x = malloc((size_t)(t.ncol + 6) * n * sizeof *x);
    px_study_col cols[PX_N + 3];
    if (!x) { table_free(&t); fprintf(stderr, "clnas stats: out of memory\n"); return 1; }
    double *acc[3] = {x, x + n, x + 2 * (size_t)n};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < t.n; i++) acc[k][i] = t.v[(size_t)i * w + t.ncol + k];
    double *c = x + 3 * (size_t)n;
    for (int j = 0; j < t.ncol; j++, c += n) {
        for (int i = 0; i < t.n; i++) c[i] = t.v[(size_t)i * w + j];
        cols[nc++] = (px_study_col){px_name(t.id[j]), "proxy", NULL, c, t.tsum[t.id[j]]};
    }
    char enote[512], anote[160], vnote[320];
    int em = ensemble(&t, m > 0 ? ids : NULL, m, c, enote, sizeof enote);
    if (em >= 2 || (m > 0 && em >= 1)) { /* the default needs two of its five; a given list is shown as given */
        cols[nc++] = (px_study_col){"ensemble", "ensemble", enote, c, -1};
        c += n;
    }
    if (aznas_column(&t, c)) {
        snprintf(anote, sizeof anote, "az_nas: AZ-NAS's sum of log(rank / %d) of flops and its three components over these rows", t.n);
        cols[nc++] = (px_study_col){"az_nas", "aggregate", anote, c, t.tsum[PX_AZ_EXPRESSIVITY]};
        c += n;
    }
    if (vkdnw_agg_column(&t, c)) {
        snprintf(vnote, sizeof vnote, "vkdnw_agg: VKDNW's sum of log rank of flops, az_expressivity, az_trainability, "
                                      "jacov_kaiming (undefined = its minimum) and log dense rank of vkdnw over these %d rows", t.n);
        cols[nc++] = (px_study_col){"vkdnw_agg", "aggregate", vnote, c,
                                    t.tsum[PX_AZ_EXPRESSIVITY] + t.tsum[PX_JACOV_KAIMING] + t.tsum[PX_VKDNW]};
    }
    int rc = clnas_proxies_report(csv, t.n, cols, nc, (const double *const *)acc, o);
    free(x);
    table_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- sampling search */
/* The members of a sampling search's --metric list, as the stats ensemble's: az_nas is one member
 * (AZ-NAS's aggregate of its four columns), every other proxy its own; a word that names several
 * (all) gives each of its proxies. Returns the count. */
static int search_members(const char *list, int *ids)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    int m = 0;
    for (char *save = NULL, *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        unsigned mask = 0;
        int tenas = 0, id = -1;
        char err[256];
        if (!strcmp(w, "az_nas")) id = PX_AZ_AGG;
        for (int j = 0; j < PX_N && id < 0; j++) if (!strcmp(w, px_name(j))) id = j;
        if (id < 0 && px_parse(w, &mask, &tenas, err, sizeof err) != 0) continue; /* parse_metric took the list */
        for (int j = -1; j < PX_N; j++) {
            int add = j < 0 ? id : (id < 0 && (mask & (1u << j)) ? j : -1), dup = 0;
            if (add < 0) continue;
            for (int k = 0; k < m; k++) dup |= ids[k] == add;
            if (!dup && m < PX_NMEMBER) ids[m++] = add;
        }
    }
    return m;
}

/* Index of the best of n architectures scored on the proxies (values [n][PX_N]) by the members
 * ids[m]: the largest value of one member, the largest sum of average ranks (ascending) of several,
 * as the stats ensemble ranks them; an architecture with an undefined member never wins. */
static int best_of(const double *v, int n, const int *ids, int m)
{
    px_table t;
    memset(&t, 0, sizeof t);
    t.ncol = PX_N;
    t.n = n;
    for (int j = 0; j < PX_N; j++) t.id[j] = j;
    const int w = PX_N + 3;
    t.v = malloc((size_t)w * (n ? n : 1) * sizeof *t.v);
    double *c = malloc((size_t)(m + 1) * (n ? n : 1) * sizeof *c), *sum = c ? c + (size_t)m * n : NULL;
    const double *cols[PX_NMEMBER];
    int best = -1, ok = t.v && c;
    for (int i = 0; ok && i < n; i++) {
        for (int j = 0; j < PX_N; j++) t.v[(size_t)i * w + j] = v[(size_t)i * PX_N + j];
        for (int k = 0; k < 3; k++) t.v[(size_t)i * w + PX_N + k] = NAN;
    }
    for (int k = 0; ok && k < m; k++) {
        ok = member_values(&t, ids[k], c + (size_t)k * n);
        cols[k] = c + (size_t)k * n;
    }
    if (ok && m == 1) memcpy(sum, cols[0], (size_t)n * sizeof *sum);
    else if (ok) ok = rank_sum(n, m, cols, sum); /* the ensemble's rule */
    for (int i = 0; ok && i < n; i++)
        if (!isnan(sum[i]) && (best < 0 || sum[i] > sum[best])) best = i;
    free(c);
    free(t.v);
    return best;
}

/* One search: n architectures drawn with seed, scored, the best's table row (or -1). */
static int search_one(const px_cmd *p, const char *list, clnas_ctx *ctx, const clnas_dataset *data,
                      const clnas_nb201_table *t, int n, int seed, char *err, size_t len, int *row)
{
    int *idx = malloc((size_t)n * sizeof *idx);
    double *v = malloc((size_t)n * PX_N * sizeof *v);
    int rc = (idx && v) ? 0 : 1;
    if (rc) snprintf(err, len, "out of memory");
    if (!rc) clnas_nb201_table_sample(t, n, (uint64_t)seed, idx);
    px_cmd q = *p;
    q.seed = (uint64_t)seed;
    for (int i = 0; i < n && !rc; i++) {
        clnas_nb201_arch a;
        clnas_nb201_parse(clnas_nb201_table_row(t, idx[i])->arch, &a, NULL, 0);
        px_result r;
        rc = score_one(&q, ctx, data, &a, p->metric[0], &r, err, len, NULL);
        for (int k = 0; k < PX_N; k++) v[(size_t)i * PX_N + k] = r.value[k];
    }
    int mem[PX_NMEMBER], m = search_members(list, mem);
    int b = rc ? -1 : best_of(v, n, mem, m);
    *row = b >= 0 ? idx[b] : -1;
    free(idx);
    free(v);
    return rc;
}

/* Mean and population std of x[0], x[stride], ... (n values). */
static void mean_std(const double *x, int n, int stride, double *m, double *s)
{
    *m = 0;
    *s = 0;
    for (int i = 0; i < n; i++) *m += x[(size_t)i * stride] / n;
    for (int i = 0; i < n; i++) *s += (x[(size_t)i * stride] - *m) * (x[(size_t)i * stride] - *m) / n;
    *s = sqrt(*s);
}

int clnas_cmd_search_sample(int argc, char **argv)
{
    px_cmd p;
    memset(&p, 0, sizeof p);
    p.batch = PX_DEFAULT_BATCH;
    const char *strategy = NULL;
    int n = 100, seeds[2] = {0, 0};
    cli c;
    cli_init(&c, "search", "usage: clnas search --strategy sample --metric LIST [--sample N] [--seeds A-B] [options]\n\n"
                           "The simplest training-free search: N architectures drawn uniformly from NAS-Bench-201 (the seed\n"
                           "draws them, the weights and the images), each scored by the listed proxies (several: the\n"
                           "largest sum of their ranks among the N, az_nas one member, as clnas stats's ensemble), the\n"
                           "best kept; its NB201 accuracies are printed. The ensemble chosen on one 1,000-architecture\n"
                           "sample and tested on 2,000 others (README): --metric jacob_cov,synflow,az_nas.\n", defs());
    cli_add_space(&c, &p.space);
    cli_add(&c, "strategy", &strategy);
    metric_list mlist = {p.metric, NULL};
    cli_add_fn(&c, "metric", parse_metric_list, &mlist,
               "proxies to score with (several: the sum of their ranks, az_nas counting as one member, as the stats ensemble)");
    cli_opt *s = cli_add_help(&c, "sample", &n, "architectures per search (default 100)");
    s->hi = 15625;
    cli_add_fn(&c, "seeds", cli_parse_seed_range, seeds, "one search per seed A..B (default 0)");
    cli_add_help(&c, "batch", &p.batch, "proxy batch (default 64)");
    cli_add_fn(&c, "dataset", cli_parse_dataset, &p.dataset, NULL);
    cli_add(&c, "data", &p.data_path);
    cli_add(&c, "device", &p.device);
    cli_add_fn(&c, "init", cli_parse_init, &p.init, NULL);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (nb201_only("search", p.space)) return 2;
    if (!strategy || strcmp(strategy, "sample") != 0) {
        fprintf(stderr, "clnas search: --strategy: only \"sample\" is known (got \"%s\"); TE-NAS's pruning search is clnas "
                        "search without --strategy\n", strategy ? strategy : "");
        return 2;
    }
    if (!p.metric[0] || p.metric[1]) {
        fprintf(stderr, "clnas search: --strategy sample needs --metric with zero-cost proxies only (e.g. naswot,synflow)\n");
        return 2;
    }
    char err[1024] = "";
    clnas_nb201_table *t = NULL;
    clnas_dataset *data = NULL;
    clnas_ctx *ctx = NULL;
    int rc = 1, ns = seeds[1] - seeds[0] + 1;
    double *acc = malloc(3 * (size_t)ns * sizeof *acc);
    if (!acc || clnas_nb201_table_load(NULL, &t, err, sizeof err) != CLNAS_OK ||
        clnas_dataset_load(p.dataset, p.data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", acc ? err : "out of memory");
        goto end;
    }
    if (clnas_ctx_create(p.device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", clnas_ctx_errmsg(ctx));
        goto end;
    }
    printf("sampling search: %d architectures per seed, seeds %d-%d, device %s\n", n, seeds[0], seeds[1],
           clnas_ctx_device(ctx)->name);
    for (int sd = seeds[0]; sd <= seeds[1]; sd++) {
        double t0 = clnas_now();
        int row = -1;
        if (search_one(&p, mlist.list, ctx, data, t, n, sd, err, sizeof err, &row) != 0) { fprintf(stderr, "clnas search: %s\n", err); goto end; }
        if (row < 0) { fprintf(stderr, "clnas search: seed %d: every architecture's score is undefined\n", sd); goto end; }
        const clnas_nb201_row *w = clnas_nb201_table_row(t, row);
        double *ac = acc + 3 * (size_t)(sd - seeds[0]);
        ac[0] = w->cifar10;
        ac[1] = w->cifar100;
        ac[2] = w->imagenet16;
        printf("seed %d: %s  %.2f / %.2f / %.2f  (%.1f s)\n", sd, w->arch, ac[0], ac[1], ac[2], clnas_now() - t0);
        fflush(stdout);
    }
    double m[3], sdv[3];
    for (int k = 0; k < 3; k++) mean_std(acc + k, ns, 3, &m[k], &sdv[k]);
    printf("mean +- std (n = %d, ddof 0): CIFAR-10 %.2f +- %.2f, CIFAR-100 %.2f +- %.2f, ImageNet16-120 %.2f +- %.2f\n", ns,
           m[0], sdv[0], m[1], sdv[1], m[2], sdv[2]);
    rc = 0;
end:
    free(acc);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    clnas_nb201_table_destroy(t);
    return rc;
}
