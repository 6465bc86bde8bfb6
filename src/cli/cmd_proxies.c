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
#include "clnas/stats.h"
#include "core/util.h"
#include "metrics/proxies.h"
#include "report/safetensors.h"
#include "spaces/nb201_internal.h"

#define PX_DEFAULT_BATCH 64

/* The proxies of the fixed ensemble (rank sum, no accuracy used to choose or weight them). */
static const int ENSEMBLE[] = {PX_FLOPS, PX_JACOB_COV, PX_SYNFLOW, PX_NASWOT, PX_ZICO};
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

static const char DEFS[] =
"Zero-cost proxies (all on the NB201 network C=16 N=5 of the data set's classes, PyTorch's default\n"
"initialisation, BatchNorm in train mode, B = --batch augmented training images (default 64, as\n"
"zero-cost-nas) with their labels, mean cross-entropy; 'weights' = every conv and linear weight):\n"
"  params     number of parameters\n"
"  flops      forward MFLOPs of one image (convolutions + classifier, multiply-add = 2)\n"
"  grad_norm  sum over weight tensors of ||dL/dW||\n"
"  snip       sum |W dL/dW|\n"
"  grasp      -sum W (H g), g = dL/dW, computed as -g (H W) with H W by a central difference of\n"
"             two gradients at (1 +- 1e-3) W with every ReLU frozen at the unperturbed pattern (what\n"
"             autograd's double backward differentiates), not double backward itself\n"
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
"  ensemble   (rank and stats) sum of the ranks of flops, jacob_cov, synflow, naswot and zico\n"
"  az_nas     AZ-NAS (cvlab-yonsei/AZ-NAS): flops and three columns, on its own network copy:\n"
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
;

/* ---------------------------------------------------------------- one architecture */
typedef struct px_cmd {
    const char *arch_s, *data_path, *device, *dump, *space;
    unsigned metric[2];
    int batch, json, repeat;
    uint64_t seed;
    clnas_init init;
    clnas_dataset_kind dataset;
} px_cmd;

/* The network with and (for synflow) without BatchNorm for a data set of `classes`. */
static clnas_status build_nets(const clnas_nb201_arch *a, clnas_dataset_kind k, int classes, unsigned mask,
                               clnas_net **net, clnas_net **nobn, char *err, size_t len)
{
    clnas_nb201_config c;
    clnas_nb201_config_default(&c);
    c.classes = classes;
    c.input_hw = clnas_dataset_hw(k);
    *net = *nobn = NULL;
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

/* vkdnw's own weights (px_vkdnw/NAME) and noise images, and its two parts in the metadata. */
static clnas_status dump_vkdnw(st_writer *w, const clnas_net *net, const px_inputs *in, const px_result *r)
{
    clnas_status st = CLNAS_OK;
    for (int i = 0; i < clnas_net_nparam_tensors(net) && st == CLNAS_OK; i++) {
        const char *nm;
        size_t off, cnt;
        int sh[4];
        clnas_net_param_tensor(net, i, &nm, &off, &cnt, sh);
        int64_t shape[4];
        int nd = 0;
        while (nd < 4 && sh[nd] > 0) { shape[nd] = sh[nd]; nd++; }
        char name[220];
        snprintf(name, sizeof name, "px_vkdnw/%s", nm);
        st = st_writer_add(w, name, ST_F32, nd, shape, in->vk_params + off);
    }
    int64_t ish[4] = {in->batch, in->c, in->hw, in->hw};
    if (st == CLNAS_OK) st = st_writer_add(w, "px_vkdnw_images", ST_F32, 4, ish, in->vk_images);
    char v[64];
    snprintf(v, sizeof v, "%.17g", r->vkdnw_entropy);
    if (st == CLNAS_OK) st = st_writer_meta(w, "vkdnw_entropy", v);
    snprintf(v, sizeof v, "%.17g", r->vkdnw_dim);
    if (st == CLNAS_OK) st = st_writer_meta(w, "vkdnw_dim", v);
    return st;
}

static clnas_status save_dump(clnas_ctx *ctx, const char *dir, const char *arch, const clnas_net *net, const px_inputs *in,
                              unsigned mask, const px_result *r, char *err, size_t len)
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
    for (int i = 0; i < clnas_net_nparam_tensors(net) && st == CLNAS_OK; i++) {
        const char *nm;
        size_t off, cnt;
        int sh[4];
        clnas_net_param_tensor(net, i, &nm, &off, &cnt, sh);
        int64_t shape[4];
        int nd = 0;
        while (nd < 4 && sh[nd] > 0) { shape[nd] = sh[nd]; nd++; }
        char name[200];
        snprintf(name, sizeof name, "%s", nm);
        st = st_writer_add(w, name, ST_F32, nd, shape, in->params + off);
    }
    int64_t ish[5] = {2, in->batch, in->c, in->hw, in->hw}, lsh[2] = {2, in->batch};
    if (st == CLNAS_OK) st = st_writer_add(w, "px_images", ST_F32, 5, ish, in->images);
    if (st == CLNAS_OK) st = st_writer_add(w, "px_labels", ST_I64, 2, lsh, lab);
    uint8_t *codes = NULL;
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
    }
    if (st == CLNAS_OK && (mask & (1u << PX_VKDNW))) st = dump_vkdnw(w, net, in, r);
    char v[64];
    if (st == CLNAS_OK && (mask & (1u << PX_AZ_EXPRESSIVITY | 1u << PX_AZ_PROGRESSIVITY | 1u << PX_AZ_TRAINABILITY)))
        st = az_dump(w, net, in->batch, &in->az);
    if (st == CLNAS_OK) st = st_writer_meta(w, "arch", arch);
    snprintf(v, sizeof v, "%d", in->classes);
    if (st == CLNAS_OK) st = st_writer_meta(w, "classes", v);
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
    return st;
}

static void print_result(const px_cmd *p, const char *arch, const char *dev, unsigned mask, const px_result *r,
                         const clnas_score_result *te, int tenas)
{
    if (p->json) {
        printf("{\"arch\": \"%s\", \"device\": \"%s\", \"batch\": %d, \"seed\": %llu", arch, dev, p->batch,
               (unsigned long long)p->seed);
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
    printf("arch     %s\ndevice   %s\nproxies  NB201 C=16 N=5, batch %d, seed %llu, BN train mode\n", arch, dev, p->batch,
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
    if (build_nets(a, p->dataset, clnas_dataset_num_classes(data), mask, &net, &nobn, err, len) != CLNAS_OK ||
        px_inputs_make(net, data, p->batch, p->seed, 0, p->init, &in, err, len) != CLNAS_OK) {
        rc = 1;
    } else if (px_eval_repeat(ctx, net, nobn, &in, mask, NULL, p->repeat, r) != CLNAS_OK) {
        snprintf(err, len, "%s", clnas_ctx_errmsg(ctx));
        rc = 1;
    } else if (p->dump) {
        char archs[512];
        clnas_nb201_format(a, archs, sizeof archs);
        char e2[512];
        if (save_dump(ctx, p->dump, archs, net, &in, mask, r, e2, sizeof e2) != CLNAS_OK) {
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

int clnas_cmd_score_proxies(int argc, char **argv)
{
    px_cmd p;
    memset(&p, 0, sizeof p);
    p.batch = PX_DEFAULT_BATCH;
    cli c;
    cli_init(&c, "score", "usage: clnas score --arch STR --metric LIST [options]\n\n"
                          "Computes the listed training-free proxies of one NAS-Bench-201 architecture.\n", DEFS);
    cli_add_space(&c, &p.space);
    cli_add(&c, "arch", &p.arch_s);
    cli_add_fn(&c, "metric", parse_metric, p.metric, "comma list of ntk, lr, params, flops, grad_norm, snip, grasp, fisher, "
                                                       "jacob_cov, synflow, naswot, zico, az_nas, or all");
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
    if (!p.arch_s) { fprintf(stderr, "clnas score: --arch is required\n"); return 2; }
    if (clnas_nb201_parse(p.arch_s, &a, err, sizeof err) != CLNAS_OK) { fprintf(stderr, "clnas score: --arch: %s\n", err); return 2; }
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
    if ((rc = score_one(&p, ctx, data, &a, p.metric[0], &r, err, sizeof err, NULL)) != 0) {
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
    char archs[512];
    clnas_nb201_format(&a, archs, sizeof archs);
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
                         "as computed (rerun to resume); then tau-b and rho per proxy and of the ensemble.\n", DEFS);
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
    double tsum[PX_N];        /* summed seconds per proxy */
} px_table;

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

static int read_table(const char *path, px_table *t)
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
    int w = t->ncol + 3;
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) continue;
        int n = split(line, fl, 64);
        if (n < acc0 + 3) continue;
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            double *q = realloc(t->v, (size_t)t->cap * w * sizeof *q);
            if (!q) { fclose(f); return 0; }
            t->v = q;
        }
        for (int j = 0; j < w; j++) {
            const char *s = fl[2 + j];
            t->v[(size_t)t->n * w + j] = *s ? strtod(s, NULL) : NAN;
        }
        for (int j = 0; j < t->ncol && acc0 + 4 + j < n; j++) t->tsum[t->id[j]] += strtod(fl[acc0 + 4 + j], NULL);
        t->n++;
    }
    fclose(f);
    return 1;
}

/* The ensemble: sum of average ranks (ascending) of its members present in the table; NaN where
 * a member is undefined. Returns how many members it has. */
static int ensemble(const px_table *t, double *out)
{
    int w = t->ncol + 3, m = 0;
    double *col = malloc((size_t)t->n * sizeof *col), *rk = malloc((size_t)t->n * sizeof *rk);
    for (int i = 0; i < t->n; i++) out[i] = 0;
    for (int e = 0; e < NENSEMBLE && col && rk; e++)
        for (int j = 0; j < t->ncol; j++) {
            if (t->id[j] != ENSEMBLE[e]) continue;
            for (int i = 0; i < t->n; i++) col[i] = t->v[(size_t)i * w + j];
            /* undefined values rank lowest here and are masked below */
            for (int i = 0; i < t->n; i++) if (!isfinite(col[i])) col[i] = -HUGE_VAL;
            clnas_rank_average(col, t->n, rk);
            for (int i = 0; i < t->n; i++) out[i] += isfinite(t->v[(size_t)i * w + j]) ? rk[i] : NAN;
            m++;
        }
    free(col);
    free(rk);
    return m;
}

static void corr_line(const char *name, const double *x, const px_table *t, double secs)
{
    static const char *const acc[3] = {"cifar10", "cifar100", "imagenet16"};
    int w = t->ncol + 3;
    double *y = malloc((size_t)t->n * sizeof *y);
    if (!y) return;
    printf("  %-10s", name);
    int used = 0, excl = 0;
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < t->n; i++) y[i] = t->v[(size_t)i * w + t->ncol + k];
        clnas_corr c;
        if (clnas_correlate(x, y, t->n, &c) != CLNAS_OK) { printf("  %s: -", acc[k]); continue; }
        printf("  %+.3f / %+.3f", c.tau, c.rho);
        used = c.n_used;
        excl = c.n_excluded;
    }
    printf("   n = %d (%d excluded)", used, excl);
    if (secs >= 0) printf("  %.3f s/arch", secs / (t->n ? t->n : 1));
    printf("\n");
    free(y);
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

/* Writes CSV.az_nas.csv: arch, the aggregated az_nas of every row present, the accuracies;
 * recomputed whole at the end of every rank run (the aggregate depends on all rows). */
static int aznas_sidecar(const char *csv)
{
    px_table t;
    if (!read_table(csv, &t)) { free(t.v); return 1; }
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
    free(t.v);
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

int clnas_proxies_stats(const char *csv)
{
    px_table t;
    if (!read_table(csv, &t)) { free(t.v); return 1; }
    double *x = malloc((size_t)(t.n ? t.n : 1) * sizeof *x);
    if (!x) { free(t.v); return 1; }
    int w = t.ncol + 3;
    printf("%s: %d architectures; Kendall tau-b / Spearman rho against CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy\n",
           csv, t.n);
    for (int j = 0; j < t.ncol; j++) {
        for (int i = 0; i < t.n; i++) x[i] = t.v[(size_t)i * w + j];
        corr_line(px_name(t.id[j]), x, &t, t.tsum[t.id[j]]);
    }
    int m = ensemble(&t, x);
    if (m >= 2) {
        corr_line("ensemble", x, &t, -1);
        printf("  (ensemble: sum of the ranks of its %d members among flops, jacob_cov, synflow, naswot, zico)\n", m);
    }
    if (aznas_column(&t, x)) {
        corr_line("az_nas", x, &t, t.tsum[PX_AZ_EXPRESSIVITY]);
        printf("  (az_nas: AZ-NAS's sum of log(rank / %d) of flops and its three components over these rows)\n", t.n);
    }
    free(x);
    free(t.v);
    return 0;
}

/* ---------------------------------------------------------------- sampling search */
/* Index of the best of n architectures scored on the proxies in mask (values [n][PX_N]): the
 * largest value for one proxy, the largest sum of average ranks (ascending) for several, as the
 * ensemble does; an architecture with an undefined member never wins. */
static int best_of(const double *v, int n, unsigned mask)
{
    double *col = malloc((size_t)n * sizeof *col), *rk = malloc((size_t)n * sizeof *rk), *sum = calloc((size_t)n, sizeof *sum);
    int best = -1;
    const unsigned az = 1u << PX_FLOPS | 1u << PX_AZ_EXPRESSIVITY | 1u << PX_AZ_PROGRESSIVITY | 1u << PX_AZ_TRAINABILITY;
    if (col && rk && sum && mask == az) { /* --metric az_nas: AZ-NAS's own aggregation (-inf members rank lowest) */
        double *c4 = malloc(4 * (size_t)n * sizeof *c4);
        const int ids[4] = {PX_FLOPS, PX_AZ_EXPRESSIVITY, PX_AZ_PROGRESSIVITY, PX_AZ_TRAINABILITY};
        const double *cols[4];
        for (int k = 0; c4 && k < 4; k++) {
            for (int i = 0; i < n; i++) c4[(size_t)k * n + i] = v[(size_t)i * PX_N + ids[k]];
            cols[k] = c4 + (size_t)k * n;
        }
        if (c4 && az_aggregate(n, cols, sum) == CLNAS_OK)
            for (int i = 0; i < n; i++) if (best < 0 || sum[i] > sum[best]) best = i;
        free(c4);
    } else if (col && rk && sum) {
        for (int p = 0; p < PX_N; p++) {
            if (!(mask & (1u << p))) continue;
            for (int i = 0; i < n; i++) col[i] = isfinite(v[(size_t)i * PX_N + p]) ? v[(size_t)i * PX_N + p] : -HUGE_VAL;
            clnas_rank_average(col, n, rk);
            for (int i = 0; i < n; i++) sum[i] += isfinite(v[(size_t)i * PX_N + p]) ? rk[i] : NAN;
        }
        for (int i = 0; i < n; i++)
            if (isfinite(sum[i]) && (best < 0 || sum[i] > sum[best])) best = i;
    }
    free(col);
    free(rk);
    free(sum);
    return best;
}

/* One search: n architectures drawn with seed, scored, the best's table row (or -1). */
static int search_one(const px_cmd *p, clnas_ctx *ctx, const clnas_dataset *data, const clnas_nb201_table *t, int n,
                      int seed, char *err, size_t len, int *row)
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
    int b = rc ? -1 : best_of(v, n, p->metric[0]);
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
                           "largest sum of their ranks among the N), the best kept; its NB201 accuracies are printed.\n", DEFS);
    cli_add_space(&c, &p.space);
    cli_add(&c, "strategy", &strategy);
    cli_add_fn(&c, "metric", parse_metric, p.metric, "proxies to score with (several: rank sum)");
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
        if (search_one(&p, ctx, data, t, n, sd, err, sizeof err, &row) != 0) { fprintf(stderr, "clnas search: %s\n", err); goto end; }
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
