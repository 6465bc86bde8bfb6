/* cmd_asvit_bench.c - `clnas bench --space asvit`: the time of one kappa (stage by stage) and one
 * L of an As-ViT topology on the device, with the floating-point work and its rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "clnas/asvit_score.h"
#include "core/util.h"
#include "model/graph.h"
#include "report/json.h"

static const char USAGE[] =
"usage: clnas bench --space asvit [--arch TOPOLOGY] [--input 224] [--batch 16] [--json]\n"
"\n"
"Times one kappa (per-image forward and backward passes, Gram product, spectrum) and one length\n"
"distortion (10 forwards + JVPs) of one copy of an As-ViT topology, after a small warm-up run\n"
"(default: the seed 8,2,3|4,1,2|4,1,4|4,1,6|32 at D = 32) on the device, and the rate of the\n"
"floating-point work of its linear layers and attention products (a multiply-add counts 2).\n";

/* Forward FLOPs per sample of the token linears, linears and attention products. */
static double forward_flops(const clnas_net *n)
{
    double f = 0;
    for (int i = 0; i < n->nlayers; i++) {
        const layer *l = &n->layers[i];
        const tensor_desc *ti = &n->tensors[l->in], *to = &n->tensors[l->out];
        if (l->kind == L_TLINEAR) f += 2.0 * ti->h * ti->w * ti->c * l->cout;
        else if (l->kind == L_LINEAR) f += 2.0 * tensor_size(ti) * l->cout;
        else if (l->kind == L_ATTN) f += 2.0 * 2.0 * to->h * to->w * (double)l->wh * l->ww * to->c; /* QK^T and AV */
    }
    return f;
}

static int bench(const char *device, clnas_asvit_topo *t, clnas_asvit_config *cfg, clnas_asvit_score_opts *o, int json)
{
    char err[1024] = "";
    clnas_net *fl = NULL, *fi = NULL;
    clnas_dataset *data = NULL;
    clnas_ctx *ctx = NULL;
    clnas_asvit_inputs in;
    memset(&in, 0, sizeof in);
    int rc = 1;
    o->repeats = 1;
    clnas_asvit_score_result r, w;
    clnas_asvit_score_opts warm = *o;
    warm.batch = 2;
    warm.points = 2;
    if (clnas_asvit_feature_nets(t, cfg, &fl, &fi, err, sizeof err) != CLNAS_OK) goto out;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK) goto out;
    if (clnas_asvit_inputs_make(fl, data, o, &in, err, sizeof err) != CLNAS_OK) goto out;
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) { snprintf(err, sizeof err, "%s", clnas_ctx_errmsg(ctx)); goto out; }
    /* a small warm-up run first: kernel compilation is not part of the times */
    if (clnas_asvit_score_run(ctx, fl, fi, &warm, &in, &w, err, sizeof err) != CLNAS_OK) goto out;
    if (clnas_asvit_score_run(ctx, fl, fi, o, &in, &r, err, sizeof err) != CLNAS_OK) goto out;
    const double ff = forward_flops(fl), fj = forward_flops(fi), B = o->batch, P = o->points;
    const double fk = 3 * ff * B, fl2 = 2 * fj * P; /* kappa: B forwards + B backwards (~2x); L: forwards + tangents */
    char ts[160];
    clnas_asvit_format(t, ts, sizeof ts);
    if (json) {
        json_t *j = json_pack("{s:s,s:s,s:i,s:i,s:i}", "space", "asvit", "arch", ts, "D", cfg->dim, "input",
                              cfg->input_hw, "batch", o->batch);
        json_object_set_new(j, "device", clnas_json_str(clnas_ctx_device(ctx)->name));
        json_object_set_new(j, "kappa", clnas_json_num(r.ntk[0].kappa));
        json_object_set_new(j, "L", clnas_json_num(r.ld_mean));
        json_object_set_new(j, "seconds", json_pack("{s:f,s:f}", "kappa", r.t_ntk, "L", r.t_ld));
        json_object_set_new(j, "gflop", json_pack("{s:f,s:f}", "kappa", fk / 1e9, "L", fl2 / 1e9));
        clnas_json_print(stdout, j);
        json_decref(j);
    } else {
        printf("As-ViT %s  D=%d input=%d batch=%d, one copy, on %s\n", ts, cfg->dim, cfg->input_hw, o->batch,
               clnas_ctx_device(ctx)->name);
        printf("kappa %.6g in %.3f s: %d per-image forward + backward passes, ~%.2f GFLOP, %.2f GFLOP/s\n", r.ntk[0].kappa,
               r.t_ntk, o->batch, fk / 1e9, fk / 1e9 / r.t_ntk);
        printf("L     %.6g in %.3f s: %d points, forward + JVP ~%.2f GFLOP, %.2f GFLOP/s\n", r.ld_mean, r.t_ld, o->points,
               fl2 / 1e9, fl2 / 1e9 / r.t_ld);
    }
    rc = 0;
out:
    if (rc) fprintf(stderr, "clnas bench: %s\n", err);
    clnas_asvit_inputs_free(&in);
    clnas_net_destroy(fl);
    clnas_net_destroy(fi);
    clnas_dataset_destroy(data);
    clnas_ctx_destroy(ctx);
    return rc;
}

int clnas_cmd_bench_asvit(int argc, char **argv)
{
    asvit_net_opts no;
    asvit_net_opts_default(&no);
    clnas_asvit_score_opts o;
    clnas_asvit_score_opts_default(&o);
    const char *arch = "8,2,3|4,1,2|4,1,4|4,1,6|32", *space = NULL, *device = NULL;
    int json = 0;
    cli c;
    cli_init(&c, "bench", USAGE, NULL);
    cli_add_space(&c, &space);
    asvit_add_net_opts(&c, &no, &arch);
    cli_add_help(&c, "batch", &o.batch, "NTK batch (default 16)");
    cli_add(&c, "device", &device);
    cli_add(&c, "json", &json);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    clnas_asvit_topo t;
    clnas_asvit_config cfg;
    int rc = asvit_resolve("bench", arch, "--arch", &no, &t, &cfg);
    return rc ? rc : bench(device, &t, &cfg, &o, json);
}
