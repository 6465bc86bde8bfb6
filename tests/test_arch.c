/* test_arch.c - NAS-Bench-201 arch strings: every benchmark string round-trips, supernet form,
 * and malformed strings get a message naming the position and the expected token. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "clnas/nb201.h"

Test(arch, all_15625_benchmark_strings_round_trip)
{
    FILE *f = fopen(CLNAS_DATA_DIR "/nb201/nb201_accuracies.csv", "r");
    cr_assert(f, "cannot open the bundled NB201 table");
    char line[1024];
    cr_assert(fgets(line, sizeof line, f));
    int n = 0, seen[5] = {0};
    while (fgets(line, sizeof line, f)) {
        char *a = strchr(line, ',');
        cr_assert(a);
        a++;
        char *end = strchr(a, ',');
        cr_assert(end);
        *end = 0;
        clnas_nb201_arch arch;
        char err[512], back[512];
        cr_assert_eq(clnas_nb201_parse(a, &arch, err, sizeof err), CLNAS_OK, "%s: %s", a, err);
        cr_assert(clnas_nb201_is_single_path(&arch));
        for (int e = 0; e < CLNAS_NB201_EDGES; e++)
            for (int o = 0; o < 5; o++) if (arch.ops[e] & (1u << o)) seen[o]++;
        size_t len = clnas_nb201_format(&arch, back, sizeof back);
        cr_assert_eq(len, strlen(a));
        cr_assert_str_eq(back, a);
        n++;
    }
    fclose(f);
    cr_assert_eq(n, 15625);
    /* 5^6 architectures: every op appears on every edge 5^5 times, so 6 * 3125 in total */
    for (int o = 0; o < 5; o++) cr_assert_eq(seen[o], 6 * 3125, "op %d seen %d times", o, seen[o]);
}

Test(arch, supernet_forms)
{
    clnas_nb201_arch a;
    char err[512], back[1024];
    cr_assert_eq(clnas_nb201_parse("supernet", &a, err, sizeof err), CLNAS_OK);
    for (int e = 0; e < 6; e++) cr_assert_eq(a.ops[e], 0x1e);
    cr_assert_not(clnas_nb201_is_single_path(&a));
    clnas_nb201_format(&a, back, sizeof back);
    clnas_nb201_arch b;
    cr_assert_eq(clnas_nb201_parse(back, &b, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    const char *s = "|skip_connect,nor_conv_3x3~0|+|none~0|avg_pool_3x3,nor_conv_1x1~1|+|skip_connect~0|none,nor_conv_3x3~1|nor_conv_1x1~2|";
    cr_assert_eq(clnas_nb201_parse(s, &a, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(a.ops[0], (1 << 1) | (1 << 3));
    cr_assert_eq(a.ops[2], (1 << 2) | (1 << 4));
    cr_assert_eq(clnas_nb201_edge_count(&a, 4), 2);
    clnas_nb201_format(&a, back, sizeof back);
    /* canonical order within an edge is the op order */
    cr_assert_str_eq(back, "|skip_connect,nor_conv_3x3~0|+|none~0|nor_conv_1x1,avg_pool_3x3~1|+|skip_connect~0|none,nor_conv_3x3~1|nor_conv_1x1~2|");
}

static void expect_error(const char *s, const char *pos, const char *want)
{
    clnas_nb201_arch a;
    char err[1024];
    cr_assert_eq(clnas_nb201_parse(s, &a, err, sizeof err), CLNAS_E_PARSE, "accepted \"%s\"", s);
    cr_assert(strstr(err, pos) != NULL, "\"%s\": message lacks \"%s\": %s", s, pos, err);
    cr_assert(strstr(err, want) != NULL, "\"%s\": message lacks \"%s\": %s", s, want, err);
}

Test(arch, malformed_strings_name_position_and_expectation)
{
    expect_error("", "position 1", "'|'");
    expect_error("nor_conv_3x3~0|", "position 1", "'|'");
    expect_error("|conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "position 2", "an op name");
    expect_error("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "position 15", "source node '0'");
    expect_error("|nor_conv_3x3~0||none~0|none~1|+|none~0|none~1|none~2|", "position 17", "'+'");
    expect_error("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|", "position 49", "an op name");
    expect_error("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|x", "position 56", "the end of the string");
    expect_error("|nor_conv_3x3 0|+|none~0|none~1|+|none~0|none~1|none~2|", "position 2", "an op name");
    expect_error("|skip_connect,skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|", "position 15", "at most once");
    expect_error("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2", "position 55", "'|'");
    /* NULL and the error buffer being NULL must not crash */
    clnas_nb201_arch a;
    cr_assert_eq(clnas_nb201_parse(NULL, &a, NULL, 0), CLNAS_E_PARSE);
    cr_assert_eq(clnas_nb201_parse("|x", &a, NULL, 0), CLNAS_E_PARSE);
}

Test(arch, empty_edge_prints_as_none)
{
    clnas_nb201_arch a = {{0, 2, 2, 2, 2, 2}};
    char back[512];
    clnas_nb201_format(&a, back, sizeof back);
    cr_assert_str_eq(back, "|none~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|");
    char small[8];
    size_t need = clnas_nb201_format(&a, small, sizeof small);
    cr_assert_eq(need, strlen(back));
    cr_assert_eq(strlen(small), 7);
}
