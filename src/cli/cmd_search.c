/* cmd_search.c - `clnas search`: TE-NAS's pruning search on NAS-Bench-201, one seed or several,
 * with the found architectures' ground-truth accuracies from the bundled benchmark table. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli/cli.h"
#include "clnas/bench201.h"
#include "clnas/search.h"
#include "internal.h"

static void help(FILE *f)
{
    fprintf(f,
"usage: clnas search [--space nb201] [options]\n"
"\n"
"Runs TE-NAS's pruning search on NAS-Bench-201: from the supernet (none removed), each round\n"
"scores every remaining (edge, op) by the relative change of the NTK condition number and of\n"
"the number of linear regions when that op alone is removed, ranks both, and prunes the op with\n"
"the lowest rank sum on every edge, until one op per edge is left. Prints the found architecture,\n"
"its NB201 test accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120, and the wall time.\n"
"\n"
"  --dataset NAME      images the scores are computed on: cifar10 (default; the bundled subset),\n"
"                      cifar100 or imagenet16 (need --data)\n"
"  --data PATH         training data file or folder (see clnas score --help)\n"
"  --seed S            seed of weights and data (default 0)\n"
"  --seeds A-B         run one search per seed A..B and report mean and std of the accuracies\n"
"  --out DIR           write DIR/search_seedS.json (result) and DIR/trace_seedS.jsonl (every candidate\n"
"                      and round, as they finish) and DIR/search.json (summary). Rerunning resumes:\n"
"                      seeds whose result file exists are not searched again, and an interrupted\n"
"                      seed continues after the last candidate in its trace\n"
"  --batch B           NTK batch (default 72)     --repeat K   repeats (default 3)\n"
"  --lr-batch N        patches per batch (1000)   --lr-batches N  batches per R (3)\n"
"  --seeds-in-flight N NTK backward seeds run together (default: fit memory)\n"
"  --shared-batches    a DEPARTURE from the original TE-NAS procedure (not the default) that\n"
"                      saves about half the work. The original draws a fresh NTK batch and the\n"
"                      next patches for every candidate and repeat, scores the current network\n"
"                      again on each, and gives each candidate fresh linear-region weights. With\n"
"                      this option each round draws K NTK batches and K patch sets once, every\n"
"                      candidate's repeat r uses batch r and patch set r, the current network's\n"
"                      kappa and R are computed once per batch per round and shared, and the\n"
"                      linear-region nets get one set of weights per round (shared by the current\n"
"                      net and all candidates, so R_cur and R_cand still use the same weights).\n"
"                      kappa and R evaluations: K x (candidates + rounds) instead of\n"
"                      2 x K x candidates each (171 instead of 324 with the defaults). The mode is\n"
"                      recorded in every file written; one --out folder cannot mix the two modes\n"
"  --device D          device index or name part (env CLNAS_DEVICE)\n"
"  --json              print the summary as JSON\n"
"  --quiet             no progress on stderr (progress is shown only on a terminal anyway)\n"
"\n"
"Published TE-NAS (CIFAR-10 search, NB201): 93.9 +- 0.47 / 71.24 +- 0.56 / 42.38 +- 0.46.\n");
}

typedef struct run_result {
    int seed;
    char arch[512];
    double acc[3];
    double wall_s;
    int candidates, undefined;
    long kappa_evals, regions_evals; /* -1: unknown (a result file of an older clnas) */
    double kappa_gflop;              /* -1: unknown */
    int found_in_table;
} run_result;

static void write_run_json(FILE *f, const run_result *r, const clnas_search_opts *o, const char *device, const char *src)
{
    fprintf(f, "{\"arch\": \"%s\", \"seed\": %d, \"dataset\": \"%s\", \"data\": \"%s\", \"device\": \"%s\", \"wall_s\": %.3f, "
               "\"accuracy\": {", r->arch, r->seed, clnas_dataset_name(o->score.dataset), src, device, r->wall_s);
    const char *names[3] = {"cifar10", "cifar100", "imagenet16"};
    for (int c = 0; c < 3; c++) {
        fprintf(f, "%s\"%s\": ", c ? ", " : "", names[c]);
        if (isfinite(r->acc[c])) fprintf(f, "%.4f", r->acc[c]);
        else fputs("null", f);
    }
    fprintf(f, "}, \"candidates\": %d, \"kappa_undefined\": %d, ", r->candidates, r->undefined);
    /* evaluations done by the run that wrote the result (a resumed seed: those after the resume) */
    if (r->kappa_evals >= 0) fprintf(f, "\"kappa_evals\": %ld, \"regions_evals\": %ld, ", r->kappa_evals, r->regions_evals);
    else fputs("\"kappa_evals\": null, \"regions_evals\": null, ", f);
    if (r->kappa_gflop >= 0) fprintf(f, "\"kappa_gflop\": %.1f, ", r->kappa_gflop);
    fprintf(f, "\"settings\": {\"batches\": \"%s\", \"batch\": %d, \"repeats\": %d, \"lr_samples\": %d, \"prune_number\": %d}}",
            clnas_search_batches_name(o->shared_batches), o->score.batch, o->score.repeats,
            o->score.lr_batch * o->score.lr_batches, o->prune_number);
}

/* Reads back a result file this command wrote (resume of --seeds runs); *shared gets the mode
 * it was searched in (a file without the field predates the mode: the original procedure). */
static int read_run_json(const char *path, run_result *r, int *shared)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *a = strstr(buf, "\"arch\": \""), *w = strstr(buf, "\"wall_s\": "), *c = strstr(buf, "\"candidates\": ");
    char *u = strstr(buf, "\"kappa_undefined\": ");
    if (!a || !w || !c || !u) return 0;
    a += 9;
    char *end = strchr(a, '"');
    if (!end || (size_t)(end - a) >= sizeof r->arch) return 0;
    memcpy(r->arch, a, (size_t)(end - a));
    r->arch[end - a] = 0;
    r->wall_s = strtod(w + 10, NULL);
    r->candidates = atoi(c + 14);
    r->undefined = atoi(u + 19);
    char *ke = strstr(buf, "\"kappa_evals\": "), *re = strstr(buf, "\"regions_evals\": ");
    r->kappa_evals = ke && re && strncmp(ke + 15, "null", 4) ? strtol(ke + 15, NULL, 10) : -1;
    r->regions_evals = r->kappa_evals >= 0 ? strtol(re + 17, NULL, 10) : -1;
    char *kg = strstr(buf, "\"kappa_gflop\": ");
    r->kappa_gflop = kg ? strtod(kg + 15, NULL) : -1;
    char *b = strstr(buf, "\"batches\": \"");
    *shared = b && !strncmp(b + 12, "shared\"", 7);
    return 1;
}

static void lookup(const clnas_nb201_table *t, run_result *r)
{
    int row = -1;
    char err[256];
    r->acc[0] = r->acc[1] = r->acc[2] = NAN;
    r->found_in_table = 0;
    if (t && clnas_nb201_table_find(t, r->arch, &row, err, sizeof err) == CLNAS_OK && row >= 0) {
        const clnas_nb201_row *w = clnas_nb201_table_row(t, row);
        r->acc[0] = w->cifar10;
        r->acc[1] = w->cifar100;
        r->acc[2] = w->imagenet16;
        r->found_in_table = 1;
    }
}

int clnas_cmd_search(int argc, char **argv)
{
    clnas_search_opts o;
    clnas_search_opts_default(&o);
    const char *data_path = NULL, *device = NULL, *out = NULL, *v;
    long n, s0 = 0, s1 = 0;
    int json = 0, have_seeds = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--space"))) {
            if (strcmp(v, "nb201")) { fprintf(stderr, "clnas search: --space %s is not implemented; only nb201 is (the DARTS space is not available yet)\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--dataset"))) {
            if (clnas_dataset_parse_kind(v, &o.score.dataset) != CLNAS_OK) { fprintf(stderr, "clnas search: --dataset expects cifar10, cifar100 or imagenet16 (got \"%s\")\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--data"))) data_path = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) device = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--out"))) out = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds-in-flight"))) { if (!clnas_cli_int("--seeds-in-flight", v, 1, 100000, &n)) return 2; o.score.seeds = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds"))) {
            char *dash = strchr(v, '-');
            char a[32], b[32];
            if (!dash || dash == v || (size_t)(dash - v) >= sizeof a || strlen(dash + 1) >= sizeof b) { fprintf(stderr, "clnas search: --seeds expects A-B, e.g. 0-9 (got \"%s\")\n", v); return 2; }
            memcpy(a, v, (size_t)(dash - v));
            a[dash - v] = 0;
            strcpy(b, dash + 1);
            if (!clnas_cli_int("--seeds", a, 0, 2147483647L, &s0) || !clnas_cli_int("--seeds", b, s0, 2147483647L, &s1)) return 2;
            have_seeds = 1;
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seed"))) { if (!clnas_cli_int("--seed", v, 0, 2147483647L, &s0)) return 2; s1 = s0; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--batch"))) { if (!clnas_cli_int("--batch", v, 2, 100000, &n)) return 2; o.score.batch = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--repeat"))) { if (!clnas_cli_int("--repeat", v, 1, CLNAS_MAX_REPEATS, &n)) return 2; o.score.repeats = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--lr-batch"))) { if (!clnas_cli_int("--lr-batch", v, 1, 1000000, &n)) return 2; o.score.lr_batch = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--lr-batches"))) { if (!clnas_cli_int("--lr-batches", v, 1, 1000, &n)) return 2; o.score.lr_batches = (int)n; }
        else if (!strcmp(argv[i], "--shared-batches")) o.shared_batches = 1;
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--quiet")) o.quiet = 1;
        else { fprintf(stderr, "clnas search: unknown option \"%s\" (see clnas search --help)\n", argv[i]); return 2; }
    }
    (void)have_seeds;
    char err[1024] = "";
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(o.score.dataset, data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", err);
        return 1;
    }
    clnas_nb201_table *table = NULL;
    if (clnas_nb201_table_load(NULL, &table, err, sizeof err) != CLNAS_OK)
        fprintf(stderr, "clnas search: warning: no NB201 accuracy table (%s); accuracies will be missing\n", err);
    if (out && mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "clnas search: cannot create %s: %s\n", out, strerror(errno));
        clnas_dataset_destroy(data);
        clnas_nb201_table_destroy(table);
        return 1;
    }
    clnas_ctx *ctx = NULL;
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        clnas_nb201_table_destroy(table);
        return 1;
    }
    const char *devname = clnas_ctx_device(ctx)->name;
    char src[1100];
    snprintf(src, sizeof src, "%s", clnas_dataset_source(data));
    int nruns = (int)(s1 - s0 + 1), rc = 0, done = 0;
    run_result *runs = calloc((size_t)nruns, sizeof *runs);
    if (!runs) { fprintf(stderr, "clnas search: out of memory\n"); rc = 1; goto end; }
    if (!json)
        printf("TE-NAS search on NAS-Bench-201: %s images (%s), device %s; batch %d, %d repeats, %d patches per R; %s\n",
               clnas_dataset_name(o.score.dataset), src, devname, o.score.batch, o.score.repeats, o.score.lr_batch * o.score.lr_batches,
               o.shared_batches ? "shared batches per round (--shared-batches: departs from TE-NAS)"
                                : "fresh batches per candidate (TE-NAS's procedure)");
    for (int k = 0; k < nruns; k++) {
        run_result *r = &runs[k];
        r->seed = (int)(s0 + k);
        char path[4096], tpath[4096], label[64];
        if (out) {
            snprintf(path, sizeof path, "%s/search_seed%d.json", out, r->seed);
            snprintf(tpath, sizeof tpath, "%s/trace_seed%d.jsonl", out, r->seed);
            int was_shared = 0;
            if (read_run_json(path, r, &was_shared)) {
                if (was_shared != o.shared_batches) {
                    fprintf(stderr, "clnas search: %s was searched with %s batches, this run asks for %s batches (%s); "
                                    "one --out folder cannot mix the two modes: rerun %s--shared-batches, or use another --out\n",
                            path, clnas_search_batches_name(was_shared), clnas_search_batches_name(o.shared_batches),
                            o.shared_batches ? "--shared-batches given" : "no --shared-batches", was_shared ? "with " : "without ");
                    rc = 1;
                    goto end; /* no summary either: it would overwrite the folder's with a part of it */
                }
                lookup(table, r);
                if (!json) printf("seed %d: %s (from %s)\n", r->seed, r->arch, path);
                done++;
                continue;
            }
        }
        o.score.seed = (uint64_t)r->seed;
        snprintf(label, sizeof label, "seed %d (%d/%d)", r->seed, k + 1, nruns);
        o.progress_label = label;
        /* an interrupted search of this seed: reuse every candidate its trace holds */
        clnas_candidate *old = NULL;
        int *old_round = NULL, nold = 0;
        if (out && clnas_search_load_trace(tpath, &old, &old_round, &nold) == CLNAS_OK && nold > 0) {
            int was_shared = 0;
            clnas_status ts = clnas_search_trace_mode(tpath, &was_shared);
            if (ts != CLNAS_OK || was_shared != o.shared_batches) {
                if (ts != CLNAS_OK)
                    fprintf(stderr, "clnas search: cannot tell which mode %s was written in (%s); not resuming it\n", tpath,
                            clnas_status_str(ts));
                else
                    fprintf(stderr, "clnas search: %s holds %d candidates scored with %s batches, this run asks for %s batches "
                                    "(%s); a search cannot mix the two modes: rerun %s--shared-batches to resume it, or use "
                                    "another --out\n",
                            tpath, nold, clnas_search_batches_name(was_shared), clnas_search_batches_name(o.shared_batches),
                            o.shared_batches ? "--shared-batches given" : "no --shared-batches", was_shared ? "with " : "without ");
                free(old);
                free(old_round);
                rc = 1;
                goto end;
            }
            o.resume_shared_batches = was_shared;
            if (!json) printf("seed %d: resuming from %s (%d candidates already scored)\n", r->seed, tpath, nold);
        }
        o.resume = old;
        o.resume_round = old_round;
        o.nresume = nold;
        o.trace = out ? fopen(tpath, "w") : NULL;
        if (out && !o.trace) fprintf(stderr, "clnas search: cannot write %s: %s\n", tpath, strerror(errno));
        clnas_search_result sr;
        clnas_status st = clnas_search_nb201(ctx, data, &o, &sr);
        if (o.trace) fclose(o.trace);
        o.trace = NULL;
        free(old);
        free(old_round);
        o.resume = NULL;
        o.resume_round = NULL;
        o.nresume = 0;
        if (st != CLNAS_OK) {
            fprintf(stderr, "clnas search: seed %d: %s\n", r->seed, clnas_ctx_errmsg(ctx));
            rc = 1;
            break;
        }
        clnas_nb201_format(&sr.arch, r->arch, sizeof r->arch);
        r->wall_s = sr.wall_s;
        r->candidates = sr.candidates;
        r->undefined = sr.kappa_undefined;
        r->kappa_evals = sr.kappa_evals;
        r->regions_evals = sr.regions_evals;
        r->kappa_gflop = sr.kappa_gflop;
        lookup(table, r);
        done++;
        if (out) {
            char tmp[4200];
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            FILE *f = fopen(tmp, "w");
            if (f) {
                write_run_json(f, r, &o, devname, src);
                fputc('\n', f);
                if (fclose(f) == 0) rename(tmp, path);
            }
        }
        if (!json) {
            printf("seed %d: %s\n", r->seed, r->arch);
            if (r->found_in_table)
                printf("  NB201 test accuracy: CIFAR-10 %.2f  CIFAR-100 %.2f  ImageNet16-120 %.2f\n", r->acc[0], r->acc[1], r->acc[2]);
            printf("  wall time %.1f s, %d candidates, %ld kappa and %ld R evaluations", r->wall_s, r->candidates,
                   r->kappa_evals, r->regions_evals);
            if (r->undefined) printf(", %d undefined kappa counted as 1e5 (as the original does for NaN)", r->undefined);
            printf("\n");
            if (r->kappa_evals > 0 && r->wall_s > 0)
                printf("  NTK work %.2f TFLOP (convolutions, linear layers, Gram), %.1f GFLOP/s over the whole wall time\n",
                       r->kappa_gflop / 1e3, r->kappa_gflop / r->wall_s);
        }
    }
    if (done == 0) goto end;
    double mean[3] = {0, 0, 0}, sd[3] = {0, 0, 0}, wall = 0;
    int nacc = 0;
    for (int k = 0; k < done; k++) {
        wall += runs[k].wall_s;
        if (!runs[k].found_in_table) continue;
        nacc++;
        for (int c = 0; c < 3; c++) mean[c] += runs[k].acc[c];
    }
    for (int c = 0; c < 3; c++) mean[c] = nacc ? mean[c] / nacc : NAN;
    for (int k = 0; k < done; k++)
        if (runs[k].found_in_table)
            for (int c = 0; c < 3; c++) sd[c] += (runs[k].acc[c] - mean[c]) * (runs[k].acc[c] - mean[c]);
    for (int c = 0; c < 3; c++) sd[c] = nacc ? sqrt(sd[c] / nacc) : NAN;
    FILE *sf = NULL;
    char spath[4096];
    if (out) {
        snprintf(spath, sizeof spath, "%s/search.json", out);
        sf = fopen(spath, "w");
    }
    for (int pass = 0; pass < 2; pass++) {
        FILE *f = pass == 0 ? (json ? stdout : NULL) : sf;
        if (!f) continue;
        fprintf(f, "{\"space\": \"nb201\", \"batches\": \"%s\", \"dataset\": \"%s\", \"device\": \"%s\", \"n\": %d, "
                   "\"wall_s\": %.3f, \"runs\": [",
                clnas_search_batches_name(o.shared_batches), clnas_dataset_name(o.score.dataset), devname, done, wall / done);
        for (int k = 0; k < done; k++) {
            if (k) fputs(", ", f);
            write_run_json(f, &runs[k], &o, devname, src);
        }
        fputs("], \"mean\": {", f);
        const char *names[3] = {"cifar10", "cifar100", "imagenet16"};
        for (int c = 0; c < 3; c++) fprintf(f, "%s\"%s\": %.4f", c ? ", " : "", names[c], mean[c]);
        fputs("}, \"std\": {", f);
        for (int c = 0; c < 3; c++) fprintf(f, "%s\"%s\": %.4f", c ? ", " : "", names[c], sd[c]);
        fprintf(f, "}, \"accuracy\": {\"cifar10\": %.4f, \"cifar100\": %.4f, \"imagenet16\": %.4f}}\n", mean[0], mean[1], mean[2]);
    }
    if (sf) fclose(sf);
    if (!json && done > 1)
        printf("\n%d searches: CIFAR-10 %.2f +- %.2f  CIFAR-100 %.2f +- %.2f  ImageNet16-120 %.2f +- %.2f (std over runs, ddof 0);"
               " mean wall time %.1f s\nTE-NAS (paper): 93.9 +- 0.47, 71.24 +- 0.56, 42.38 +- 0.46\n",
               nacc, mean[0], sd[0], mean[1], sd[1], mean[2], sd[2], wall / done);
end:
    free(runs);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    clnas_nb201_table_destroy(table);
    return rc;
}
