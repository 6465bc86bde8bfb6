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
