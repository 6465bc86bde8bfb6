/* search.c - TE-NAS's pruning search on NAS-Bench-201 (TENAS.md §5): candidates, the exact
 * ranking rules of prune_func_rank, and the round loop with the original's weight and data
 * sharing; optionally the shared-batches mode (search.h), which reuses one round's batches,
 * patches, thin-net weights and current-network scores across all candidates of the round. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clnas/search.h"
#include "core/rng.h"
#include "internal.h"
#include "search/cost_meter.h"
#include "metrics/streams.h"
#include "runtime/pool.h"
#include "search/search_pool.h"

#define KAPPA_UNDEFINED_VALUE 1e5 /* what the original substitutes for a NaN kappa */
/* weight-stream keys: the round's NTK weights (both modes), a candidate's thin-net weights
 * (original mode), the round's thin-net weights (shared mode) */
#define KEY_NTK_ROUND 0x4e544b5f726f756eULL /* "NTK_roun" */
#define KEY_LR_CAND 0x4c525f63616e64ULL     /* "LR_cand" */
#define KEY_LR_ROUND 0x4c525f726f756e64ULL  /* "LR_round" */

const char *clnas_search_batches_name(int shared_batches)
{
    return shared_batches ? "shared" : "per-candidate";
}

double clnas_py_round(double x, int nd)
{
    /* Python rounds the exact binary value to the nearest decimal with nd digits, ties to even;
       glibc's printf does the same conversion (exact value, current rounding mode = nearest-even). */
    if (!isfinite(x)) return x;
    char buf[512];
    snprintf(buf, sizeof buf, "%.*f", nd, x);
    return strtod(buf, NULL);
}

double clnas_round_sig(double x, int precision)
{
    /* TE-NAS utils round_to(number, precision, eps=1e-8):
       sign * round((|x| + eps) * 10**-p, precision) * 10**p with p = floor(log10(|x| + eps)) + 1,
       log10 computed as math.log(x, 10) = log(x) / log(10) */
    if (x == 0 || !isfinite(x)) return x;
    double sign = x / fabs(x);
    double a = fabs(x) + 1e-8;
    double power = floor(log(a) / log(10.0)) + 1;
    return sign * clnas_py_round(a * pow(10.0, -power), precision) * pow(10.0, power);
}

void clnas_search_opts_default(clnas_search_opts *o)
{
    memset(o, 0, sizeof *o);
    clnas_score_opts_default(&o->score);
    o->prune_number = 1;
}

/* stable insertion sort of idx[] by key[] (descending if desc) */
static void stable_sort(int *idx, int n, const double *key, int desc)
{
    for (int i = 1; i < n; i++) {
        int v = idx[i], j = i - 1;
        while (j >= 0 && (desc ? key[idx[j]] < key[v] : key[idx[j]] > key[v])) {
            idx[j + 1] = idx[j];
            j--;
        }
        idx[j + 1] = v;
    }
}

clnas_status clnas_search_rank(clnas_candidate *c, int n, int k_prune)
{
    if (n <= 0) return CLNAS_OK;
    int nedges = 1;
    for (int i = 0; i < n; i++)
        if (c[i].edge >= nedges) nedges = c[i].edge + 1;
    int *ik = malloc((size_t)n * sizeof *ik), *ir = malloc((size_t)n * sizeof *ir), *is = malloc((size_t)n * sizeof *is);
    double *key = malloc((size_t)n * sizeof *key), *sum = malloc((size_t)n * sizeof *sum);
    int *cnt = calloc((size_t)nedges, sizeof *cnt);
    clnas_status st = CLNAS_E_NOMEM;
    if (!ik || !ir || !is || !key || !sum || !cnt) goto done;
    /* dK: descending by 3-significant-figure key (stable), dense rank by exact value */
    for (int i = 0; i < n; i++) { ik[i] = i; ir[i] = i; key[i] = clnas_round_sig(c[i].dk, 3); }
    stable_sort(ik, n, key, 1);
    int rank = 0;
    double prev = c[ik[0]].dk;
    for (int i = 0; i < n; i++) {
        if (c[ik[i]].dk != prev) { rank++; prev = c[ik[i]].dk; }
        c[ik[i]].rank_k = rank;
    }
    /* dR: ascending, the same way */
    for (int i = 0; i < n; i++) key[i] = clnas_round_sig(c[i].dr, 3);
    stable_sort(ir, n, key, 0);
    rank = 0;
    prev = c[ir[0]].dr;
    for (int i = 0; i < n; i++) {
        if (c[ir[i]].dr != prev) { rank++; prev = c[ir[i]].dr; }
        c[ir[i]].rank_r = rank;
    }
    /* rank sums, stable-sorted ascending over the dK order (the original's dict insertion order) */
    for (int i = 0; i < n; i++) { is[i] = ik[i]; sum[i] = c[i].rank_k + c[i].rank_r; }
    stable_sort(is, n, sum, 0);
    for (int i = 0; i < n; i++) {
        clnas_candidate *x = &c[is[i]];
        x->order = i;
        x->pruned = 0;
        if (x->edge >= 0 && cnt[x->edge] < k_prune) {
            cnt[x->edge]++;
            x->pruned = 1;
        }
    }
    st = CLNAS_OK;
done:
    free(ik); free(ir); free(is); free(key); free(sum); free(cnt);
    return st;
}

/* ---- one search ---- */

/* An NTK or LR evaluator of one architecture with weights from (seed, stream). */
/* GFLOP of one kappa of `net` at batch B (multiply-add = 2), as `clnas bench` counts them. */
static double kappa_gflop(const clnas_net *net, int B)
{
    double f, b;
    clnas_net_flops(net, B, &f, &b);
    return (f + B * b + 2.0 * B * B * (double)clnas_net_njacobian(net)) / 1e9;
}

typedef struct evaluator {
    clnas_net *net;
    clnas_ntk *ntk;
    clnas_lr *lr;
} evaluator;

/* An R as the search uses it: 0 (the worst: no regions) when it is undefined, counted. */
static size_t region_value(size_t r, int nonfinite, int *undefined)
{
    if (!nonfinite) return r;
    (*undefined)++;
    return 0;
}

double clnas_search_region_change(size_t r_cur, size_t r_cand)
{
    double cur = r_cur ? (double)r_cur : 1.0; /* an undefined current R (0): every candidate improves on it */
    return clnas_py_round(((double)r_cur - (double)r_cand) / cur, 3);
}

/* What the shared-batches mode keeps for one round: its K batches and K patch sets (in
 * search_state's buffers), and the current network's scores on them, computed when the first
 * candidate that is not taken over from a resumed trace needs them (a round that is resumed
 * in full computes nothing). */
typedef struct round_shared {
    int ready;                              /* kappa_cur and r_cur hold this round's values */
    clnas_kappa kappa_cur[CLNAS_MAX_REPEATS];
    size_t r_cur[CLNAS_MAX_REPEATS];
    int r_cur_bad[CLNAS_MAX_REPEATS];       /* R undefined (NaN/inf reached the ReLUs) */
} round_shared;

typedef struct search_state {
    clnas_ctx *ctx;
    const clnas_search_opts *o;
    clnas_search_result *res;
    clnas_sampler *si, *sp;
    float *images, *patches; /* one batch and one patch set; K of each with shared batches */
    round_shared rs;
    clnas_pool *pool; /* several devices: each round's candidates spread over them (NULL: s->ctx alone) */
    const clnas_search_notes *notes; /* NULL: none (a device dropped is not told; one process) */
    int done, total;
    double t0;
    int show;
    /* the totals when the previous candidate finished (its cost is the difference) */
    cost_meter meter;  /* each candidate's cost (cost_meter.h) */
} search_state;

/* Fills c's cost from the totals (a candidate computed now) and takes the new totals as the mark,
 * or adds its recorded cost to the prior totals (one taken over from the resume). */
static void account(search_state *s, clnas_candidate *c, int was_resumed)
{
    clnas_search_result *r = s->res;
    cost_counters n = {r->kappa_gflop, r->kappa_evals, r->regions_evals, &r->prior_wall_s, &r->prior_kappa_gflop,
                       &r->prior_kappa_evals, &r->prior_regions_evals};
    cost_meter_account(&s->meter, &n, c, was_resumed, clnas_now());
}

static void progress(search_state *s, int round, int nrounds, int cand, int ncand)
{
    if (!s->show) return;
    double el = clnas_now() - s->t0;
    double eta = s->done > 0 ? el / s->done * (s->total - s->done) : 0;
    fprintf(stderr, "\r%s%sround %d/%d  candidate %2d/%d  elapsed %5.0fs  ETA %5.0fs ", s->o->progress_label ? s->o->progress_label : "",
            s->o->progress_label ? "  " : "", round, nrounds, cand, ncand, el, eta);
    fflush(stderr);
}

static clnas_status build(const clnas_nb201_arch *a, int lr, const clnas_score_opts *so, clnas_net **net, clnas_ctx *ctx)
{
    char err[512];
    clnas_status st = clnas_nb201_proxies(a, so->dataset, lr ? NULL : net, lr ? net : NULL, err, sizeof err);
    return st == CLNAS_OK ? st : clnas_set_error(ctx, st, "%s", err);
}

static void eval_free(evaluator *e)
{
    clnas_ntk_destroy(e->ntk);
    clnas_lr_destroy(e->lr);
    clnas_net_destroy(e->net);
    memset(e, 0, sizeof *e);
}

static clnas_status eval_make(clnas_ctx *ctx, const clnas_nb201_arch *a, int lr, uint64_t stream, const clnas_score_opts *so,
                              evaluator *e)
{
    memset(e, 0, sizeof *e);
    clnas_status st = build(a, lr, so, &e->net, ctx);
    if (st != CLNAS_OK) return st;
    float *p = malloc(clnas_net_nparams(e->net) * sizeof *p);
    if (!p) {
        eval_free(e);
        return clnas_set_error(ctx, CLNAS_E_NOMEM, "search: out of host memory");
    }
    clnas_net_init_params(e->net, so->seed, stream, so->init, p);
    if (lr) {
        st = clnas_lr_create(ctx, e->net, so->lr_batch, &e->lr);
        if (st == CLNAS_OK) st = clnas_lr_set_params(e->lr, p);
    } else {
        clnas_ntk_config nc = {so->batch, so->seeds, so->fp64_gram};
        st = clnas_ntk_create(ctx, e->net, &nc, &e->ntk);
        if (st == CLNAS_OK) st = clnas_ntk_set_params(e->ntk, p);
    }
    free(p);
    if (st != CLNAS_OK) eval_free(e);
    return st;
}

static double kappa_value(const clnas_kappa *k, int *undefined)
{
    if (k->status == CLNAS_KAPPA_OK) return k->kappa;
    (*undefined)++;
    return KAPPA_UNDEFINED_VALUE;
}

static void edge_name(int e, char *buf, size_t n)
{
    int to, from;
    clnas_nb201_edge_nodes(e, &to, &from);
    snprintf(buf, n, "%d<-%d", to, from);
}

/* A finished result of this candidate from an interrupted run, or NULL. */
static const clnas_candidate *resumed(const clnas_search_opts *o, int round, const clnas_candidate *c)
{
    for (int i = 0; i < o->nresume; i++)
        if (o->resume_round[i] == round && o->resume[i].edge == c->edge && o->resume[i].op == c->op) return &o->resume[i];
    return NULL;
}

/* What scoring one candidate adds to the search's counters, replayed in candidate order (so that
 * the floating-point sum of kappa_gflop is the same whichever device scored what). */
typedef struct cand_count {
    long kappa_evals, regions_evals;
    int ngflop;
    double gflop[CLNAS_MAX_REPEATS];
} cand_count;

static void count_add(clnas_search_result *res, const cand_count *k)
{
    res->kappa_evals += k->kappa_evals;
    res->regions_evals += k->regions_evals;
    for (int i = 0; i < k->ngflop; i++) res->kappa_gflop += k->gflop[i];
}

/* Scores one candidate on ctx: NTK pairs on its `repeats` batches (images, one after the other),
 * LR pairs on its `repeats` patch sets. */
static clnas_status score_candidate_on(clnas_ctx *ctx, const clnas_score_opts *so, const clnas_nb201_arch *cur,
                                       evaluator *ntk_cur, clnas_candidate *c, int round, int index, const float *images,
                                       const float *patches, cand_count *cnt)
{
    size_t img = (size_t)3 * clnas_dataset_hw(so->dataset) * clnas_dataset_hw(so->dataset);
    clnas_nb201_arch cand = *cur;
    cand.ops[c->edge] &= (unsigned char)~(1u << c->op);
    evaluator nc, lc, lk;
    clnas_status st;
    memset(cnt, 0, sizeof *cnt);
    /* NTK: the candidate copies the current network's weights (same round stream) */
    uint64_t ntk_stream = clnas_key_combine(KEY_NTK_ROUND, (uint64_t)round);
    st = eval_make(ctx, &cand, 0, ntk_stream, so, &nc);
    if (st != CLNAS_OK) return st;
    double sum = 0;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        const float *batch = images + (size_t)r * so->batch * img;
        clnas_kappa kc, kd;
        st = clnas_ntk_eval(ntk_cur->ntk, batch, &kc, NULL, NULL, NULL, NULL, NULL);
        if (st == CLNAS_OK) st = clnas_ntk_eval(nc.ntk, batch, &kd, NULL, NULL, NULL, NULL, NULL);
        if (st != CLNAS_OK) break;
        cnt->kappa_evals += 2;
        cnt->gflop[cnt->ngflop++] = kappa_gflop(ntk_cur->net, so->batch) + kappa_gflop(nc.net, so->batch);
        c->kappa_cur[r] = kappa_value(&kc, &c->kappa_undefined);
        c->kappa_cand[r] = kappa_value(&kd, &c->kappa_undefined);
        sum += clnas_py_round((c->kappa_cur[r] - c->kappa_cand[r]) / c->kappa_cur[r], 3);
    }
    eval_free(&nc);
    if (st != CLNAS_OK) return st;
    c->dk = sum / so->repeats;
    /* LR: fresh weights per candidate, shared by its current and candidate thin nets */
    uint64_t lr_stream = clnas_key_combine(clnas_key_combine(KEY_LR_CAND, (uint64_t)round), (uint64_t)index);
    st = eval_make(ctx, cur, 1, lr_stream, so, &lc);
    if (st != CLNAS_OK) return st;
    st = eval_make(ctx, &cand, 1, lr_stream, so, &lk);
    if (st != CLNAS_OK) { eval_free(&lc); return st; }
    int n = so->lr_batch * so->lr_batches;
    sum = 0;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        int bad_cur = 0, bad_cand = 0;
        const float *set = patches + (size_t)r * n * 9;
        st = clnas_lr_count(lc.lr, set, n, &c->r_cur[r], &bad_cur, NULL);
        if (st == CLNAS_OK) st = clnas_lr_count(lk.lr, set, n, &c->r_cand[r], &bad_cand, NULL);
        if (st == CLNAS_OK) {
            cnt->regions_evals += 2;
            c->r_cur[r] = region_value(c->r_cur[r], bad_cur, &c->regions_undefined);
            c->r_cand[r] = region_value(c->r_cand[r], bad_cand, &c->regions_undefined);
            sum += clnas_search_region_change(c->r_cur[r], c->r_cand[r]);
        }
    }
    eval_free(&lc);
    eval_free(&lk);
    c->dr = sum / so->repeats;
    return st;
}

/* A candidate's data in the original mode: its `repeats` NTK batches, then its `repeats` patch
 * sets, the next draws of the search's two samplers (independent generators, so drawing all
 * batches before the patches gives the numbers of drawing them repeat by repeat). */
static void draw_candidate_data(search_state *s, float *images, float *patches)
{
    const clnas_score_opts *so = &s->o->score;
    size_t img = (size_t)3 * clnas_dataset_hw(so->dataset) * clnas_dataset_hw(so->dataset);
    int n = so->lr_batch * so->lr_batches;
    for (int r = 0; r < so->repeats; r++) clnas_sampler_batch(s->si, so->batch, 1, images + (size_t)r * so->batch * img, NULL);
    for (int r = 0; r < so->repeats; r++) clnas_sampler_patches(s->sp, n, patches + (size_t)r * n * 9);
}

/* scores one candidate: NTK pairs on fresh batches, LR pairs on the next patches */
static clnas_status score_candidate(search_state *s, const clnas_nb201_arch *cur, evaluator *ntk_cur, clnas_candidate *c,
                                    int round, int index)
{
    const clnas_candidate *old = resumed(s->o, round, c);
    /* a resumed candidate's draws are made too, so that the following candidates see the same data */
    draw_candidate_data(s, s->images, s->patches);
    if (old) {
        *c = *old;
        return CLNAS_OK;
    }
    cand_count cnt;
    clnas_status st = score_candidate_on(s->ctx, &s->o->score, cur, ntk_cur, c, round, index, s->images, s->patches, &cnt);
    count_add(s->res, &cnt);
    return st;
}

/* Shared batches: the current network's kappa and R on each of the round's K batches and patch
 * sets, once per round. The thin net gets the round's weights; the NTK net is the round's `cur`. */
static clnas_status shared_round_scores(search_state *s, const clnas_nb201_arch *cur, evaluator *ntk_cur, int round)
{
    const clnas_score_opts *so = &s->o->score;
    round_shared *rs = &s->rs;
    size_t img = (size_t)3 * clnas_dataset_hw(so->dataset) * clnas_dataset_hw(so->dataset);
    int n = so->lr_batch * so->lr_batches;
    clnas_status st = CLNAS_OK;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        st = clnas_ntk_eval(ntk_cur->ntk, s->images + (size_t)r * so->batch * img, &rs->kappa_cur[r], NULL, NULL, NULL, NULL, NULL);
        if (st == CLNAS_OK) {
            s->res->kappa_evals++;
            s->res->kappa_gflop += kappa_gflop(ntk_cur->net, so->batch);
        }
    }
    if (st != CLNAS_OK) return st;
    evaluator lc;
    st = eval_make(s->ctx, cur, 1, clnas_key_combine(KEY_LR_ROUND, (uint64_t)round), so, &lc);
    if (st != CLNAS_OK) return st;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        st = clnas_lr_count(lc.lr, s->patches + (size_t)r * n * 9, n, &rs->r_cur[r], &rs->r_cur_bad[r], NULL);
        if (st == CLNAS_OK) s->res->regions_evals++;
    }
    eval_free(&lc);
    if (st == CLNAS_OK) rs->ready = 1;
    return st;
}

/* Scores one candidate in the shared-batches mode on ctx: repeat r compares the candidate with the
 * round's shared kappa_cur / R_cur (rs) on the round's batch r / patch set r. The candidate's nets
 * take the round's weights, so the modules it shares with the current network are identical. */
static clnas_status score_candidate_shared_on(clnas_ctx *ctx, const clnas_score_opts *so, const round_shared *rs,
                                              const clnas_nb201_arch *cur, clnas_candidate *c, int round,
                                              const float *images, const float *patches, cand_count *cnt)
{
    clnas_nb201_arch cand = *cur;
    cand.ops[c->edge] &= (unsigned char)~(1u << c->op);
    size_t img = (size_t)3 * clnas_dataset_hw(so->dataset) * clnas_dataset_hw(so->dataset);
    int n = so->lr_batch * so->lr_batches;
    memset(cnt, 0, sizeof *cnt);
    evaluator e;
    clnas_status st = eval_make(ctx, &cand, 0, clnas_key_combine(KEY_NTK_ROUND, (uint64_t)round), so, &e);
    if (st != CLNAS_OK) return st;
    double sum = 0;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        clnas_kappa kd;
        st = clnas_ntk_eval(e.ntk, images + (size_t)r * so->batch * img, &kd, NULL, NULL, NULL, NULL, NULL);
        if (st != CLNAS_OK) break;
        cnt->kappa_evals++;
        cnt->gflop[cnt->ngflop++] = kappa_gflop(e.net, so->batch);
        c->kappa_cur[r] = kappa_value(&rs->kappa_cur[r], &c->kappa_undefined);
        c->kappa_cand[r] = kappa_value(&kd, &c->kappa_undefined);
        sum += clnas_py_round((c->kappa_cur[r] - c->kappa_cand[r]) / c->kappa_cur[r], 3);
    }
    eval_free(&e);
    if (st != CLNAS_OK) return st;
    c->dk = sum / so->repeats;
    st = eval_make(ctx, &cand, 1, clnas_key_combine(KEY_LR_ROUND, (uint64_t)round), so, &e);
    if (st != CLNAS_OK) return st;
    sum = 0;
    for (int r = 0; r < so->repeats && st == CLNAS_OK; r++) {
        int bad = 0;
        st = clnas_lr_count(e.lr, patches + (size_t)r * n * 9, n, &c->r_cand[r], &bad, NULL);
        if (st != CLNAS_OK) break;
        cnt->regions_evals++;
        c->r_cur[r] = region_value(rs->r_cur[r], rs->r_cur_bad[r], &c->regions_undefined);
        c->r_cand[r] = region_value(c->r_cand[r], bad, &c->regions_undefined);
        sum += clnas_search_region_change(c->r_cur[r], c->r_cand[r]);
    }
    eval_free(&e);
    c->dr = sum / so->repeats;
    return st;
}

static clnas_status score_candidate_shared(search_state *s, const clnas_nb201_arch *cur, evaluator *ntk_cur,
                                           clnas_candidate *c, int round)
{
    const clnas_candidate *old = resumed(s->o, round, c);
    if (old) {
        /* nothing to replay: the data of a round is drawn once, before its first candidate */
        *c = *old;
        return CLNAS_OK;
    }
    clnas_status st;
    if (!s->rs.ready && (st = shared_round_scores(s, cur, ntk_cur, round)) != CLNAS_OK) return st;
    cand_count cnt;
    st = score_candidate_shared_on(s->ctx, &s->o->score, &s->rs, cur, c, round, s->images, s->patches, &cnt);
    count_add(s->res, &cnt);
    return st;
}

/* The settings a search needs, and a resume that matches its mode. */
static clnas_status check_opts(clnas_ctx *ctx, const clnas_dataset *data, const clnas_search_opts *o)
{
    const clnas_score_opts *so = &o->score;
    if (so->batch < 2 || so->repeats < 1 || so->repeats > CLNAS_MAX_REPEATS || so->lr_batch < 1 || so->lr_batches < 1 ||
        o->prune_number < 1)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "search: batch >= 2, 1 <= repeats <= %d, lr sizes >= 1 and prune number >= 1 needed",
                               CLNAS_MAX_REPEATS);
    if (clnas_dataset_kind_of(data) != so->dataset)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "search: the data set is %s, the search asked for %s",
                               clnas_dataset_name(clnas_dataset_kind_of(data)), clnas_dataset_name(so->dataset));
    if (o->nresume > 0 && !o->resume_shared_batches != !o->shared_batches)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG,
                               "search: cannot resume: the %d candidates to resume were computed with %s batches, this search "
                               "uses %s batches; the two modes draw different data and weights and cannot be mixed in one "
                               "search (run it again in the same mode, or start afresh)",
                               o->nresume, clnas_search_batches_name(o->resume_shared_batches),
                               clnas_search_batches_name(o->shared_batches));
    return CLNAS_OK;
}

/* Rounds of a search, and its candidates in all (for the ETA): each round removes k ops per edge. */
static int count_rounds(int prune_number, int *total)
{
    int ops = 4, nr = 0;
    *total = 0;
    while (ops > 1) {
        *total += CLNAS_NB201_EDGES * ops;
        int k = prune_number < ops - 1 ? prune_number : ops - 1;
        ops -= k;
        nr++;
    }
    return nr;
}

/* Shared batches: the round's data, drawn from the same samplers as the original mode (so round
 * 1's batches are the first candidate's there), whether or not its candidates are resumed. */
static void draw_round_data(search_state *s)
{
    const clnas_score_opts *so = &s->o->score;
    int hw = clnas_dataset_hw(so->dataset);
    size_t img = (size_t)3 * hw * hw;
    int np = so->lr_batch * so->lr_batches;
    for (int r = 0; r < so->repeats; r++) clnas_sampler_batch(s->si, so->batch, 1, s->images + (size_t)r * so->batch * img, NULL);
    for (int r = 0; r < so->repeats; r++) clnas_sampler_patches(s->sp, np, s->patches + (size_t)r * np * 9);
    s->rs.ready = 0;
}

/* The candidates of a round: every op of every edge that still has more than one. */
static int list_candidates(const clnas_nb201_arch *arch, clnas_candidate *cands)
{
    int n = 0;
    for (int e = 0; e < CLNAS_NB201_EDGES; e++) {
        if (clnas_nb201_edge_count(arch, e) <= 1) continue;
        for (int op = 0; op < CLNAS_NB201_NOPS; op++)
            if (arch->ops[e] & (1u << op)) {
                memset(&cands[n], 0, sizeof cands[n]);
                cands[n].edge = e;
                cands[n].op = op;
                n++;
            }
    }
    return n;
}

/* ---- a round over several devices ---- */

/* One round's candidates as a pool job: candidate i is scored entirely on one device, from the
 * data it would have drawn in the one-device order (drawn up front, in candidate order), and
 * committed in candidate order (counters, trace, progress), so the result equals one device's. */
typedef struct round_job {
    search_state *s;
    const clnas_nb201_arch *arch;
    int round, n;
    clnas_candidate *cands;
    evaluator *cur;          /* [devices]: the round's current NTK network, made on first use */
    float *images, *patches; /* original mode: every candidate's batches and patch sets */
    cand_count *cnt;         /* [n] */
    unsigned char *mine;     /* [n] across processes: scored by this one */
} round_job;

/* A candidate's result as processes exchange it. */
typedef struct cand_result {
    clnas_candidate c;
    cand_count cnt;
} cand_result;

static int mark_mine(void *ud, int i, int d)
{
    (void)d;
    ((round_job *)ud)->mine[i] = 1;
    return 0;
}

/* Across processes: every candidate's result on every process. */
static clnas_status share_round(search_state *s, round_job *j)
{
    cand_result *all = calloc((size_t)j->n + 1, sizeof *all);
    if (!all) return clnas_set_error(s->ctx, CLNAS_E_NOMEM, "search: out of host memory");
    for (int i = 0; i < j->n; i++) all[i] = (cand_result){j->cands[i], j->cnt[i]};
    int bad = s->notes->share(s->notes->ud, all, sizeof *all, j->n, j->mine);
    for (int i = 0; !bad && i < j->n; i++) {
        j->cands[i] = all[i].c;
        j->cnt[i] = all[i].cnt;
    }
    free(all);
    return bad ? clnas_set_error(s->ctx, CLNAS_E_IO, "search round %d: the processes could not share the results", j->round)
               : CLNAS_OK;
}

static clnas_status round_work(void *ud, clnas_ctx *ctx, int d, int i)
{
    round_job *j = ud;
    search_state *s = j->s;
    const clnas_score_opts *so = &s->o->score;
    clnas_candidate *c = &j->cands[i];
    int edge = c->edge, op = c->op;
    memset(c, 0, sizeof *c); /* a retry on another device starts afresh */
    c->edge = edge;
    c->op = op;
    memset(&j->cnt[i], 0, sizeof j->cnt[i]);
    const clnas_candidate *old = resumed(s->o, j->round, c);
    if (old) {
        *c = *old;
        return CLNAS_OK;
    }
    if (s->o->shared_batches)
        return score_candidate_shared_on(ctx, so, &s->rs, j->arch, c, j->round, s->images, s->patches, &j->cnt[i]);
    clnas_status st;
    if (!j->cur[d].ntk &&
        (st = eval_make(ctx, j->arch, 0, clnas_key_combine(KEY_NTK_ROUND, (uint64_t)j->round), so, &j->cur[d])) != CLNAS_OK)
        return st;
    size_t img = (size_t)3 * clnas_dataset_hw(so->dataset) * clnas_dataset_hw(so->dataset);
    size_t np = (size_t)so->lr_batch * so->lr_batches;
    return score_candidate_on(ctx, so, j->arch, &j->cur[d], c, j->round, i,
                              j->images + (size_t)i * so->repeats * so->batch * img,
                              j->patches + (size_t)i * so->repeats * np * 9, &j->cnt[i]);
}

static void round_note(void *ud, const char *msg)
{
    const search_state *s = ((round_job *)ud)->s;
    if (s->notes && s->notes->note) s->notes->note(s->notes->ud, msg);
}

static int round_commit(void *ud, int i, int d)
{
    (void)d;
    round_job *j = ud;
    search_state *s = j->s;
    count_add(s->res, &j->cnt[i]);
    account(s, &j->cands[i], resumed(s->o, j->round, &j->cands[i]) != NULL);
    s->res->kappa_undefined += j->cands[i].kappa_undefined;
    s->res->regions_undefined += j->cands[i].regions_undefined;
    s->res->candidates++;
    s->done++;
    progress(s, j->round, s->res->rounds, i + 1, j->n);
    if (s->o->trace && s->o->trace->candidate) s->o->trace->candidate(s->o->trace->ud, j->round, &j->cands[i], s->o->score.repeats);
    return 0;
}

/* The round's data before anything is scored: the shared mode's K batches and the current
 * network's scores on them (on the first device, when some candidate is not resumed), or every
 * candidate's own draws in the original mode. */
static clnas_status round_pool_data(search_state *s, round_job *j)
{
    const clnas_score_opts *so = &s->o->score;
    if (!s->o->shared_batches) {
        size_t img = (size_t)3 * clnas_dataset_hw(so->dataset) * clnas_dataset_hw(so->dataset);
        size_t np = (size_t)so->lr_batch * so->lr_batches, per = (size_t)so->repeats;
        j->images = malloc((size_t)j->n * per * so->batch * img * sizeof(float));
        j->patches = malloc((size_t)j->n * per * np * 9 * sizeof(float));
        if (!j->images || !j->patches) return clnas_set_error(s->ctx, CLNAS_E_NOMEM, "search: out of host memory");
        for (int i = 0; i < j->n; i++)
            draw_candidate_data(s, j->images + (size_t)i * per * so->batch * img, j->patches + (size_t)i * per * np * 9);
        return CLNAS_OK;
    }
    draw_round_data(s);
    int fresh = 0;
    for (int i = 0; i < j->n; i++) fresh |= resumed(s->o, j->round, &j->cands[i]) == NULL;
    if (!fresh) return CLNAS_OK;
    evaluator cur;
    clnas_status st = eval_make(s->ctx, j->arch, 0, clnas_key_combine(KEY_NTK_ROUND, (uint64_t)j->round), so, &cur);
    if (st == CLNAS_OK) st = shared_round_scores(s, j->arch, &cur, j->round);
    eval_free(&cur);
    return st;
}

/* Scores the candidates of a round over the pool (the counterpart of run_round's loop). */
static clnas_status round_pool(search_state *s, const clnas_nb201_arch *arch, int round, clnas_candidate *cands, int n)
{
    int nd = clnas_pool_size(s->pool), first = clnas_pool_first_alive(s->pool);
    if (first < 0) return clnas_set_error(s->ctx, CLNAS_E_NO_DEVICE, "search: no device is left in the pool");
    s->ctx = clnas_pool_ctx(s->pool, first); /* the round's host-side work: on a device that still works */
    round_job j = {s, arch, round, n, cands, calloc((size_t)nd, sizeof(evaluator)), NULL, NULL,
                   calloc((size_t)n + 1, sizeof(cand_count)), calloc((size_t)n + 1, 1)};
    int procs = s->notes && s->notes->run && s->notes->share;
    clnas_status st = j.cur && j.cnt && j.mine ? round_pool_data(s, &j)
                                               : clnas_set_error(s->ctx, CLNAS_E_NOMEM, "search: out of host memory");
    if (st == CLNAS_OK) {
        char err[CLNAS_ERRMSG_LEN];
        clnas_pool_job job = {n, round_work, procs ? mark_mine : round_commit, NULL, round_note, &j, 1, NULL};
        st = procs ? s->notes->run(s->notes->ud, s->pool, &job, err, sizeof err) : clnas_pool_run(s->pool, &job, NULL, err, sizeof err);
        if (st == CLNAS_OK && procs && (st = share_round(s, &j)) == CLNAS_OK)
            for (int i = 0; i < n; i++) round_commit(&j, i, 0);
        if (st != CLNAS_OK) {
            int f = clnas_pool_failed_item(s->pool);
            char en[16] = "?";
            if (f >= 0) edge_name(cands[f].edge, en, sizeof en);
            clnas_set_error(s->ctx, st, "%s [search round %d, candidate %s %s]", err, round, en,
                            f >= 0 ? clnas_nb201_op_name(cands[f].op) : "?");
        }
    }
    for (int d = 0; j.cur && d < nd; d++) eval_free(&j.cur[d]);
    free(j.cur);
    free(j.cnt);
    free(j.mine);
    free(j.images);
    free(j.patches);
    return st;
}

/* One round: scores every candidate of *arch (reporting each to the sink), ranks them and prunes
 * *arch. cands has room for every (edge, op). */
static clnas_status run_round(search_state *s, clnas_nb201_arch *arch, int round, clnas_candidate *cands)
{
    const clnas_search_opts *o = s->o;
    const clnas_score_opts *so = &o->score;
    int k_prune = clnas_nb201_edge_count(arch, 0) - 1;
    if (o->prune_number < k_prune) k_prune = o->prune_number;
    int n = list_candidates(arch, cands);
    evaluator cur;
    memset(&cur, 0, sizeof cur);
    clnas_status st = s->pool ? round_pool(s, arch, round, cands, n)
                              : eval_make(s->ctx, arch, 0, clnas_key_combine(KEY_NTK_ROUND, (uint64_t)round), so, &cur);
    if (st != CLNAS_OK) return st;
    if (o->shared_batches && !s->pool) draw_round_data(s);
    for (int i = 0; !s->pool && i < n; i++) {
        progress(s, round, s->res->rounds, i + 1, n);
        st = o->shared_batches ? score_candidate_shared(s, arch, &cur, &cands[i], round)
                               : score_candidate(s, arch, &cur, &cands[i], round, i);
        if (st != CLNAS_OK) {
            char en[16];
            edge_name(cands[i].edge, en, sizeof en);
            clnas_append_error(s->ctx, " [search round %d, candidate %s %s]", round, en, clnas_nb201_op_name(cands[i].op));
            eval_free(&cur);
            return st;
        }
        account(s, &cands[i], resumed(o, round, &cands[i]) != NULL);
        s->res->kappa_undefined += cands[i].kappa_undefined;
        s->res->regions_undefined += cands[i].regions_undefined;
        s->res->candidates++;
        s->done++;
        if (o->trace && o->trace->candidate) o->trace->candidate(o->trace->ud, round, &cands[i], so->repeats);
    }
    eval_free(&cur);
    if (clnas_search_rank(cands, n, k_prune) != CLNAS_OK)
        return clnas_set_error(s->ctx, CLNAS_E_NOMEM, "search round %d: out of host memory ranking %d candidates", round, n);
    clnas_nb201_arch before = *arch;
    for (int i = 0; i < n; i++)
        if (cands[i].pruned) arch->ops[cands[i].edge] &= (unsigned char)~(1u << cands[i].op);
    if (o->trace && o->trace->round) o->trace->round(o->trace->ud, round, &before, arch, cands, n);
    return CLNAS_OK;
}

static clnas_status search_impl(clnas_ctx *ctx, clnas_pool *pool, const clnas_search_notes *notes, const clnas_dataset *data,
                                const clnas_search_opts *o, clnas_search_result *res)
{
    memset(res, 0, sizeof *res);
    const clnas_score_opts *so = &o->score;
    clnas_status st = check_opts(ctx, data, o);
    if (st != CLNAS_OK) return st;
    search_state s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.pool = pool;
    s.notes = notes;
    s.o = o;
    s.res = res;
    s.t0 = s.meter.t = clnas_now();
    s.show = !o->quiet && isatty(2);
    int hw = clnas_dataset_hw(so->dataset);
    /* a candidate's (or, in the shared mode, a round's) K batches and K patch sets */
    size_t nbuf = (size_t)so->repeats;
    s.images = malloc(nbuf * so->batch * 3 * hw * hw * sizeof(float));
    s.patches = malloc(nbuf * so->lr_batch * so->lr_batches * 9 * sizeof(float));
    clnas_candidate *cands = calloc(CLNAS_NB201_EDGES * CLNAS_NB201_NOPS, sizeof *cands);
    if (!s.images || !s.patches || !cands) { st = clnas_set_error(ctx, CLNAS_E_NOMEM, "search: out of host memory"); goto done; }
    if ((st = clnas_sampler_create(data, so->seed, CLNAS_STREAM_NTK_DATA, &s.si)) != CLNAS_OK ||
        (st = clnas_sampler_create(data, so->seed, CLNAS_STREAM_LR_DATA, &s.sp)) != CLNAS_OK) {
        clnas_set_error(ctx, st, "search: cannot create the data samplers");
        goto done;
    }
    clnas_nb201_arch arch;
    for (int e = 0; e < CLNAS_NB201_EDGES; e++) arch.ops[e] = 0x1e; /* `none` removed up front */
    res->rounds = count_rounds(o->prune_number, &s.total);
    if (o->trace && o->trace->begin) o->trace->begin(o->trace->ud, o);
    for (int round = 1; !clnas_nb201_is_single_path(&arch); round++)
        if ((st = run_round(&s, &arch, round, cands)) != CLNAS_OK) goto done;
    res->arch = arch;
    res->wall_s = clnas_now() - s.t0;
done:
    /* a pool search may have moved its host-side work to another device: the message goes to ctx */
    if (st != CLNAS_OK && s.ctx != ctx) clnas_set_error(ctx, st, "%s", clnas_ctx_errmsg(s.ctx));
    if (s.show) fputc('\n', stderr);
    clnas_sampler_destroy(s.si);
    clnas_sampler_destroy(s.sp);
    free(s.images);
    free(s.patches);
    free(cands);
    return st;
}

clnas_status clnas_search_nb201(clnas_ctx *ctx, const clnas_dataset *data, const clnas_search_opts *o, clnas_search_result *res)
{
    return search_impl(ctx, NULL, NULL, data, o, res);
}

clnas_status clnas_search_nb201_pool(clnas_pool *pool, const clnas_search_notes *notes, const clnas_dataset *data,
                                     const clnas_search_opts *o, clnas_search_result *res)
{
    /* one device: the one-device search itself */
    int spread = clnas_pool_size(pool) > 1 || (notes && notes->run && notes->share);
    return search_impl(clnas_pool_ctx(pool, 0), spread ? pool : NULL, notes, data, o, res);
}
