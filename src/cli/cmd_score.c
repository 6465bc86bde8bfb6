/* cmd_score.c - `clnas score`: the TE-NAS scores of one NAS-Bench-201 architecture. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/score.h"
#include "internal.h"
#include "report/dump.h"

static void help(FILE *f)
{
    fprintf(f,
"usage: clnas score --arch STR [options]\n"
"\n"
"Computes the TE-NAS scores of one NAS-Bench-201 architecture, as the original does:\n"
"  kappa  condition number of the NTK of the C=3, N=1 proxy on a batch of augmented training\n"
"         images (trainability: lower is better), one value per repeat, same weights, new batch;\n"
"  R      number of linear regions of the thin C=1 one-cell proxy over 3 x 1000 random 3x3\n"
"         single-channel patches (expressivity: higher is better); repeats keep the weights and\n"
"         take the next patches.\n"
"\n"
"  --arch STR          NB201 arch string ('supernet' = all four non-none ops on every edge; an edge\n"
"                      may list several ops joined by ',')\n"
"  --metric LIST       ntk, lr or ntk,lr (default both)\n"
"  --batch B           NTK batch (default 72)\n"
"  --repeat K          repeats (default 3)\n"
"  --seed S            seed of weights and data (default 0); same seed and device -> same numbers\n"
"  --dataset NAME      cifar10 (default), cifar100 or imagenet16: normalisation, classes, image size\n"
"  --data PATH         training data file or folder (default: the bundled CIFAR-10 subset; required for\n"
"                      cifar100 and imagenet16, see README)\n"
"  --lr-batch N        linear-region batch (default 1000; BN statistics are per batch)\n"
"  --lr-batches N      linear-region batches per repeat (default 3)\n"
"  --init NAME         pytorch (default, TE-NAS's effective init), kaiming_fan_in, kaiming_fan_out\n"
"  --seeds N           NTK backward seeds in flight (default: fit 256 MiB; env CLNAS_SEEDS)\n"
"  --fp64              compute the Gram matrix in double on the device (needs cl_khr_fp64)\n"
"  --device D          device index or name part (see clnas devices; env CLNAS_DEVICE)\n"
"  --json              print one JSON object instead of text (fields in README)\n"
"  --dump DIR          also write weights, inputs, Theta, eigenvalues, G row norms and codes to DIR\n"
"                      (safetensors; check with tools/verify_torch.py DIR)\n"
"  --from DIR          recompute from a dump: exactly its weights, images and patches\n"
"\n"
"An undefined kappa (NaN in the NTK, or lambda_min <= 0) is reported as such, never as a number.\n");
}

static int parse_metrics(const char *v, int *out)
{
    int m = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        if (!strcmp(t, "ntk")) m |= CLNAS_METRIC_NTK;
        else if (!strcmp(t, "lr")) m |= CLNAS_METRIC_LR;
        else return 0;
    }
    *out = m;
    return m != 0;
}

static void print_text(const char *arch, const clnas_score_opts *o, const clnas_score_result *r,
                       const clnas_device_info *d, const char *src, double t_data)
{
    printf("arch     %s\n", arch);
    printf("device   %d: %s (%s)\n", d->index, d->name, d->type);
    printf("data     %s, %s, seed %llu\n", clnas_dataset_name(o->dataset), src, (unsigned long long)o->seed);
    if (o->metrics & CLNAS_METRIC_NTK) {
        printf("\nNTK condition number (proxy C=3 N=1: %zu parameters, %zu in the Jacobian; batch %d; %d seeds in flight; %s Gram)\n",
               r->ntk_params, r->ntk_jacobian, o->batch, r->ntk_seeds, o->fp64_gram ? "fp64" : "fp32");
        for (int i = 0; i < r->repeats; i++) {
            const clnas_kappa *k = &r->ntk[i];
            if (k->status == CLNAS_KAPPA_OK)
                printf("  repeat %d: kappa %.6g   (lambda_min %.6g, lambda_max %.6g)\n", i + 1, k->kappa, k->lambda_min, k->lambda_max);
            else
                printf("  repeat %d: kappa undefined: %s (lambda_min %.6g, lambda_max %.6g); the TE-NAS search counts it as 1e5\n",
                       i + 1, clnas_kappa_status_str(k->status), k->lambda_min, k->lambda_max);
        }
        if (isfinite(r->kappa_mean)) printf("  kappa mean %.6g   geometric mean %.6g\n", r->kappa_mean, r->kappa_geomean);
        else printf("  kappa mean undefined (a repeat is undefined)\n");
    }
    if (o->metrics & CLNAS_METRIC_LR) {
        printf("\nLinear regions (proxy C=1, one cell, no stem: %zu parameters, %zu ReLU bits; %d patches per repeat)\n",
               r->lr_params, r->lr_bits, o->lr_batch * o->lr_batches);
        for (int i = 0; i < r->repeats; i++) printf("  repeat %d: R %zu\n", i + 1, r->regions[i]);
        printf("  R mean %.6g\n", r->regions_mean);
    }
    printf("\ntime     data %.3f s, setup %.3f s, forward %.3f s, backward %.3f s, gram %.3f s, eigensolve %.4f s, "
           "linear regions %.3f s; scores %.3f s\n", t_data, r->t_setup, r->t_forward, r->t_backward, r->t_gram, r->t_eig,
           r->t_lr, r->t_total);
}

int clnas_cmd_score(int argc, char **argv)
{
    clnas_score_opts o;
    clnas_score_opts_default(&o);
    const char *arch_s = NULL, *data_path = NULL, *device = NULL, *dump = NULL, *from = NULL, *v;
    int json = 0;
    long n;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--arch"))) arch_s = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--metric"))) {
            if (!parse_metrics(v, &o.metrics)) { fprintf(stderr, "clnas score: --metric expects ntk, lr or ntk,lr (got \"%s\")\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--batch"))) { if (!clnas_cli_int("--batch", v, 2, 100000, &n)) return 2; o.batch = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--repeat"))) { if (!clnas_cli_int("--repeat", v, 1, CLNAS_MAX_REPEATS, &n)) return 2; o.repeats = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seed"))) { if (!clnas_cli_int("--seed", v, 0, 2147483647L, &n)) return 2; o.seed = (uint64_t)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--lr-batch"))) { if (!clnas_cli_int("--lr-batch", v, 1, 1000000, &n)) return 2; o.lr_batch = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--lr-batches"))) { if (!clnas_cli_int("--lr-batches", v, 1, 1000, &n)) return 2; o.lr_batches = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds"))) { if (!clnas_cli_int("--seeds", v, 1, 100000, &n)) return 2; o.seeds = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--dataset"))) {
            if (clnas_dataset_parse_kind(v, &o.dataset) != CLNAS_OK) { fprintf(stderr, "clnas score: --dataset expects cifar10, cifar100 or imagenet16 (got \"%s\")\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--init"))) {
            if (!strcmp(v, "pytorch")) o.init = CLNAS_INIT_PYTORCH;
            else if (!strcmp(v, "kaiming_fan_in")) o.init = CLNAS_INIT_KAIMING_FAN_IN;
            else if (!strcmp(v, "kaiming_fan_out")) o.init = CLNAS_INIT_KAIMING_FAN_OUT;
            else { fprintf(stderr, "clnas score: --init expects pytorch, kaiming_fan_in or kaiming_fan_out (got \"%s\")\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--data"))) data_path = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) device = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--dump"))) dump = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--from"))) from = v;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--fp64")) o.fp64_gram = 1;
        else { fprintf(stderr, "clnas score: unknown option \"%s\" (see clnas score --help)\n", argv[i]); return 2; }
    }
    char err[1024] = "";
    clnas_nb201_arch arch;
    clnas_score_inputs in;
    memset(&in, 0, sizeof in);
    char src[1100] = "";
    double t0 = clnas_now();
    clnas_net *nn = NULL, *ln = NULL;
    if (from) {
        int fp64 = o.fp64_gram, seeds = o.seeds;
        char space[32], archtext[4096];
        if (clnas_dump_read_header(from, space, sizeof space, archtext, sizeof archtext, &o, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas score: --from %s: %s\n", from, err);
            return 1;
        }
        if (strcmp(space, "nb201") != 0) {
            fprintf(stderr, "clnas score: --from %s: a dump of the %s space; this clnas scores nb201 only\n", from, space);
            return 1;
        }
        if (clnas_nb201_parse(archtext, &arch, err, sizeof err) != CLNAS_OK ||
            clnas_nb201_proxies(&arch, o.dataset, &nn, &ln, err, sizeof err) != CLNAS_OK ||
            clnas_dump_load(from, nn, ln, &o, &in, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas score: --from %s: %s\n", from, err);
            clnas_net_destroy(nn);
            clnas_net_destroy(ln);
            return 1;
        }
        o.fp64_gram = fp64;
        o.seeds = seeds;
        clnas_nb201_arch given;
        if (arch_s && (clnas_nb201_parse(arch_s, &given, err, sizeof err) != CLNAS_OK || memcmp(&given, &arch, sizeof arch))) {
            fprintf(stderr, "clnas score: --arch differs from the architecture stored in %s (leave --arch out with --from)\n", from);
            clnas_score_inputs_free(&in);
            clnas_net_destroy(nn);
            clnas_net_destroy(ln);
            return 2;
        }
        snprintf(src, sizeof src, "dump %s", from);
    } else {
        if (!arch_s || !*arch_s) { fprintf(stderr, "clnas score: --arch is required (see clnas score --help)\n"); return 2; }
        if (clnas_nb201_parse(arch_s, &arch, err, sizeof err) != CLNAS_OK) { fprintf(stderr, "clnas score: --arch: %s\n", err); return 2; }
        clnas_dataset *data = NULL;
        if (clnas_dataset_load(o.dataset, data_path, &data, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas score: %s\n", err);
            return 1;
        }
        snprintf(src, sizeof src, "%s (%d images)", clnas_dataset_source(data), clnas_dataset_size(data));
        clnas_status st = clnas_nb201_proxies(&arch, o.dataset, &nn, &ln, err, sizeof err);
        if (st == CLNAS_OK) st = clnas_score_inputs_make(nn, ln, data, &o, &in, err, sizeof err);
        clnas_dataset_destroy(data);
        if (st != CLNAS_OK) {
            fprintf(stderr, "clnas score: %s\n", err);
            clnas_net_destroy(nn);
            clnas_net_destroy(ln);
            return st == CLNAS_E_INVALID_ARG ? 2 : 1;
        }
    }
    double t_data = clnas_now() - t0;
    clnas_ctx *ctx = NULL;
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_score_inputs_free(&in);
        clnas_net_destroy(nn);
        clnas_net_destroy(ln);
        return 1;
    }
    clnas_score_outputs out;
    memset(&out, 0, sizeof out);
    clnas_score_result res;
    int rc = 0;
    char archs[512];
    clnas_nb201_format(&arch, archs, sizeof archs);
    if (dump && clnas_dump_outputs_alloc(&in, clnas_net_relu_bits(ln), &out) != CLNAS_OK) {
        fprintf(stderr, "clnas score: cannot prepare the dump: out of memory\n");
        rc = 1;
        goto done;
    }
    if (clnas_score_run(ctx, nn, ln, &o, &in, &res, dump ? &out : NULL) != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", clnas_ctx_errmsg(ctx));
        rc = 1;
        goto done;
    }
    if (json) clnas_score_write_json(stdout, archs, &o, &res, clnas_ctx_device(ctx)->name, src);
    else print_text(archs, &o, &res, clnas_ctx_device(ctx), src, t_data);
    if (dump) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        if (mf) {
            clnas_score_write_json(mf, archs, &o, &res, clnas_ctx_device(ctx)->name, src);
            fclose(mf);
        }
        if (clnas_dump_save(dump, "nb201", archs, nn, ln, &o, &in, &out, &res, buf, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas score: --dump %s: %s\n", dump, err);
            rc = 1;
        } else if (!json) {
            printf("dump     %s (check it with: /usr/bin/python3 tools/verify_torch.py %s)\n", dump, dump);
        }
        free(buf);
    }
done:
    clnas_net_destroy(nn);
    clnas_net_destroy(ln);
    clnas_dump_outputs_free(&out);
    clnas_score_inputs_free(&in);
    clnas_ctx_destroy(ctx);
    return rc;
}
