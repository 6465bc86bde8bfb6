/* cmd_asvit_score.c - `clnas score --space asvit`: kappa and the length distortion of one As-ViT
 * topology (asvit_score.h), as text or JSON, optionally dumped for tools/verify_asvit_torch.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "clnas/asvit_score.h"
#include "model/graph.h"
#include "report/json.h"
#include "report/safetensors.h"

static const char USAGE[] =
"usage: clnas score --space asvit --arch TOPOLOGY [options]\n"
"\n"
"Computes As-ViT's two training-free numbers of one topology (TENAS.md 8.3-8.4):\n"
"  kappa  condition number of the NTK of the network without its head (output: the mean of the\n"
"         last stage's tokens) on one batch of --batch images, mean over --repeat re-initialised\n"
"         copies (trainability: lower is better);\n"
"  L      length distortion: the sum over 10 points of a random circle through input space of\n"
"         ||dy/dt||, LayerNorms replaced by identity, mean over the copies (expressivity:\n"
"         higher is better).\n";

static const char FOOTER[] =
"kappa mean: as the original, a copy whose NTK holds NaN counts as -1 in the mean; the clean\n"
"mean over the copies with a defined kappa is printed next to it (kappa_mean_clean in JSON).\n"
"Images: random-resized crop + flip at the input size, ImageNet normalisation. Without --data\n"
"the bundled CIFAR-10 images (32x32) are upsampled: the values then differ from ImageNet's.\n"
"The original's cached batch also went through RandAugment, colour jitter, random erasing and\n"
"mixup/cutmix (its no_aug=True is written where the loader does not read it); clnas leaves\n"
"those out. L: one forward-mode JVP per point (--ld-reverse: one reverse pass per output\n"
"feature, the original's algorithm; the same numbers, far slower).\n";

typedef struct score_args {
    asvit_net_opts net;
    clnas_asvit_score_opts o;
    const char *arch, *space, *data, *device, *dump, *from;
    clnas_dataset_kind kind;
    int json, no_augment, metrics_given;
} score_args;

static int parse_metrics(const char *cmd, const char *opt, const char *v, void *ud)
{
    int m = 0;
    if (!strcmp(v, "ntk")) m = CLNAS_ASVIT_METRIC_NTK;
    else if (!strcmp(v, "ld")) m = CLNAS_ASVIT_METRIC_LD;
    else if (!strcmp(v, "ntk,ld") || !strcmp(v, "ld,ntk")) m = CLNAS_ASVIT_METRIC_NTK | CLNAS_ASVIT_METRIC_LD;
    if (!m) {
        fprintf(stderr, "clnas %s: %s expects ntk, ld or ntk,ld (got \"%s\")\n", cmd, opt, v);
        return 0;
    }
    *(int *)ud = m;
    return 1;
}

static int parse(int argc, char **argv, score_args *a)
{
    memset(a, 0, sizeof *a);
    asvit_net_opts_default(&a->net);
    clnas_asvit_score_opts_default(&a->o);
    a->kind = CLNAS_DS_CIFAR10;
    cli c;
    cli_init(&c, "score", USAGE, FOOTER);
    cli_add_space(&c, &a->space);
    asvit_add_net_opts(&c, &a->net, &a->arch);
    cli_add_fn(&c, "metric", parse_metrics, &a->o.metrics, "ntk, ld or ntk,ld (default both)");
    cli_add_fn(&c, "dataset", cli_parse_dataset, &a->kind, "cifar10 (default: the bundled images) or imagenet (--data)");
    cli_add(&c, "data", &a->data);
    cli_add_help(&c, "batch", &a->o.batch, "NTK batch (default 16)");
    cli_add_help(&c, "repeat", &a->o.repeats, "re-initialised copies (default 5)");
    cli_add(&c, "seed", &a->o.seed);
    cli_add(&c, "seeds-in-flight", &a->o.seeds);
    cli_add(&c, "fp64", &a->o.fp64_gram);
    cli_add(&c, "device", &a->device);
    cli_add(&c, "no-augment", &a->no_augment);
    cli_add(&c, "reference", &a->o.host);
    cli_add(&c, "ld-reverse", &a->o.ld_reverse);
    cli_add(&c, "json", &a->json);
    cli_add_help(&c, "dump", &a->dump, "also write the weights, images, circles and results to DIR/asvit.safetensors\n"
                                       "(check with /usr/bin/python3 tools/verify_asvit_torch.py DIR)");
    cli_add_help(&c, "from", &a->from, "recompute from a dump (DIR/asvit.safetensors): exactly its weights, images and circles");
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    a->o.augment = !a->no_augment;
    static const char *const fixed[] = {"arch", "topology", "D", "depths", "input", "dataset", "data", "batch", "repeat",
                                        "seed", "no-augment"};
    for (size_t k = 0; a->from && k < sizeof fixed / sizeof fixed[0]; k++)
        if (cli_given(&c, fixed[k])) {
            fprintf(stderr, "clnas score: --%s cannot be combined with --from: the dump %s fixes it; leave --%s out\n",
                    fixed[k], a->from, fixed[k]);
            return 2;
        }
    return -1;
}

static json_t *result_json(const char *ts, const clnas_asvit_config *cfg, const score_args *a,
                           const clnas_asvit_score_result *r, const char *device)
{
    json_t *j = json_object();
    double k[CLNAS_MAX_REPEATS];
    for (int i = 0; i < r->repeats; i++) k[i] = r->ntk[i].kappa;
    int bad = !j;
    bad |= json_object_set_new(j, "space", json_string("asvit"));
    bad |= json_object_set_new(j, "arch", json_string(ts));
    bad |= json_object_set_new(j, "D", json_integer(cfg->dim));
    bad |= json_object_set_new(j, "depths", json_pack("[iiii]", cfg->depth[0], cfg->depth[1], cfg->depth[2], cfg->depth[3]));
    bad |= json_object_set_new(j, "input", json_integer(cfg->input_hw));
    bad |= json_object_set_new(j, "batch", json_integer(a->o.batch));
    bad |= json_object_set_new(j, "repeats", json_integer(r->repeats));
    bad |= json_object_set_new(j, "seed", json_integer((json_int_t)a->o.seed));
    bad |= json_object_set_new(j, "device", clnas_json_str(device));
    bad |= json_object_set_new(j, "params", json_integer((json_int_t)r->params));
    bad |= json_object_set_new(j, "jacobian", json_integer((json_int_t)r->jacobian));
    if (a->o.metrics & CLNAS_ASVIT_METRIC_NTK) {
        bad |= json_object_set_new(j, "kappa", clnas_json_nums(k, r->repeats));
        bad |= json_object_set_new(j, "kappa_orig", clnas_json_nums(r->kappa_orig, r->repeats));
        bad |= json_object_set_new(j, "kappa_mean", clnas_json_num(r->kappa_mean));
        bad |= json_object_set_new(j, "kappa_mean_clean", clnas_json_num(r->kappa_mean_clean));
        bad |= json_object_set_new(j, "kappa_defined", json_integer(r->kappa_defined));
    }
    if (a->o.metrics & CLNAS_ASVIT_METRIC_LD) {
        bad |= json_object_set_new(j, "L", clnas_json_nums(r->ld, r->repeats));
        bad |= json_object_set_new(j, "L_mean", clnas_json_num(r->ld_mean));
    }
    bad |= json_object_set_new(j, "seconds", json_pack("{s:f,s:f,s:f}", "ntk", r->t_ntk, "ld", r->t_ld, "total", r->t_total));
    if (bad) { json_decref(j); return NULL; }
    return j;
}

static void print_text(const char *ts, const clnas_asvit_config *cfg, const score_args *a,
                       const clnas_asvit_score_result *r, const char *device)
{
    printf("topology %s  (D=%d, depths %d,%d,%d,%d, input %d)\n", ts, cfg->dim, cfg->depth[0], cfg->depth[1],
           cfg->depth[2], cfg->depth[3], cfg->input_hw);
    printf("device   %s\n", device);
    printf("network  %zu parameters without the head, %zu in the NTK's Jacobian\n", r->params, r->jacobian);
    if (a->o.metrics & CLNAS_ASVIT_METRIC_NTK) {
        printf("\nNTK condition number (batch %d, %d copies)\n", a->o.batch, r->repeats);
        for (int i = 0; i < r->repeats; i++)
            printf("  copy %d: kappa %.6g (lambda_min %.6g, lambda_max %.6g)%s%s\n", i + 1, r->ntk[i].kappa,
                   r->ntk[i].lambda_min, r->ntk[i].lambda_max, r->ntk[i].status ? "  " : "",
                   r->ntk[i].status ? clnas_kappa_status_str(r->ntk[i].status) : "");
        printf("  kappa mean %.6g (the original's: NaN copies count -1)   clean mean %.6g over %d copies\n",
               r->kappa_mean, r->kappa_mean_clean, r->kappa_defined);
    }
    if (a->o.metrics & CLNAS_ASVIT_METRIC_LD) {
        printf("\nLength distortion (%d points, LayerNorms = identity)\n", a->o.points);
        for (int i = 0; i < r->repeats; i++) printf("  copy %d: L %.6g\n", i + 1, r->ld[i]);
        printf("  L mean %.6g\n", r->ld_mean);
    }
    printf("\ntime     kappa %.3f s, L %.3f s, total %.3f s\n", r->t_ntk, r->t_ld, r->t_total);
}

/* DIR/asvit.safetensors: per copy the weights (r<i>.<name>), the images, the circles, results. */
static clnas_status dump(const char *dir, const char *ts, const clnas_asvit_config *cfg, const clnas_net *net,
                         const clnas_asvit_inputs *in, const json_t *js, char *err, size_t errlen)
{
    mkdir(dir, 0777);
    st_writer *w = st_writer_new();
    if (!w) return CLNAS_E_NOMEM;
    clnas_status st = CLNAS_OK;
    char nm[256], buf[64];
    for (int r = 0; r < in->repeats && st == CLNAS_OK; r++) {
        snprintf(nm, sizeof nm, "r%d.", r);
        st = st_writer_add_params(w, net, in->params + (size_t)r * in->nparams, nm);
    }
    const int64_t ish[4] = {in->batch, 3, in->hw, in->hw}, csh[5] = {in->repeats, 2, 3, in->hw, in->hw};
    if (st == CLNAS_OK) st = st_writer_add(w, "images", ST_F32, 4, ish, in->images);
    if (st == CLNAS_OK) st = st_writer_add(w, "circle", ST_F32, 5, csh, in->circle);
    char *res = json_dumps(js, CLNAS_JSON_FLAGS);
    snprintf(buf, sizeof buf, "%d,%d,%d,%d", cfg->depth[0], cfg->depth[1], cfg->depth[2], cfg->depth[3]);
    if (st == CLNAS_OK) st = st_writer_meta(w, "arch", ts);
    if (st == CLNAS_OK) st = st_writer_meta(w, "depths", buf);
    snprintf(buf, sizeof buf, "%d", cfg->dim);
    if (st == CLNAS_OK) st = st_writer_meta(w, "D", buf);
    snprintf(buf, sizeof buf, "%d", in->points);
    if (st == CLNAS_OK) st = st_writer_meta(w, "points", buf);
    if (st == CLNAS_OK) st = st_writer_meta(w, "result", res ? res : "{}");
    free(res);
    snprintf(nm, sizeof nm, "%s/asvit.safetensors", dir);
    if (st == CLNAS_OK) st = st_writer_save(w, nm, err, errlen);
    st_writer_free(w);
    return st;
}

/* --from DIR: the topology, configuration and inputs of a dump. Returns 0 or the exit status. */
static int load_dump(score_args *a, clnas_asvit_topo *t, clnas_asvit_config *cfg, clnas_net **fl, clnas_net **fi,
                     clnas_asvit_inputs *in)
{
    char path[1024], err[2048] = "";
    snprintf(path, sizeof path, "%.990s/asvit.safetensors", a->from);
    st_file *f = NULL;
    int rc = 1;
    memset(in, 0, sizeof *in);
    if (st_open(path, &f, err, sizeof err) != CLNAS_OK) goto out;
    const char *arch = st_meta(f, "arch"), *dd = st_meta(f, "D"), *dp = st_meta(f, "depths"), *pts = st_meta(f, "points");
    st_dtype dt;
    int nd, ndc;
    int64_t ish[ST_MAX_DIMS], csh[ST_MAX_DIMS];
    const float *img = st_get(f, "images", &dt, &nd, ish), *circ = st_get(f, "circle", &dt, &ndc, csh);
    if (!arch || !dd || !dp || !pts || !img || nd != 4 || !circ || ndc != 5) {
        snprintf(err, sizeof err, "%s is not a clnas As-ViT dump (arch, D, depths, points, images, circle)", path);
        goto out;
    }
    asvit_net_opts no;
    asvit_net_opts_default(&no);
    no.input = (int)ish[3];
    no.dim = atoi(dd);
    if (sscanf(dp, "%d,%d,%d,%d", &no.depths[0], &no.depths[1], &no.depths[2], &no.depths[3]) != 4) goto out;
    no.depths[4] = 1;
    if ((rc = asvit_resolve("score", arch, "the dump's arch", &no, t, cfg)) != 0) { *err = 0; goto out; }
    rc = 1;
    if (clnas_asvit_feature_nets(t, cfg, fl, fi, err, sizeof err) != CLNAS_OK) goto out;
    in->repeats = (int)csh[0];
    in->batch = (int)ish[0];
    in->hw = (int)ish[3];
    in->points = atoi(pts);
    in->nparams = clnas_net_nparams(*fl);
    const size_t px = (size_t)3 * in->hw * in->hw;
    in->params = malloc((size_t)in->repeats * in->nparams * sizeof(float));
    in->images = malloc((size_t)in->batch * px * sizeof(float));
    in->circle = malloc((size_t)in->repeats * 2 * px * sizeof(float));
    if (!in->params || !in->images || !in->circle) { snprintf(err, sizeof err, "out of host memory"); goto out; }
    memcpy(in->images, img, (size_t)in->batch * px * sizeof(float));
    memcpy(in->circle, circ, (size_t)in->repeats * 2 * px * sizeof(float));
    for (int r = 0; r < in->repeats; r++)
        for (int i = 0; i < clnas_net_nparam_tensors(*fl); i++) {
            const char *name;
            size_t off, cnt;
            int shape[4], n2;
            int64_t sh[ST_MAX_DIMS];
            clnas_net_param_tensor(*fl, i, &name, &off, &cnt, shape);
            char nm[300];
            snprintf(nm, sizeof nm, "r%d.%s", r, name);
            const float *w = st_get(f, nm, &dt, &n2, sh);
            size_t c2 = 1;
            for (int d = 0; w && d < n2; d++) c2 *= (size_t)sh[d];
            if (!w || dt != ST_F32 || c2 != cnt) {
                snprintf(err, sizeof err, "%s: tensor %s is missing or has another size", path, nm);
                goto out;
            }
            memcpy(in->params + (size_t)r * in->nparams + off, w, cnt * sizeof(float));
        }
    a->o.batch = in->batch;
    a->o.repeats = in->repeats;
    a->o.points = in->points;
    rc = 0;
out:
    if (rc && *err) fprintf(stderr, "clnas score: --from %s: %s\n", a->from, err);
    st_close(f);
    return rc;
}

/* Builds the nets, makes the inputs and computes; prints and dumps. */
static int run(score_args *a, clnas_asvit_topo *t, clnas_asvit_config *cfg)
{
    char err[1024] = "", ts[256];
    clnas_asvit_format(t, ts, sizeof ts);
    clnas_net *fl = NULL, *fi = NULL;
    clnas_dataset *data = NULL;
    clnas_ctx *ctx = NULL;
    clnas_asvit_inputs in;
    memset(&in, 0, sizeof in);
    int rc = 1;
    if (a->from) {
        if (load_dump(a, t, cfg, &fl, &fi, &in) != 0) goto out;
        clnas_asvit_format(t, ts, sizeof ts);
    } else {
        if (clnas_asvit_feature_nets(t, cfg, &fl, &fi, err, sizeof err) != CLNAS_OK) goto out;
        if (clnas_dataset_load(a->kind, a->data, &data, err, sizeof err) != CLNAS_OK) goto out;
        if (clnas_asvit_inputs_make(fl, data, &a->o, &in, err, sizeof err) != CLNAS_OK) goto out;
    }
    if (!a->o.host && clnas_ctx_create(a->device, &ctx) != CLNAS_OK) {
        snprintf(err, sizeof err, "%s", clnas_ctx_errmsg(ctx));
        goto out;
    }
    clnas_asvit_score_result r;
    if (clnas_asvit_score_run(ctx, fl, fi, &a->o, &in, &r, err, sizeof err) != CLNAS_OK) goto out;
    const char *dev = ctx ? clnas_ctx_device(ctx)->name : "host reference (double)";
    json_t *js = result_json(ts, cfg, a, &r, dev);
    if (!js) { snprintf(err, sizeof err, "out of host memory"); goto out; }
    rc = 0;
    if (a->json) clnas_json_print(stdout, js);
    else print_text(ts, cfg, a, &r, dev);
    if (a->dump && dump(a->dump, ts, cfg, fl, &in, js, err, sizeof err) != CLNAS_OK) rc = 1;
    else if (a->dump && !a->json) printf("dump     %s (check: /usr/bin/python3 tools/verify_asvit_torch.py %s)\n", a->dump, a->dump);
    json_decref(js);
out:
    if (rc && *err) fprintf(stderr, "clnas score: %s\n", err);
    clnas_asvit_inputs_free(&in);
    clnas_net_destroy(fl);
    clnas_net_destroy(fi);
    clnas_dataset_destroy(data);
    clnas_ctx_destroy(ctx);
    return rc;
}

int clnas_cmd_score_asvit(int argc, char **argv)
{
    score_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    clnas_asvit_topo t;
    clnas_asvit_config cfg;
    if (!a.from) {
        rc = asvit_resolve("score", a.arch, "--arch", &a.net, &t, &cfg);
        if (rc) return rc;
    }
    return run(&a, &t, &cfg);
}
