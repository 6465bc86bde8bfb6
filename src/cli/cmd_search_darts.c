/* cmd_search_darts.c - `clnas search --space darts`: TE-NAS's pruning search on the DARTS space
 * (clnas/search_darts.h), one seed or several; prints each found genotype in DARTS's notation
 * with the parameter count of its evaluation network. With --out: a trace per seed
 * (report/trace_darts.h), a result file per seed and a summary, read back to resume. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli.h"
#include "clnas/search_darts.h"
#include "report/json.h"
#include "report/settings.h"
#include "report/trace_darts.h"

static const char USAGE[] =
"usage: clnas search --space darts [--dataset cifar10 | --dataset imagenet --data DIR] [options]\n"
"\n"
"Runs TE-NAS's pruning search on the DARTS space (TENAS.md §5.2-5.4). Op rounds: from the supernet\n"
"without `none` (7 ops on each of 2 x 14 edges), every remaining op is scored by the relative change\n"
"of the NTK condition number (C=1 proxy, batch 14; 24 on ImageNet) and of the number of linear\n"
"regions when it alone is removed; the ranks are summed and the 3 lowest (2 on ImageNet) are pruned\n"
"on every edge until one op per edge is left. Edge pruning: per node, every incoming edge is scored\n"
"the same way and all but the 2 best are removed. Prints the genotype in DARTS's notation (it pastes\n"
"into DARTS-style training code) and its evaluation network's parameter count.\n";

static const char FOOTER[] =
"Edge pruning, TE-NAS's quirk (the default): the NTK's current network is built once, at the start of\n"
"the edge phase, and not rebuilt after a node's edges are removed, so later nodes are compared with a\n"
"network that still holds edges already pruned. --edge-ntk-refresh rebuilds it after every node.\n"
"Published TE-NAS: CIFAR-10 2.63 % test error, 3.8 M parameters, 0.05 GPU-days; ImageNet 24.5 % top-1\n"
"error, 5.4 M, 0.17 GPU-days (searched on ImageNet).\n";

static const char HELP_OUT[] =
"a folder for search_seedS.json (result), trace_seedS.jsonl (every candidate\n"
"and round as they finish, with the state after each round) and search.json\n"
"(summary). Rerunning resumes: finished seeds are read back, an interrupted\n"
"seed continues after the last candidate in its trace";

typedef struct dargs {
    clnas_darts_search_opts o;
    clnas_darts_alpha start;
    const char *data_path, *device, *out, *space, *alpha;
    int seeds[2];
    int json;
} dargs;

typedef struct drun {
    int seed;
    char genotype[1400];
    size_t params;
    double wall_s, ops_s, edges_s;
    int candidates, undefined, r_undefined;
    long kappa_evals, regions_evals;
    double kappa_gflop;
    int prior_candidates;  /* taken over from an interrupted run's trace */
    double prior_wall_s;   /* their recorded cost (NaN: some not recorded) */
    json_t *alpha;         /* the final state */
    json_t *settings;      /* what the search was computed with (darts_trace_settings) */
} drun;

static int parse_one_seed(const char *cmd, const char *opt, const char *val, void *ud)
{
    long v;
    int *r = ud;
    if (!cli_int(cmd, opt, val, 0, 2147483647L, &v)) return 0;
    r[0] = r[1] = (int)v;
    return 1;
}

static int parse_args(int argc, char **argv, dargs *a)
{
    memset(a, 0, sizeof *a);
    clnas_darts_search_opts_default(&a->o);
    cli c;
    cli_init(&c, "search", USAGE, FOOTER);
    cli_add_space(&c, &a->space);
    cli_add_score_opts(&c, &a->o.score, &a->data_path, &a->device);
    for (int i = 0; i < c.n; i++)
        if (c.opts[i].dest == &a->o.score.batch) c.opts[i].help = "NTK batch (default 14; 24 with --dataset imagenet)";
    cli_add_fn(&c, "seed", parse_one_seed, a->seeds, "seed of weights and data (default 0)");
    cli_add_fn(&c, "seeds", cli_parse_seed_range, a->seeds, "one search per seed A..B");
    cli_add_help(&c, "out", &a->out, HELP_OUT);
    cli_add(&c, "edge-ntk-refresh", &a->o.edge_ntk_refresh);
    cli_add_help(&c, "alpha", &a->alpha, "start from this supernet state (JSON, as clnas score --alpha reads)\n"
                                         "instead of TE-NAS's full supernet: a departure, for shortened searches");
    cli_add_help(&c, "json", &a->json, "print the summary as JSON");
    cli_add(&c, "quiet", &a->o.quiet);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    int batch = a->o.score.batch;
    clnas_darts_search_opts_for(&a->o, a->o.score.dataset);
    if (cli_given(&c, "batch")) a->o.score.batch = batch;
    if (a->alpha) {
        char label[64];
        int rc = darts_cli_state("search", NULL, a->alpha, &a->start, label, sizeof label);
        if (rc) return rc;
        a->o.start = &a->start;
    }
    if (a->o.score.dataset != CLNAS_DS_CIFAR10 && a->o.score.dataset != CLNAS_DS_IMAGENET) {
        fprintf(stderr, "clnas search: --space darts searches on cifar10 or imagenet (TE-NAS's DARTS settings), not %s\n",
                clnas_dataset_name(a->o.score.dataset));
        return 2;
    }
    return -1;
}

static size_t eval_params(const clnas_darts_genotype *g, clnas_dataset_kind k)
{
    clnas_darts_eval_config cfg;
    if (k == CLNAS_DS_IMAGENET) clnas_darts_eval_config_imagenet(&cfg);
    else clnas_darts_eval_config_cifar(&cfg);
    clnas_net *n = NULL;
    char err[256];
    if (clnas_darts_eval_build(&cfg, g, &n, err, sizeof err) != CLNAS_OK) return 0;
    size_t p = clnas_net_nparams(n);
    clnas_net_destroy(n);
    return p;
}

static json_t *run_json(const drun *r, const dargs *a, const char *device, const char *src)
{
    const clnas_score_opts *so = &a->o.score;
    json_t *j = json_object(), *set = json_object();
    int bad = json_object_set_new(j, "space", json_string("darts"));
    bad |= json_object_set_new(j, "genotype", json_string(r->genotype));
    bad |= json_object_set_new(j, "params", json_integer((json_int_t)r->params));
    bad |= json_object_set_new(j, "params_network", json_string(so->dataset == CLNAS_DS_IMAGENET ? "NetworkImageNet C=48, 14 layers"
                                                                                            : "NetworkCIFAR C=36, 20 layers"));
    bad |= json_object_set_new(j, "seed", json_integer(r->seed));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(so->dataset)));
    bad |= json_object_set_new(j, "data", clnas_json_str(src));
    bad |= json_object_set_new(j, "device", clnas_json_str(device));
    bad |= json_object_set_new(j, "wall_s", clnas_json_num(r->wall_s));
    bad |= json_object_set_new(j, "ops_s", clnas_json_num(r->ops_s));
    bad |= json_object_set_new(j, "edges_s", clnas_json_num(r->edges_s));
    bad |= json_object_set_new(j, "candidates", json_integer(r->candidates));
    bad |= json_object_set_new(j, "kappa_undefined", json_integer(r->undefined));
    bad |= json_object_set_new(j, "regions_undefined", json_integer(r->r_undefined));
    bad |= json_object_set_new(j, "kappa_evals", json_integer(r->kappa_evals));
    bad |= json_object_set_new(j, "regions_evals", json_integer(r->regions_evals));
    bad |= json_object_set_new(j, "kappa_gflop", clnas_json_num(r->kappa_gflop));
    if (r->prior_candidates) {
        bad |= json_object_set_new(j, "resumed_candidates", json_integer(r->prior_candidates));
        bad |= json_object_set_new(j, "resumed_cost_s", isnan(r->prior_wall_s) ? json_null() : clnas_json_num(r->prior_wall_s));
    }
    if (r->alpha) bad |= json_object_set(j, "alpha", r->alpha);
    if (r->settings) bad |= json_object_update(set, r->settings);
    bad |= json_object_set_new(set, "lr_samples", json_integer(so->lr_batch * so->lr_batches));
    if (a->alpha) bad |= json_object_set_new(set, "start_file", clnas_json_str(a->alpha));
    bad |= json_object_set_new(j, "settings", set);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The settings a result file records, as settings.h compares them: files of older clnas keep
 * dataset, data, device and seed at the top level only, and the start state as the --alpha
 * file's name (not comparable: left unchecked). NULL when out of memory. */
static json_t *recorded_settings(const json_t *j)
{
    const json_t *set = json_object_get(j, "settings");
    json_t *rec = json_is_object(set) ? json_deep_copy(set) : json_object();
    static const char *const top[] = {"dataset", "data", "device", "seed"};
    for (int k = 0; k < 4 && rec; k++)
        if (!json_object_get(rec, top[k]) && json_object_get(j, top[k])) json_object_set(rec, top[k], json_object_get(j, top[k]));
    const char *st = clnas_json_get_str(rec, "start", "supernet");
    if (rec && strcmp(st, "supernet") != 0 && strncmp(st, "alpha-", 6) != 0) json_object_del(rec, "start");
    if (rec) json_object_del(rec, "lr_samples");
    if (rec) json_object_del(rec, "start_file");
    return rec;
}

static int read_run(const char *path, drun *r, const json_t *cur)
{
    json_t *j = NULL;
    char err[4400];
    if (clnas_json_read_file(path, &j, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", err);
        return -1;
    }
    const char *g = clnas_json_get_str(j, "genotype", NULL);
    if (!g || strlen(g) >= sizeof r->genotype || strcmp(clnas_json_get_str(j, "space", ""), "darts")) {
        fprintf(stderr, "clnas search: %s: not a result of a DARTS search (remove it to search seed %d again)\n", path, r->seed);
        json_decref(j);
        return -1;
    }
    json_t *rec = recorded_settings(j);
    if (!rec || clnas_settings_check("search", path, rec, cur)) {
        if (!rec) fprintf(stderr, "clnas search: out of memory\n");
        json_decref(rec);
        json_decref(j);
        return -1;
    }
    json_decref(rec);
    snprintf(r->genotype, sizeof r->genotype, "%s", g);
    r->params = (size_t)clnas_json_get_int(j, "params", 0);
    r->wall_s = clnas_json_get_num(j, "wall_s", NAN);
    r->ops_s = clnas_json_get_num(j, "ops_s", NAN);
    r->edges_s = clnas_json_get_num(j, "edges_s", NAN);
    r->candidates = (int)clnas_json_get_int(j, "candidates", 0);
    r->undefined = (int)clnas_json_get_int(j, "kappa_undefined", 0);
    r->r_undefined = (int)clnas_json_get_int(j, "regions_undefined", 0);
    r->kappa_evals = (long)clnas_json_get_int(j, "kappa_evals", 0);
    r->regions_evals = (long)clnas_json_get_int(j, "regions_evals", 0);
    r->kappa_gflop = clnas_json_get_num(j, "kappa_gflop", 0);
    r->alpha = json_incref(json_object_get(j, "alpha"));
    r->settings = json_deep_copy(json_object_get(j, "settings"));
    r->prior_candidates = (int)clnas_json_get_int(j, "resumed_candidates", 0);
    r->prior_wall_s = clnas_json_get_num(j, "resumed_cost_s", NAN);
    json_decref(j);
    return 1;
}

static void print_run(const drun *r, const char *dataset)
{
    printf("seed %d: %s\n", r->seed, r->genotype);
    printf("  evaluation network (%s): %zu parameters (%.2f M), auxiliary head not counted\n", dataset, r->params, r->params / 1e6);
    printf("  wall time %.1f s (op rounds %.1f s, edge pruning %.1f s), %d candidates, %ld kappa and %ld R evaluations",
           r->wall_s, r->ops_s, r->edges_s, r->candidates, r->kappa_evals, r->regions_evals);
    if (r->undefined) printf(", %d undefined kappa counted as 1e5 (as the original does for NaN)", r->undefined);
    if (r->r_undefined) printf(", %d undefined R counted as 0 regions", r->r_undefined);
    printf("\n");
    if (r->prior_candidates && isnan(r->prior_wall_s))
        printf("  %d candidates taken over from an interrupted run's trace (their cost is not recorded: an older trace)\n",
               r->prior_candidates);
    else if (r->prior_candidates)
        printf("  %d candidates taken over from an interrupted run's trace, recorded cost %.1f s (not in the times above)\n",
               r->prior_candidates, r->prior_wall_s);
    if (r->kappa_evals > 0 && r->wall_s > 0)
        printf("  NTK work %.2f GFLOP (convolutions, linear layers, Gram), %.2f GFLOP/s over the whole wall time\n", r->kappa_gflop,
               r->kappa_gflop / r->wall_s);
}

typedef struct denv {
    dargs *a;
    clnas_dataset *data;
    clnas_ctx *ctx;
    const char *devname;
    char src[1100];
} denv;

/* Every setting that changes a number of seed `seed`'s search (settings.h), for the trace's
 * search line, the result file and the resume checks. NULL when out of memory. */
static json_t *settings_for(const denv *e, int seed)
{
    clnas_darts_search_opts cur = e->a->o;
    cur.score.seed = (uint64_t)seed;
    cur.start = e->a->alpha ? &e->a->start : NULL;
    return darts_trace_settings(&cur, e->src, e->devname);
}

/* Searches one seed, resuming its trace; 0, 1 (result file not written), -1 failed. */
static int search_seed(denv *e, drun *r, long k, long nruns)
{
    dargs *a = e->a;
    char path[4096] = "", tpath[4096] = "", label[64], err[4400];
    clnas_trace_data td;
    memset(&td, 0, sizeof td);
    json_t *cur = settings_for(e, r->seed);
    if (!cur) {
        fprintf(stderr, "clnas search: out of memory\n");
        return -1;
    }
    if (a->out) {
        snprintf(path, sizeof path, "%s/search_seed%d.json", a->out, r->seed);
        snprintf(tpath, sizeof tpath, "%s/trace_seed%d.jsonl", a->out, r->seed);
        if (access(tpath, F_OK) == 0 && darts_trace_read(tpath, &td, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas search: cannot resume seed %d: %s (remove the trace to search afresh)\n", r->seed, err);
            json_decref(cur);
            return -1;
        }
        json_t *none = json_object();
        int bad = td.n > 0 && (!none || clnas_settings_check("search", tpath, td.header ? td.header : none, cur));
        json_decref(none);
        if (bad) {
            clnas_trace_data_free(&td);
            json_decref(cur);
            return -1;
        }
        if (td.n > 0 && !a->json) printf("seed %d: resuming from %s (%d candidates already scored)\n", r->seed, tpath, td.n);
    }
    clnas_darts_search_opts o = a->o;
    o.score.seed = (uint64_t)r->seed;
    snprintf(label, sizeof label, "seed %d (%ld/%ld)", r->seed, k + 1, nruns);
    o.progress_label = label;
    o.resume = td.cands;
    o.resume_round = td.rounds;
    o.nresume = td.n;
    darts_trace_writer *tw = NULL;
    if (a->out && darts_trace_open(tpath, cur, &tw, err, sizeof err) != CLNAS_OK) fprintf(stderr, "clnas search: %s\n", err);
    o.trace = darts_trace_sink(tw);
    clnas_darts_search_result sr;
    clnas_status st = clnas_search_darts(e->ctx, e->data, &o, &sr);
    if (darts_trace_close(tw, err, sizeof err) != CLNAS_OK) fprintf(stderr, "clnas search: warning: %s\n", err);
    clnas_trace_data_free(&td);
    if (st != CLNAS_OK) {
        json_decref(cur);
        fprintf(stderr, "clnas search: seed %d: %s\n", r->seed, clnas_ctx_errmsg(e->ctx));
        return -1;
    }
    clnas_darts_genotype_format(&sr.genotype, r->genotype, sizeof r->genotype);
    r->params = eval_params(&sr.genotype, o.score.dataset);
    r->wall_s = sr.wall_s;
    r->ops_s = sr.ops_s;
    r->edges_s = sr.edges_s;
    r->candidates = sr.candidates;
    r->undefined = sr.kappa_undefined;
    r->r_undefined = sr.regions_undefined;
    r->kappa_evals = sr.kappa_evals;
    r->regions_evals = sr.regions_evals;
    r->kappa_gflop = sr.kappa_gflop;
    r->prior_candidates = sr.prior_candidates;
    r->prior_wall_s = sr.prior_wall_s;
    r->settings = cur;
    char *s = clnas_darts_alpha_to_json(&sr.alpha);
    r->alpha = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    if (!a->json) print_run(r, clnas_dataset_name(o.score.dataset));
    if (!a->out) return 0;
    json_t *j = run_json(r, a, e->devname, e->src);
    int rc = j && clnas_json_write_file(path, j, err, sizeof err) == CLNAS_OK ? 0 : 1;
    if (rc) fprintf(stderr, "clnas search: %s\n", j ? err : "out of memory");
    json_decref(j);
    return rc;
}

static int summarise(const denv *e, const drun *runs, int n)
{
    json_t *j = json_object(), *list = json_array();
    double wall = 0;
    for (int k = 0; k < n; k++) wall += runs[k].wall_s;
    int bad = json_object_set_new(j, "space", json_string("darts"));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(e->a->o.score.dataset)));
    bad |= json_object_set_new(j, "device", clnas_json_str(e->devname));
    bad |= json_object_set_new(j, "n", json_integer(n));
    bad |= json_object_set_new(j, "wall_s", clnas_json_num(wall / n));
    for (int k = 0; k < n; k++) bad |= json_array_append_new(list, run_json(&runs[k], e->a, e->devname, e->src));
    bad |= json_object_set_new(j, "runs", list);
    int rc = 0;
    char err[4400];
    if (bad) rc = 1;
    if (!rc && e->a->json && clnas_json_print(stdout, j) != 0) rc = 1;
    if (!rc && e->a->out) {
        char spath[4096];
        snprintf(spath, sizeof spath, "%s/search.json", e->a->out);
        if (clnas_json_write_file(spath, j, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas search: %s\n", err);
            rc = 1;
        }
    }
    json_decref(j);
    if (!e->a->json && n > 1) printf("\n%d searches, mean wall time %.1f s\n", n, wall / n);
    return rc;
}

static int env_open(denv *e, dargs *a)
{
    char err[1024] = "";
    memset(e, 0, sizeof *e);
    e->a = a;
    if (clnas_dataset_load(a->o.score.dataset, a->data_path, &e->data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", err);
        return 1;
    }
    if (a->out && mkdir(a->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "clnas search: cannot create %s: %s\n", a->out, strerror(errno));
        return 1;
    }
    if (clnas_ctx_create(a->device, &e->ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", clnas_ctx_errmsg(e->ctx));
        return 1;
    }
    e->devname = clnas_ctx_device(e->ctx)->name;
    snprintf(e->src, sizeof e->src, "%s (%d images, %d classes)", clnas_dataset_source(e->data), clnas_dataset_size(e->data),
             clnas_dataset_num_classes(e->data));
    return 0;
}

int clnas_cmd_search_darts(int argc, char **argv)
{
    dargs a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    denv e;
    long nruns = (long)a.seeds[1] - a.seeds[0] + 1;
    drun *runs = calloc((size_t)nruns, sizeof *runs);
    int done = 0;
    if (!runs) { fprintf(stderr, "clnas search: out of memory\n"); return 1; }
    if ((rc = env_open(&e, &a)) != 0) goto end;
    if (!a.json)
        printf("TE-NAS search on the DARTS space: %s, device %s; NTK batch %d, %d repeats, %d patches per R, %d ops pruned per "
               "edge per round; edge pruning with the NTK current network %s\n", e.src, e.devname, a.o.score.batch, a.o.score.repeats,
               a.o.score.lr_batch * a.o.score.lr_batches, a.o.prune_number,
               a.o.edge_ntk_refresh ? "rebuilt per node (--edge-ntk-refresh)" : "fixed (TE-NAS's quirk)");
    for (long k = 0; k < nruns; k++) {
        drun *r = &runs[done];
        r->seed = (int)(a.seeds[0] + k);
        int fin = 0;
        if (a.out) {
            char path[4096];
            snprintf(path, sizeof path, "%s/search_seed%d.json", a.out, r->seed);
            json_t *cur = access(path, F_OK) == 0 ? settings_for(&e, r->seed) : NULL;
            if (cur) fin = read_run(path, r, cur);
            json_decref(cur);
            if (fin < 0) { rc = 1; goto end; }
            if (fin && !a.json) print_run(r, clnas_dataset_name(a.o.score.dataset));
        }
        if (!fin) {
            int sr = search_seed(&e, r, k, nruns);
            if (sr < 0) { rc = 1; break; }
            rc |= sr;
        }
        done++;
    }
    if (done > 0) rc |= summarise(&e, runs, done);
end:
    for (int k = 0; k <= done && k < nruns; k++) {
        json_decref(runs[k].alpha);
        json_decref(runs[k].settings);
    }
    free(runs);
    clnas_ctx_destroy(e.ctx);
    clnas_dataset_destroy(e.data);
    return rc;
}
