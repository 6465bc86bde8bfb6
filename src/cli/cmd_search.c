/* cmd_search.c - `clnas search`: TE-NAS's pruning search on NAS-Bench-201, one seed or several,
 * with the found architectures' ground-truth accuracies from the bundled benchmark table. With
 * --out, the trace of every seed (src/report/trace.h), a result file per seed and a summary, all
 * written through jansson (result files atomically), and read back to resume. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "cli/cmd_proxies.h"
#include "clnas/bench201.h"
#include "clnas/search.h"
#include "core/util.h"
#include "core/fault.h"
#include "report/json.h"
#include "report/settings.h"
#include "report/trace.h"
#include "cli/mpi.h"
#include "cli/multi.h"
#include "search/search_pool.h"

static const char USAGE[] =
"usage: clnas search [--space nb201] [options]   (As-ViT: clnas search --space asvit --help)\n"
"       clnas search --strategy sample --metric LIST [--sample N] [--seeds A-B]  (see its --help)\n"
"\n"
"Runs TE-NAS's pruning search on NAS-Bench-201: from the supernet (none removed), each round\n"
"scores every remaining (edge, op) by the relative change of the NTK condition number and of\n"
"the number of linear regions when that op alone is removed, ranks both, and prunes the op with\n"
"the lowest rank sum on every edge, until one op per edge is left. Prints the found architecture,\n"
"its NB201 test accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120, and the wall time.\n";

static const char FOOTER[] = "Published TE-NAS (CIFAR-10 search, NB201): 93.9 +- 0.47 / 71.24 +- 0.56 / 42.38 +- 0.46.\n";

static const char HELP_OUT[] =
"a folder for search_seedS.json (result), trace_seedS.jsonl (every candidate\n"
"and round, as they finish) and search.json (summary). Rerunning resumes:\n"
"seeds whose result file exists are not searched again, and an interrupted\n"
"seed continues after the last candidate in its trace";

static const char HELP_SHARED[] =
"a DEPARTURE from the original TE-NAS procedure (not the default) that\n"
"saves about half the work. The original draws a fresh NTK batch and the\n"
"next patches for every candidate and repeat, scores the current network\n"
"again on each, and gives each candidate fresh linear-region weights. With\n"
"this option each round draws K NTK batches and K patch sets once, every\n"
"candidate's repeat r uses batch r and patch set r, the current network's\n"
"kappa and R are computed once per batch per round and shared, and the\n"
"linear-region nets get one set of weights per round (shared by the current\n"
"net and all candidates, so R_cur and R_cand still use the same weights).\n"
"kappa and R evaluations: K x (candidates + rounds) instead of\n"
"2 x K x candidates each (171 instead of 324 with the defaults). The mode is\n"
"recorded in every file written; one --out folder cannot mix the two modes";

static const char *const ACC_KEYS[3] = {"cifar10", "cifar100", "imagenet16"};

/* What the command line asked for. */
typedef struct search_args {
    clnas_search_opts o;
    const char *data_path, *device, *out, *space, *devices;
    int seeds[2]; /* first and last seed */
    int json;
} search_args;

/* What every seed's search shares. */
typedef struct search_env {
    search_args *a;
    clnas_dataset *data;
    clnas_nb201_table *table; /* NULL: accuracies missing */
    clnas_ctx *ctx;           /* the pool's first device */
    clnas_pool *pool;         /* --devices (or the one device of --device) */
    const char *devname;      /* the device, or "A + B" for a pool of several */
    char devnames[1024];
    char src[1100];           /* the data source */
    int spread;               /* MPI, one seed: its candidates spread over the ranks (rank 0 writes) */
    int seeds_mpi;            /* MPI, several seeds: seeds handed out to the ranks (rank 0 prints) */
} search_env;

typedef struct run_result {
    int seed;
    char arch[512];
    double acc[3];
    double wall_s;
    int candidates, undefined, regions_undefined;
    long kappa_evals, regions_evals; /* -1: unknown (a result file of an older clnas) */
    double kappa_gflop;              /* -1: unknown */
    int found_in_table;
} run_result;

/* --seed S: the range S..S (a later --seeds or --seed replaces it, as any option does). */
static int parse_one_seed(const char *cmd, const char *opt, const char *val, void *ud)
{
    long v;
    int *r = ud;
    if (!cli_int(cmd, opt, val, 0, 2147483647L, &v)) return 0;
    r[0] = r[1] = (int)v;
    return 1;
}

/* The help of the binding whose destination is dest (one of the shared score options). */
static void help_for(cli *c, const void *dest, const char *help)
{
    for (int i = 0; i < c->n; i++)
        if (c->opts[i].dest == dest) c->opts[i].help = help;
}

/* Parses the command line; returns -1 to go on, or the exit status (0 after --help, 2). */
static int parse_args(int argc, char **argv, search_args *a)
{
    memset(a, 0, sizeof *a);
    clnas_search_opts_default(&a->o);
    cli c;
    cli_init(&c, "search", USAGE, FOOTER);
    cli_add_space(&c, &a->space);
    cli_add_score_opts(&c, &a->o.score, &a->data_path, &a->device);
    help_for(&c, &a->o.score.dataset, "images the scores are computed on: cifar10 (default; the bundled subset),\n"
                                      "cifar100 or imagenet16 (need --data)");
    help_for(&c, &a->data_path, "training data file or folder (see clnas score --help)");
    help_for(&c, &a->o.score.lr_batch, "patches per linear-region batch (default 1000)");
    help_for(&c, &a->o.score.lr_batches, "linear-region batches per R (default 3)");
    cli_add_fn(&c, "seed", parse_one_seed, a->seeds, "seed of weights and data (default 0)");
    cli_add_fn(&c, "seeds", cli_parse_seed_range, a->seeds,
               "run one search per seed A..B and report mean and std of the accuracies");
    cli_add_help(&c, "out", &a->out, HELP_OUT);
    cli_add_help(&c, "shared-batches", &a->o.shared_batches, HELP_SHARED);
    cli_add_help(&c, "json", &a->json, "print the summary as JSON");
    cli_add(&c, "quiet", &a->o.quiet);
    cli_add_help(&c, "devices", &a->devices, "spread each round's candidates over several devices: all, local-rank or a\n"
                                             "list (0,1); the same trace and cell as one device");
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    return pr == CLI_OK ? -1 : pr == CLI_HELP ? 0 : 2;
}

/* ---- result files ---- */

static json_t *run_json(const run_result *r, const clnas_search_opts *o, const char *device, const char *src,
                        const json_t *settings)
{
    json_t *j = json_object(), *acc = json_object(), *set = json_deep_copy(settings);
    int bad = json_object_set_new(j, "arch", clnas_json_str(r->arch));
    bad |= json_object_set_new(j, "seed", json_integer(r->seed));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(o->score.dataset)));
    bad |= json_object_set_new(j, "data", clnas_json_str(src));
    bad |= json_object_set_new(j, "device", clnas_json_str(device));
    bad |= json_object_set_new(j, "wall_s", clnas_json_num(r->wall_s));
    for (int c = 0; c < 3; c++) bad |= json_object_set_new(acc, ACC_KEYS[c], clnas_json_num(r->acc[c]));
    bad |= json_object_set_new(j, "accuracy", acc);
    bad |= json_object_set_new(j, "candidates", json_integer(r->candidates));
    bad |= json_object_set_new(j, "kappa_undefined", json_integer(r->undefined));
    bad |= json_object_set_new(j, "regions_undefined", json_integer(r->regions_undefined));
    /* the whole search's evaluations and time, summed over its resumes */
    bad |= json_object_set_new(j, "kappa_evals", r->kappa_evals >= 0 ? json_integer(r->kappa_evals) : json_null());
    bad |= json_object_set_new(j, "regions_evals", r->kappa_evals >= 0 ? json_integer(r->regions_evals) : json_null());
    if (r->kappa_gflop >= 0) bad |= json_object_set_new(j, "kappa_gflop", clnas_json_num(r->kappa_gflop));
    bad |= json_object_set_new(set, "lr_samples", json_integer((json_int_t)o->score.lr_batch * o->score.lr_batches));
    bad |= json_object_set_new(j, "settings", set);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Every setting that changes a number of seed `seed`'s search (settings.h), for the trace's
 * search line, the result file and the resume checks. NULL when out of memory. */
static json_t *settings_for(const search_env *e, int seed)
{
    clnas_score_opts so = e->a->o.score;
    so.seed = (uint64_t)seed;
    json_t *j = clnas_settings_new("nb201", &so, e->src, e->devname);
    if (j && (json_object_set_new(j, "batches", json_string(clnas_search_batches_name(e->a->o.shared_batches))) ||
              json_object_set_new(j, "prune_number", json_integer(e->a->o.prune_number)))) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Reads back a result file this command wrote (resume of --seeds runs); *shared gets the mode
 * it was searched in (a file without the field predates the mode: the original procedure).
 * CLNAS_E_PARSE / CLNAS_E_IO with the reason in err. */
static clnas_status read_run_json(const char *path, run_result *r, int *shared, json_t **settings, char *err, size_t errlen)
{
    json_t *j = NULL;
    clnas_status st = clnas_json_read_file(path, &j, err, errlen);
    if (st != CLNAS_OK) return st;
    const char *arch = clnas_json_get_str(j, "arch", NULL);
    double wall = clnas_json_get_num(j, "wall_s", NAN);
    long long cand = clnas_json_get_int(j, "candidates", -1), und = clnas_json_get_int(j, "kappa_undefined", -1);
    if (!arch || strlen(arch) >= sizeof r->arch || !isfinite(wall) || cand < 0 || und < 0) {
        snprintf(err, errlen, "%s: not a result of clnas search (it needs \"arch\", \"wall_s\", \"candidates\" and "
                              "\"kappa_undefined\")", path);
        json_decref(j);
        return CLNAS_E_PARSE;
    }
    snprintf(r->arch, sizeof r->arch, "%s", arch);
    r->wall_s = wall;
    r->candidates = (int)cand;
    r->undefined = (int)und;
    r->regions_undefined = (int)clnas_json_get_int(j, "regions_undefined", 0);
    r->kappa_evals = (long)clnas_json_get_int(j, "kappa_evals", -1);
    r->regions_evals = r->kappa_evals >= 0 ? (long)clnas_json_get_int(j, "regions_evals", -1) : -1;
    r->kappa_gflop = clnas_json_get_num(j, "kappa_gflop", -1);
    const char *b = clnas_json_get_str(json_object_get(j, "settings"), "batches", "per-candidate");
    *shared = !strcmp(b, "shared");
    json_t *set = json_object_get(j, "settings");
    *settings = json_is_object(set) ? json_deep_copy(set) : json_object();
    /* files of older clnas versions keep some settings at the top level only */
    static const char *const top[] = {"dataset", "data", "device", "seed"};
    for (int k = 0; k < 4 && *settings; k++)
        if (!json_object_get(*settings, top[k]) && json_object_get(j, top[k]))
            json_object_set(*settings, top[k], json_object_get(j, top[k]));
    json_decref(j);
    return CLNAS_OK;
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

/* The refusal to mix the two batch modes in one --out folder: a finished seed's result file
 * (`what` "was searched with") or an interrupted seed's trace (`what` "holds N candidates scored
 * with", resume = 1) of the other mode. */
static void mode_mismatch(const char *path, const char *what, int was_shared, int shared, int resume)
{
    fprintf(stderr, "clnas search: %s %s %s batches, this run asks for %s batches (%s); %s cannot mix the two modes: "
                    "rerun %s--shared-batches%s, or use another --out\n",
            path, what, clnas_search_batches_name(was_shared), clnas_search_batches_name(shared),
            shared ? "--shared-batches given" : "no --shared-batches", resume ? "a search" : "one --out folder",
            was_shared ? "with " : "without ", resume ? " to resume it" : "");
}

/* ---- one seed ---- */

/* A seed whose result file exists: read it back. Returns 1 when it was (r filled), 0 when the seed
 * is still to be searched, -1 on an error (printed). */
static int finished_seed(const search_env *e, const char *path, run_result *r)
{
    if (access(path, F_OK) != 0) return 0;
    char err[4400];
    int was_shared = 0;
    json_t *rec = NULL, *cur = NULL;
    if (read_run_json(path, r, &was_shared, &rec, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s (remove the file to search seed %d again)\n", err, r->seed);
        return -1;
    }
    if (was_shared != e->a->o.shared_batches) {
        mode_mismatch(path, "was searched with", was_shared, e->a->o.shared_batches, 0);
        json_decref(rec);
        return -1; /* no summary either: it would overwrite the folder's with a part of it */
    }
    int bad = !(cur = settings_for(e, r->seed)) || clnas_settings_check("search", path, rec, cur);
    json_decref(rec);
    json_decref(cur);
    if (bad) return -1;
    lookup(e->table, r);
    if (!e->a->json) printf("seed %d: %s (from %s)\n", r->seed, r->arch, path);
    return 1;
}

/* An interrupted search of this seed: every candidate its trace holds, into *td (empty when
 * there is no trace). 0, or -1 on an error (printed). */
static int resume_from(const search_env *e, const char *tpath, int seed, clnas_trace_data *td)
{
    memset(td, 0, sizeof *td);
    if (access(tpath, F_OK) != 0) return 0;
    char err[4400];
    if (clnas_trace_read(tpath, td, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: cannot resume seed %d: %s (remove the trace to search the seed afresh)\n", seed, err);
        return -1;
    }
    if (td->n == 0) return 0;
    if (td->shared_batches != e->a->o.shared_batches) {
        char what[64];
        snprintf(what, sizeof what, "holds %d candidates scored with", td->n);
        mode_mismatch(tpath, what, td->shared_batches, e->a->o.shared_batches, 1);
        clnas_trace_data_free(td);
        return -1;
    }
    json_t *cur = settings_for(e, seed), *none = json_object();
    int bad = !cur || !none || clnas_settings_check("search", tpath, td->header ? td->header : none, cur);
    json_decref(cur);
    json_decref(none);
    if (bad) {
        clnas_trace_data_free(td);
        return -1;
    }
    if (!e->a->json) printf("seed %d: resuming from %s (%d candidates already scored)\n", seed, tpath, td->n);
    return 0;
}

static void print_seed(const run_result *r)
{
    printf("seed %d: %s\n", r->seed, r->arch);
    if (r->found_in_table)
        printf("  NB201 test accuracy: CIFAR-10 %.2f  CIFAR-100 %.2f  ImageNet16-120 %.2f\n", r->acc[0], r->acc[1], r->acc[2]);
    printf("  wall time %.1f s, %d candidates, %ld kappa and %ld R evaluations", r->wall_s, r->candidates, r->kappa_evals,
           r->regions_evals);
    if (r->undefined) printf(", %d undefined kappa counted as 1e5 (as the original does for NaN)", r->undefined);
    if (r->regions_undefined)
        printf(", %d undefined R (NaN/inf pre-activations) counted as 0 regions, the worst", r->regions_undefined);
    printf("\n");
    if (r->kappa_evals > 0 && r->wall_s > 0)
        printf("  NTK work %.2f TFLOP (convolutions, linear layers, Gram), %.1f GFLOP/s over the whole wall time\n",
               r->kappa_gflop / 1e3, r->kappa_gflop / r->wall_s);
}

/* Writes v to path (atomically); 0, or -1 with the error printed. */
static int write_json(const char *path, json_t *v)
{
    char err[4400];
    if (!v) {
        fprintf(stderr, "clnas search: cannot write %s: out of host memory\n", path);
        return -1;
    }
    if (clnas_json_write_file(path, v, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", err);
        return -1;
    }
    return 0;
}

/* MPI: a round's candidates over the ranks (search/search_pool.h). */
static clnas_status mpi_run(void *ud, clnas_pool *pool, clnas_pool_job *job, char *err, size_t errlen)
{
    (void)ud;
    return cli_mpi_run_pool(pool, job, NULL, err, errlen);
}

static int mpi_share(void *ud, void *items, size_t size, int n, const unsigned char *mine)
{
    (void)ud;
    return cli_mpi_share(items, size, n, mine);
}

/* The whole search's cost: this process's and what the resumed candidates recorded. */
static void take_cost(run_result *r, const clnas_search_result *sr)
{
    if (isnan(sr->prior_wall_s)) {
        fprintf(stderr, "clnas search: warning: seed %d: the trace (of an older clnas) does not record what its candidates "
                        "cost; wall_s and the evaluation counts cover only this run\n", r->seed);
        r->wall_s = sr->wall_s;
        r->kappa_evals = sr->kappa_evals;
        r->regions_evals = sr->regions_evals;
        r->kappa_gflop = sr->kappa_gflop;
        return;
    }
    r->wall_s = sr->wall_s + sr->prior_wall_s;
    r->kappa_evals = sr->kappa_evals + sr->prior_kappa_evals;
    r->regions_evals = sr->regions_evals + sr->prior_regions_evals;
    r->kappa_gflop = sr->kappa_gflop + sr->prior_kappa_gflop;
}

/* Searches seed k (resuming its trace) and writes its result file. Returns 0; 1 when only the
 * result file could not be written; -1 when the search failed; -2 when its trace cannot be
 * resumed (then nothing more is written: a summary would replace the folder's with a part of
 * it). Errors are printed. */
static int search_seed(search_env *e, long k, long nruns, run_result *r)
{
    search_args *a = e->a;
    char path[4096] = "", tpath[4096] = "", label[64], err[4400];
    if (a->out) {
        snprintf(path, sizeof path, "%s/search_seed%d.json", a->out, r->seed);
        snprintf(tpath, sizeof tpath, "%s/trace_seed%d.jsonl", a->out, r->seed);
    }
    clnas_trace_data td;
    memset(&td, 0, sizeof td);
    if (a->out && resume_from(e, tpath, r->seed, &td) != 0) return -2;
    if (e->spread) cli_mpi_barrier(); /* every rank has read the trace before rank 0 appends to it */
    int writer = !e->spread || cli_mpi_rank() == 0;
    clnas_search_opts o = a->o;
    o.score.seed = (uint64_t)r->seed;
    snprintf(label, sizeof label, "seed %d (%ld/%ld)", r->seed, k + 1, nruns);
    o.progress_label = label;
    o.resume = td.cands;
    o.resume_round = td.rounds;
    o.nresume = td.n;
    o.resume_shared_batches = td.shared_batches;
    clnas_trace_writer *tw = NULL;
    json_t *set = settings_for(e, r->seed);
    if (a->out && writer && clnas_trace_writer_open(tpath, &tw, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", err);
        clnas_trace_data_free(&td);
        json_decref(set);
        if (e->spread) cli_mpi_abort(1); /* the other ranks would wait for this one's candidates */
        return -1;
    }
    clnas_trace_writer_set_settings(tw, set);
    o.trace = clnas_trace_writer_sink(tw);
    clnas_search_result sr;
    clnas_search_notes notes = {cli_pool_note, "search", e->spread ? mpi_run : NULL, e->spread ? mpi_share : NULL};
    clnas_status st = clnas_search_nb201_pool(e->pool, &notes, e->data, &o, &sr);
    int trace_bad = clnas_trace_writer_close(tw, err, sizeof err) != CLNAS_OK;
    if (trace_bad) fprintf(stderr, "clnas search: %s (the trace keeps every line written whole)\n", err);
    clnas_trace_data_free(&td);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas search: seed %d: %s\n", r->seed, clnas_ctx_errmsg(e->ctx));
        json_decref(set);
        if (e->spread) cli_mpi_abort(1); /* the other ranks wait for this one's candidates */
        return -1;
    }
    clnas_nb201_format(&sr.arch, r->arch, sizeof r->arch);
    take_cost(r, &sr);
    r->candidates = sr.candidates;
    r->undefined = sr.kappa_undefined;
    r->regions_undefined = sr.regions_undefined;
    lookup(e->table, r);
    int rc = trace_bad;
    if (a->out && writer) {
        json_t *j = set ? run_json(r, &a->o, e->devname, e->src, set) : NULL;
        rc |= write_json(path, j) ? 1 : 0;
        json_decref(j);
    }
    json_decref(set);
    if (!a->json && writer && !e->seeds_mpi) print_seed(r);
    return rc;
}

/* ---- the summary ---- */

/* Mean and standard deviation (ddof 0) of the accuracies over the runs found in the table;
 * returns how many were. */
static int accuracy_stats(const run_result *runs, int n, double mean[3], double sd[3])
{
    int nacc = 0;
    for (int c = 0; c < 3; c++) mean[c] = sd[c] = 0;
    for (int k = 0; k < n; k++) {
        if (!runs[k].found_in_table) continue;
        nacc++;
        for (int c = 0; c < 3; c++) mean[c] += runs[k].acc[c];
    }
    for (int c = 0; c < 3; c++) mean[c] = nacc ? mean[c] / nacc : NAN;
    for (int k = 0; k < n; k++)
        if (runs[k].found_in_table)
            for (int c = 0; c < 3; c++) sd[c] += (runs[k].acc[c] - mean[c]) * (runs[k].acc[c] - mean[c]);
    for (int c = 0; c < 3; c++) sd[c] = nacc ? sqrt(sd[c] / nacc) : NAN;
    return nacc;
}

static json_t *acc_json(const double v[3])
{
    json_t *j = json_object();
    for (int c = 0; c < 3; c++)
        if (json_object_set_new(j, ACC_KEYS[c], clnas_json_num(v[c])) != 0) {
            json_decref(j);
            return NULL;
        }
    return j;
}

static json_t *summary_json(const search_env *e, const run_result *runs, int n, const double mean[3], const double sd[3],
                            double wall)
{
    const clnas_search_opts *o = &e->a->o;
    json_t *j = json_object(), *list = json_array();
    int bad = json_object_set_new(j, "space", json_string("nb201"));
    bad |= json_object_set_new(j, "batches", json_string(clnas_search_batches_name(o->shared_batches)));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(o->score.dataset)));
    bad |= json_object_set_new(j, "device", clnas_json_str(e->devname));
    bad |= json_object_set_new(j, "n", json_integer(n));
    bad |= json_object_set_new(j, "wall_s", clnas_json_num(wall / n));
    for (int k = 0; k < n; k++) {
        json_t *set = settings_for(e, runs[k].seed);
        bad |= !set || json_array_append_new(list, run_json(&runs[k], o, e->devname, e->src, set));
        json_decref(set);
    }
    bad |= json_object_set_new(j, "runs", list);
    bad |= json_object_set_new(j, "mean", acc_json(mean));
    bad |= json_object_set_new(j, "std", acc_json(sd));
    bad |= json_object_set_new(j, "accuracy", acc_json(mean));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Prints (--json) and writes (--out) the summary of the n finished runs; 0 or 1. */
static int summarise(const search_env *e, const run_result *runs, int n)
{
    double mean[3], sd[3], wall = 0;
    for (int k = 0; k < n; k++) wall += runs[k].wall_s;
    int nacc = accuracy_stats(runs, n, mean, sd), rc = 0;
    json_t *j = summary_json(e, runs, n, mean, sd, wall);
    if (e->a->json && (!j || clnas_json_print(stdout, j) != 0)) {
        fprintf(stderr, "clnas search: cannot print the summary\n");
        rc = 1;
    }
    if (e->a->out) {
        char spath[4096];
        snprintf(spath, sizeof spath, "%s/search.json", e->a->out);
        if (write_json(spath, j) != 0) rc = 1;
    }
    json_decref(j);
    if (!e->a->json && n > 1)
        printf("\n%d searches: CIFAR-10 %.2f +- %.2f  CIFAR-100 %.2f +- %.2f  ImageNet16-120 %.2f +- %.2f (std over runs, ddof 0);"
               " mean wall time %.1f s\nTE-NAS (paper): 93.9 +- 0.47, 71.24 +- 0.56, 42.38 +- 0.46\n",
               nacc, mean[0], sd[0], mean[1], sd[1], mean[2], sd[2], wall / n);
    return rc;
}

/* ---- several seeds over MPI ranks ---- */

typedef struct seeds_job {
    search_env *e;
    run_result *runs;
    long nruns;
    unsigned char *mine;
    int rc;
} seeds_job;

/* One seed on this rank: its result file if it is finished, else its search. */
static int seed_item(void *ud, int k)
{
    seeds_job *j = ud;
    run_result *r = &j->runs[k];
    r->seed = (int)(j->e->a->seeds[0] + k);
    int fin = 0;
    if (j->e->a->out) {
        char path[4096];
        snprintf(path, sizeof path, "%s/search_seed%d.json", j->e->a->out, r->seed);
        if ((fin = finished_seed(j->e, path, r)) < 0) return 1;
    }
    if (!fin) {
        int sr = search_seed(j->e, k, j->nruns, r);
        if (sr < 0) return 1;
        j->rc |= sr;
    }
    j->mine[k] = 1;
    return 0;
}

/* mpirun -n K clnas search --seeds A-B: rank 0 hands out the seeds; each rank writes the files of
 * its seeds; rank 0 gathers the results and prints them and the summary. A rank's failure ends
 * the job (the seeds finished so far keep their result files: a rerun skips them). */
static int seeds_over_ranks(search_env *e, run_result *runs, long nruns)
{
    seeds_job j = {e, runs, nruns, calloc((size_t)nruns, 1), 0};
    if (!j.mine) cli_mpi_abort(1);
    if (cli_mpi_for_each((int)nruns, seed_item, &j) != 0) cli_mpi_abort(1);
    cli_mpi_share(runs, sizeof *runs, (int)nruns, j.mine);
    free(j.mine);
    int rc = cli_mpi_max_int(j.rc);
    if (cli_mpi_rank() != 0) return rc;
    if (!e->a->json) {
        printf("TE-NAS search on NAS-Bench-201: %ld seeds over %d MPI ranks; batch %d, %d repeats\n", nruns, cli_mpi_size(),
               e->a->o.score.batch, e->a->o.score.repeats);
        for (long k = 0; k < nruns; k++) print_seed(&runs[k]);
    }
    return rc | summarise(e, runs, (int)nruns);
}

/* ---- the command ---- */

/* Data, accuracy table, --out folder and context; 0, or 1 with the error printed. */
static int env_open(search_env *e, search_args *a)
{
    char err[1024] = "";
    memset(e, 0, sizeof *e);
    e->a = a;
    if (clnas_dataset_load(a->o.score.dataset, a->data_path, &e->data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas search: %s\n", err);
        return 1;
    }
    if (clnas_nb201_table_load(NULL, &e->table, err, sizeof err) != CLNAS_OK)
        fprintf(stderr, "clnas search: warning: no NB201 accuracy table (%s); accuracies will be missing\n", err);
    if (a->out && mkdir(a->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "clnas search: cannot create %s: %s\n", a->out, strerror(errno));
        return 1;
    }
    if (!(e->pool = cli_pool_open("search", a->devices, a->device))) return 1;
    e->ctx = clnas_pool_ctx(e->pool, 0);
    e->devname = clnas_ctx_device(e->ctx)->name;
    if (clnas_pool_size(e->pool) > 1) { /* the devices that share the candidates */
        size_t n = 0;
        for (int d = 0; d < clnas_pool_size(e->pool) && n < sizeof e->devnames; d++)
            n += (size_t)snprintf(e->devnames + n, sizeof e->devnames - n, "%s%s", d ? " + " : "",
                                  clnas_ctx_device(clnas_pool_ctx(e->pool, d))->name);
        e->devname = e->devnames;
    }
    snprintf(e->src, sizeof e->src, "%s", clnas_dataset_source(e->data));
    return 0;
}

static void env_close(search_env *e)
{
    clnas_pool_destroy(e->pool);
    clnas_dataset_destroy(e->data);
    clnas_nb201_table_destroy(e->table);
}

int clnas_cmd_search(int argc, char **argv)
{
    if (cli_wants_darts(argc, argv)) return clnas_cmd_search_darts(argc, argv);
    if (cli_argv_space_is(argc, argv, "asvit")) return clnas_cmd_search_asvit(argc, argv);
    for (int i = 1; i < argc; i++) /* the training-free sampling search (cmd_proxies.c) */
        if (!strcmp(argv[i], "--strategy") || !strncmp(argv[i], "--strategy=", 11)) return clnas_cmd_search_sample(argc, argv);
    search_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    search_env e;
    run_result *runs = NULL;
    long nruns = (long)a.seeds[1] - a.seeds[0] + 1;
    int done = 0;
    if ((rc = env_open(&e, &a)) != 0) goto end;
    if (!(runs = calloc((size_t)nruns, sizeof *runs))) {
        fprintf(stderr, "clnas search: out of memory\n");
        rc = 1;
        goto end;
    }
    e.spread = cli_mpi_size() > 1 && nruns == 1;
    e.seeds_mpi = cli_mpi_size() > 1 && nruns > 1;
    if (e.seeds_mpi) {
        rc = seeds_over_ranks(&e, runs, nruns);
        goto end;
    }
    if (!a.json && cli_mpi_rank() == 0)
        printf("TE-NAS search on NAS-Bench-201: %s images (%s), device %s; batch %d, %d repeats, %d patches per R; %s\n",
               clnas_dataset_name(a.o.score.dataset), e.src, e.devname, a.o.score.batch, a.o.score.repeats,
               a.o.score.lr_batch * a.o.score.lr_batches,
               a.o.shared_batches ? "shared batches per round (--shared-batches: departs from TE-NAS)"
                                  : "fresh batches per candidate (TE-NAS's procedure)");
    if (nruns > 1) { /* NB201: 54 candidates in 3 rounds per search */
        long per = a.o.shared_batches ? (long)a.o.score.repeats * (54 + 3) : 2L * a.o.score.repeats * 54;
        fprintf(stderr, "clnas search: %ld searches (seeds %d..%d): about %ld kappa and %ld R evaluations in all, "
                        "%ld per search (finished seeds in --out are not searched again)\n",
                nruns, a.seeds[0], a.seeds[1], per * nruns, per * nruns, per);
    }
    for (long k = 0; k < nruns; k++) {
        run_result *r = &runs[done];
        r->seed = (int)(a.seeds[0] + k);
        int fin = 0;
        if (a.out) {
            char path[4096];
            snprintf(path, sizeof path, "%s/search_seed%d.json", a.out, r->seed);
            if ((fin = finished_seed(&e, path, r)) < 0) {
                rc = 1;
                goto end;
            }
        }
        if (!fin) {
            int sr = search_seed(&e, k, nruns, r);
            if (sr == -2) {
                rc = 1;
                goto end;
            }
            if (sr == -1) { /* the seeds before it are still summarised */
                rc = 1;
                break;
            }
            rc |= sr;
        }
        done++;
    }
    if (done > 0 && cli_mpi_rank() == 0) rc |= summarise(&e, runs, done);
end:
    free(runs);
    env_close(&e);
    return rc;
}
