/* search/cost_meter.h - what each search candidate cost (clnas_candidate's cost_* fields), shared by
 * the NB201 and DARTS searches: the seconds since the previous candidate finished and the growth of
 * the search's kappa GFLOP / kappa evaluations / R evaluations counters since then. A candidate taken
 * over from a resumed trace keeps its recorded cost, which is added to the result's prior_* sums
 * (NaN seconds from a trace of an older clnas make prior seconds NaN); the counters then keep their
 * mark, so work done before the first computed candidate (e.g. a round's shared current-network
 * scores) goes to that candidate. */
#ifndef CLNAS_SEARCH_COST_METER_H
#define CLNAS_SEARCH_COST_METER_H
#include "clnas/search.h"

typedef struct cost_meter {
    double t, gflop;     /* when the previous candidate finished; the GFLOP counter then */
    long kappa, regions; /* the evaluation counters then */
} cost_meter;

/* The search's counters now, and where a resumed candidate's recorded cost is summed. */
typedef struct cost_counters {
    double gflop;
    long kappa, regions;
    double *prior_s, *prior_gflop;
    long *prior_kappa, *prior_regions;
} cost_counters;

static inline void cost_meter_account(cost_meter *m, const cost_counters *n, clnas_candidate *c, int was_resumed,
                                      double now)
{
    if (was_resumed) {
        *n->prior_s += c->cost_s;
        *n->prior_gflop += c->cost_gflop;
        *n->prior_kappa += c->cost_kappa_evals;
        *n->prior_regions += c->cost_regions_evals;
        m->t = now;
        return;
    }
    c->cost_s = now - m->t;
    c->cost_gflop = n->gflop - m->gflop;
    c->cost_kappa_evals = n->kappa - m->kappa;
    c->cost_regions_evals = n->regions - m->regions;
    *m = (cost_meter){now, n->gflop, n->kappa, n->regions};
}
#endif
