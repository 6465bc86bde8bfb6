/* stats.c - rank statistics: average ranks, Kendall tau-b (Knight's O(n log n) algorithm),
 * Spearman rho, and TE-NAS's combined rank score. See include/clnas/stats.h.
 *
 * Counts of pairs are 64-bit: n = 15,625 architectures gives n(n-1)/2 = 1.2e8 pairs, and
 * nothing here should overflow for any n an int can hold. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clnas/stats.h"

typedef struct { double x, y; } pair;
typedef struct { double v; int i; } keyed;

static int cmp_pair(const void *a, const void *b)
{
    const pair *p = a, *q = b;
    if (p->x < q->x) return -1;
    if (p->x > q->x) return 1;
    if (p->y < q->y) return -1;
    if (p->y > q->y) return 1;
    return 0;
}

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return (p->i > q->i) - (p->i < q->i); /* deterministic order among ties */
}

clnas_status clnas_rank_average(const double *x, int n, double *ranks)
{
    if (n < 0) return CLNAS_E_INVALID_ARG;
    if (n == 0) return CLNAS_OK;
    keyed *k = malloc((size_t)n * sizeof *k);
    if (!k) return CLNAS_E_NOMEM;
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i])) ranks[i] = NAN;
        else k[m++] = (keyed){x[i], i};
    }
    qsort(k, (size_t)m, sizeof *k, cmp_keyed);
    for (int a = 0; a < m;) {
        int b = a + 1;
        while (b < m && k[b].v == k[a].v) b++;
        /* ranks a+1 .. b (1-based) share their mean */
        double r = 0.5 * ((double)(a + 1) + (double)b);
        for (int j = a; j < b; j++) ranks[k[j].i] = r;
        a = b;
    }
    free(k);
    return CLNAS_OK;
}

/* Pairs with neither value NaN, copied into a fresh array (caller frees). */
static clnas_status defined_pairs(const double *x, const double *y, int n, pair **out, int *m,
                                  int *n_used, int *n_excluded)
{
    if (n < 0 || (n > 0 && (!x || !y))) return CLNAS_E_INVALID_ARG;
    pair *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    if (!p) return CLNAS_E_NOMEM;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i]) && !isnan(y[i])) p[k++] = (pair){x[i], y[i]};
    *out = p;
    *m = k;
    if (n_used) *n_used = k;
    if (n_excluded) *n_excluded = n - k;
    return CLNAS_OK;
}

/* Sum of t(t-1)/2 over the runs of equal values in sorted v[0..m). */
static int64_t tied_pairs(const double *v, int m)
{
    int64_t s = 0;
    for (int a = 0; a < m;) {
        int b = a + 1;
        while (b < m && v[b] == v[a]) b++;
        int64_t t = b - a;
        s += t * (t - 1) / 2;
        a = b;
    }
    return s;
}

/* Stable merge sort of v[0..m) ascending; returns the number of inversions (pairs i < j
 * with v[i] > v[j]; equal values are not inversions). tmp has room for m values. */
static int64_t merge_count(double *v, double *tmp, int m)
{
    int64_t swaps = 0;
    for (int width = 1; width < m; width *= 2) {
        for (int lo = 0; lo < m; lo += 2 * width) {
            int mid = lo + width < m ? lo + width : m;
            int hi = lo + 2 * width < m ? lo + 2 * width : m;
            int i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                if (v[i] <= v[j]) tmp[o++] = v[i++];
                else {
                    swaps += mid - i; /* v[j] jumps over every element left in the left run */
                    tmp[o++] = v[j++];
                }
            }
            while (i < mid) tmp[o++] = v[i++];
            while (j < hi) tmp[o++] = v[j++];
        }
        memcpy(v, tmp, (size_t)m * sizeof *v);
    }
    return swaps;
}

clnas_status clnas_kendall_tau_b(const double *x, const double *y, int n, double *tau,
                                 int *n_used, int *n_excluded)
{
    pair *p;
    int m;
    clnas_status st = defined_pairs(x, y, n, &p, &m, n_used, n_excluded);
    if (st != CLNAS_OK) return st;
    *tau = NAN;
    if (m < 2) { free(p); return CLNAS_OK; }
    double *v = malloc((size_t)m * sizeof *v), *tmp = malloc((size_t)m * sizeof *tmp);
    if (!v || !tmp) { free(p); free(v); free(tmp); return CLNAS_E_NOMEM; }

    qsort(p, (size_t)m, sizeof *p, cmp_pair);
    /* n1: pairs tied in x; n3: pairs tied in both (within an x run, y is sorted). */
    int64_t n1 = 0, n3 = 0;
    for (int a = 0; a < m;) {
        int b = a + 1;
        while (b < m && p[b].x == p[a].x) b++;
        int64_t t = b - a;
        n1 += t * (t - 1) / 2;
        for (int c = a; c < b;) {
            int d = c + 1;
            while (d < b && p[d].y == p[c].y) d++;
            int64_t u = d - c;
            n3 += u * (u - 1) / 2;
            c = d;
        }
        a = b;
    }
    for (int i = 0; i < m; i++) v[i] = p[i].y;
    /* With x sorted (and y sorted inside x ties), a y-inversion is exactly a discordant pair. */
    int64_t nd = merge_count(v, tmp, m);
    int64_t n2 = tied_pairs(v, m);
    int64_t n0 = (int64_t)m * (m - 1) / 2;
    /* concordant - discordant = (pairs untied in both) - 2 * discordant */
    int64_t s = n0 - n1 - n2 + n3 - 2 * nd;
    double den = sqrt((double)(n0 - n1)) * sqrt((double)(n0 - n2));
    if (den > 0) {
        double t = (double)s / den;
        *tau = t > 1 ? 1 : t < -1 ? -1 : t;
    }
    free(p);
    free(v);
    free(tmp);
    return CLNAS_OK;
}

clnas_status clnas_spearman_rho(const double *x, const double *y, int n, double *rho,
                                int *n_used, int *n_excluded)
{
    pair *p;
    int m;
    clnas_status st = defined_pairs(x, y, n, &p, &m, n_used, n_excluded);
    if (st != CLNAS_OK) return st;
    *rho = NAN;
    if (m < 2) { free(p); return CLNAS_OK; }
    double *buf = malloc(4 * (size_t)m * sizeof *buf);
    if (!buf) { free(p); return CLNAS_E_NOMEM; }
    double *xs = buf, *ys = buf + m, *rx = buf + 2 * m, *ry = buf + 3 * m;
    for (int i = 0; i < m; i++) { xs[i] = p[i].x; ys[i] = p[i].y; }
    free(p);
    if ((st = clnas_rank_average(xs, m, rx)) != CLNAS_OK || (st = clnas_rank_average(ys, m, ry)) != CLNAS_OK) {
        free(buf);
        return st;
    }
    /* Both rank vectors have mean (m+1)/2 exactly; centred sums in double are exact enough
     * (ranks are multiples of 1/2 up to m). */
    double mean = 0.5 * (m + 1), sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < m; i++) {
        double a = rx[i] - mean, b = ry[i] - mean;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (sxx > 0 && syy > 0) {
        double r = sxy / (sqrt(sxx) * sqrt(syy));
        *rho = r > 1 ? 1 : r < -1 ? -1 : r;
    }
    free(buf);
    return CLNAS_OK;
}

clnas_status clnas_correlate(const double *x, const double *y, int n, clnas_corr *out)
{
    clnas_status st = clnas_kendall_tau_b(x, y, n, &out->tau, &out->n_used, &out->n_excluded);
    if (st != CLNAS_OK) return st;
    return clnas_spearman_rho(x, y, n, &out->rho, NULL, NULL);
}

clnas_status clnas_tenas_combined(const double *kappa, const double *R, int n, double *combined)
{
    if (n < 0 || (n > 0 && (!kappa || !R || !combined))) return CLNAS_E_INVALID_ARG;
    if (n == 0) return CLNAS_OK;
    double *buf = malloc(4 * (size_t)n * sizeof *buf);
    if (!buf) return CLNAS_E_NOMEM;
    double *k = buf, *negr = buf + n, *rk = buf + 2 * n, *rr = buf + 3 * n;
    for (int i = 0; i < n; i++) {
        int ok = !isnan(kappa[i]) && !isnan(R[i]);
        k[i] = ok ? kappa[i] : NAN;
        negr[i] = ok ? -R[i] : NAN; /* rank of R descending = rank of -R ascending */
    }
    clnas_status st = clnas_rank_average(k, n, rk);
    if (st == CLNAS_OK) st = clnas_rank_average(negr, n, rr);
    if (st == CLNAS_OK)
        for (int i = 0; i < n; i++) combined[i] = rk[i] + rr[i]; /* NaN stays NaN */
    free(buf);
    return st;
}
