/* test_ntk.c - the NTK condition number: the device Jacobian, Theta and kappa against the host
 * double reference with an independent (Jacobi) eigensolver; the Jacobian against finite
 * differences of the logit sums; the NaN / singular policy; the fp64 Gram option. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "model/graph.h"
#include "util/testutil.h"

/* cyclic Jacobi eigenvalues of a symmetric n x n matrix (destroys A), ascending */
static void jacobi_eigs(int n, double *A, double *w)
{
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) off += A[p * n + q] * A[p * n + q];
        if (off < 1e-30) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = A[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++) w[i] = A[i * n + i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && w[j] < w[j - 1]; j--) { double t = w[j]; w[j] = w[j - 1]; w[j - 1] = t; }
}

static clnas_net *tiny(const char *arch, int C, int input, int classes)
{
    clnas_nb201_config cfg;
    clnas_nb201_config_ntk(&cfg, classes, input);
    cfg.C = C;
    clnas_nb201_arch a;
    cr_assert_eq(clnas_nb201_parse(arch, &a, NULL, 0), CLNAS_OK);
    clnas_net *n = NULL;
    cr_assert_eq(clnas_nb201_build(&cfg, &a, &n, NULL, 0), CLNAS_OK);
    return n;
}

/* host G: row i = d(sum_c logits[i,c]) / d(Jacobian params), through the whole batch */
static void host_jacobian(const clnas_net *net, int B, const double *p, const double *x, double *G)
{
    int K = clnas_net_classes(net);
    size_t np = clnas_net_nparams(net), nj = clnas_net_njacobian(net);
    double *dl = calloc((size_t)B * K, sizeof *dl), *pg = malloc(np * sizeof *pg);
    for (int i = 0; i < B; i++) {
        memset(dl, 0, (size_t)B * K * sizeof *dl);
        for (int k = 0; k < K; k++) dl[i * K + k] = 1;
        cr_assert_eq(clnas_ref_backward(net, B, p, x, dl, pg, NULL), CLNAS_OK);
        memcpy(G + (size_t)i * nj, pg, nj * sizeof *G);
    }
    free(dl);
    free(pg);
}

static void check_ntk(const char *arch, int C, int input, int K, int B, int S, int fp64)
{
    clnas_ctx *ctx = tu_ctx();
    /* fp64 on a device without cl_khr_fp64 (rusticl): the Gram is computed on the host; same checks */
    clnas_net *net = tiny(arch, C, input, K);
    size_t np = clnas_net_nparams(net), nj = clnas_net_njacobian(net), nx = (size_t)B * 3 * input * input;
    float *pf = malloc(np * sizeof *pf), *xf = malloc(nx * sizeof *xf), *Gf = malloc((size_t)B * nj * sizeof *Gf);
    double *p = malloc(np * sizeof *p), *x = malloc(nx * sizeof *x), *G = malloc((size_t)B * nj * sizeof *G);
    double *theta = malloc((size_t)B * B * sizeof *theta), *th_ref = calloc((size_t)B * B, sizeof *th_ref);
    double *eigs = malloc((size_t)B * sizeof *eigs), *eref = malloc((size_t)B * sizeof *eref), *gn = malloc((size_t)B * sizeof *gn);
    double *Gd = malloc((size_t)B * nj * sizeof *Gd);
    clnas_net_init_params(net, 1, 0, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < np; i++) p[i] = pf[i];
    tu_fill(x, nx, 31, -2, 2);
    tu_round_to_float(x, nx);
    for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
    clnas_ntk_config cfg = {B, S, fp64};
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &cfg, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_ntk_seeds(ntk), S);
    cr_assert_eq(clnas_ntk_set_params(ntk, pf), CLNAS_OK);
    clnas_kappa k;
    cr_assert_eq(clnas_ntk_eval(ntk, xf, &k, theta, eigs, gn, Gf, NULL), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    host_jacobian(net, B, p, x, G);
    for (size_t i = 0; i < (size_t)B * nj; i++) Gd[i] = Gf[i];
    tu_expect_close("Jacobian G", Gd, G, (size_t)B * nj, 1e-4);
    for (int i = 0; i < B; i++) {
        double s2 = 0;
        for (size_t j = 0; j < nj; j++) s2 += G[(size_t)i * nj + j] * G[(size_t)i * nj + j];
        cr_expect(fabs(gn[i] - sqrt(s2)) <= 1e-4 * sqrt(s2), "row norm %d", i);
    }
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++)
            for (size_t q = 0; q < nj; q++) th_ref[i * B + j] += G[(size_t)i * nj + q] * G[(size_t)j * nj + q];
    tu_expect_close("Theta", theta, th_ref, (size_t)B * B, 1e-4);
    double *work = malloc((size_t)B * B * sizeof *work);
    memcpy(work, th_ref, (size_t)B * B * sizeof *work);
    jacobi_eigs(B, work, eref);
    double kref = eref[B - 1] / eref[0];
    cr_assert_eq(k.status, CLNAS_KAPPA_OK);
    cr_expect(fabs(k.kappa / kref - 1) < 1e-3, "%s: kappa %.9g vs reference %.9g", arch, k.kappa, kref);
    cr_expect(fabs(k.lambda_max / eref[B - 1] - 1) < 1e-4);
    tu_expect_close("eigenvalues", eigs, eref, (size_t)B, 1e-4);
    /* a second evaluation on the same inputs reproduces the result bit for bit */
    clnas_kappa k2;
    cr_assert_eq(clnas_ntk_eval(ntk, xf, &k2, NULL, NULL, NULL, NULL, NULL), CLNAS_OK);
    cr_expect_eq(k2.kappa, k.kappa);
    free(work);
    clnas_ntk_destroy(ntk);
    clnas_net_destroy(net);
    free(pf); free(xf); free(Gf); free(p); free(x); free(G); free(theta); free(th_ref); free(eigs); free(eref); free(gn); free(Gd);
}

Test(ntk, theta_and_kappa_match_host_reference)
{
    /* S=4 of B=6: the last chunk of seeds is partial */
    check_ntk("supernet", 2, 8, 5, 6, 4, 0);
    check_ntk("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|", 3, 8, 10, 5, 1, 0);
    check_ntk("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 3, 16, 10, 8, 8, 0);
}

Test(ntk, fp64_gram_matches_host_reference)
{
    check_ntk("supernet", 2, 8, 5, 6, 3, 1);
}

/* A long Jacobian is multiplied in column chunks (one batched GEMM, partial Grams summed in
 * double): forced here on small nets with CLNAS_GRAM_CHUNK so that several chunks and a short
 * last chunk occur (njac is not a multiple of the chunk), in fp32 and fp64. */
Test(ntk, chunked_gram_matches_host_reference)
{
    setenv("CLNAS_GRAM_CHUNK", "97", 1);
    check_ntk("supernet", 2, 8, 5, 6, 4, 0);
    check_ntk("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 3, 16, 10, 8, 8, 0);
    check_ntk("supernet", 2, 8, 5, 6, 3, 1);
    unsetenv("CLNAS_GRAM_CHUNK");
}

typedef struct { const clnas_net *net; int B, row; const double *x; } fd_ud;
static void logit_sum(void *ud, const double *p, double *out)
{
    fd_ud *u = ud;
    int K = clnas_net_classes(u->net);
    double *lg = malloc((size_t)u->B * K * sizeof *lg);
    clnas_ref_forward(u->net, u->B, p, u->x, lg);
    out[0] = 0;
    for (int k = 0; k < K; k++) out[0] += lg[u->row * K + k];
    free(lg);
}

Test(ntk, jacobian_rows_match_finite_differences_of_logit_sums)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = tiny("supernet", 2, 8, 4);
    const int B = 4;
    size_t np = clnas_net_nparams(net), nj = clnas_net_njacobian(net), nx = (size_t)B * 3 * 64;
    float *pf = malloc(np * sizeof *pf), *xf = malloc(nx * sizeof *xf), *Gf = malloc((size_t)B * nj * sizeof *Gf);
    double *p = malloc(np * sizeof *p), *x = malloc(nx * sizeof *x), *row = malloc(np * sizeof *row);
    clnas_net_init_params(net, 4, 0, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < np; i++) p[i] = pf[i];
    tu_fill(x, nx, 41, -2, 2);
    tu_round_to_float(x, nx);
    for (size_t i = 0; i < nx; i++) xf[i] = (float)x[i];
    clnas_ntk_config cfg = {B, 2, 0};
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &cfg, &ntk), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    clnas_ntk_set_params(ntk, pf);
    clnas_kappa k;
    cr_assert_eq(clnas_ntk_eval(ntk, xf, &k, NULL, NULL, NULL, Gf, NULL), CLNAS_OK);
    double one = 1;
    for (int i = 0; i < B; i++) {
        /* finite differences over the Jacobian parameters only: extend the device row with zeros
           for the biases, then check a spread of entries */
        for (size_t j = 0; j < np; j++) row[j] = j < nj ? Gf[(size_t)i * nj + j] : 0;
        fd_ud u = {net, B, i, x};
        double e = tu_gradcheck(logit_sum, &u, p, nj, 1, &one, row, 1e-5, 300);
        /* device fp32 gradients against double finite differences */
        cr_expect(e < 2e-4, "row %d: device Jacobian vs finite differences: %g", i, e);
    }
    clnas_ntk_destroy(ntk);
    clnas_net_destroy(net);
    free(pf); free(xf); free(Gf); free(p); free(x); free(row);
}

Test(ntk, kappa_policy_edge_cases)
{
    double w1[3] = {0.5, 1, 2};
    clnas_kappa k = clnas_kappa_from_eigs(3, w1);
    cr_expect_eq(k.status, CLNAS_KAPPA_OK);
    cr_expect_float_eq(k.kappa, 4.0, 1e-15);
    double w2[3] = {0, 1, 2};
    k = clnas_kappa_from_eigs(3, w2);
    cr_expect_eq(k.status, CLNAS_KAPPA_NONPOSITIVE);
    cr_expect(isinf(k.kappa));
    double w3[3] = {-1e-9, 1, 2};
    cr_expect_eq(clnas_kappa_from_eigs(3, w3).status, CLNAS_KAPPA_NONPOSITIVE);
    double w4[3] = {1, NAN, 2};
    k = clnas_kappa_from_eigs(3, w4);
    cr_expect_eq(k.status, CLNAS_KAPPA_NAN);
    cr_expect(isnan(k.kappa));
    /* LAPACK on a matrix with a known spectrum: I + u u^T has eigenvalues 1 (n-1 times) and 1 + |u|^2 */
    double A[16], w[4], u[4] = {1, 2, 0, -2};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) A[i * 4 + j] = (i == j) + u[i] * u[j];
    cr_assert_eq(clnas_sym_eigvals(4, A, w, NULL, 0), CLNAS_OK);
    for (int i = 0; i < 3; i++) cr_expect(fabs(w[i] - 1) < 1e-12, "w[%d] = %g", i, w[i]);
    cr_expect(fabs(w[3] - 10) < 1e-12);
    double B2[4] = {1, NAN, NAN, 1};
    char why[256] = "";
    cr_expect_eq(clnas_sym_eigvals(2, B2, w, why, sizeof why), CLNAS_E_NUMERIC);
    cr_expect(strstr(why, "2x2") != NULL, "%s", why);
    cr_expect_eq(clnas_sym_eigvals(0, B2, w, why, sizeof why), CLNAS_E_INVALID_ARG);
    cr_expect_str_eq(clnas_kappa_status_str(CLNAS_KAPPA_NONPOSITIVE), "lambda_min <= 0 (singular NTK)");
}

Test(ntk, nan_input_gives_nan_kappa_not_a_number)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_net *net = tiny("supernet", 2, 8, 5);
    const int B = 4;
    size_t np = clnas_net_nparams(net), nx = (size_t)B * 3 * 64;
    float *pf = malloc(np * sizeof *pf), *xf = malloc(nx * sizeof *xf);
    clnas_net_init_params(net, 1, 0, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < nx; i++) xf[i] = (float)(i % 7) * 0.1f;
    xf[5] = NAN;
    clnas_ntk_config cfg = {B, 0, 0};
    clnas_ntk *ntk = NULL;
    cr_assert_eq(clnas_ntk_create(ctx, net, &cfg, &ntk), CLNAS_OK);
    clnas_ntk_set_params(ntk, pf);
    clnas_kappa k;
    cr_assert_eq(clnas_ntk_eval(ntk, xf, &k, NULL, NULL, NULL, NULL, NULL), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(k.status, CLNAS_KAPPA_NAN);
    cr_expect(isnan(k.kappa));
    clnas_ntk_destroy(ntk);
    clnas_net_destroy(net);
    free(pf);
    free(xf);
}
