/* test_asvit.c - As-ViT topologies: the search space, the string's parser and printer (errors
 * name the field, its position and the allowed values), and the fit checks. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "clnas/asvit.h"

#define SEED "8,2,3|4,1,2|4,1,4|4,1,6|32"

Test(asvit_topo, seed_parses_and_round_trips)
{
    clnas_asvit_topo t;
    char err[512], back[256];
    cr_assert_eq(clnas_asvit_parse(SEED, &t, err, sizeof err), CLNAS_OK, "%s", err);
    const int k[4] = {8, 4, 4, 4}, s[4] = {2, 1, 1, 1}, e[4] = {3, 2, 4, 6};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(t.kernel[i], k[i]);
        cr_assert_eq(t.split[i], s[i]);
        cr_assert_eq(t.expand[i], e[i]);
        cr_assert_eq(t.depth[i], 0);
    }
    cr_assert_eq(t.heads, 32);
    cr_assert_eq(t.dim, 0);
    cr_assert_eq(clnas_asvit_format(&t, back, sizeof back), strlen(SEED));
    cr_assert_str_eq(back, SEED);
    /* the README's Large model: long form */
    const char *large = "8,2,3,5|4,1,2,2|4,1,4,5|4,1,6,2|32,180";
    cr_assert_eq(clnas_asvit_parse(large, &t, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(t.depth[0], 5);
    cr_assert_eq(t.depth[3], 2);
    cr_assert_eq(t.dim, 180);
    clnas_asvit_format(&t, back, sizeof back);
    cr_assert_str_eq(back, large);
}

Test(asvit_topo, choices_match_the_search_space)
{
    static const int counts[12] = {5, 3, 3, 3, 3, 3, 2, 5, 5, 5, 5, 3};
    double total = 1;
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        cr_assert_eq(clnas_asvit_choice_count(i), counts[i], "%s", clnas_asvit_choice_name(i));
        total *= counts[i];
    }
    cr_assert_eq(total, 5.0 * 27 * 18 * 625 * 3);
    cr_assert_str_eq(clnas_asvit_choice_name(6), "S3");
    cr_assert_eq(clnas_asvit_choice_value(0, 4), 8);
    cr_assert_eq(clnas_asvit_choice_value(11, 2), 64);
    cr_assert_null(clnas_asvit_choice_name(12));
    /* every index vector maps to a topology and back, and its string parses */
    int a[12], b[12];
    for (int trial = 0; trial < 200; trial++) {
        for (int i = 0; i < 12; i++) a[i] = (trial * 7 + i * 3 + trial / (i + 1)) % counts[i];
        clnas_asvit_topo t, u;
        clnas_asvit_from_choices(a, &t);
        cr_assert_eq(clnas_asvit_to_choices(&t, b), 0);
        cr_assert_eq(memcmp(a, b, sizeof a), 0);
        char s[128], err[512];
        clnas_asvit_format(&t, s, sizeof s);
        cr_assert_eq(clnas_asvit_parse(s, &u, err, sizeof err), CLNAS_OK, "%s: %s", s, err);
        cr_assert_eq(memcmp(&t, &u, sizeof t), 0);
    }
}

static void expect_error(const char *s, const char *pos, const char *want)
{
    clnas_asvit_topo t;
    char err[1024];
    cr_assert_eq(clnas_asvit_parse(s, &t, err, sizeof err), CLNAS_E_PARSE, "\"%s\" parsed", s);
    cr_assert(strstr(err, pos), "\"%s\": expected \"%s\" in: %s", s, pos, err);
    cr_assert(strstr(err, want), "\"%s\": expected \"%s\" in: %s", s, want, err);
}

Test(asvit_topo, errors_name_the_field_and_the_allowed_values)
{
    expect_error("9,2,3|4,1,2|4,1,4|4,1,6|32", "position 1", "K1 = 9 is outside the search space; allowed: 4, 5, 6, 7 or 8");
    expect_error("8,3,3|4,1,2|4,1,4|4,1,6|32", "position 3", "S1 = 3 is outside the search space; allowed: 2, 4 or 8");
    expect_error("8,2,3|4,1,2|4,4,4|4,1,6|32", "position 15", "S3 = 4");
    expect_error("8,2,3|4,1,2|4,1,4|4,2,6|32", "position 21", "S4 must be 1");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,7|32", "position 23", "E4 = 7 is outside the search space; allowed: 2, 3, 4, 5 or 6");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,6|48", "position 25", "H = 48 is outside the search space; allowed: 16, 32 or 64");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,6", "position 24", "expected '|' after stage 4");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,6|", "position 25", "expected a number for H");
    expect_error("8,2|4,1,2|4,1,4|4,1,6|32", "position 4", "expected ',' after S1");
    expect_error("8,2,3,1|4,1,2|4,1,4|4,1,6|32", "position 14", "lacks the depth L");
    expect_error("8,2,3,0|4,1,2,1|4,1,4,1|4,1,6,1|32", "position 7", "L1 = 0 is out of range");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,6|32,0", "position 28", "D = 0 is out of range");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,6|32x", "position 27", "unexpected \"x\" after H");
    expect_error("", "position 1", "expected a number for K1, found the end of the string");
    expect_error("8,2,3|4,1,2|4,1,4|4,1,6|99999999999", "position 25", "H is too large");
}

Test(asvit_topo, config_flags_and_string_must_agree)
{
    clnas_asvit_topo t;
    clnas_asvit_config c;
    char err[512];
    cr_assert_eq(clnas_asvit_parse("8,2,3,5|4,1,2,2|4,1,4,5|4,1,6,2|32,180", &t, err, sizeof err), CLNAS_OK);
    clnas_asvit_config_default(&c);
    const int same[4] = {5, 2, 5, 2}, other[4] = {1, 1, 1, 1};
    cr_assert_eq(clnas_asvit_config_apply(&c, &t, same, 180, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(c.dim, 180);
    cr_assert_eq(c.depth[2], 5);
    cr_assert_eq(clnas_asvit_config_apply(&c, &t, other, 0, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_assert(strstr(err, "stage 1 depth L1 = 5 but --depths says 1"), "%s", err);
    cr_assert_eq(clnas_asvit_config_apply(&c, &t, NULL, 32, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_assert(strstr(err, "D = 180 but --D says 32"), "%s", err);
    /* short form: the flags apply */
    cr_assert_eq(clnas_asvit_parse(SEED, &t, err, sizeof err), CLNAS_OK);
    clnas_asvit_config_default(&c);
    const int d2[4] = {2, 1, 3, 1};
    cr_assert_eq(clnas_asvit_config_apply(&c, &t, d2, 48, err, sizeof err), CLNAS_OK);
    cr_assert_eq(c.dim, 48);
    cr_assert_eq(c.depth[2], 3);
}

Test(asvit_topo, fit_checks)
{
    clnas_asvit_topo t;
    clnas_asvit_config c;
    char err[512], why[320];
    cr_assert_eq(clnas_asvit_parse(SEED, &t, err, sizeof err), CLNAS_OK);
    clnas_asvit_config_default(&c);
    cr_assert_null(clnas_asvit_check(&t, &c, why, sizeof why));
    int g, d, h, w;
    clnas_asvit_stage(&t, &c, 0, &g, &d, &h, &w);
    cr_assert(g == 56 && d == 32 && h == 4 && w == 28);
    clnas_asvit_stage(&t, &c, 3, &g, &d, &h, &w);
    cr_assert(g == 7 && d == 256 && h == 32 && w == 7);
    c.input_hw = 32; /* grids 8, 4, 2, 1 */
    cr_assert_null(clnas_asvit_check(&t, &c, why, sizeof why));
    c.input_hw = 48; /* grid 12 -> 6 -> 3: merging 3 needs an even grid */
    const char *bad = clnas_asvit_check(&t, &c, why, sizeof why);
    cr_assert(bad && strstr(bad, "stage 3 has a 3x3 token grid"), "%s", bad ? bad : "(null)");
    c.input_hw = 96; /* grid 24, S1 = 8 gives 3 | 24: fine; S1 would need to divide */
    t.split[0] = 8;
    cr_assert_null(clnas_asvit_check(&t, &c, why, sizeof why));
    c.input_hw = 160; /* grid 40 / 8 = 5 divides 40; stage 2 grid 20 */
    cr_assert_null(clnas_asvit_check(&t, &c, why, sizeof why));
    c.input_hw = 112; /* grid 28 / 8 = 3 does not divide 28 */
    bad = clnas_asvit_check(&t, &c, why, sizeof why);
    cr_assert(bad && strstr(bad, "S1 = 8 gives a 3-token window that does not divide stage 1's 28x28 grid"), "%s",
              bad ? bad : "(null)");
    c.input_hw = 224;
    t.heads = 64;
    c.dim = 4; /* stage 1: 8 heads for 4 channels */
    bad = clnas_asvit_check(&t, &c, why, sizeof why);
    cr_assert(bad && strstr(bad, "8 heads for 4 channels"), "%s", bad ? bad : "(null)");
}

/* ---- the builder ---- */
#include "clnas/net.h"

/* Parameters of the original's Transformer counted from its module definitions (independently
 * of the builder): all, and the Jacobian set of the feature network (weights, no final LN/head). */
static void count_by_formula(const clnas_asvit_topo *t, const clnas_asvit_config *c, size_t *all, size_t *jac)
{
    size_t p = 0, j = 0;
    const int D = c->dim, k1 = t->kernel[0];
    p += (size_t)3 * D * k1 * k1 + D; /* patch conv + bias */
    j += (size_t)3 * D * k1 * k1;
    p += 2 * (size_t)D;               /* patch LN */
    j += (size_t)D;
    for (int i = 0; i < 4; i++) {
        size_t d = (size_t)((D << i) > 1024 ? 1024 : (D << i));
        size_t h = (size_t)(t->heads >> (3 - i)), inner = h * (d / h), e = (size_t)t->expand[i] * d;
        size_t blk_w = d + d * 3 * inner + inner * d + d + d * e + e * d;
        size_t blk_b = d + 3 * inner + d + d + e + d;
        p += (size_t)c->depth[i] * (blk_w + blk_b);
        j += (size_t)c->depth[i] * blk_w;
        if (i < 3) {
            size_t kk = (size_t)t->kernel[i + 1] * t->kernel[i + 1] * d, out = 2 * d > 1024 ? 1024 : 2 * d;
            p += 2 * kk + kk * out;
            j += kk + kk * out;
        }
    }
    size_t nf = (size_t)((D << 3) > 1024 ? 1024 : (D << 3));
    *jac = j;
    *all = p + 2 * nf + nf * nf + nf + nf * (size_t)c->classes + (size_t)c->classes;
}

Test(asvit_net, seed_parameter_counts)
{
    clnas_asvit_topo t;
    clnas_asvit_config c;
    char err[512];
    cr_assert_eq(clnas_asvit_parse(SEED, &t, err, sizeof err), CLNAS_OK);
    clnas_asvit_config_default(&c);
    clnas_net *n = NULL;
    cr_assert_eq(clnas_asvit_build(&t, &c, &n, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_net_nparams(n), 2319624); /* the number, head included */
    cr_assert_eq(clnas_net_classes(n), 1000);
    clnas_net_destroy(n);
    c.head = 0;
    cr_assert_eq(clnas_asvit_build(&t, &c, &n, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_net_njacobian(n), 1987040); /* the NTK Jacobian */
    cr_assert_eq(clnas_net_classes(n), 256);
    /* parameter names are the original's module paths */
    int found = 0;
    for (int i = 0; i < clnas_net_nparam_tensors(n); i++) {
        const char *nm;
        size_t off, cnt;
        int shape[4];
        clnas_net_param_tensor(n, i, &nm, &off, &cnt, shape);
        if (!strcmp(nm, "patch_embed.proj.weight")) found += shape[0] == 32 && shape[1] == 3 && shape[2] == 8 && off < clnas_net_njacobian(n);
        if (!strcmp(nm, "layers.2.downsample.reduction.weight")) found += shape[0] == 256 && shape[1] == 2048;
        if (!strcmp(nm, "layers.3.blocks.0.mlps.0.1.fc1.bias")) found += cnt == 1536 && off >= clnas_net_njacobian(n);
    }
    cr_assert_eq(found, 3);
    clnas_net_destroy(n);
    /* without LayerNorms (the length-distortion network) */
    c.norm = 0;
    cr_assert_eq(clnas_asvit_build(&t, &c, &n, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_net_nparams(n), 1996320 - 2 * (32 + 2 * 32 + 16 * 32 + 2 * 64 + 16 * 64 + 2 * 128 + 16 * 128 + 2 * 256));
    clnas_net_destroy(n);
}

Test(asvit_net, counts_match_the_module_formula_across_the_space)
{
    int a[CLNAS_ASVIT_NCHOICES];
    for (int trial = 0; trial < 60; trial++) {
        for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) a[i] = (trial * 5 + i * 7 + trial / 3) % clnas_asvit_choice_count(i);
        clnas_asvit_topo t;
        clnas_asvit_from_choices(a, &t);
        clnas_asvit_config c;
        clnas_asvit_config_default(&c);
        c.dim = 8 + 4 * (trial % 9);
        c.input_hw = trial % 2 ? 64 : 224;
        for (int i = 0; i < 4; i++) c.depth[i] = 1 + (trial + i) % 3;
        char err[512], why[320];
        if (clnas_asvit_check(&t, &c, why, sizeof why)) continue;
        size_t all, jac;
        count_by_formula(&t, &c, &all, &jac);
        clnas_net *n = NULL;
        cr_assert_eq(clnas_asvit_build(&t, &c, &n, err, sizeof err), CLNAS_OK, "%s", err);
        cr_assert_eq(clnas_net_nparams(n), all, "trial %d", trial);
        cr_assert_eq(clnas_asvit_count_params(&t, &c), all);
        clnas_net_destroy(n);
        c.head = 0;
        cr_assert_eq(clnas_asvit_build(&t, &c, &n, err, sizeof err), CLNAS_OK, "%s", err);
        cr_assert_eq(clnas_net_njacobian(n), jac, "trial %d", trial);
        clnas_net_destroy(n);
    }
}

Test(asvit_net, build_rejects_what_does_not_fit)
{
    clnas_asvit_topo t;
    clnas_asvit_config c;
    char err[512];
    cr_assert_eq(clnas_asvit_parse(SEED, &t, err, sizeof err), CLNAS_OK);
    clnas_asvit_config_default(&c);
    c.input_hw = 16; /* grids 4, 2, 1: stage 3's merging needs an even grid */
    clnas_net *n = (clnas_net *)1;
    cr_assert_eq(clnas_asvit_build(&t, &c, &n, err, sizeof err), CLNAS_E_INVALID_ARG);
    cr_assert_null(n);
    cr_assert(strstr(err, "stage 3 has a 1x1 token grid"), "%s", err);
}

/* ---- the scores: device (kappa through ntk.c, L by JVP or by reverse passes) vs the host
 * reference in double (per-sample gradients, JVP and reverse) ---- */
#include "clnas/asvit_score.h"
#include "util/testutil.h"

Test(asvit_score, device_matches_the_host_reference, .timeout = 300)
{
    clnas_asvit_topo t;
    clnas_asvit_config c;
    char err[1024] = "";
    cr_assert_eq(clnas_asvit_parse("6,4,5|3,2,3|2,2,6|3,1,2|16", &t, err, sizeof err), CLNAS_OK);
    clnas_asvit_config_default(&c);
    c.input_hw = 64;
    c.dim = 8;
    c.depth[1] = 2;
    clnas_net *fl = NULL, *fi = NULL;
    cr_assert_eq(clnas_asvit_feature_nets(&t, &c, &fl, &fi, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_dataset *d = NULL;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &d, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_asvit_score_opts o;
    clnas_asvit_score_opts_default(&o);
    o.batch = 3;
    o.repeats = 2;
    o.points = 4;
    clnas_asvit_inputs in;
    cr_assert_eq(clnas_asvit_inputs_make(fl, d, &o, &in, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_asvit_score_result rh, rd, rr;
    o.host = 1;
    cr_assert_eq(clnas_asvit_score_run(NULL, fl, fi, &o, &in, &rh, err, sizeof err), CLNAS_OK, "%s", err);
    o.host = 0;
    clnas_ctx *ctx = tu_ctx();
    cr_assert_eq(clnas_asvit_score_run(ctx, fl, fi, &o, &in, &rd, err, sizeof err), CLNAS_OK, "%s", err);
    o.ld_reverse = 1;
    o.metrics = CLNAS_ASVIT_METRIC_LD;
    cr_assert_eq(clnas_asvit_score_run(ctx, fl, fi, &o, &in, &rr, err, sizeof err), CLNAS_OK, "%s", err);
    for (int r = 0; r < 2; r++) {
        cr_assert_eq(rh.ntk[r].status, CLNAS_KAPPA_OK);
        cr_expect_float_eq(rd.ntk[r].kappa, rh.ntk[r].kappa, 1e-3 * rh.ntk[r].kappa, "copy %d: kappa %g vs %g", r,
                           rd.ntk[r].kappa, rh.ntk[r].kappa);
        cr_expect_float_eq(rd.ld[r], rh.ld[r], 1e-4 * rh.ld[r], "copy %d: L (JVP) %g vs %g", r, rd.ld[r], rh.ld[r]);
        cr_expect_float_eq(rr.ld[r], rh.ld[r], 1e-4 * rh.ld[r], "copy %d: L (reverse) %g vs %g", r, rr.ld[r], rh.ld[r]);
        cr_expect(rh.ld[r] > 0);
    }
    /* copies differ (fresh Linear weights), the mean is the mean */
    cr_expect_neq(rh.ntk[0].kappa, rh.ntk[1].kappa);
    cr_expect_float_eq(rh.kappa_mean, (rh.ntk[0].kappa + rh.ntk[1].kappa) / 2, 1e-12);
    clnas_asvit_inputs_free(&in);
    clnas_dataset_destroy(d);
    clnas_net_destroy(fl);
    clnas_net_destroy(fi);
}
