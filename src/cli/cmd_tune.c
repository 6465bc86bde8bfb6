/* cmd_tune.c - `clnas tune`: finds, for one device, the CLBlast single-precision GEMM parameters
 * that are fastest on the GEMMs clnas runs and how many NTK backward seeds to run at once, and
 * stores them in the device's tuning file, which every later context on that device applies.
 * The search is the library's (src/bench/tune*.c, through bench/bench.h); this file parses the
 * options, shows the progress and prints the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench.h"
#include "cli/cli.h"
#include "report/json.h"

static void log_stderr(void *ud, const char *line)
{
    (void)ud;
    fprintf(stderr, "%s\n", line);
}

/* "1,2,4" -> sorted distinct seed counts in [1, CLNAS_TUNE_BATCH] into o; 0 on anything else. */
static int parse_seed_list(const char *v, clnas_tune_opts *o)
{
    int *S = o->seed_counts, n = 0;
    const char *p = v;
    while (*p) {
        char *end = NULL;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > CLNAS_TUNE_BATCH || n >= CLNAS_TUNE_MAX_COUNTS || (*end && *end != ',')) return 0;
        int at = n;
        while (at > 0 && S[at - 1] > x) at--;
        if (at > 0 && S[at - 1] == x) return 0;
        memmove(S + at + 1, S + at, (size_t)(n - at) * sizeof *S);
        S[at] = (int)x;
        n++;
        p = *end ? end + 1 : end;
        if (*end && !*p) return 0;
    }
    o->nseed_counts = n;
    return n > 0;
}

static int parse_counts(const char *cmd, const char *opt, const char *val, void *ud)
{
    if (parse_seed_list(val, ud)) return 1;
    fprintf(stderr, "clnas %s: %s expects distinct counts in [1, %d] separated by commas, got \"%s\"\n", cmd, opt,
            CLNAS_TUNE_BATCH, val);
    return 0;
}

/* The old spelling --seeds LIST: the same, with a deprecation warning (--seeds now means a range
 * of random seeds everywhere, which tune does not repeat over). */
static int parse_old_counts(const char *cmd, const char *opt, const char *val, void *ud)
{
    if (strchr(val, '-')) {
        fprintf(stderr, "clnas %s: %s A-B (a range of random seeds) is not something tune repeats over; "
                        "--seed-counts LIST sets the seeds-in-flight counts to time\n", cmd, opt);
        return 0;
    }
    if (!parse_counts(cmd, opt, val, ud)) return 0;
    fprintf(stderr, "clnas %s: warning: %s LIST is the old spelling of --seed-counts LIST (--seeds now means a range "
                    "of random seeds, as in clnas search); it still works for now\n", cmd, opt);
    return 1;
}

static const char USAGE[] =
"usage: clnas tune [--device D] [--quick] [--json] [--reset] [--repeat N] [--budget SECONDS]\n"
"                  [--seed-counts LIST | --no-seeds] [--kernels-only | --no-kernels] [--kernel-batch B]\n"
"\n"
"Tunes one OpenCL device for clnas and stores the result in its tuning file\n"
"(<cache>/tune/, next to the program cache: $CLNAS_CACHE_DIR, else $XDG_CACHE_HOME/clnas,\n"
"else ~/.cache/clnas), which every later run on that device applies when it opens it:\n"
"\n"
"  GEMM: CLBlast's single-precision GEMM kernel parameters (kernels Xgemm and XgemmDirect,\n"
"        and the size at which CLBlast switches between them), searched over a short list\n"
"        of candidates on the shapes clnas runs: the NTK Gram matrix Theta = G G^T\n"
"        (72 x 72 x P, B transposed, P = 14364 for the proxy supernet and 11382 for a\n"
"        single path) and a 1024^3 square for reference. Before/after GFLOP/s per shape\n"
"        are reported; when the best is not at least 5% faster than CLBlast's own\n"
"        parameters, the file says so and CLBlast's are kept.\n"
"  kernels: which variant of the kernels that come in two shapes runs (BN backward, the\n"
"        specialised convolutions, the pooling row kernels, the depthwise and max-pool\n"
"        backward): CPU-shaped (each work-item streams a contiguous run, small groups) or\n"
"        GPU-shaped (neighbouring work-items read neighbouring addresses, groups of\n"
"        64-256). One kappa of the proxy supernet at batch 72 (--kernel-batch B) is timed\n"
"        under each (a warm-up each, then 4 rounds, --quick 2, --repeat N sets them,\n"
"        alternating the order, and only one when a variant takes over 3x the other's\n"
"        time; medians of wall time; the process's CPU time is shown too) and the faster\n"
"        is stored as kernels=cpu|gpu; when the two are within 2% the default rule's\n"
"        variant is stored. Both kappas must agree (else: an error).\n"
"  seeds: how many NTK backward passes run at once (the activation-gradient budget that\n"
"        sets the seeds in flight), from one kappa of the proxy supernet and of a single\n"
"        path timed for S = 1, 2, 3, 4, 6, 8, 12 (and more on GPUs).\n"
"\n"
"It takes a few minutes on a 2-core CPU: each GEMM candidate is a new OpenCL build, and\n"
"no new build starts after the build budget; candidates left out are listed, and a rerun\n"
"gets further (the OpenCL compiler caches what was built). --quick tries fewer candidates\n"
"and seed counts.\n";

static const char FOOTER[] =
"Precedence when a context opens a device: its tuning file, else clnas's shipped default\n"
"for that kind of device (`clnas devices` shows which), else CLBlast's own database.\n"
"Kernel variant: CLNAS_KERNEL_VARIANT=cpu|gpu, else the tuning's kernels= choice, else the\n"
"default rule (CPU devices: cpu-shaped, all others: gpu-shaped); `clnas bench` says which ran.\n"
"A tuning file without a kernels= line (written by an older clnas) keeps the default rule.\n"
"--kernels-only is the short tune for slow devices: the GEMM parameters and seed budget of\n"
"the current tuning (file, else shipped default) are kept and written back with the choice.\n"
"CLNAS_TUNE=off applies none of them (for A/B comparisons); CLNAS_SEEDS=S and an explicit\n"
"seed count (--seeds-in-flight) still override the seed budget.\n"
"--seeds LIST, the old spelling of --seed-counts LIST, still works (with a warning).\n";

typedef struct tune_args {
    const char *device;
    int quick, json, reset, no_seeds, no_kernels, kernels_only, kernel_batch, reps, budget;
    clnas_tune_opts o;
} tune_args;

/* 0: parsed; otherwise 100 + the exit status (0 after --help, 2 for a usage error). */
static int parse(int argc, char **argv, tune_args *a)
{
    cli c;
    cli_init(&c, "tune", USAGE, FOOTER);
    cli_add_help(&c, "device", &a->device, "index from `clnas devices` or part of a device name (default as usual)");
    cli_add_help(&c, "quick", &a->quick, "fewer candidates and seed counts, fewer repeats");
    cli_add_help(&c, "budget", &a->budget, "no new GEMM build starts after S seconds (default 240; --quick 60)");
    cli_opt *o = cli_add_help(&c, "repeat", &a->reps, "timed repeats per measurement, median reported (default 5; --quick 3)");
    o->lo = 1;
    o->hi = 100;
    cli_add_fn(&c, "seed-counts", parse_counts, &a->o, "seed counts to time, e.g. 2,4,8 (default 1,2,3,4,6,8,12, on GPUs\n"
                                                       "also 24,36,72; --quick 2,4,8)");
    cli_add_help(&c, "no-seeds", &a->no_seeds, "no seed sweep; the seed budget of the current tuning (if any) is kept");
    cli_add_help(&c, "kernels-only", &a->kernels_only, "time the kernel variants only; GEMM and seed budget are kept");
    cli_add_help(&c, "no-kernels", &a->no_kernels, "no kernel-variant timing; the current tuning's choice is kept");
    o = cli_add_help(&c, "kernel-batch", &a->kernel_batch, "batch of the kappas the kernel variants are timed on (default 72;\n"
                                                           "smaller: a shorter tune on slow devices)");
    o->lo = 2;
    o->hi = 1024;
    cli_add_help(&c, "json", &a->json, "print the result as one JSON object");
    cli_add_help(&c, "reset", &a->reset, "delete the device's tuning file (shipped defaults apply again)");
    cli_add_fn(&c, "seeds", parse_old_counts, &a->o, NULL)->hidden = 1;
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return 100 + (pr == CLI_HELP ? 0 : 2);
    if (a->no_seeds && a->o.nseed_counts) {
        fprintf(stderr, "clnas tune: --seed-counts and --no-seeds contradict each other\n");
        return 102;
    }
    if (a->no_kernels && a->kernel_batch) {
        fprintf(stderr, "clnas tune: --kernel-batch and --no-kernels contradict each other\n");
        return 102;
    }
    if (a->kernels_only && (a->no_kernels || a->o.nseed_counts || a->no_seeds || a->budget >= 0)) {
        fprintf(stderr, "clnas tune: --kernels-only times the kernel variants alone; it does not go with %s\n",
                a->no_kernels ? "--no-kernels" : a->budget >= 0 ? "--budget" : "--seed-counts or --no-seeds");
        return 102;
    }
    return 0;
}

static int do_reset(clnas_ctx *ctx, int json)
{
    const clnas_device_info *d = clnas_ctx_device(ctx);
    char path[1200], why[512];
    int removed = 0;
    clnas_status st = clnas_tune_delete(d, path, sizeof path, &removed, why, sizeof why);
    if (st == CLNAS_E_UNSUPPORTED) {
        fprintf(stderr, "clnas tune: %s: nothing to reset\n", why);
        return 1;
    }
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas tune: %s\n", why);
        return 1;
    }
    if (json) {
        json_t *js = json_pack("{s:o, s:i, s:o, s:b}", "device", clnas_json_str(d->name), "device_index", d->index,
                               "tuning_file", clnas_json_str(path), "removed", removed);
        const int ok = clnas_json_print(stdout, js) == 0;
        json_decref(js);
        if (!ok) fprintf(stderr, "clnas tune: cannot write the result to standard output\n");
        return ok ? 0 : 1;
    }
    printf("device %d (%s): %s %s\n", d->index, d->name, removed ? "removed" : "no tuning file at", path);
    return 0;
}

/* ---------------- the report ---------------- */

static json_t *json_params(const char *const *names, const size_t *v, int n)
{
    json_t *o = json_object();
    for (int i = 0; o && i < n; i++)
        if (json_object_set_new(o, names[i], json_integer((json_int_t)v[i])) != 0) o = (json_decref(o), NULL);
    return o;
}

static json_t *json_chosen(const clnas_tune_result *r)
{
    if (r->win < 0) return json_null();
    return json_pack("{s:s, s:o, s:o, s:I}", "gram_kernel", r->gram_kernel, "xgemm",
                     json_params(clnas_tune_xgemm_names, r->best.xgemm, CLNAS_TUNE_NX), "xgemm_direct",
                     json_params(clnas_tune_direct_names, r->best.direct, CLNAS_TUNE_ND), "xgemm_min_indirect_size",
                     (json_int_t)r->best.min_indirect);
}

static json_t *json_cands(const clnas_tune_result *r)
{
    json_t *a = json_array();
    for (int i = 0; a && i < r->ncands; i++) {
        const clnas_tune_cand *c = &r->cands[i];
        json_t *e = json_pack("{s:s, s:o, s:o, s:I, s:o, s:[o, o], s:o, s:o}", "kernel", c->kind == 'x' ? "Xgemm" : "XgemmDirect",
                              "from", clnas_json_str(c->from), "params",
                              c->kind == 'x' ? json_params(clnas_tune_xgemm_names, c->t.xgemm, CLNAS_TUNE_NX)
                                             : json_params(clnas_tune_direct_names, c->t.direct, CLNAS_TUNE_ND),
                              "xgemm_min_indirect_size", (json_int_t)c->t.min_indirect, "square_gflops", clnas_json_num(c->sq),
                              "gram_gflops", clnas_json_num(c->gram[0]), clnas_json_num(c->gram[1]), "build_s",
                              clnas_json_num(c->build_s), "problem", c->why[0] ? clnas_json_str(c->why) : json_null());
        if (!e || json_array_append_new(a, e) != 0) a = (json_decref(a), NULL);
    }
    return a;
}

static json_t *json_seeds(const clnas_tune_result *r)
{
    if (!r->seeds_done) return json_null();
    json_t *tested = json_array(), *nets = json_array();
    for (int i = 0; tested && i < r->ncounts; i++)
        if (json_array_append_new(tested, json_integer(r->counts[i])) != 0) tested = (json_decref(tested), NULL);
    for (int n = 0; nets && n < 2; n++) {
        const clnas_tune_seed_net *sn = &r->nets[n];
        json_t *e = json_pack("{s:s, s:s, s:I, s:o, s:i, s:i}", "what", sn->what, "arch", sn->arch, "per_seed_bytes",
                              (json_int_t)sn->per_seed, "kappa_seconds", clnas_json_nums(sn->t, r->ncounts), "best_seeds",
                              r->counts[sn->best], "budget_seeds", sn->budget_seeds);
        if (!e || json_array_append_new(nets, e) != 0) nets = (json_decref(nets), NULL);
    }
    return json_pack("{s:o, s:i, s:i, s:o, s:I, s:o}", "tested", tested, "batch", CLNAS_TUNE_BATCH, "rounds",
                     r->seed_rounds, "nets", nets, "budget_bytes", (json_int_t)r->budget_bytes, "worst_ratio_to_best",
                     clnas_json_num(r->seed_worst));
}

static json_t *json_kernels(const clnas_tune_result *r)
{
    if (!r->kernels_done)
        return json_pack("{s:s, s:b}", "chosen", r->best.kernels == CLNAS_KERNELS_CPU ? "cpu"
                                                 : r->best.kernels == CLNAS_KERNELS_GPU ? "gpu" : "default rule",
                         "measured", 0);
    return json_pack("{s:s, s:s, s:b, s:i, s:i, s:i, s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o}}", "chosen",
                     r->best.kernels == CLNAS_KERNELS_CPU ? "cpu" : "gpu", "default_rule",
                     r->kernel_rule == CLNAS_KERNELS_CPU ? "cpu" : "gpu", "measured", 1, "batch", r->kernel_batch,
                     "seeds", r->kernel_seeds, "rounds", r->kernel_rounds, "cpu", "seconds", clnas_json_num(r->kernel_s[0]),
                     "cpu_seconds", clnas_json_num(r->kernel_cpu_s[0]), "kappa", clnas_json_num(r->kernel_kappa[0]), "gpu",
                     "seconds", clnas_json_num(r->kernel_s[1]), "cpu_seconds", clnas_json_num(r->kernel_cpu_s[1]), "kappa",
                     clnas_json_num(r->kernel_kappa[1]));
}

static int print_json(const clnas_device_info *d, const clnas_tune_result *r)
{
    json_t *shapes = r->gemm_done ? json_array() : json_null();
    for (int s = 0; r->gemm_done && shapes && s < 3; s++) {
        const clnas_tune_shape *h = &r->shapes[s];
        json_t *e = json_pack("{s:s, s:I, s:I, s:I, s:i, s:o, s:o}", "name", h->key, "m", (json_int_t)h->m, "n",
                              (json_int_t)h->n, "k", (json_int_t)h->k, "trans_b", h->trans_b, "clblast_gflops",
                              clnas_json_num(h->before), "tuned_gflops", clnas_json_num(h->after));
        if (!e || json_array_append_new(shapes, e) != 0) shapes = (json_decref(shapes), NULL);
    }
    json_t *js = json_pack("{s:o, s:i, s:s, s:o, s:o, s:s, s:s, s:i, s:i, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "device",
                           clnas_json_str(d->name), "device_index", d->index, "device_type", d->type, "platform",
                           clnas_json_str(d->platform_name), "driver", clnas_json_str(d->driver_version), "clblast",
                           clnas_clblast_version(), "mode", r->quick ? "quick" : "full", "repeats", r->reps, "gram_turns",
                           r->rounds, "tuning_file", r->stored ? clnas_json_str(r->path) : json_null(), "gemm",
                           r->tuned ? "tuned" : "default", "gram_gain", clnas_json_num(r->gram_gain), "shapes", shapes,
                           "chosen", json_chosen(r), "candidates", json_cands(r), "seeds", json_seeds(r), "seconds",
                           clnas_json_num(r->seconds));
    if (js && (json_object_set_new(js, "kernels", json_kernels(r)) != 0 ||
               json_object_set_new(js, "gemm_searched", json_boolean(r->gemm_done)) != 0))
        js = (json_decref(js), NULL);
    const int ok = clnas_json_print(stdout, js) == 0;
    json_decref(js);
    if (!ok) fprintf(stderr, "clnas tune: cannot write the result (out of memory, or standard output failed)\n");
    return ok;
}

static void print_params(const char *const *names, const size_t *v, int n)
{
    for (int i = 0; i < n; i++) printf("%s%s=%zu", i ? " " : "", names[i], v[i]);
}

static void print_seeds(const clnas_tune_result *r)
{
    const clnas_tune_seed_net *n = r->nets;
    printf("\nseeds in flight, one kappa at batch %d (seconds, median of %d round%s):\n%-16s", CLNAS_TUNE_BATCH,
           r->seed_rounds, r->seed_rounds > 1 ? "s" : "", "S");
    for (int i = 0; i < r->ncounts; i++) printf(" %7d", r->counts[i]);
    for (int j = 0; j < 2; j++) {
        printf("\n%-16s", n[j].what);
        for (int i = 0; i < r->ncounts; i++) printf(" %7.3f", n[j].t[i]);
    }
    printf("\nbudget %.1f MiB of activation gradients -> supernet %d seeds (best measured %d), single path %d "
           "(best %d); at worst %.1f%% slower than a net's best\n",
           r->budget_bytes / 1048576.0, n[0].budget_seeds, r->counts[n[0].best], n[1].budget_seeds, r->counts[n[1].best],
           100 * (r->seed_worst - 1));
}

static void print_kernels(const clnas_tune_result *r)
{
    if (!r->kernels_done) {
        printf("\nkernel variant: not timed (--no-kernels): %s kept\n", clnas_kernels_name(r->best.kernels));
        return;
    }
    printf("\nkernel variant, one supernet kappa at batch %d, S = %d (median of %d round%s):\n", r->kernel_batch,
           r->kernel_seeds, r->kernel_rounds, r->kernel_rounds > 1 ? "s" : "");
    for (int i = 0; i < 2; i++)
        printf("  %-11s %8.3f s wall %8.3f s CPU   kappa %.6g%s\n", clnas_kernels_name(i ? CLNAS_KERNELS_GPU : CLNAS_KERNELS_CPU),
               r->kernel_s[i], r->kernel_cpu_s[i], r->kernel_kappa[i],
               r->kernel_rule == (i ? CLNAS_KERNELS_GPU : CLNAS_KERNELS_CPU) ? "   (the default rule's)" : "");
    const double lo = r->kernel_s[0] < r->kernel_s[1] ? r->kernel_s[0] : r->kernel_s[1];
    const double hi = r->kernel_s[0] < r->kernel_s[1] ? r->kernel_s[1] : r->kernel_s[0];
    printf("-> kernels=%s: %s\n", r->best.kernels == CLNAS_KERNELS_CPU ? "cpu" : "gpu",
           hi < lo * 1.02 ? "within 2%, the default rule's variant" : "the faster");
}

static void print_text(const clnas_device_info *d, const clnas_tune_result *r)
{
    printf("device %d: %s (%s), CLBlast %s\n", d->index, d->name, d->type, clnas_clblast_version());
    if (r->gemm_done) {
        printf("GEMM: medians of %d runs after a warm-up; Gram shapes: median of %d such turns\n\n", r->reps, r->rounds);
        printf("%-34s %14s %14s %8s\n", "SGEMM (GFLOP/s)", "CLBlast's own", "tuned", "gain");
        for (int s = 0; s < 3; s++)
            printf("%-34s %14.1f %14.1f %7.2fx\n", r->shapes[s].name, r->shapes[s].before, r->shapes[s].after,
                   r->shapes[s].after / r->shapes[s].before);
    } else {
        printf("GEMM: not searched (--kernels-only): the current parameters are kept (gemm=%s)\n",
               r->best.gemm ? "tuned" : "default");
    }
    if (r->win >= 0) {
        printf("\nXgemm        ");
        print_params(clnas_tune_xgemm_names, r->best.xgemm, CLNAS_TUNE_NX);
        printf("\nXgemmDirect  ");
        print_params(clnas_tune_direct_names, r->best.direct, CLNAS_TUNE_ND);
        printf("\nXGEMM_MIN_INDIRECT_SIZE=%zu: the Gram GEMMs run through %s\n", r->best.min_indirect, r->gram_kernel);
    }
    if (r->gemm_done)
        printf("%s\n", r->tuned ? "-> stored as the device's GEMM tuning"
                                : "-> the Gram GEMMs are not at least 5% faster: CLBlast's own parameters are kept (gemm=default)");
    print_kernels(r);
    if (r->seeds_done) print_seeds(r);
    printf("\n%s %s (%.0f s)\n", r->stored ? "stored in" : "NOT stored:", r->stored ? r->path : "no cache directory", r->seconds);
}

/* ---------------- the command ---------------- */

int clnas_cmd_tune(int argc, char **argv)
{
    tune_args a;
    memset(&a, 0, sizeof a);
    clnas_tune_opts_default(&a.o);
    a.budget = -1;
    const int pr = parse(argc, argv, &a);
    if (pr) return pr - 100;
    clnas_ctx *ctx = NULL;
    if (clnas_tune_ctx_create(a.device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas tune: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        return 1;
    }
    if (a.reset) {
        const int rc = do_reset(ctx, a.json);
        clnas_ctx_destroy(ctx);
        return rc;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    fprintf(stderr, "clnas tune: device %d: %s (%s; %s, driver %s; CLBlast %s)\n", d->index, d->name, d->type,
            d->platform_name, d->driver_version, clnas_clblast_version());
    a.o.quick = a.quick;
    a.o.reps = a.reps;
    a.o.budget_s = a.budget;
    a.o.no_seeds = a.no_seeds;
    a.o.no_kernels = a.no_kernels;
    a.o.kernels_only = a.kernels_only;
    a.o.kernel_batch = a.kernel_batch;
    a.o.log = log_stderr;
    clnas_tune_result *r = malloc(sizeof *r);
    int rc = 0;
    if (!r || clnas_tune_run(ctx, &a.o, r) != CLNAS_OK) {
        fprintf(stderr, "clnas tune: %s\n", r ? clnas_ctx_errmsg(ctx) : "out of host memory");
        rc = 1;
    } else {
        const clnas_status st = clnas_tune_store(ctx, r);
        if (st == CLNAS_E_UNSUPPORTED) {
            fprintf(stderr, "clnas tune: %s\n", clnas_ctx_errmsg(ctx)); /* no cache directory: not an error */
        } else if (st != CLNAS_OK) {
            fprintf(stderr, "clnas tune: %s\n", clnas_ctx_errmsg(ctx));
            rc = 1;
        }
        if (a.json) rc = print_json(d, r) ? rc : 1;
        else print_text(d, r);
    }
    free(r);
    clnas_ctx_destroy(ctx);
    return rc;
}
