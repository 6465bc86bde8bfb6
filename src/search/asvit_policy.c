/* asvit_policy.c - As-ViT's search logic without scoring (asvit_search.h): the REINFORCE
 * policy of search/reinforce.py (12 independent categoricals, Adam, EMA baseline, the
 * normalised-change reward of TEG) and the candidates and selection of search/grow.py. */
#include <math.h>
#include <string.h>
#include "clnas/asvit_search.h"
#include "core/rng.h"

void clnas_asvit_policy_init(clnas_asvit_policy *p, uint64_t seed)
{
    memset(p, 0, sizeof *p);
    const uint64_t key = clnas_key_module(seed, 0, "asvit.policy.logits");
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++)
        for (int k = 0; k < clnas_asvit_choice_count(i); k++)
            p->logits[i][k] = 1e-3 * clnas_ctr_normal(key, (uint64_t)i * CLNAS_ASVIT_MAXV + (uint64_t)k);
    p->lr = 0.08;
    p->beta1 = 0.9;
    p->beta2 = 0.999;
    p->eps = 1e-8;
    p->ema_momentum = 0.9;
    p->seed = seed;
}

void clnas_asvit_policy_probs(const clnas_asvit_policy *p, int i, double *prob)
{
    const int n = clnas_asvit_choice_count(i);
    double mx = p->logits[i][0], s = 0;
    for (int k = 1; k < n; k++) mx = p->logits[i][k] > mx ? p->logits[i][k] : mx;
    for (int k = 0; k < n; k++) s += prob[k] = exp(p->logits[i][k] - mx);
    for (int k = 0; k < n; k++) prob[k] /= s;
}

double clnas_asvit_policy_entropy(const clnas_asvit_policy *p)
{
    double h = 0, pr[CLNAS_ASVIT_MAXV];
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        clnas_asvit_policy_probs(p, i, pr);
        for (int k = 0; k < clnas_asvit_choice_count(i); k++)
            if (pr[k] > 0) h -= pr[k] * log(pr[k]);
    }
    return h;
}

double clnas_asvit_policy_sample(clnas_asvit_policy *p, int a[CLNAS_ASVIT_NCHOICES])
{
    const uint64_t key = clnas_key_module(p->seed, 0, "asvit.policy.sample");
    double logp = 0, pr[CLNAS_ASVIT_MAXV];
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        const int n = clnas_asvit_choice_count(i);
        clnas_asvit_policy_probs(p, i, pr);
        double u = clnas_ctr_uniform(key, p->draws++), c = 0;
        a[i] = n - 1;
        for (int k = 0; k < n; k++) {
            c += pr[k];
            if (u < c) { a[i] = k; break; }
        }
        logp += log(pr[a[i]]);
    }
    return logp;
}

void clnas_asvit_policy_argmax(const clnas_asvit_policy *p, int a[CLNAS_ASVIT_NCHOICES])
{
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        a[i] = 0;
        for (int k = 1; k < clnas_asvit_choice_count(i); k++)
            if (p->logits[i][k] > p->logits[i][a[i]]) a[i] = k;
    }
}

/* c_t of the newest value in a ring of the last CLNAS_ASVIT_WINDOW values (n pushed so far). */
static double change(const double *ring, int n)
{
    if (n <= 1) return 0;
    const int w = n < CLNAS_ASVIT_WINDOW ? n : CLNAS_ASVIT_WINDOW;
    double mx = -INFINITY, mn = INFINITY;
    for (int j = 0; j < w; j++) {
        double v = ring[(n - 1 - j) % CLNAS_ASVIT_WINDOW];
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    const double cur = ring[(n - 1) % CLNAS_ASVIT_WINDOW], prev = ring[(n - 2) % CLNAS_ASVIT_WINDOW];
    return (cur - prev) / (mx - mn + 1e-6);
}

void clnas_asvit_policy_update(clnas_asvit_policy *p, const int a[CLNAS_ASVIT_NCHOICES], double kappa, double L,
                               double *reward, double *baseline)
{
    p->hist_k[p->nhist % CLNAS_ASVIT_WINDOW] = kappa;
    p->hist_l[p->nhist % CLNAS_ASVIT_WINDOW] = L;
    p->nhist++;
    /* TEG.get_reward: 0 for the first step, else -c(ntk) + c(exp) */
    const double r = p->nhist <= 1 ? 0.0 : -change(p->hist_k, p->nhist) + change(p->hist_l, p->nhist);
    p->ema_num = p->ema_momentum * p->ema_num + (1 - p->ema_momentum) * r;
    p->ema_den = p->ema_momentum * p->ema_den + (1 - p->ema_momentum);
    const double b = p->ema_num / p->ema_den, adv = r - b;
    /* d(-log pi(a) adv)/d logits[i][k] = -adv (1[k = a_i] - p_ik); one Adam step */
    p->t++;
    const double bc1 = 1 - pow(p->beta1, p->t), bc2 = 1 - pow(p->beta2, p->t);
    double pr[CLNAS_ASVIT_MAXV];
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        clnas_asvit_policy_probs(p, i, pr);
        for (int k = 0; k < clnas_asvit_choice_count(i); k++) {
            const double g = -adv * ((k == a[i]) - pr[k]);
            p->m[i][k] = p->beta1 * p->m[i][k] + (1 - p->beta1) * g;
            p->v[i][k] = p->beta2 * p->v[i][k] + (1 - p->beta2) * g * g;
            p->logits[i][k] -= p->lr / bc1 * p->m[i][k] / (sqrt(p->v[i][k]) / sqrt(bc2) + p->eps);
        }
    }
    if (reward) *reward = r;
    if (baseline) *baseline = b;
}

/* ---- grow ---- */

int clnas_asvit_grow_candidates(const int depth[CLNAS_ASVIT_STAGES], int dim, clnas_asvit_candidate *out)
{
    static const double ratios[4] = {0.05, 0.1, 0.15, 0.2};
    int widths[4], nw = 0;
    for (int j = 0; j < 4; j++) {
        int w = (int)nearbyint(dim * (1 + ratios[j])); /* Python's round: halves to even */
        if (nw > 0 && widths[nw - 1] == w) continue;
        widths[nw++] = w;
    }
    int n = 0;
    for (int s = 0; s < CLNAS_ASVIT_STAGES; s++)
        for (int j = 0; j < nw; j++) {
            memcpy(out[n].depth, depth, sizeof out[n].depth);
            out[n].depth[s]++;
            out[n].dim = widths[j];
            n++;
        }
    return n;
}

/* Dense ranks of v (ascending when asc, else descending) over a stable sort. */
static void dense_ranks(int n, const double *v, int asc, int *rank)
{
    int order[CLNAS_ASVIT_MAX_CANDIDATES];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* stable insertion sort */
        int x = order[i], j = i - 1;
        while (j >= 0 && (asc ? v[order[j]] > v[x] : v[order[j]] < v[x])) { order[j + 1] = order[j]; j--; }
        order[j + 1] = x;
    }
    for (int k = 0; k < n; k++)
        rank[order[k]] = k == 0 ? 0 : v[order[k]] == v[order[k - 1]] ? rank[order[k - 1]] : rank[order[k - 1]] + 1;
}

static double rel_range(int n, const double *v)
{
    double mx = v[0], mn = v[0];
    for (int i = 1; i < n; i++) { mx = v[i] > mx ? v[i] : mx; mn = v[i] < mn ? v[i] : mn; }
    return (mx - mn) / mx;
}

int clnas_asvit_grow_select(int n, const double *kappa, const double *L)
{
    if (n <= 1) return 0;
    int rk[CLNAS_ASVIT_MAX_CANDIDATES], rl[CLNAS_ASVIT_MAX_CANDIDATES], order[CLNAS_ASVIT_MAX_CANDIDATES];
    dense_ranks(n, kappa, 1, rk);
    dense_ranks(n, L, 0, rl);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* stable sort by rank sum */
        int x = order[i], j = i - 1;
        while (j >= 0 && rk[order[j]] + rl[order[j]] > rk[x] + rl[x]) { order[j + 1] = order[j]; j--; }
        order[j + 1] = x;
    }
    const int a = order[0], b = order[1];
    if (rk[a] + rl[a] != rk[b] + rl[b]) return a;
    /* tie: the metric with the larger relative range (kappa first when equal), argmin over the pair */
    const double *v = rel_range(n, L) > rel_range(n, kappa) ? L : kappa;
    return v[b] < v[a] ? b : a;
}
