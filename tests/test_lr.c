/* test_lr.c - linear regions: the distinct-code count against known region counts of hand-built
 * 1-D and 2-D ReLU layers, and the device count on NB201 thin networks against a brute-force
 * count over codes taken from the host reference's activations. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "model/graph.h"
#include "util/testutil.h"

static size_t distinct(const uint8_t *codes, int n, size_t bits)
{
    size_t d = 0;
    cr_assert_eq(clnas_count_distinct_codes(codes, n, bits, &d), CLNAS_OK);
    return d;
}

Test(lr, known_region_counts_of_hand_built_layers)
{
    /* 1-D: ReLU units relu(x - t_k) with 5 distinct thresholds cut the line into 6 intervals */
    const double t[5] = {-2, -0.5, 0.1, 1, 3};
    const int n1 = 2001;
    uint8_t *c1 = malloc((size_t)n1 * 5);
    for (int s = 0; s < n1; s++) {
        double x = -5 + 10.0 * s / (n1 - 1);
        for (int k = 0; k < 5; k++) c1[s * 5 + k] = (x - t[k]) > 0;
    }
    cr_expect_eq(distinct(c1, n1, 5), 6);
    /* a sample set that misses an interval counts only the regions it visits */
    cr_expect_eq(distinct(c1, 700, 5), 2); /* x in [-5, -1.505]: crosses only t = -2 */
    free(c1);
    /* 2-D: n lines in general position make 1 + n + n(n-1)/2 regions; a fine grid over a box that
       holds every intersection visits them all (4 lines -> 11 regions, 6 lines -> 22) */
    for (int nl = 4; nl <= 6; nl += 2) {
        double a[6] = {1, 0.3, -0.7, 0.9, -0.2, 0.5}, b[6] = {0.2, 1, 0.8, -0.6, 0.9, -1}, c[6] = {0.1, -0.3, 0.25, 0.05, -0.15, 0.35};
        const int g = 801;
        uint8_t *codes = malloc((size_t)g * g * nl);
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                double x = -20 + 40.0 * i / (g - 1), y = -20 + 40.0 * j / (g - 1);
                for (int k = 0; k < nl; k++) codes[((size_t)i * g + j) * nl + k] = a[k] * x + b[k] * y + c[k] > 0;
            }
        cr_expect_eq(distinct(codes, g * g, (size_t)nl), (size_t)(1 + nl + nl * (nl - 1) / 2), "%d lines", nl);
        free(codes);
    }
    /* codes longer than one 64-bit word, and duplicates */
    uint8_t big[4 * 130] = {0};
    big[0 * 130 + 129] = 1;
    big[1 * 130 + 129] = 1;
    big[2 * 130 + 3] = 1;
    cr_expect_eq(distinct(big, 4, 130), 3);
    cr_expect_eq(distinct(big, 4, 0), 1);
}

static size_t brute_force_distinct(const uint8_t *codes, int n, size_t bits)
{
    size_t d = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) dup = memcmp(codes + (size_t)i * bits, codes + (size_t)j * bits, bits) == 0;
        d += !dup;
    }
    return d;
}

static void check_thin(const char *arch, int batch, int nbatches, uint64_t seed)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_nb201_arch a;
    cr_assert_eq(clnas_nb201_parse(arch, &a, NULL, 0), CLNAS_OK);
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_build(&cfg, &a, &net, NULL, 0), CLNAS_OK);
    const int n = batch * nbatches;
    size_t np = clnas_net_nparams(net), bits = clnas_net_relu_bits(net);
    float *pf = malloc(np * sizeof *pf), *xf = malloc((size_t)n * 9 * sizeof *xf);
    double *p = malloc(np * sizeof *p), *x = malloc((size_t)n * 9 * sizeof *x);
    double *acts = malloc(net->act_per_sample * (size_t)batch * sizeof *acts);
    uint8_t *dev = malloc((size_t)n * bits), *ref = malloc((size_t)n * bits);
    clnas_net_init_params(net, seed, 1, CLNAS_INIT_PYTORCH, pf);
    for (size_t i = 0; i < np; i++) p[i] = pf[i];
    tu_fill(x, (size_t)n * 9, seed + 100, -2, 2);
    tu_round_to_float(x, (size_t)n * 9);
    for (size_t i = 0; i < (size_t)n * 9; i++) xf[i] = (float)x[i];
    clnas_lr *lr = NULL;
    cr_assert_eq(clnas_lr_create(ctx, net, batch, &lr), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_assert_eq(clnas_lr_set_params(lr, pf), CLNAS_OK);
    size_t R = 0;
    int nonfinite = -1;
    cr_assert_eq(clnas_lr_count(lr, xf, n, &R, &nonfinite, dev), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(nonfinite, 0, "%s: finite inputs flagged as non-finite", arch);
    size_t R2 = 0;
    cr_assert_eq(clnas_lr_count(lr, xf, n, &R2, NULL, NULL), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(R2, R, "%s: the count depends on whether codes are returned", arch);
    /* host: every ReLU output of the reference, in layer order, per batch (BN statistics per batch) */
    for (int b = 0; b < nbatches; b++) {
        cr_assert_eq(clnas_ref_forward_acts(net, batch, p, x + (size_t)b * batch * 9, acts), CLNAS_OK);
        size_t pos = 0;
        for (int i = 0; i < net->nlayers; i++) {
            const layer *l = &net->layers[i];
            if (l->kind != L_RELU) continue;
            size_t sz = tensor_size(&net->tensors[l->out]);
            for (int s = 0; s < batch; s++)
                for (size_t j = 0; j < sz; j++)
                    ref[((size_t)b * batch + s) * bits + pos + j] = acts[net->tensors[l->out].off * batch + (size_t)s * sz + j] > 0;
            pos += sz;
        }
        cr_assert_eq(pos, bits);
    }
    size_t mismatched = 0;
    for (size_t i = 0; i < (size_t)n * bits; i++) mismatched += dev[i] != ref[i];
    cr_expect_eq(mismatched, 0, "%s: %zu code bits differ between device and host reference", arch, mismatched);
    size_t Rb = brute_force_distinct(ref, n, bits);
    cr_expect_eq(R, Rb, "%s: device R %zu, brute force %zu", arch, R, Rb);
    cr_expect_gt(R, 1);
    clnas_lr_destroy(lr);
    clnas_net_destroy(net);
    free(pf); free(xf); free(p); free(x); free(acts); free(dev); free(ref);
}

Test(lr, device_count_matches_brute_force_on_host_codes)
{
    check_thin("supernet", 200, 3, 1);
    check_thin("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|", 150, 2, 2);
    check_thin("|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|skip_connect~0|none~1|avg_pool_3x3~2|", 100, 2, 3);
}

Test(lr, bad_sample_count_is_an_error)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_nb201_arch a;
    clnas_nb201_parse("supernet", &a, NULL, 0);
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_build(&cfg, &a, &net, NULL, 0), CLNAS_OK);
    clnas_lr *lr = NULL;
    cr_assert_eq(clnas_lr_create(ctx, net, 10, &lr), CLNAS_OK);
    float x[9 * 15] = {0};
    size_t R;
    cr_expect_eq(clnas_lr_count(lr, x, 15, &R, NULL, NULL), CLNAS_E_INVALID_ARG);
    clnas_lr_destroy(lr);
    clnas_net_destroy(net);
}

/* A NaN in one patch, or in the weights, reaches the ReLUs' inputs: the count is flagged, and
 * the flag is cleared again for the next, finite, call. */
Test(lr, non_finite_pre_activations_are_flagged)
{
    clnas_ctx *ctx = tu_ctx();
    clnas_nb201_config cfg;
    clnas_nb201_config_lr(&cfg, 10);
    clnas_nb201_arch a;
    clnas_nb201_parse("supernet", &a, NULL, 0);
    clnas_net *net = NULL;
    cr_assert_eq(clnas_nb201_build(&cfg, &a, &net, NULL, 0), CLNAS_OK);
    size_t np = clnas_net_nparams(net);
    float *p = malloc(np * sizeof *p), x[9 * 20];
    double xd[9 * 20];
    tu_fill(xd, 9 * 20, 7, -2, 2);
    for (int i = 0; i < 9 * 20; i++) x[i] = (float)xd[i];
    clnas_net_init_params(net, 0, 1, CLNAS_INIT_PYTORCH, p);
    clnas_lr *lr = NULL;
    cr_assert_eq(clnas_lr_create(ctx, net, 10, &lr), CLNAS_OK);
    cr_assert_eq(clnas_lr_set_params(lr, p), CLNAS_OK);
    size_t R;
    int nf = -1;
    x[9 * 13 + 4] = NAN;
    cr_assert_eq(clnas_lr_count(lr, x, 20, &R, &nf, NULL), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(nf, 1, "a NaN patch is not flagged");
    x[9 * 13 + 4] = 0.5f;
    cr_assert_eq(clnas_lr_count(lr, x, 20, &R, &nf, NULL), CLNAS_OK);
    cr_expect_eq(nf, 0, "the flag of the previous call stuck");
    p[0] = NAN; /* the first weight: a convolution of the first cell */
    cr_assert_eq(clnas_lr_set_params(lr, p), CLNAS_OK);
    cr_assert_eq(clnas_lr_count(lr, x, 20, &R, &nf, NULL), CLNAS_OK);
    cr_expect_eq(nf, 1, "NaN weights are not flagged");
    clnas_lr_destroy(lr);
    clnas_net_destroy(net);
    free(p);
}
