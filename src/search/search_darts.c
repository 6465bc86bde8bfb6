/* search_darts.c - TE-NAS's pruning search on the DARTS space (TENAS.md §5.2-5.4; see
 * clnas/search_darts.h): the op rounds of prune_func_rank over both cell types, then the
 * per-node edge pruning of prune_func_rank_group with the original's fixed NTK current network
 * (or, as an option, one rebuilt per node). Ranking is the NB201 search's clnas_search_rank. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clnas/search_darts.h"
#include "core/rng.h"
#include "internal.h"
#include "search/cost_meter.h"
#include "metrics/streams.h"

#define KAPPA_UNDEFINED_VALUE 1e5 /* what the original substitutes for a NaN kappa */
#define KEY_NTK_ROUND 0x44544e4b726f756eULL /* "DTNKroun": an op round's NTK weights */
#define KEY_NTK_EDGES 0x44544e4b65646765ULL /* "DTNKedge": the edge phase's NTK weights */
#define KEY_LR_CAND 0x444c5263616e64ULL     /* "DLRcand": a candidate's thin-net weights */
#define NCAND (2 * CLNAS_DARTS_EDGES * CLNAS_DARTS_NOPS)

void clnas_darts_search_opts_default(clnas_darts_search_opts *o)
{
    memset(o, 0, sizeof *o);
    clnas_score_opts_default(&o->score);
    clnas_darts_search_opts_for(o, CLNAS_DS_CIFAR10);
}

void clnas_darts_search_opts_for(clnas_darts_search_opts *o, clnas_dataset_kind k)
{
    o->score.dataset = k;
    o->score.batch = k == CLNAS_DS_IMAGENET ? 24 : 14;
    o->prune_number = k == CLNAS_DS_IMAGENET ? 2 : 3;
}

typedef struct evaluator {
    clnas_net *net;
    clnas_ntk *ntk;
    clnas_lr *lr;
} evaluator;

typedef struct dstate {
    clnas_ctx *ctx;
    const clnas_darts_search_opts *o;
    clnas_darts_search_result *res;
    int classes, hw;
    clnas_sampler *si, *sp;
    float *images, *patches;
    int done, total;
    double t0;
    int show;
    const char *phase;
    /* the totals when the previous candidate finished (a candidate's cost is the difference) */
    cost_meter meter;  /* each candidate's cost (cost_meter.h) */
} dstate;

static void eval_free(evaluator *e)
{
    clnas_ntk_destroy(e->ntk);
    clnas_lr_destroy(e->lr);
    clnas_net_destroy(e->net);
    memset(e, 0, sizeof *e);
}

/* The NTK (lr = 0) or thin (lr = 1) proxy of state al with weights (seed, stream). */
static clnas_status eval_make(dstate *s, const clnas_darts_alpha *al, int lr, uint64_t stream, evaluator *e)
{
    const clnas_score_opts *so = &s->o->score;
    char err[512];
    memset(e, 0, sizeof *e);
    clnas_status st = clnas_darts_proxies(al, s->classes, s->hw, lr ? NULL : &e->net, lr ? &e->net : NULL, err, sizeof err);
    if (st != CLNAS_OK) return clnas_set_error(s->ctx, st, "%s", err);
    float *p = malloc(clnas_net_nparams(e->net) * sizeof *p);
    if (!p) {
        eval_free(e);
        return clnas_set_error(s->ctx, CLNAS_E_NOMEM, "search: out of host memory");
    }
    clnas_net_init_params(e->net, so->seed, stream, so->init, p);
    if (lr) {
        st = clnas_lr_create(s->ctx, e->net, so->lr_batch, &e->lr);
        if (st == CLNAS_OK) st = clnas_lr_set_params(e->lr, p);
    } else {
        clnas_ntk_config nc = {so->batch, so->seeds, so->fp64_gram};
        st = clnas_ntk_create(s->ctx, e->net, &nc, &e->ntk);
        if (st == CLNAS_OK) st = clnas_ntk_set_params(e->ntk, p);
    }
    free(p);
    if (st != CLNAS_OK) eval_free(e);
    return st;
}

static double kappa_gflop(const clnas_net *net, int B)
{
    double f, b;
    clnas_net_flops(net, B, &f, &b);
    return (f + B * b + 2.0 * B * B * (double)clnas_net_njacobian(net)) / 1e9;
}

static double kappa_value(const clnas_kappa *k, int *undefined)
{
    if (k->status == CLNAS_KAPPA_OK && isfinite(k->kappa)) return k->kappa;
    (*undefined)++;
    return KAPPA_UNDEFINED_VALUE;
}

static void progress(dstate *s, int round, int cand, int ncand)
{
    if (!s->show) return;
    double el = clnas_now() - s->t0;
    double eta = s->done > 0 ? el / s->done * (s->total - s->done) : 0;
    fprintf(stderr, "\r%s%s%s round %d  candidate %3d/%d  done %d/%d  elapsed %5.0fs  ETA %5.0fs ",
            s->o->progress_label ? s->o->progress_label : "", s->o->progress_label ? "  " : "", s->phase, round, cand, ncand,
            s->done, s->total, el, eta);
    fflush(stderr);
}

static const clnas_candidate *resumed(const clnas_darts_search_opts *o, int round, const clnas_candidate *c)
{
    for (int i = 0; i < o->nresume; i++)
        if (o->resume_round[i] == round && o->resume[i].edge == c->edge && o->resume[i].op == c->op) return &o->resume[i];
    return NULL;
}

/* Scores one candidate: kappa of ntk_cur against the candidate state (same weights stream) on
 * fresh batches; R of the thin nets of lr_cur and of the candidate (fresh weights, shared). */
static clnas_status score_candidate(dstate *s, const clnas_darts_alpha *lr_cur, evaluator *ntk_cur, uint64_t ntk_stream,
                                    clnas_candidate *c, int round, int index)
{
    const clnas_score_opts *so = &s->o->score;
    const int n = so->lr_batch * so->lr_batches;
    const clnas_candidate *old = resumed(s->o, round, c);
    if (old) { /* replay the data draws so that later candidates see the same batches and patches */
        for (int r = 0; r < so->repeats; r++) clnas_sampler_batch(s->si, so->batch, 1, s->images, NULL);
        for (int r = 0; r < so->repeats; r++) clnas_sampler_patches(s->sp, n, s->patches);
        *c = *old;
        return CLNAS_OK;
    }
    clnas_darts_alpha cand = *lr_cur;
    clnas_darts_remove(&cand, c->edge / CLNAS_DARTS_EDGES, c->edge % CLNAS_DARTS_EDGES, c->op);
    evaluator nc, lc, lk;
    clnas_status st = eval_make(s, &cand, 0, ntk_stream, &nc);
    double sum = 0;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        clnas_sampler_batch(s->si, so->batch, 1, s->images, NULL);
        clnas_kappa kc, kd;
        st = clnas_ntk_eval(ntk_cur->ntk, s->images, &kc, NULL, NULL, NULL, NULL, NULL);
        if (st == CLNAS_OK) st = clnas_ntk_eval(nc.ntk, s->images, &kd, NULL, NULL, NULL, NULL, NULL);
        if (st != CLNAS_OK) break;
        s->res->kappa_evals += 2;
        s->res->kappa_gflop += kappa_gflop(ntk_cur->net, so->batch) + kappa_gflop(nc.net, so->batch);
        c->kappa_cur[r] = kappa_value(&kc, &c->kappa_undefined);
        c->kappa_cand[r] = kappa_value(&kd, &c->kappa_undefined);
        sum += clnas_py_round((c->kappa_cur[r] - c->kappa_cand[r]) / c->kappa_cur[r], 3);
    }
    eval_free(&nc);
    if (st != CLNAS_OK) return st;
    c->dk = sum / so->repeats;
    uint64_t lr_stream = clnas_key_combine(clnas_key_combine(KEY_LR_CAND, (uint64_t)round), (uint64_t)index);
    if ((st = eval_make(s, lr_cur, 1, lr_stream, &lc)) != CLNAS_OK) return st;
    if ((st = eval_make(s, &cand, 1, lr_stream, &lk)) != CLNAS_OK) {
        eval_free(&lc);
        return st;
    }
    sum = 0;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        clnas_sampler_patches(s->sp, n, s->patches);
        int bad_cur = 0, bad_cand = 0;
        st = clnas_lr_count(lc.lr, s->patches, n, &c->r_cur[r], &bad_cur, NULL);
        if (st == CLNAS_OK) st = clnas_lr_count(lk.lr, s->patches, n, &c->r_cand[r], &bad_cand, NULL);
        if (st == CLNAS_OK) {
            s->res->regions_evals += 2;
            /* an undefined R (NaN/inf reached the ReLUs) counts as 0 regions, the worst, as the NB201
               search counts it; an undefined R_cur divides by 1 */
            if (bad_cur) c->r_cur[r] = 0;
            if (bad_cand) c->r_cand[r] = 0;
            s->res->regions_undefined += bad_cur + bad_cand;
            double den = c->r_cur[r] ? (double)c->r_cur[r] : 1.0;
            sum += clnas_py_round(((double)c->r_cur[r] - (double)c->r_cand[r]) / den, 3);
        }
    }
    eval_free(&lc);
    eval_free(&lk);
    c->dr = sum / so->repeats;
    return st;
}

/* Fills c's cost from the totals (a candidate computed now), or adds its recorded cost to the
 * prior totals (one taken over from the resume), as the NB201 search does. */
static void account(dstate *s, clnas_candidate *c, int was_resumed)
{
    clnas_darts_search_result *r = s->res;
    if (was_resumed) r->prior_candidates++;
    cost_counters n = {r->kappa_gflop, r->kappa_evals, r->regions_evals, &r->prior_wall_s, &r->prior_kappa_gflop,
                       &r->prior_kappa_evals, &r->prior_regions_evals};
    cost_meter_account(&s->meter, &n, c, was_resumed, clnas_now());
}

/* Scores the n candidates of a round (reporting each); on failure the error names it. */
static clnas_status score_all(dstate *s, const clnas_darts_alpha *lr_cur, evaluator *ntk_cur, uint64_t ntk_stream,
                              clnas_candidate *c, int n, int round)
{
    const clnas_darts_search_opts *o = s->o;
    for (int i = 0; i < n; i++) {
        progress(s, round, i + 1, n);
        int was_resumed = resumed(o, round, &c[i]) != NULL;
        clnas_status st = score_candidate(s, lr_cur, ntk_cur, ntk_stream, &c[i], round, i);
        if (st != CLNAS_OK) {
            int node, from;
            clnas_darts_edge_nodes(c[i].edge % CLNAS_DARTS_EDGES, &node, &from);
            clnas_append_error(s->ctx, " [DARTS search round %d, candidate %s %d<-%d %s]", round,
                               c[i].edge < CLNAS_DARTS_EDGES ? "normal" : "reduce", node, from, clnas_darts_op_name(c[i].op));
            return st;
        }
        account(s, &c[i], was_resumed);
        s->res->kappa_undefined += c[i].kappa_undefined;
        s->res->candidates++;
        s->done++;
        if (o->trace && o->trace->candidate) o->trace->candidate(o->trace->ud, round, s->phase, &c[i], o->score.repeats);
    }
    return CLNAS_OK;
}

static void add_candidate(clnas_candidate *c, int *n, int cell, int e, int op)
{
    memset(&c[*n], 0, sizeof c[*n]);
    c[*n].edge = cell * CLNAS_DARTS_EDGES + e;
    c[*n].op = op;
    (*n)++;
}

/* One op round: every active op of every edge with more than one op, both cells. */
static clnas_status op_round(dstate *s, clnas_darts_alpha *al, int round, clnas_candidate *c)
{
    int k_prune = clnas_darts_edge_count(al, 0, 0) - 1;
    if (s->o->prune_number < k_prune) k_prune = s->o->prune_number;
    if (k_prune < 1) /* only a --alpha start state can get here: TE-NAS's start is uniform */
        return clnas_set_error(s->ctx, CLNAS_E_INVALID_ARG, "DARTS search round %d: the normal cell's edge 0<-0 has one op "
                               "left while other edges have more; TE-NAS takes the ops to prune per round from that edge "
                               "(TENAS.md §9.2) and would prune nothing, forever: start from a state whose edge 0<-0 has at "
                               "least as many ops as any other edge", round);
    int n = 0;
    for (int cell = 0; cell < 2; cell++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
            if (clnas_darts_edge_count(al, cell, e) > 1)
                for (int op = 0; op < CLNAS_DARTS_NOPS; op++)
                    if (clnas_darts_active(al, cell, e, op)) add_candidate(c, &n, cell, e, op);
    uint64_t stream = clnas_key_combine(KEY_NTK_ROUND, (uint64_t)round);
    evaluator cur;
    clnas_status st = eval_make(s, al, 0, stream, &cur);
    if (st == CLNAS_OK) st = score_all(s, al, &cur, stream, c, n, round);
    eval_free(&cur);
    if (st != CLNAS_OK) return st;
    if (clnas_search_rank(c, n, k_prune) != CLNAS_OK)
        return clnas_set_error(s->ctx, CLNAS_E_NOMEM, "DARTS search round %d: out of host memory ranking", round);
    clnas_darts_alpha before = *al;
    for (int i = 0; i < n; i++)
        if (c[i].pruned) clnas_darts_remove(al, c[i].edge / CLNAS_DARTS_EDGES, c[i].edge % CLNAS_DARTS_EDGES, c[i].op);
    s->res->op_candidates += n;
    if (s->o->trace && s->o->trace->round) s->o->trace->round(s->o->trace->ud, round, s->phase, &before, al, c, n);
    return CLNAS_OK;
}

/* Edge pruning of one node: its live edges are the candidates; all but the 2 with the largest
 * rank sums go. ntk_cur is the phase's current NTK network (fixed, or rebuilt per node). */
static clnas_status edge_round(dstate *s, clnas_darts_alpha *al, int cell, int node, int round, evaluator *ntk_cur,
                               clnas_candidate *c)
{
    int n = 0;
    for (int j = 0; j < node + 2; j++) {
        int e = clnas_darts_edge_index(node, j);
        for (int op = 0; op < CLNAS_DARTS_NOPS; op++)
            if (clnas_darts_active(al, cell, e, op)) add_candidate(c, &n, cell, e, op);
    }
    if (n <= 2) return CLNAS_OK; /* already at most 2 inputs (only from a --alpha start state) */
    clnas_status st = score_all(s, al, ntk_cur, KEY_NTK_EDGES, c, n, round);
    if (st != CLNAS_OK) return st;
    if (clnas_search_rank(c, n, 0) != CLNAS_OK)
        return clnas_set_error(s->ctx, CLNAS_E_NOMEM, "DARTS search round %d: out of host memory ranking", round);
    clnas_darts_alpha before = *al;
    for (int i = 0; i < n; i++) {
        c[i].pruned = c[i].order < n - 2; /* rankings_sum[:-2]: all but the two largest sums */
        if (c[i].pruned) clnas_darts_remove(al, cell, c[i].edge % CLNAS_DARTS_EDGES, c[i].op);
    }
    s->res->edge_candidates += n;
    if (s->o->trace && s->o->trace->round) s->o->trace->round(s->o->trace->ud, round, s->phase, &before, al, c, n);
    return CLNAS_OK;
}

static clnas_status edge_phase(dstate *s, clnas_darts_alpha *al, int round0, clnas_candidate *c)
{
    evaluator cur;
    clnas_status st = eval_make(s, al, 0, KEY_NTK_EDGES, &cur); /* the original builds it once, here */
    int round = round0;
    for (int cell = 0; cell < 2 && st == CLNAS_OK; cell++)
        for (int node = 1; node < CLNAS_DARTS_STEPS && st == CLNAS_OK; node++) {
            if (s->o->edge_ntk_refresh && !(cell == 0 && node == 1)) {
                eval_free(&cur);
                if ((st = eval_make(s, al, 0, KEY_NTK_EDGES, &cur)) != CLNAS_OK) break;
            }
            st = edge_round(s, al, cell, node, ++round, &cur, c);
        }
    eval_free(&cur);
    s->res->rounds = round;
    return st;
}

/* Candidates of the op rounds and of the edge phase, for the ETA (from the start state's op
 * counts: every edge loses k ops per round). */
static int count_work(const clnas_darts_alpha *al, int prune_number, int *total)
{
    int ops = clnas_darts_edge_count(al, 0, 0), nr = 0, cnt[2][CLNAS_DARTS_EDGES];
    for (int c = 0; c < 2; c++)
        for (int e = 0; e < CLNAS_DARTS_EDGES; e++) cnt[c][e] = clnas_darts_edge_count(al, c, e);
    *total = 0;
    while (ops > 1) {
        int k = prune_number < ops - 1 ? prune_number : ops - 1;
        for (int c = 0; c < 2; c++)
            for (int e = 0; e < CLNAS_DARTS_EDGES; e++)
                if (cnt[c][e] > 1) {
                    *total += cnt[c][e];
                    cnt[c][e] -= k < cnt[c][e] - 1 ? k : cnt[c][e] - 1;
                }
        ops -= k;
        nr++;
    }
    for (int c = 0; c < 2; c++)
        for (int node = 1; node < CLNAS_DARTS_STEPS; node++) {
            int live = 0;
            for (int j = 0; j < node + 2; j++) live += cnt[c][clnas_darts_edge_index(node, j)] > 0;
            if (live > 2) *total += live;
        }
    return nr;
}

static clnas_status check_opts(clnas_ctx *ctx, const clnas_dataset *data, const clnas_darts_search_opts *o)
{
    const clnas_score_opts *so = &o->score;
    char err[512];
    if (o->start && clnas_darts_alpha_check(o->start, err, sizeof err) != CLNAS_OK)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "DARTS search: the start state: %s", err);
    if (so->batch < 2 || so->repeats < 1 || so->repeats > CLNAS_MAX_REPEATS || so->lr_batch < 1 || so->lr_batches < 1 ||
        o->prune_number < 1)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "DARTS search: batch >= 2, 1 <= repeats <= %d, lr sizes >= 1 and "
                               "prune number >= 1 needed", CLNAS_MAX_REPEATS);
    if (clnas_dataset_kind_of(data) != so->dataset)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "DARTS search: the data set is %s, the search asked for %s",
                               clnas_dataset_name(clnas_dataset_kind_of(data)), clnas_dataset_name(so->dataset));
    return CLNAS_OK;
}

clnas_status clnas_search_darts(clnas_ctx *ctx, const clnas_dataset *data, const clnas_darts_search_opts *o,
                                clnas_darts_search_result *res)
{
    memset(res, 0, sizeof *res);
    const clnas_score_opts *so = &o->score;
    clnas_status st = check_opts(ctx, data, o);
    if (st != CLNAS_OK) return st;
    dstate s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.o = o;
    s.res = res;
    s.t0 = s.meter.t = clnas_now();
    s.show = !o->quiet && isatty(2);
    s.classes = clnas_dataset_num_classes(data);
    s.hw = clnas_dataset_hw(so->dataset);
    s.images = malloc((size_t)so->batch * 3 * s.hw * s.hw * sizeof(float));
    s.patches = malloc((size_t)so->lr_batch * so->lr_batches * 9 * sizeof(float));
    clnas_candidate *c = calloc(NCAND, sizeof *c);
    if (!s.images || !s.patches || !c) { st = clnas_set_error(ctx, CLNAS_E_NOMEM, "DARTS search: out of host memory"); goto done; }
    if ((st = clnas_sampler_create(data, so->seed, CLNAS_STREAM_NTK_DATA, &s.si)) != CLNAS_OK ||
        (st = clnas_sampler_create(data, so->seed, CLNAS_STREAM_LR_DATA, &s.sp)) != CLNAS_OK) {
        clnas_set_error(ctx, st, "DARTS search: cannot create the data samplers");
        goto done;
    }
    clnas_darts_alpha al;
    clnas_darts_alpha_supernet(&al);
    if (o->start) al = *o->start;
    res->op_rounds = count_work(&al, o->prune_number, &s.total);
    if (o->trace && o->trace->begin) o->trace->begin(o->trace->ud, o);
    s.phase = "ops";
    int round = 0;
    while (!clnas_darts_is_single_path(&al) && st == CLNAS_OK) st = op_round(&s, &al, ++round, c);
    res->op_rounds = round;
    res->ops_s = clnas_now() - s.t0;
    s.phase = "edges";
    if (st == CLNAS_OK) st = edge_phase(&s, &al, round, c);
    if (st != CLNAS_OK) goto done;
    res->edges_s = clnas_now() - s.t0 - res->ops_s;
    res->alpha = al;
    clnas_darts_genotype_from_alpha(&al, &res->genotype);
    res->wall_s = clnas_now() - s.t0;
done:
    if (s.show) fputc('\n', stderr);
    clnas_sampler_destroy(s.si);
    clnas_sampler_destroy(s.sp);
    free(s.images);
    free(s.patches);
    free(c);
    return st;
}
