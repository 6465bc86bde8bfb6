/* test_asvit_search.c - As-ViT's search logic: the policy's sampling and update, the grow step's
 * candidates and selection; checked on recorded kappa/L sequences against tools/asvit_policy_ref.py
 * (a Python reference written after the original's reinforce.py / teg.py / grow.py, with
 * torch's Categorical and Adam) so the logic is verified without expensive scoring. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "clnas/asvit_search.h"
#include "core/rng.h"
#include "util/testutil.h"

Test(asvit_search, grow_candidates)
{
    clnas_asvit_candidate c[16];
    const int d[4] = {1, 1, 1, 1};
    /* 8 * 1.05 = 8.4 -> 8, 8.8 -> 9, 9.2 -> 9 (a repeat: skipped), 9.6 -> 10 */
    int n = clnas_asvit_grow_candidates(d, 8, c);
    cr_assert_eq(n, 12);
    cr_assert(c[0].depth[0] == 2 && c[0].depth[1] == 1 && c[0].dim == 8);
    cr_assert(c[1].dim == 9 && c[2].dim == 10 && c[3].depth[1] == 2 && c[3].dim == 8);
    /* round half to even: 10 * 1.05 = 10.5 -> 10; 10 * 1.15 = 11.499999999999998 -> 11 (a repeat) */
    n = clnas_asvit_grow_candidates(d, 10, c);
    cr_assert_eq(n, 12);
    cr_assert(c[0].dim == 10 && c[1].dim == 11 && c[2].dim == 12);
}

Test(asvit_search, select_rank_sum_and_tie_break)
{
    /* candidate 1 is best in both */
    const double k1[3] = {3, 1, 2}, l1[3] = {1, 5, 2};
    cr_assert_eq(clnas_asvit_grow_select(3, k1, l1), 1);
    /* 0 best in kappa, 1 best in L: rank sums 0+1 and 1+0 tie; kappa's relative range (2/3)
       beats L's (0.5): argmin of kappa over the pair -> 0 */
    const double k2[2] = {1, 3}, l2[2] = {1, 2};
    cr_assert_eq(clnas_asvit_grow_select(2, k2, l2), 0);
    /* L's range larger: argmin of L (the original's argmin even for L) -> 0 */
    const double k3[2] = {1, 1.1}, l3[2] = {1, 10};
    cr_assert_eq(clnas_asvit_grow_select(2, k3, l3), 0);
    /* exact ties share a dense rank: sums 2, 1, 1; the tie 1/2 goes to L (range 2/3 > 1/2), whose
       argmin picks candidate 2, the one with the LOWER length distortion (the original's quirk) */
    const double k4[3] = {2, 2, 1}, l4[3] = {1, 3, 1};
    cr_assert_eq(clnas_asvit_grow_select(3, k4, l4), 2);
}

Test(asvit_search, policy_starts_uniform_and_learns)
{
    clnas_asvit_policy p;
    clnas_asvit_policy_init(&p, 8);
    double h0 = 0;
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) h0 += log(clnas_asvit_choice_count(i));
    cr_assert_float_eq(clnas_asvit_policy_entropy(&p), h0, 1e-5);
    /* a reward that prefers K1 = 8 (index 4) through a lower kappa: the policy must move there */
    int a[CLNAS_ASVIT_NCHOICES];
    for (int s = 0; s < 300; s++) {
        clnas_asvit_policy_sample(&p, a);
        clnas_asvit_policy_update(&p, a, a[0] == 4 ? 1.0 : 2.0, 1.0, NULL, NULL);
    }
    double pr[5];
    clnas_asvit_policy_probs(&p, 0, pr);
    cr_assert_gt(pr[4], 0.6, "p(K1 = 8) = %g after 300 steps", pr[4]);
    clnas_asvit_policy_argmax(&p, a);
    cr_assert_eq(a[0], 4);
    /* the same seed samples the same actions */
    clnas_asvit_policy q, r;
    clnas_asvit_policy_init(&q, 3);
    clnas_asvit_policy_init(&r, 3);
    int b[CLNAS_ASVIT_NCHOICES];
    for (int s = 0; s < 5; s++) {
        clnas_asvit_policy_sample(&q, a);
        clnas_asvit_policy_sample(&r, b);
        cr_assert_eq(memcmp(a, b, sizeof a), 0);
    }
}

#ifndef CLNAS_SANITIZED
static void write_logits(FILE *f, const clnas_asvit_policy *p)
{
    fputc('[', f);
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        fprintf(f, "%s[", i ? ", " : "");
        for (int k = 0; k < clnas_asvit_choice_count(i); k++) fprintf(f, "%s%.17g", k ? ", " : "", p->logits[i][k]);
        fputc(']', f);
    }
    fputc(']', f);
}

/* A recorded run: 60 policy steps on a kappa/L sequence with repeats and a -1 (NaN kappa), and
 * 40 grow steps whose values take few distinct levels (so ties happen). */
static void record(FILE *f)
{
    clnas_asvit_policy p;
    clnas_asvit_policy_init(&p, 8);
    clnas_pcg32 g;
    clnas_pcg32_seed(&g, 5, 1);
    fprintf(f, "{\"policy\": {\"logits0\": ");
    write_logits(f, &p);
    fprintf(f, ", \"steps\": [");
    for (int s = 0; s < 60; s++) {
        int a[CLNAS_ASVIT_NCHOICES];
        clnas_asvit_policy_sample(&p, a);
        double k = s == 17 ? -1.0 : s % 7 == 3 ? 250.0 : 100 + 400 * clnas_pcg32_double(&g);
        double L = s % 5 == 2 ? 0.5 : 0.2 + clnas_pcg32_double(&g), r, b;
        clnas_asvit_policy_update(&p, a, k, L, &r, &b);
        fprintf(f, "%s{\"a\": [", s ? ", " : "");
        for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) fprintf(f, "%s%d", i ? ", " : "", a[i]);
        fprintf(f, "], \"kappa\": %.17g, \"L\": %.17g, \"reward\": %.17g, \"baseline\": %.17g}", k, L, r, b);
    }
    fprintf(f, "], \"logits\": ");
    write_logits(f, &p);
    fprintf(f, "}, \"grow\": [");
    int depth[4] = {1, 1, 1, 1}, dim = 8;
    for (int s = 0; s < 40; s++) {
        clnas_asvit_candidate c[16];
        int n = clnas_asvit_grow_candidates(depth, dim, c);
        double k[16], L[16];
        for (int i = 0; i < n; i++) {
            k[i] = 1 + clnas_pcg32_below(&g, s % 2 ? 3 : 12);
            L[i] = 1 + clnas_pcg32_below(&g, s % 3 ? 4 : 12) * 0.25;
        }
        int w = clnas_asvit_grow_select(n, k, L);
        fprintf(f, "%s{\"depth\": [%d, %d, %d, %d], \"dim\": %d, \"candidates\": [", s ? ", " : "", depth[0], depth[1],
                depth[2], depth[3], dim);
        for (int i = 0; i < n; i++)
            fprintf(f, "%s[%d, %d, %d, %d, %d]", i ? ", " : "", c[i].depth[0], c[i].depth[1], c[i].depth[2], c[i].depth[3], c[i].dim);
        fprintf(f, "], \"kappa\": [");
        for (int i = 0; i < n; i++) fprintf(f, "%s%.17g", i ? ", " : "", k[i]);
        fprintf(f, "], \"L\": [");
        for (int i = 0; i < n; i++) fprintf(f, "%s%.17g", i ? ", " : "", L[i]);
        fprintf(f, "], \"winner\": %d}", w);
        if (s % 8 == 7) { for (int i = 0; i < 4; i++) depth[i] = 1; dim = 8 + s; }
        else { memcpy(depth, c[w].depth, sizeof depth); dim = c[w].dim; }
    }
    fprintf(f, "]}\n");
}

Test(asvit_search, matches_the_python_reference, .timeout = 300)
{
    const char *t = getenv("TMPDIR");
    char path[512], cmd[1024], *out;
    snprintf(path, sizeof path, "%s/clnas_asvit_policy_%d.json", t && *t ? t : "/tmp", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    record(f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/../tools/asvit_policy_ref.py' '%s' 2>&1", CLNAS_DATA_DIR, path);
    int rc = tu_run(cmd, &out);
    cr_log_info("%s", out);
    cr_expect_eq(rc, 0, "the Python reference disagrees:\n%s", out);
    cr_expect(strstr(out, "all agree") != NULL, "%s", out);
    free(out);
    if (rc == 0) unlink(path);
}
#endif

#ifndef CLNAS_SANITIZED
/* End to end at 32x32: a 4-step search with a trace, interrupted after 2 steps and resumed to
 * the same trace; and a grow run with small limits. */
static char *slurp_no_seconds(const char *path)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "sed 's/\"seconds\": [0-9.e+-]*//' '%s'", path);
    cr_assert_eq(tu_run(cmd, &out), 0);
    return out;
}

Test(asvit_search, search_trace_and_resume_end_to_end, .timeout = 600)
{
    const char *t = getenv("TMPDIR");
    char a[512], b[512], cmd[2048], *out;
    snprintf(a, sizeof a, "%s/clnas_asvit_tr_%d_a.jsonl", t && *t ? t : "/tmp", (int)getpid());
    snprintf(b, sizeof b, "%s/clnas_asvit_tr_%d_b.jsonl", t && *t ? t : "/tmp", (int)getpid());
    unlink(a);
    const char *flags = "--steps 4 --input 32 --D 8 --batch 4 --repeat 1 --quiet";
    snprintf(cmd, sizeof cmd, "'%s' search --space asvit %s --out '%s' --json 2>&1", CLNAS_BIN, flags, a);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s\n%s", cmd, out);
    cr_assert(strstr(out, "\"final\""), "%s", out);
    free(out);
    /* interrupted after two steps: header + 2 lines */
    snprintf(cmd, sizeof cmd, "head -3 '%s' > '%s'", a, b);
    cr_assert_eq(tu_run(cmd, &out), 0);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' search --space asvit %s --out '%s' --json 2>&1", CLNAS_BIN, flags, b);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s\n%s", cmd, out);
    free(out);
    char *ta = slurp_no_seconds(a), *tb = slurp_no_seconds(b);
    cr_expect_str_eq(ta, tb, "the resumed trace differs:\n%s\n---\n%s", ta, tb);
    free(ta);
    free(tb);
    /* other settings on an existing trace are refused */
    snprintf(cmd, sizeof cmd, "'%s' search --space asvit --steps 4 --input 64 --D 8 --batch 4 --repeat 1 --quiet --out '%s' 2>&1",
             CLNAS_BIN, b);
    cr_expect_neq(tu_run(cmd, &out), 0);
    cr_expect(strstr(out, "other settings"), "%s", out);
    free(out);
    unlink(a);
    unlink(b);
}

Test(asvit_search, grow_end_to_end, .timeout = 600)
{
    char cmd[1024], *out;
    snprintf(cmd, sizeof cmd, "'%s' grow --space asvit --arch '8,2,3|4,1,2|4,1,4|4,1,6|32' --input 32 --batch 4 "
             "--repeat 1 --max-params 3 --stop-params 2 --quiet --json 2>&1", CLNAS_BIN);
    cr_assert_eq(tu_run(cmd, &out), 0, "%s\n%s", cmd, out);
    /* D 8 -> full size 32: 2.32 M; every candidate has more than 2 M, so one step, under 3 M */
    cr_expect(strstr(out, "\"family\": [{\"step\": 1"), "%s", out);
    cr_expect(!strstr(out, "\"step\": 2"), "%s", out);
    free(out);
}
#endif
