/* cmd_score.c - `clnas score`: the TE-NAS scores of one NAS-Bench-201 architecture. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "cli/multi.h"
#include "cli/score_multi.h"
#include "clnas/darts.h"
#include "cli/cmd_proxies.h"
#include "clnas/score.h"
#include "core/util.h"
#include "report/dump.h"
#include "report/json.h"
#include "report/safetensors.h"

static const char USAGE[] =
"usage: clnas score --arch STR [options]\n"
"       clnas score --space darts (--genotype G | --alpha FILE|supernet) [--dataset cifar10|imagenet] [options]\n"
"       clnas score --from DIR [--json] [--fp64] [--seeds-in-flight N] [--device D]\n"
"\n"
"Computes the TE-NAS scores of one NAS-Bench-201 architecture, as the original does:\n"
"  kappa  condition number of the NTK of the C=3, N=1 proxy on a batch of augmented training\n"
"         images (trainability: lower is better), one value per repeat, same weights, new batch;\n"
"  R      number of linear regions of the thin C=1 one-cell proxy over 3 x 1000 random 3x3\n"
"         single-channel patches (expressivity: higher is better); repeats keep the weights and\n"
"         take the next patches.\n"
"DARTS (--space darts): the same two scores of TE-NAS's DARTS proxies (C=1, a normal and a reduction\n"
"cell; NTK batch 14 on CIFAR-10, 24 on ImageNet) of a supernet state (--alpha: JSON with \"normal\" and\n"
"\"reduce\", 14 rows of 8 alphas each, TE-NAS's edge and op order; 'supernet' = TE-NAS's start) or of\n"
"the single-path state of a genotype (--genotype).\n"
"As-ViT topologies: clnas score --space asvit --arch TOPOLOGY (see clnas score --space asvit --help).\n";

static const char FOOTER[] =
"An undefined kappa (NaN in the NTK, or lambda_min <= 0) is reported as such, never as a number.\n"
"--seeds N, the old spelling of --seeds-in-flight N, still works (with a warning).\n";

static int parse_metrics(const char *cmd, const char *opt, const char *v, void *ud)
{
    int m = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        if (!strcmp(t, "ntk")) m |= CLNAS_METRIC_NTK;
        else if (!strcmp(t, "lr")) m |= CLNAS_METRIC_LR;
        else m = -1;
        if (m < 0) break;
    }
    if (m <= 0) {
        fprintf(stderr, "clnas %s: %s expects ntk, lr or ntk,lr (got \"%s\")\n", cmd, opt, v);
        return 0;
    }
    *(int *)ud = m;
    return 1;
}

static void print_text(int darts, const char *arch, const clnas_score_opts *o, const clnas_score_result *r,
                       const clnas_device_info *d, const char *src, double t_data)
{
    printf("arch     %s\n", arch);
    printf("device   %d: %s (%s)\n", d->index, d->name, d->type);
    printf("data     %s, %s, seed %llu\n", clnas_dataset_name(o->dataset), src, (unsigned long long)o->seed);
    if (o->metrics & CLNAS_METRIC_NTK) {
        printf("\nNTK condition number (proxy %s: %zu parameters, %zu in the Jacobian; batch %d; %d seeds in flight; %s Gram)\n",
               darts ? "C=1, normal + reduction cell" : "C=3 N=1", r->ntk_params, r->ntk_jacobian, o->batch, r->ntk_seeds, o->fp64_gram ? "fp64" : "fp32");
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
        printf("\nLinear regions (proxy C=1, %s, no stem: %zu parameters, %zu ReLU bits; %d patches per repeat)\n",
               darts ? "normal + reduction cell" : "one cell", r->lr_params, r->lr_bits, o->lr_batch * o->lr_batches);
        for (int i = 0; i < r->repeats; i++) {
            if (r->regions_nonfinite[i])
                printf("  repeat %d: R undefined: NaN or infinity in the pre-activations (NaN/inf weights or inputs); "
                       "the TE-NAS search counts it as the worst R\n", i + 1);
            else
                printf("  repeat %d: R %zu\n", i + 1, r->regions[i]);
        }
        if (isfinite(r->regions_mean)) printf("  R mean %.6g\n", r->regions_mean);
        else printf("  R mean undefined (a repeat is undefined)\n");
    }
    printf("\ntime     data %.3f s, setup %.3f s, forward %.3f s, backward %.3f s, gram %.3f s, eigensolve %.4f s, "
           "linear regions %.3f s; scores %.3f s\n", t_data, r->t_setup, r->t_forward, r->t_backward, r->t_gram, r->t_eig,
           r->t_lr, r->t_total);
}

/* What is scored: an NB201 arch, or a DARTS supernet state (with a label for the output and its
 * JSON form, which a dump stores as its "arch"). */
typedef struct target {
    int darts;
    const char *arch_s, *genotype, *alpha;
    clnas_nb201_arch arch;
    clnas_darts_alpha al;
    char label[1400];
} target;

/* The DARTS state of --genotype / --alpha, or of a dump's "arch" text (the state's JSON). */
static int darts_target(target *t, const char *dump_text)
{
    char err[1024];
    if (dump_text) {
        if (clnas_darts_alpha_parse_json(dump_text, &t->al, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas score: the dump's DARTS state: %s\n", err);
            return 1;
        }
        snprintf(t->label, sizeof t->label, "DARTS state from a dump (its alpha: inputs.safetensors, metadata \"arch\")");
        return 0;
    }
    return darts_cli_state("score", t->genotype, t->alpha, &t->al, t->label, sizeof t->label);
}

/* NB201's proxies with a classifier of `classes` outputs: a data set's own class count, which for
 * an ImageNet-style folder is its number of class folders, not necessarily the kind's 1000. */
static clnas_status proxies(const target *t, clnas_dataset_kind k, int classes, clnas_net **nn,
                            clnas_net **ln, char *err, size_t len)
{
    if (t->darts) return clnas_darts_proxies(&t->al, classes, clnas_dataset_hw(k), nn, ln, err, len);
    const clnas_nb201_arch *a = &t->arch;
    if (classes == clnas_dataset_classes(k)) return clnas_nb201_proxies(a, k, nn, ln, err, len);
    clnas_nb201_config c;
    clnas_nb201_config_ntk(&c, classes, clnas_dataset_hw(k));
    clnas_status st = clnas_nb201_build(&c, a, nn, err, len);
    if (st != CLNAS_OK) return st;
    clnas_nb201_config_lr(&c, classes);
    if ((st = clnas_nb201_build(&c, a, ln, err, len)) != CLNAS_OK) {
        clnas_net_destroy(*nn);
        *nn = NULL;
    }
    return st;
}

/* The classifier width a dump was made with (its "classes" metadata), or the kind's. */
static int dump_classes(const char *dir, clnas_dataset_kind k)
{
    char path[4096], err[256];
    st_file *f = NULL;
    int classes = clnas_dataset_classes(k);
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    if (st_open(path, &f, err, sizeof err) != CLNAS_OK) return classes;
    const char *v = st_meta(f, "classes");
    if (v && atoi(v) > 0) classes = atoi(v);
    st_close(f);
    return classes;
}

/* `score --from DIR`: the architecture, proxies (with the dump's weights) and inputs of a dump.
 * Returns 0, or the command's exit status after printing the error. */
static int inputs_from_dump(const char *from, target *t, clnas_score_opts *o, clnas_net **nn, clnas_net **ln,
                            clnas_score_inputs *in, char *src, size_t srclen)
{
    char err[1024] = "";
    int fp64 = o->fp64_gram, seeds = o->seeds;
    char dspace[32], archtext[4096];
    if (clnas_dump_read_header(from, dspace, sizeof dspace, archtext, sizeof archtext, o, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: --from %s: %s\n", from, err);
        return 1;
    }
    if (strcmp(dspace, "nb201") != 0 && strcmp(dspace, "darts") != 0) {
        fprintf(stderr, "clnas score: --from %s: a dump of the %s space; this clnas scores nb201 and darts\n", from, dspace);
        return 1;
    }
    if (t->genotype || t->alpha) {
        fprintf(stderr, "clnas score: --genotype / --alpha cannot be combined with --from: the dump fixes the state\n");
        return 2;
    }
    t->darts = !strcmp(dspace, "darts");
    if (t->darts && darts_target(t, archtext) != 0) return 1;
    if ((!t->darts && clnas_nb201_parse(archtext, &t->arch, err, sizeof err) != CLNAS_OK) ||
        proxies(t, o->dataset, dump_classes(from, o->dataset), nn, ln, err, sizeof err) != CLNAS_OK ||
        clnas_dump_load(from, *nn, *ln, o, in, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: --from %s: %s\n", from, err);
        clnas_net_destroy(*nn);
        clnas_net_destroy(*ln);
        *nn = *ln = NULL;
        return 1;
    }
    o->fp64_gram = fp64;
    o->seeds = seeds;
    clnas_nb201_arch given;
    const char *arch_s = t->arch_s;
    if (arch_s && (t->darts || clnas_nb201_parse(arch_s, &given, err, sizeof err) != CLNAS_OK ||
                   memcmp(&given, &t->arch, sizeof given))) {
        fprintf(stderr, "clnas score: --arch differs from the architecture stored in %s (leave --arch out with --from)\n", from);
        clnas_score_inputs_free(in);
        clnas_net_destroy(*nn);
        clnas_net_destroy(*ln);
        *nn = *ln = NULL;
        return 2;
    }
    snprintf(src, srclen, "dump %s", from);
    return 0;
}

/* `score --arch STR`: parse it, load the data set, build the proxies and draw their inputs.
 * Returns 0, or the command's exit status after printing the error. */
static int inputs_from_data(target *t, const char *data_path, const clnas_score_opts *o, clnas_net **nn, clnas_net **ln,
                            clnas_score_inputs *in, char *src, size_t srclen)
{
    char err[1024] = "";
    const char *arch_s = t->arch_s;
    if (t->darts) {
        int rc = arch_s ? (fprintf(stderr, "clnas score: --space darts takes --genotype or --alpha, not --arch\n"), 2)
                        : darts_target(t, NULL);
        if (rc) return rc;
    } else if (t->genotype || t->alpha) {
        fprintf(stderr, "clnas score: --genotype and --alpha are DARTS states: add --space darts\n");
        return 2;
    } else if (!arch_s || !*arch_s) {
        fprintf(stderr, "clnas score: --arch is required (see clnas score --help)\n");
        return 2;
    } else if (clnas_nb201_parse(arch_s, &t->arch, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: --arch: %s\n", err);
        return 2;
    }
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(o->dataset, data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", err);
        return 1;
    }
    snprintf(src, srclen, "%s (%d images)", clnas_dataset_source(data), clnas_dataset_size(data));
    if (clnas_dataset_note(data)[0]) fprintf(stderr, "clnas score: warning: %s\n", clnas_dataset_note(data));
    clnas_status st = proxies(t, o->dataset, clnas_dataset_num_classes(data), nn, ln, err, sizeof err);
    if (st == CLNAS_OK) st = clnas_score_inputs_make(*nn, *ln, data, o, in, err, sizeof err);
    clnas_dataset_destroy(data);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", err);
        clnas_net_destroy(*nn);
        clnas_net_destroy(*ln);
        *nn = *ln = NULL;
        return st == CLNAS_E_INVALID_ARG ? 2 : 1;
    }
    return 0;
}

int clnas_cmd_score(int argc, char **argv)
{
    if (cli_argv_space_is(argc, argv, "asvit")) return clnas_cmd_score_asvit(argc, argv);
    if (clnas_proxies_wanted(argc, argv)) return clnas_cmd_score_proxies(argc, argv); /* zero-cost proxies */
    clnas_score_opts o;
    clnas_score_opts_default(&o);
    const char *arch_s = NULL, *data_path = NULL, *device = NULL, *dump = NULL, *from = NULL, *space = NULL, *devices = NULL;
    int json = 0;
    cli c;
    cli_init(&c, "score", USAGE, FOOTER);
    cli_add_space(&c, &space);
    cli_add(&c, "arch", &arch_s);
    target t;
    memset(&t, 0, sizeof t);
    cli_add(&c, "genotype", &t.genotype);
    cli_add(&c, "alpha", &t.alpha);
    cli_add_fn(&c, "metric", parse_metrics, &o.metrics, "ntk, lr or ntk,lr (default both); the zero-cost proxies\n"
                                                       "(snip, synflow, naswot, ...): see clnas score --metric all --help");
    cli_add_fn(&c, "proxy", parse_metrics, &o.metrics, "ntk or lr: only that proxy's score (the same as --metric)");
    cli_add_score_opts(&c, &o, &data_path, &device);
    cli_add(&c, "seed", &o.seed);
    cli_add_fn(&c, "init", cli_parse_init, &o.init, NULL);
    cli_add(&c, "fp64", &o.fp64_gram);
    cli_add(&c, "json", &json);
    cli_add_help(&c, "dump", &dump, "also write weights, inputs, Theta, eigenvalues, G row norms and codes to DIR\n"
                                    "(safetensors; check with tools/verify_torch.py DIR)");
    cli_add(&c, "from", &from);
    cli_add_help(&c, "devices", &devices, "spread the repeats over several devices: all, local-rank or a list (0,1); "
                                          "the same numbers as one device");
    cli_add_fn(&c, "seeds", cli_parse_deprecated_seeds, &o.seeds, NULL)->hidden = 1;
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (from) {
        /* a dump fixes what the score is computed from: a flag that would change it is refused, not ignored */
        static const char *const fixed[] = {"dataset", "data", "batch", "repeat", "lr-batch", "lr-batches", "seed", "init", "metric", "proxy"};
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            if (cli_given(&c, fixed[k])) {
                fprintf(stderr, "clnas score: --%s cannot be combined with --from: the dump %s fixes it (its value is in "
                                "%s/inputs.safetensors); leave --%s out\n", fixed[k], from, from, fixed[k]);
                return 2;
            }
    }
    t.darts = space && !strcmp(space, "darts");
    t.arch_s = arch_s;
    if (t.darts && !cli_given(&c, "batch")) o.batch = o.dataset == CLNAS_DS_IMAGENET ? 24 : 14; /* TE-NAS's DARTS batches */
    char err[1024] = "";
    clnas_score_inputs in;
    memset(&in, 0, sizeof in);
    char src[1100] = "";
    double t0 = clnas_now();
    clnas_net *nn = NULL, *ln = NULL;
    int lrc = from ? inputs_from_dump(from, &t, &o, &nn, &ln, &in, src, sizeof src)
                   : inputs_from_data(&t, data_path, &o, &nn, &ln, &in, src, sizeof src);
    if (lrc != 0) return lrc;
    double t_data = clnas_now() - t0;
    clnas_pool *pool = cli_pool_open("score", devices, device);
    clnas_ctx *ctx = pool ? clnas_pool_ctx(pool, 0) : NULL;
    if (!pool) {
        clnas_score_inputs_free(&in);
        clnas_net_destroy(nn);
        clnas_net_destroy(ln);
        return 1;
    }
    clnas_score_outputs out;
    memset(&out, 0, sizeof out);
    clnas_score_result res;
    int rc = 0;
    char archs[1400], *state = NULL;
    if (t.darts) {
        snprintf(archs, sizeof archs, "%s", t.label);
        state = clnas_darts_alpha_to_json(&t.al);
    } else {
        clnas_nb201_format(&t.arch, archs, sizeof archs);
    }
    if (dump && clnas_dump_outputs_alloc(&in, clnas_net_relu_bits(ln), &out) != CLNAS_OK) {
        fprintf(stderr, "clnas score: cannot prepare the dump: out of memory\n");
        rc = 1;
        goto done;
    }
    if (cli_score_run_pool(pool, nn, ln, &o, &in, &res, dump ? &out : NULL, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas score: %s\n", err);
        rc = 1;
        goto done;
    }
    json_t *js = clnas_score_json(archs, &o, &res, clnas_ctx_device(ctx)->name, src);
    if (!js) {
        fprintf(stderr, "clnas score: out of host memory\n");
        rc = 1;
        goto done;
    }
    if (json) {
        if (clnas_json_print(stdout, js) != 0) {
            fprintf(stderr, "clnas score: cannot write the result to standard output\n");
            rc = 1;
        }
    } else {
        print_text(t.darts, archs, &o, &res, clnas_ctx_device(ctx), src, t_data);
    }
    if (dump) {
        if (clnas_dump_save(dump, t.darts ? "darts" : "nb201", t.darts && state ? state : archs, nn, ln, &o, &in, &out, &res, js, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas score: --dump %s: %s\n", dump, err);
            rc = 1;
        } else if (!json) {
            printf("dump     %s (check it with: /usr/bin/python3 tools/verify_torch.py %s)\n", dump, dump);
        }
    }
    json_decref(js);
done:
    free(state);
    clnas_net_destroy(nn);
    clnas_net_destroy(ln);
    clnas_dump_outputs_free(&out);
    clnas_score_inputs_free(&in);
    clnas_pool_destroy(pool);
    return rc;
}
