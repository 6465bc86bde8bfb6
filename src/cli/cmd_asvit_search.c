/* cmd_asvit_search.c - `clnas search --space asvit` (REINFORCE over topologies, TENAS.md §8.5)
 * and `clnas grow --space asvit` (the scaling loop, §8.6): the drivers around the logic of
 * asvit_search.h, scoring with asvit_score.h. The search writes a JSON-lines trace (a header,
 * one line per step, a final line) and resumes from it: replaying the recorded kappa and L
 * through the seeded policy restores its exact state. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "clnas/asvit_score.h"
#include "clnas/asvit_search.h"
#include "core/util.h"
#include "report/json.h"

typedef struct search_args {
    asvit_net_opts net;
    clnas_asvit_score_opts o;
    const char *arch, *space, *data, *device, *out;
    clnas_dataset_kind kind;
    int steps, json, quiet, no_augment;
    uint64_t seed;
} search_args;

/* What scores a topology: nets built at the configuration, weights of stream `stream`. */
typedef struct scorer {
    clnas_ctx *ctx;
    clnas_dataset *data;
    clnas_asvit_score_opts o;
    clnas_asvit_config cfg;
} scorer;

static clnas_status score_topo(scorer *s, const clnas_asvit_topo *t, const clnas_asvit_config *cfg, uint64_t stream,
                               clnas_asvit_score_result *r, char *err, size_t errlen)
{
    clnas_net *fl = NULL, *fi = NULL;
    clnas_asvit_inputs in;
    memset(&in, 0, sizeof in);
    clnas_asvit_score_opts o = s->o;
    o.stream = stream;
    clnas_status st = clnas_asvit_feature_nets(t, cfg, &fl, &fi, err, errlen);
    if (st == CLNAS_OK) st = clnas_asvit_inputs_make(fl, s->data, &o, &in, err, errlen);
    if (st == CLNAS_OK) st = clnas_asvit_score_run(s->ctx, fl, fi, &o, &in, r, err, errlen);
    clnas_asvit_inputs_free(&in);
    clnas_net_destroy(fl);
    clnas_net_destroy(fi);
    return st;
}

static int scorer_open(scorer *s, const search_args *a, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->o = a->o;
    if (clnas_dataset_load(a->kind, a->data, &s->data, err, errlen) != CLNAS_OK) return 0;
    if (!a->o.host && clnas_ctx_create(a->device, &s->ctx) != CLNAS_OK) {
        snprintf(err, errlen, "%s", clnas_ctx_errmsg(s->ctx));
        return 0;
    }
    return 1;
}

static void scorer_close(scorer *s)
{
    clnas_dataset_destroy(s->data);
    clnas_ctx_destroy(s->ctx);
}

static void common_opts(cli *c, search_args *a)
{
    cli_add_space(c, &a->space);
    cli_add_help(c, "D", &a->net.dim, "embed dim of stage 1 of the scored networks (search default 32, grow starts at 8)");
    cli_add_help(c, "input", &a->net.input, "input size of the scored networks (default 224; 32 or 64 for quick runs)");
    cli_add_fn(c, "dataset", cli_parse_dataset, &a->kind, "cifar10 (default: the bundled images) or imagenet (--data)");
    cli_add(c, "data", &a->data);
    cli_add_help(c, "batch", &a->o.batch, "NTK batch (default 16)");
    cli_add_help(c, "repeat", &a->o.repeats, "re-initialised copies per score (default 5)");
    cli_add(c, "seed", &a->seed);
    cli_add(c, "device", &a->device);
    cli_add(c, "reference", &a->o.host);
    cli_add(c, "no-augment", &a->no_augment);
    cli_add(c, "json", &a->json);
    cli_add(c, "quiet", &a->quiet);
}

static void args_default(search_args *a)
{
    memset(a, 0, sizeof *a);
    asvit_net_opts_default(&a->net);
    clnas_asvit_score_opts_default(&a->o);
    a->kind = CLNAS_DS_CIFAR10;
    a->steps = 500;
    a->seed = 8;
}

/* ---------------- search ---------------- */

static const char SEARCH_USAGE[] =
"usage: clnas search --space asvit [--steps 500] [--out trace.jsonl] [--input 224] [options]\n"
"\n"
"As-ViT's topology search (TENAS.md 8.5): REINFORCE over the 12 categorical choices (logits\n"
"1e-3 N(0,1), Adam lr 0.08), each step samples a topology, scores kappa and L on the D=32,\n"
"depths 1,1,1,1 network with fresh weights, rewards -c(kappa) + c(L) (normalised changes over\n"
"the last 20 values) against a bias-corrected EMA baseline (momentum 0.9). Prints the argmax\n"
"topology. --out writes a JSON-lines trace; run the same command again to resume it.\n";

static json_t *header_json(const search_args *a)
{
    return json_pack("{s:{s:s,s:I,s:i,s:i,s:i,s:i,s:i,s:s,s:b,s:b}}", "header", "space", "asvit", "seed",
                     (json_int_t)a->seed, "steps", a->steps, "input", a->net.input, "D", a->net.dim, "batch",
                     a->o.batch, "repeats", a->o.repeats, "dataset", clnas_dataset_name(a->kind), "augment",
                     a->o.augment, "reference", a->o.host);
}

/* Replays a trace into the policy; returns the steps done (or -1 after printing an error). */
static int resume(const char *path, const search_args *a, clnas_asvit_policy *p, int *finished)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[16384], err[512], where[600];
    int n = 0, ln = 0;
    json_t *want = header_json(a);
    while (fgets(line, sizeof line, f)) {
        ln++;
        snprintf(where, sizeof where, "%s:%d", path, ln);
        json_t *j = NULL;
        if (clnas_json_parse(line, where, &j, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas search: cannot resume: %s (delete the file to start over)\n", err);
            n = -1;
            break;
        }
        if (ln == 1 && !json_equal(j, want)) {
            fprintf(stderr, "clnas search: %s was written with other settings (%s); use another --out or the same "
                    "options\n", path, line);
            n = -1;
        } else if (json_object_get(j, "final")) {
            *finished = 1;
        } else if (ln > 1) {
            int act[CLNAS_ASVIT_NCHOICES], rec[CLNAS_ASVIT_NCHOICES];
            clnas_asvit_policy_sample(p, act);
            json_t *ja = json_object_get(j, "a");
            for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) rec[i] = (int)json_integer_value(json_array_get(ja, (size_t)i));
            if (memcmp(act, rec, sizeof act)) {
                fprintf(stderr, "clnas search: %s: step %d does not replay (another seed or clnas version?)\n", where, n);
                n = -1;
            } else {
                clnas_asvit_policy_update(p, act, json_real_value(json_object_get(j, "kappa")),
                                          json_real_value(json_object_get(j, "L")), NULL, NULL);
                n++;
            }
        }
        json_decref(j);
        if (n < 0) break;
    }
    json_decref(want);
    fclose(f);
    return n;
}

static json_t *step_json(int step, const clnas_asvit_topo *t, const int *act, const clnas_asvit_score_result *r,
                         double reward, double base, double entropy, double logp, double secs)
{
    char ts[128];
    clnas_asvit_format(t, ts, sizeof ts);
    json_t *ja = json_array();
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) json_array_append_new(ja, json_integer(act[i]));
    json_t *j = json_pack("{s:i,s:s,s:o}", "step", step, "arch", ts, "a", ja);
    json_object_set_new(j, "kappa", json_real(r->kappa_mean)); /* the original's mean (-1 for NaN copies) */
    json_object_set_new(j, "L", json_real(r->ld_mean));
    json_object_set_new(j, "kappa_defined", json_integer(r->kappa_defined));
    json_object_set_new(j, "reward", json_real(reward));
    json_object_set_new(j, "baseline", json_real(base));
    json_object_set_new(j, "entropy", json_real(entropy));
    json_object_set_new(j, "logp", json_real(logp));
    json_object_set_new(j, "seconds", json_real(secs));
    return j;
}

static int append_line(const char *path, const json_t *j)
{
    if (!path) return 1;
    FILE *f = fopen(path, "a");
    if (!f) return 0;
    int ok = clnas_json_print(f, j) == 0;
    ok &= fflush(f) == 0;
    ok &= fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    return ok;
}

/* The search loop from step `done`; returns 0 or the exit status. */
static int search_loop(const search_args *a, scorer *s, clnas_asvit_policy *p, int done)
{
    char err[1024];
    for (int step = done; step < a->steps; step++) {
        const double t0 = clnas_now();
        int act[CLNAS_ASVIT_NCHOICES];
        const double logp = clnas_asvit_policy_sample(p, act);
        clnas_asvit_topo t;
        clnas_asvit_from_choices(act, &t);
        clnas_asvit_score_result r;
        if (score_topo(s, &t, &s->cfg, (uint64_t)step * 64, &r, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas search: step %d: %s\n", step, err);
            return 1;
        }
        double rew, base;
        clnas_asvit_policy_update(p, act, r.kappa_mean, r.ld_mean, &rew, &base);
        const double H = clnas_asvit_policy_entropy(p);
        json_t *j = step_json(step, &t, act, &r, rew, base, H, logp, clnas_now() - t0);
        int ok = j && append_line(a->out, j);
        json_decref(j);
        if (!ok) {
            fprintf(stderr, "clnas search: cannot append to %s\n", a->out);
            return 1;
        }
        if (!a->quiet) {
            char ts[128];
            clnas_asvit_format(&t, ts, sizeof ts);
            fprintf(stderr, "step %d/%d  %-28s kappa %-10.5g L %-10.5g reward %+.3f entropy %.3f  %.1f s\n", step + 1,
                    a->steps, ts, r.kappa_mean, r.ld_mean, rew, H, clnas_now() - t0);
        }
    }
    return 0;
}

int clnas_cmd_search_asvit(int argc, char **argv)
{
    search_args a;
    args_default(&a);
    a.net.dim = 32;
    cli c;
    cli_init(&c, "search", SEARCH_USAGE, NULL);
    common_opts(&c, &a);
    cli_add_help(&c, "steps", &a.steps, "policy steps (default 500)");
    cli_add_help(&c, "out", &a.out, "JSON-lines trace (header, one line per step, final); resumed when it exists");
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    a.o.augment = !a.no_augment;
    a.o.seed = a.seed;
    scorer s;
    char err[1024] = "";
    clnas_asvit_config_default(&s.cfg);
    clnas_asvit_policy p;
    clnas_asvit_policy_init(&p, a.seed);
    int finished = 0, done = a.out ? resume(a.out, &a, &p, &finished) : 0;
    if (done < 0) return 1;
    if (!scorer_open(&s, &a, err, sizeof err)) {
        fprintf(stderr, "clnas search: %s\n", err);
        scorer_close(&s);
        return 1;
    }
    clnas_asvit_config_default(&s.cfg);
    s.cfg.input_hw = a.net.input;
    s.cfg.dim = a.net.dim;
    if (a.out && done == 0 && !finished) {
        json_t *h = header_json(&a);
        FILE *f = fopen(a.out, "w");
        int ok = f && h && clnas_json_print(f, h) == 0;
        if (f) ok &= fclose(f) == 0;
        json_decref(h);
        if (!ok) { fprintf(stderr, "clnas search: cannot write %s\n", a.out); scorer_close(&s); return 1; }
    } else if (done > 0 && !a.quiet) {
        fprintf(stderr, "clnas search: resumed %s after %d of %d steps\n", a.out, done, a.steps);
    }
    int rc = finished ? 0 : search_loop(&a, &s, &p, done);
    scorer_close(&s);
    if (rc) return rc;
    int best[CLNAS_ASVIT_NCHOICES];
    clnas_asvit_policy_argmax(&p, best);
    clnas_asvit_topo t;
    clnas_asvit_from_choices(best, &t);
    char ts[128];
    clnas_asvit_format(&t, ts, sizeof ts);
    json_t *fin = json_pack("{s:{s:s,s:i,s:f}}", "final", "arch", ts, "steps", a.steps, "entropy",
                            clnas_asvit_policy_entropy(&p));
    if (!finished && !append_line(a.out, fin)) rc = 1;
    if (a.json) clnas_json_print(stdout, fin);
    else printf("As-ViT search: %d steps, seed %llu, input %d, D %d\nfound topology %s\n", a.steps,
                (unsigned long long)a.seed, a.net.input, a.net.dim, ts);
    json_decref(fin);
    return rc;
}

/* ---------------- grow ---------------- */

static const char GROW_USAGE[] =
"usage: clnas grow --space asvit --arch TOPOLOGY [--D 8] [--input 224] [options]\n"
"\n"
"As-ViT's scaling loop (TENAS.md 8.6): from depths 1,1,1,1 and D (default 8), each step builds\n"
"the candidates depth+1 in one stage x width round(D (1 + r)), r = 5, 10, 15, 20 %, drops those\n"
"whose full-size model (width 4 D', 224x224, 1000 classes) has more than 110 M parameters,\n"
"scores the rest at (D', depths) by kappa (lower is better) and L (higher is better), and keeps\n"
"the smallest sum of dense ranks (the original's tie-break). Stops when the full-size model has\n"
">= 80 M parameters or no candidate fits. --max-params and --stop-params change the limits.\n";

/* Full-size parameters of (depth, dim): width 4 dim at 224x224 with the 1000-class head. */
static double full_params(const clnas_asvit_topo *t, const int *depth, int dim)
{
    clnas_asvit_config c;
    clnas_asvit_config_default(&c);
    c.dim = 4 * dim;
    memcpy(c.depth, depth, sizeof c.depth);
    return (double)clnas_asvit_count_params(t, &c);
}

/* One grow step: returns the winner's index into cand (or -1 when none fits; -2 on error). */
static int grow_step(const search_args *a, scorer *s, const clnas_asvit_topo *t, clnas_asvit_candidate *cand, int n,
                     double limit, double *fp, double *wk, double *wl, int step)
{
    double k[CLNAS_ASVIT_MAX_CANDIDATES], L[CLNAS_ASVIT_MAX_CANDIDATES];
    int idx[CLNAS_ASVIT_MAX_CANDIDATES], m = 0;
    char err[1024];
    for (int i = 0; i < n; i++) {
        fp[i] = full_params(t, cand[i].depth, cand[i].dim);
        if (fp[i] > limit || fp[i] == 0) continue;
        clnas_asvit_config c = s->cfg;
        c.dim = cand[i].dim;
        memcpy(c.depth, cand[i].depth, sizeof c.depth);
        clnas_asvit_score_result r;
        if (score_topo(s, t, &c, (uint64_t)step * 64, &r, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas grow: %s\n", err);
            return -2;
        }
        k[m] = r.kappa_mean;
        L[m] = r.ld_mean;
        idx[m++] = i;
        if (!a->quiet)
            fprintf(stderr, "  candidate depths %d,%d,%d,%d D %-4d full-size %.2f M params  kappa %.5g  L %.5g\n",
                    cand[i].depth[0], cand[i].depth[1], cand[i].depth[2], cand[i].depth[3], cand[i].dim, fp[i] / 1e6,
                    k[m - 1], L[m - 1]);
    }
    if (m == 0) return -1;
    int w = clnas_asvit_grow_select(m, k, L);
    *wk = k[w];
    *wl = L[w];
    return idx[w];
}

int clnas_cmd_grow_asvit(int argc, char **argv)
{
    search_args a;
    args_default(&a);
    a.seed = 27; /* grow.py's default */
    a.net.dim = 8;
    int max_m = 110, stop_m = 80;
    cli c;
    cli_init(&c, "grow", GROW_USAGE, NULL);
    common_opts(&c, &a);
    cli_add_help(&c, "arch", &a.arch, "the seed topology, e.g. 8,2,3|4,1,2|4,1,4|4,1,6|32");
    cli_add_help(&c, "max-params", &max_m, "drop candidates whose full-size model has more than M million parameters (110)");
    cli_add_help(&c, "stop-params", &stop_m, "stop once the full-size model has M million parameters (80)");
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    a.o.augment = !a.no_augment;
    a.o.seed = a.seed;
    clnas_asvit_topo t;
    clnas_asvit_config cfg;
    int rc = asvit_resolve("grow", a.arch, "--arch", &a.net, &t, &cfg);
    if (rc) return rc;
    scorer s;
    char err[1024] = "";
    if (!scorer_open(&s, &a, err, sizeof err)) {
        fprintf(stderr, "clnas grow: %s\n", err);
        scorer_close(&s);
        return 1;
    }
    s.cfg = cfg;
    int depth[4] = {1, 1, 1, 1}, dim = a.net.dim;
    json_t *steps = json_array();
    for (int step = 0;; step++) {
        clnas_asvit_candidate cand[CLNAS_ASVIT_MAX_CANDIDATES];
        double fp[CLNAS_ASVIT_MAX_CANDIDATES], wk = 0, wl = 0;
        int n = clnas_asvit_grow_candidates(depth, dim, cand);
        if (!a.quiet) fprintf(stderr, "grow step %d: from depths %d,%d,%d,%d D %d, %d candidates\n", step + 1, depth[0],
                              depth[1], depth[2], depth[3], dim, n);
        int w = grow_step(&a, &s, &t, cand, n, max_m * 1e6, fp, &wk, &wl, step);
        if (w == -2) { rc = 1; break; }
        if (w < 0) break;
        memcpy(depth, cand[w].depth, sizeof depth);
        dim = cand[w].dim;
        clnas_asvit_topo g = t;
        memcpy(g.depth, depth, sizeof depth);
        g.dim = 4 * dim;
        char ts[160];
        clnas_asvit_format(&g, ts, sizeof ts);
        json_array_append_new(steps, json_pack("{s:i,s:s,s:f,s:f,s:f}", "step", step + 1, "arch", ts, "params_M",
                                               fp[w] / 1e6, "kappa", wk, "L", wl));
        if (!a.json) printf("step %3d grow: %s | params %.2f M | kappa %.5g | L %.5g\n", step + 1, ts, fp[w] / 1e6, wk, wl);
        fflush(stdout);
        if (fp[w] >= stop_m * 1e6) break;
    }
    scorer_close(&s);
    if (a.json && rc == 0) {
        json_t *j = json_pack("{s:s,s:o}", "seed_arch", a.arch, "family", steps);
        clnas_json_print(stdout, j);
        json_decref(j);
    } else {
        json_decref(steps);
    }
    return rc;
}

int clnas_cmd_grow(int argc, char **argv)
{
    if (cli_argv_space_is(argc, argv, "asvit")) return clnas_cmd_grow_asvit(argc, argv);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return clnas_cmd_grow_asvit(argc, argv);
    fprintf(stderr, "clnas grow: only As-ViT has a scaling loop: clnas grow --space asvit --arch TOPOLOGY\n");
    return 2;
}
