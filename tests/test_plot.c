/* test_plot.c - the figures: the 3-panel stats figure and the search-cost figure are drawn,
 * read back with libpng (through clnas_png_read in src/report/png_out.c, the one file that
 * includes png.h), and checked for size, content in every panel, and their text chunks.
 * Also how `clnas figure cost` reports malformed result files (read with jansson). No OpenCL. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "clnas/bench201.h"
#include "clnas/stats.h"
#include "core/rng.h"
#include "report/plot.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif

static char tmpdir[256];

static void make_tmpdir(void) { tu_mkdtemp(tmpdir, sizeof tmpdir, "clnas_test_plot"); }

static void remove_tmpdir(void) { tu_rmrf(tmpdir); }

static void write_file(const char *path, const char *text) { tu_write_file(path, text); }

static int run(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", CLNAS_BIN, args);
    return tu_run(cmd, out);
}

/* ---- image checks ---- */

static const unsigned char *px(const clnas_png_image *im, int x, int y) { return im->rgba + ((size_t)y * im->width + x) * 4; }

/* Number of distinct RGB colours in the image (counted in a 2^24 bitmap). */
static int distinct_colours(const clnas_png_image *im)
{
    unsigned char *seen = calloc(1u << 21, 1);
    int n = 0;
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            const unsigned char *p = px(im, x, y);
            unsigned v = (unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2];
            if (!(seen[v >> 3] & (1u << (v & 7)))) { seen[v >> 3] |= (unsigned char)(1u << (v & 7)); n++; }
        }
    free(seen);
    return n;
}

/* Pixels in [x0,x1)x[y0,y1) that are not white, and that are close to colour (r,g,b) (within
 * tol per channel, which also catches alpha-blended marker centres drawn over white when tol
 * is large). */
static void count_region(const clnas_png_image *im, int x0, int y0, int x1, int y1, int r, int g, int b, int tol,
                         int *nonwhite, int *match)
{
    *nonwhite = *match = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            const unsigned char *p = px(im, x, y);
            if (p[0] < 250 || p[1] < 250 || p[2] < 250) (*nonwhite)++;
            if (abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol) (*match)++;
        }
}

/* Is this pixel's hue that of the (alpha-blended) colour: the channel order of the colour?
 * Marker colours over white become lighter but keep which channel is largest/smallest. */
static int hue_like(const unsigned char *p, int r, int g, int b)
{
    int dr = 255 - p[0], dg = 255 - p[1], db = 255 - p[2]; /* how far from white */
    int cr = 255 - r, cg = 255 - g, cb = 255 - b;
    if (dr + dg + db < 60) return 0; /* nearly white */
    /* compare normalised "ink" proportions */
    double s = dr + dg + db, t = cr + cg + cb;
    return fabs(dr / s - cr / t) < 0.12 && fabs(dg / s - cg / t) < 0.12 && fabs(db / s - cb / t) < 0.12;
}

static int count_hue(const clnas_png_image *im, int x0, int y0, int x1, int y1, int r, int g, int b)
{
    int n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) n += hue_like(px(im, x, y), r, g, b);
    return n;
}

static void expect_text(const clnas_png_image *im, const char *key, const char *want_substr)
{
    const char *v = clnas_png_image_text(im, key);
    cr_assert_not_null(v, "text chunk \"%s\" missing", key);
    if (want_substr) cr_assert(strstr(v, want_substr) != NULL, "text chunk %s = \"%s\" lacks \"%s\"", key, v, want_substr);
}

/* "Software" names the library and its version, e.g. "clnas 0.2.0" */
static void expect_software(const clnas_png_image *im)
{
    char want[64];
    snprintf(want, sizeof want, "clnas %s", clnas_version());
    cr_assert_eq(strlen(clnas_version()) >= 5 && strchr(clnas_version(), '.') != NULL, 1, "odd version \"%s\"", clnas_version());
    const char *v = clnas_png_image_text(im, "Software");
    cr_assert_not_null(v, "text chunk \"Software\" missing");
    cr_assert_str_eq(v, want);
}

/* ---- the stats figure ---- */

Test(plot, stats_figure_library, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char err[1024], path[512];
    clnas_nb201_table *t = NULL;
    cr_assert_eq(clnas_nb201_table_load(NULL, &t, err, sizeof err), CLNAS_OK, "%s", err);
    enum { N = 1500 };
    int idx[N];
    cr_assert_eq(clnas_nb201_table_sample(t, N, 11, idx), CLNAS_OK);
    static double lk[N], R[N], comb[N], acc[N], kappa[N];
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, 1, 2);
    for (int i = 0; i < N; i++) {
        acc[i] = clnas_nb201_table_row(t, idx[i])->cifar10;
        lk[i] = 6 - acc[i] / 20 + clnas_pcg32_uniform(&r, -1, 1);
        kappa[i] = pow(10, lk[i]);
        R[i] = floor(acc[i] * 25 + clnas_pcg32_uniform(&r, 0, 900));
        if (i % 300 == 0) lk[i] = kappa[i] = NAN;
    }
    clnas_nb201_table_destroy(t);
    cr_assert_eq(clnas_tenas_combined(kappa, R, N, comb), CLNAS_OK);
    clnas_plot_stats_data d;
    memset(&d, 0, sizeof d);
    d.n = N;
    d.log10_kappa = lk;
    d.R = R;
    d.combined = comb;
    d.acc = acc;
    d.acc_label = "NB201 CIFAR-10 test accuracy (%)";
    cr_assert_eq(clnas_correlate(kappa, acc, N, &d.corr[0]), CLNAS_OK);
    cr_assert_eq(clnas_correlate(R, acc, N, &d.corr[1]), CLNAS_OK);
    cr_assert_eq(clnas_correlate(comb, acc, N, &d.corr[2]), CLNAS_OK);
    cr_assert_lt(d.corr[0].tau, -0.2);
    cr_assert_gt(d.corr[1].tau, 0.2);
    clnas_plot_meta meta = {"clnas stats scores.csv --plot x.png", "Test GPU", "42",
                            "cifar10: tau(-kappa)=0.5", "Figure \xce\xba test"}; /* a non-ASCII title -> iTXt */
    snprintf(path, sizeof path, "%s/stats.png", tmpdir);
    cr_assert_eq(clnas_plot_stats(path, &d, &meta, err, sizeof err), CLNAS_OK, "%s", err);

    clnas_png_image im;
    cr_assert_eq(clnas_png_read(path, &im, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(im.width, CLNAS_PLOT_STATS_W);
    cr_assert_eq(im.height, CLNAS_PLOT_STATS_H);
    int nc = distinct_colours(&im);
    cr_assert_gt(nc, 200, "only %d distinct colours", nc);
    /* white background in the corners */
    cr_assert_eq(px(&im, 2, 2)[0], 255);
    cr_assert_eq(px(&im, im.width - 3, im.height - 3)[1], 255);
    /* each third of the figure (one panel each) has ink and markers of its colour:
     * blue (31,119,180), orange (255,127,14), green (44,160,44) */
    const int col[3][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}};
    for (int k = 0; k < 3; k++) {
        int x0 = k * im.width / 3, x1 = (k + 1) * im.width / 3, nonwhite, match;
        count_region(&im, x0, 130, x1, im.height - 130, 0, 0, 0, 60, &nonwhite, &match);
        cr_assert_gt(nonwhite, 5000, "panel %d: %d non-white pixels", k, nonwhite);
        cr_assert_gt(match, 500, "panel %d: %d dark (axes/text) pixels", k, match);
        int hue = count_hue(&im, x0, 130, x1, im.height - 130, col[k][0], col[k][1], col[k][2]);
        cr_assert_gt(hue, 3000, "panel %d: %d marker-coloured pixels", k, hue);
        for (int j = 0; j < 3; j++)
            if (j != k) {
                int other = count_hue(&im, x0, 130, x1, im.height - 130, col[j][0], col[j][1], col[j][2]);
                cr_assert_lt(other, hue / 4, "panel %d has %d pixels of panel %d's colour", k, other, j);
            }
    }
    expect_software(&im);
    cr_assert_str_eq(clnas_png_image_text(&im, "Command"), "clnas stats scores.csv --plot x.png");
    cr_assert_str_eq(clnas_png_image_text(&im, "Device"), "Test GPU");
    cr_assert_str_eq(clnas_png_image_text(&im, "Seed"), "42");
    cr_assert_str_eq(clnas_png_image_text(&im, "Correlations"), "cifar10: tau(-kappa)=0.5");
    cr_assert_str_eq(clnas_png_image_text(&im, "Title"), "Figure \xce\xba test");
    clnas_png_image_free(&im);
    clnas_png_image_free(&im); /* idempotent */

    /* an empty study still draws (axes only), and NULL meta writes "n/a" */
    d.n = 0;
    cr_assert_eq(clnas_plot_stats(path, &d, NULL, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_png_read(path, &im, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_str_eq(clnas_png_image_text(&im, "Device"), "n/a");
    clnas_png_image_free(&im);
    clnas_plot_release_caches();
}

Test(plot, png_errors, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char err[1024], path[512];
    unsigned char pix[4 * 4 * 4];
    memset(pix, 0xff, sizeof pix);
    clnas_png_text t[1] = {{"Title", "x"}};
    cr_assert_eq(clnas_png_write_argb32("/nonexistent-dir/x.png", pix, 4, 4, 16, t, 1, err, sizeof err), CLNAS_E_IO);
    cr_assert(strstr(err, "/nonexistent-dir/x.png") != NULL, "%s", err);
    cr_assert_eq(clnas_png_write_argb32("x.png", pix, 4, 4, 8, t, 1, err, sizeof err), CLNAS_E_INVALID_ARG);
    /* a translucent pixel -> RGBA output, un-premultiplied: 50% red premultiplied = (0x80, 0x80, 0, 0) */
    uint32_t *w = (uint32_t *)(void *)pix;
    w[5] = 0x80800000u;
    snprintf(path, sizeof path, "%s/a.png", tmpdir);
    cr_assert_eq(clnas_png_write_argb32(path, pix, 4, 4, 16, t, 1, err, sizeof err), CLNAS_OK, "%s", err);
    clnas_png_image im;
    cr_assert_eq(clnas_png_read(path, &im, err, sizeof err), CLNAS_OK, "%s", err);
    const unsigned char *p = px(&im, 1, 1);
    cr_assert(p[0] == 255 && p[1] == 0 && p[2] == 0 && p[3] == 0x80, "got %d %d %d %d", p[0], p[1], p[2], p[3]);
    cr_assert_eq(px(&im, 0, 0)[3], 255);
    cr_assert_str_eq(clnas_png_image_text(&im, "Title"), "x");
    cr_assert_null(clnas_png_image_text(&im, "Nope"));
    clnas_png_image_free(&im);
    /* not a PNG */
    snprintf(path, sizeof path, "%s/not.png", tmpdir);
    write_file(path, "this is not a png file at all, but long enough to have a signature");
    cr_assert_eq(clnas_png_read(path, &im, err, sizeof err), CLNAS_E_PNG);
    cr_assert(strstr(err, "not.png") != NULL, "%s", err);
    cr_assert_null(im.rgba);
}

Test(plot, stats_command_writes_the_figure, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char err[1024], csv[512], png[512], args[2048], *out;
    clnas_nb201_table *t = NULL;
    cr_assert_eq(clnas_nb201_table_load(NULL, &t, err, sizeof err), CLNAS_OK, "%s", err);
    int idx[300];
    cr_assert_eq(clnas_nb201_table_sample(t, 300, 2, idx), CLNAS_OK);
    snprintf(csv, sizeof csv, "%s/scores.csv", tmpdir);
    snprintf(png, sizeof png, "%s/fig.png", tmpdir);
    FILE *f = fopen(csv, "w");
    fprintf(f, "# device: Unit Test Device\n# seed: 3\narch,kappa,R\n");
    for (int i = 0; i < 300; i++) {
        const clnas_nb201_row *r = clnas_nb201_table_row(t, idx[i]);
        fprintf(f, "\"%s\",%g,%d\n", r->arch, pow(10, 5 - r->cifar100 / 20 + (i % 7) * 0.2), (int)(r->cifar100 * 30) + (i % 13) * 40);
    }
    fclose(f);
    clnas_nb201_table_destroy(t);
    snprintf(args, sizeof args, "stats '%s' --plot '%s' --dataset cifar100", csv, png);
    int rc = run(args, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "figure") != NULL, "%s", out);
    free(out);
    clnas_png_image im;
    cr_assert_eq(clnas_png_read(png, &im, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(im.width, CLNAS_PLOT_STATS_W);
    cr_assert_eq(im.height, CLNAS_PLOT_STATS_H);
    cr_assert_gt(distinct_colours(&im), 200);
    expect_text(&im, "Software", "clnas");
    expect_text(&im, "Command", "clnas stats ");
    expect_text(&im, "Command", "--plot");
    expect_text(&im, "Command", "--dataset cifar100");
    cr_assert_str_eq(clnas_png_image_text(&im, "Device"), "Unit Test Device");
    cr_assert_str_eq(clnas_png_image_text(&im, "Seed"), "3");
    expect_text(&im, "Correlations", "cifar100: tau(-kappa)=");
    expect_text(&im, "Correlations", "n=300 excluded=0");
    expect_text(&im, "Title", "CIFAR-100");
    clnas_png_image_free(&im);

    /* an unwritable figure path: exit 1 with the path in the message */
    snprintf(args, sizeof args, "stats '%s' --plot /nonexistent-dir/f.png", csv);
    rc = run(args, &out);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, "/nonexistent-dir/f.png") != NULL, "%s", out);
    free(out);
}

/* ---- the cost figure ---- */

static const char *TRACE_RUNS =
    "{\"space\": \"nb201\", \"dataset\": \"cifar10\", \"device\": \"Unit GPU\", \"n\": 3, \"wall_s\": 41.2, \"runs\": [\n"
    " {\"arch\": \"a\", \"seed\": 0, \"device\": \"Unit GPU\", \"wall_s\": 40.1, \"accuracy\": {\"cifar10\": 93.76, \"cifar100\": 70.7, \"imagenet16\": 44.1}},\n"
    " {\"arch\": \"b\", \"seed\": 1, \"device\": \"Unit GPU\", \"wall_s\": 42.0, \"accuracy\": {\"cifar10\": 94.1, \"cifar100\": null, \"imagenet16\": 45.1}},\n"
    " {\"arch\": \"c\\u00e9\\ud83d\\ude00\", \"seed\": 2, \"device\": \"Unit GPU\", \"wall_s\": 41.5, \"accuracy\": {\"cifar10\": 93.2e0, \"cifar100\": 70.0, \"imagenet16\": 43.0}}],\n"
    " \"mean\": {\"cifar10\": 93.6867}, \"std\": {\"cifar10\": 0.3712},\n"
    " \"accuracy\": {\"cifar10\": 93.6867, \"cifar100\": 70.8, \"imagenet16\": 44.07}}\n";

Test(plot, cost_figure_with_traces, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char err[1024], t1[512], t2[512], png[512], args[2048], *out;
    snprintf(t1, sizeof t1, "%s/search.json", tmpdir);
    snprintf(t2, sizeof t2, "%s/one.json", tmpdir);
    snprintf(png, sizeof png, "%s/cost.png", tmpdir);
    write_file(t1, TRACE_RUNS);
    write_file(t2, "{\"arch\": \"x\", \"seed\": 5, \"dataset\": \"cifar100\", \"device\": {\"name\": \"CPU Dev\"}, "
                   "\"wall_s\": 900, \"accuracy\": {\"cifar10\": 92.5}}");
    snprintf(args, sizeof args, "figure cost --trace '%s' --trace='%s' --out '%s'", t1, t2, png);
    int rc = run(args, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "clnas (Unit GPU)") != NULL, "%s", out);
    cr_assert(strstr(out, "93.69") != NULL, "%s", out);       /* the trace's mean */
    cr_assert(strstr(out, "0.37") != NULL, "%s", out);        /* the trace's std */
    cr_assert(strstr(out, "clnas (CPU Dev; searched on cifar100)") != NULL, "%s", out);
    cr_assert(strstr(out, "TE-NAS") != NULL && strstr(out, "1558") != NULL, "%s", out);
    cr_assert(strstr(out, "ResNet 93.97") != NULL && strstr(out, "optimal 94.37") != NULL, "%s", out);
    free(out);
    clnas_png_image im;
    cr_assert_eq(clnas_png_read(png, &im, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(im.width, CLNAS_PLOT_COST_W);
    cr_assert_eq(im.height, CLNAS_PLOT_COST_H);
    cr_assert_gt(distinct_colours(&im), 200);
    /* clnas's red diamonds, TE-NAS's orange square, published blue circles */
    int red = count_hue(&im, 0, 0, im.width, im.height, 214, 39, 40);
    int orange = count_hue(&im, 0, 0, im.width, im.height, 255, 127, 14);
    int blue = count_hue(&im, 0, 0, im.width, im.height, 31, 119, 180);
    cr_assert_gt(red, 600, "red %d", red);
    cr_assert_gt(orange, 300, "orange %d", orange);
    cr_assert_gt(blue, 1500, "blue %d", blue);
    expect_software(&im);
    expect_text(&im, "Command", "clnas figure cost --trace");
    expect_text(&im, "Device", "Unit GPU");
    expect_text(&im, "Device", "CPU Dev");
    expect_text(&im, "Seed", "0,1,2");
    expect_text(&im, "Correlations", "clnas[Unit GPU] 93.69");
    expect_text(&im, "Title", "NAS-Bench-201");
    clnas_png_image_free(&im);

    /* without traces: published points only, and no red */
    snprintf(args, sizeof args, "figure cost --out '%s'", png);
    rc = run(args, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "published points only") != NULL, "%s", out);
    free(out);
    cr_assert_eq(clnas_png_read(png, &im, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_lt(count_hue(&im, 0, 0, im.width, im.height, 214, 39, 40), 50);
    cr_assert_gt(count_hue(&im, 0, 0, im.width, im.height, 31, 119, 180), 1500);
    cr_assert_str_eq(clnas_png_image_text(&im, "Device"), "n/a (published numbers only)");
    clnas_png_image_free(&im);
}

Test(plot, cost_figure_rejects_bad_traces, .init = make_tmpdir, .fini = remove_tmpdir)
{
    char path[512], png[512], args[2048], *out;
    snprintf(path, sizeof path, "%s/bad.json", tmpdir);
    snprintf(png, sizeof png, "%s/bad.png", tmpdir);
    static char deep[20001];
    memset(deep, '[', 20000);
    /* JSON syntax: jansson's messages, with the file, line and column */
    struct { const char *text, *want; } bad[] = {
        {"", "bad.json:1:0: malformed JSON: '[' or '{' expected near end of file"},
        {"{", "bad.json:1:1: malformed JSON: string or '}' expected"},
        {"[]", "expected a JSON object"},
        {"{\"runs\": []}", "\"runs\" is empty"},
        {"{\"runs\": 5}", "\"runs\" is not a list"},
        {"{\"runs\": [1]}", "not an object"},
        {"{\"wall_s\": \"x\", \"accuracy\": {\"cifar10\": 93}}", "wall_s"},
        {"{\"wall_s\": 10}", "accuracy"},
        {"{\"wall_s\": 10, \"accuracy\": {\"cifar10\": null}}", "accuracy"},
        {"{\"wall_s\": -1, \"accuracy\": {\"cifar10\": 90}}", "wall_s"},
        {"{\"a\": \"\\x\"}", "invalid escape"},
        {"{\"a\": \"\\u12\"}", "invalid escape"},
        {"{\"a\": tru}", "invalid token"},
        {"{\"a\" 1}", "':' expected"},
        {"{\"a\": [1, 2}", "']' expected"},
        {"{\"wall_s\": 1, \"accuracy\": {\"cifar10\": 90}}\n{\"x\": 1}", "bad.json:2:1: malformed JSON: end of file expected"},
        {"{\"wall_s\": 1, \"accuracy\": {\"cifar10\": 90}}\n{\"x\": 1}", "a .jsonl trace?"},
        {deep, "maximum parsing depth reached"},
        {"{\"a\": \"unterminated", "premature end of input"},
        {"{\"wall_s\": 1, \"wall_s\": 2, \"accuracy\": {\"cifar10\": 90}}", "duplicate object key"},
        {"{\"a\": \"\xff\"}", "unable to decode byte 0xff"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i].text);
        snprintf(args, sizeof args, "figure cost --trace '%s' --out '%s'", path, png);
        int rc = run(args, &out);
        cr_assert_eq(rc, 1, "case %zu: exit %d: %s", i, rc, out);
        cr_assert(strstr(out, path) != NULL && strstr(out, bad[i].want) != NULL,
                  "case %zu: message lacks the file or \"%s\": %s", i, bad[i].want, out);
        free(out);
    }
    snprintf(args, sizeof args, "figure cost --trace /nonexistent/trace.json --out '%s'", png);
    int rc = run(args, &out);
    cr_assert_eq(rc, 1);
    cr_assert(strstr(out, "/nonexistent/trace.json") != NULL, "%s", out);
    free(out);
    rc = run("figure nosuch", &out);
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    rc = run("figure", &out);
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    rc = run("figure cost --bogus", &out);
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    rc = run("figure cost cost", &out);
    cr_assert_eq(rc, 2, "%s", out);
    free(out);
    rc = run("figure --help", &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "usage: clnas figure cost") && strstr(out, "--trace FILE") && strstr(out, "--out PATH") &&
              strstr(out, "--published FILE") && strstr(out, "--title TEXT") && strstr(out, "\"accuracy\".\"cifar10\""),
              "%s", out);
    free(out);
    /* a malformed published table */
    snprintf(args, sizeof args, "figure cost --published '%s' --out '%s'", path, png);
    write_file(path, "method,cifar10,cost_gpu_s\nX,abc,1\n");
    rc = run(args, &out);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert(strstr(out, ":2:") != NULL, "%s", out);
    free(out);
}

/* ---- the proxy-study grid (clnas stats --plot on a `clnas rank --metric` CSV) ---- */

static const char *const PX_COLS[9] = {"params", "flops", "jacob_cov", "synflow", "naswot", "zico",
                                       "az_expressivity", "az_progressivity", "az_trainability"};

/* Brute-force average rank (1-based, ascending) of x[i] among the non-NaN entries of x. */
static double naive_rank(const double *x, int n, int i)
{
    int lt = 0, eq = 0;
    for (int j = 0; j < n; j++) {
        if (isnan(x[j])) continue;
        lt += x[j] < x[i];
        eq += x[j] == x[i];
    }
    return 1 + lt + 0.5 * (eq - 1);
}

/* Kendall tau-b over the pairs with neither side NaN, O(n^2) from its definition. */
static double naive_tau_b(const double *x, const double *y, int n, int *used)
{
    long c = 0, d = 0, tx = 0, ty = 0, n0 = 0;
    *used = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i]) || isnan(y[i])) continue;
        (*used)++;
        for (int j = i + 1; j < n; j++) {
            if (isnan(x[j]) || isnan(y[j])) continue;
            n0++;
            double a = x[i] - x[j], b = y[i] - y[j];
            if (a == 0) tx++;
            if (b == 0) ty++;
            if (a != 0 && b != 0) { if ((a > 0) == (b > 0)) c++; else d++; }
        }
    }
    return (c - d) / sqrt((double)(n0 - tx) * (double)(n0 - ty));
}

/* The JSON object of the column named name (NULL when absent). */
static json_t *column(json_t *root, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(root, "columns"), i, o)
        if (!strcmp(json_string_value(json_object_get(o, "name")), name)) return o;
    return NULL;
}

Test(plot, proxy_study_grid_and_json, .init = make_tmpdir, .fini = remove_tmpdir)
{
    enum { N = 60, NP = 9 };
    double v[NP][N], acc[3][N];
    uint64_t ctr = 0;
    for (int i = 0; i < N; i++) {
        double q = (double)i / N; /* the architecture's quality */
        for (int k = 0; k < 3; k++) acc[k][i] = 40 + 50 * q + 6 * clnas_ctr_uniform(7, ctr++) - k * 10;
        for (int p = 0; p < NP; p++) {
            /* noisy and of several scales; integer ties in params; some undefined */
            double x = q + (0.2 + 0.1 * p) * clnas_ctr_uniform(7, ctr++);
            v[p][i] = p == 0 ? floor(x * 8) : p == 3 ? pow(10, 30 * x) : x - 3;
        }
        if (i % 11 == 3) v[2][i] = NAN;  /* jacob_cov undefined */
        if (i % 13 == 5) v[8][i] = NAN;  /* az_trainability -inf: an empty cell */
    }
    acc[1][17] = NAN;                    /* an accuracy missing */
    char csv[512], png[512], args[2048], *out;
    snprintf(csv, sizeof csv, "%s/px.csv", tmpdir);
    snprintf(png, sizeof png, "%s/px.png", tmpdir);
    FILE *f = fopen(csv, "w");
    cr_assert_not_null(f);
    fprintf(f, "index,arch");
    for (int p = 0; p < NP; p++) fprintf(f, ",%s", PX_COLS[p]);
    fprintf(f, ",cifar10_test,cifar100_test,imagenet16_test,status");
    for (int p = 0; p < NP; p++) fprintf(f, ",t_%s", PX_COLS[p]);
    fprintf(f, "\n");
    for (int i = 0; i < N; i++) {
        fprintf(f, "%d,\"a%d\"", i, i);
        for (int p = 0; p < NP; p++) isnan(v[p][i]) ? fprintf(f, ",") : fprintf(f, ",%.17g", v[p][i]);
        for (int k = 0; k < 3; k++) isnan(acc[k][i]) ? fprintf(f, ",") : fprintf(f, ",%.17g", acc[k][i]);
        fprintf(f, ",%s", i % 11 == 3 ? "jacob_cov: constant row" : "");
        for (int p = 0; p < NP; p++) fprintf(f, ",0.5");
        fprintf(f, "\n");
    }
    fclose(f);

    /* --json: every tau equals the brute-force tau-b of the same values */
    snprintf(args, sizeof args, "stats '%s' --json --plot '%s' --dataset cifar100", csv, png);
    int rc = run(args, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "%s: %s", je.text, out);
    free(out);
    cr_assert_eq(json_integer_value(json_object_get(root, "n")), N);
    cr_assert_str_eq(json_string_value(json_object_get(root, "plot")), png);
    cr_assert_eq(json_array_size(json_object_get(root, "columns")), NP + 2, "9 proxies, ensemble, az_nas");
    static const char *const dsk[3] = {"cifar10", "cifar100", "imagenet16"};
    double ens[N], az[N], col[N];
    for (int i = 0; i < N; i++) ens[i] = az[i] = 0;
    /* the ensemble: jacob_cov, synflow and the az_nas aggregate (rank sum) */
    static const int members[2] = {2, 3}, azm[4] = {1, 6, 7, 8};
    for (int m = 0; m < 4; m++) {
        for (int i = 0; i < N; i++) col[i] = isnan(v[azm[m]][i]) ? -INFINITY : v[azm[m]][i];
        for (int i = 0; i < N; i++) az[i] += log(naive_rank(col, N, i) / N);
    }
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < N; i++) ens[i] += isnan(v[members[m]][i]) ? NAN : naive_rank(v[members[m]], N, i);
    for (int i = 0; i < N; i++) ens[i] += naive_rank(az, N, i);
    for (int p = 0; p < NP + 2; p++) {
        const char *name = p < NP ? PX_COLS[p] : p == NP ? "ensemble" : "az_nas";
        const double *x = p < NP ? v[p] : p == NP ? ens : az;
        json_t *o = column(root, name);
        cr_assert_not_null(o, "column %s missing", name);
        for (int k = 0; k < 3; k++) {
            int used;
            double want = naive_tau_b(x, acc[k], N, &used);
            json_t *c = json_object_get(o, dsk[k]);
            double got = json_real_value(json_object_get(c, "tau"));
            cr_expect(fabs(got - want) < 1e-12, "%s %s: tau %.15g, brute force %.15g", name, dsk[k], got, want);
            cr_expect_eq(json_integer_value(json_object_get(c, "n")), used, "%s %s", name, dsk[k]);
            cr_expect_eq(json_integer_value(json_object_get(c, "excluded")), N - used, "%s %s", name, dsk[k]);
        }
    }
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(column(root, "jacob_cov"), "cifar10"), "n")), N - 6);
    json_decref(root);

    /* the figure: 11 panels in 4 columns, each with markers of its colour; the 12th cell empty */
    int W, H, cols, rows;
    clnas_plot_grid_layout(NP + 2, &cols, &rows, &W, &H);
    cr_assert_eq(cols, 4);
    cr_assert_eq(rows, 3);
    clnas_png_image im;
    char err[1024];
    cr_assert_eq(clnas_png_read(png, &im, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(im.width, W);
    cr_assert_eq(im.height, H);
    for (int p = 0; p < NP + 2; p++) {
        double b[4];
        clnas_plot_grid_panel_box(NP + 2, p, b);
        int blue = count_hue(&im, (int)b[0] + 3, (int)b[1] + 3, (int)b[2] - 3, (int)b[3] - 3, 31, 119, 180);
        int green = count_hue(&im, (int)b[0] + 3, (int)b[1] + 3, (int)b[2] - 3, (int)b[3] - 3, 44, 160, 44);
        if (p < NP) cr_expect_gt(blue, 500, "panel %d (%s): %d blue pixels", p, PX_COLS[p], blue);
        else cr_expect_gt(green, 500, "panel %d: %d green pixels", p, green);
        int nonwhite, match;
        count_region(&im, (int)b[0] - 140, (int)b[1] - 60, (int)b[0] - 10, (int)b[3], 0, 0, 0, 80, &nonwhite, &match);
        cr_expect_gt(match, 100, "panel %d has tick labels", p);
    }
    double last[4];
    clnas_plot_grid_panel_box(NP + 2, NP + 2, last); /* the unused 12th cell */
    int nonwhite, match;
    count_region(&im, (int)last[0] - 140, (int)last[1] - 60, (int)last[2] + 20, (int)last[3] + 100, 0, 0, 0, 0, &nonwhite, &match);
    cr_expect_eq(nonwhite, 0, "the cell after the last panel is empty");
    expect_software(&im);
    expect_text(&im, "Command", "--dataset cifar100");
    expect_text(&im, "Correlations", "cifar100: tau(params)=");
    expect_text(&im, "Correlations", "tau(az_nas)=");
    expect_text(&im, "Title", "CIFAR-100");
    cr_assert_gt(distinct_colours(&im), 200);
    clnas_png_image_free(&im);

    /* the table names every score; --table is refused for a proxy study */
    snprintf(args, sizeof args, "stats '%s'", csv);
    rc = run(args, &out);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "60 architectures") && strstr(out, "ensemble") && strstr(out, "az_nas") &&
              strstr(out, "az_trainability"), "%s", out);
    free(out);
    snprintf(args, sizeof args, "stats '%s' --plot /nonexistent-dir/f.png", csv);
    rc = run(args, &out);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "/nonexistent-dir/f.png") != NULL, "%s", out);
    free(out);
    snprintf(args, sizeof args, "stats '%s' --table /nonexistent.csv", csv);
    rc = run(args, &out);
    cr_expect_eq(rc, 2, "%s", out);
    cr_expect(strstr(out, "--table") != NULL, "%s", out);
    free(out);
}

/* ---- choosing an ensemble on some rows of a study, testing it on others ---- */

/* The rank-sum ensemble of the members in set (bit p = column p) over rows [lo, hi) of v, brute force;
 * NaN where a member is undefined. Ranks are taken among those rows only. */
static void naive_ensemble(int np, int n, double v[][40], unsigned set, int lo, int hi, double *out)
{
    double col[40];
    for (int i = lo; i < hi; i++) out[i - lo] = 0;
    for (int p = 0; p < np; p++) {
        if (!(set & (1u << p))) continue;
        for (int i = lo; i < hi; i++) col[i - lo] = isnan(v[p][i]) ? -INFINITY : v[p][i];
        for (int i = lo; i < hi; i++) out[i - lo] += isnan(v[p][i]) ? NAN : naive_rank(col, hi - lo, i - lo);
    }
}

Test(plot, proxy_study_rows_ensemble_and_choice, .init = make_tmpdir, .fini = remove_tmpdir)
{
    enum { N = 40, NP = 4 };
    static const char *const names[NP] = {"flops", "synflow", "naswot", "zico"};
    double v[NP][40], acc[3][40];
    uint64_t ctr = 0;
    for (int i = 0; i < N; i++) {
        double q = (double)i / N;
        for (int k = 0; k < 3; k++) acc[k][i] = 50 + 40 * q + 8 * clnas_ctr_uniform(11, ctr++);
        for (int p = 0; p < NP; p++) v[p][i] = q + (0.15 + 0.25 * p) * clnas_ctr_uniform(11, ctr++);
        if (i % 9 == 4) v[2][i] = NAN; /* naswot undefined on some rows */
    }
    char csv[512], args[2048], *out;
    snprintf(csv, sizeof csv, "%s/px.csv", tmpdir);
    FILE *f = fopen(csv, "w");
    cr_assert_not_null(f);
    fprintf(f, "index,arch,flops,synflow,naswot,zico,cifar10_test,cifar100_test,imagenet16_test,status,t_flops,t_synflow,t_naswot,t_zico\n");
    for (int i = 0; i < N; i++) {
        fprintf(f, "%d,\"a%d\"", i, i);
        for (int p = 0; p < NP; p++) isnan(v[p][i]) ? fprintf(f, ",") : fprintf(f, ",%.17g", v[p][i]);
        fprintf(f, ",%.17g,%.17g,%.17g,,0,0,0,0\n", acc[0][i], acc[1][i], acc[2][i]);
    }
    fclose(f);

    /* --rows 11-40 --ensemble synflow,zico: the ensemble ranked among those 30 rows only */
    snprintf(args, sizeof args, "stats '%s' --rows 11-40 --ensemble synflow,zico --json", csv);
    int rc = run(args, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    json_error_t je;
    json_t *root = json_loads(out, 0, &je);
    cr_assert_not_null(root, "%s: %s", je.text, out);
    free(out);
    cr_assert_eq(json_integer_value(json_object_get(root, "n")), 30);
    double e[40];
    naive_ensemble(NP, N, v, 1u << 1 | 1u << 3, 10, N, e);
    json_t *o = column(root, "ensemble");
    cr_assert_not_null(o);
    cr_expect(strstr(json_string_value(json_object_get(o, "note")), "synflow, zico") != NULL, "%s",
              json_string_value(json_object_get(o, "note")));
    int used;
    double want = naive_tau_b(e, acc[0] + 10, 30, &used);
    double got = json_real_value(json_object_get(json_object_get(o, "cifar10"), "tau"));
    cr_expect(fabs(got - want) < 1e-12, "ensemble on rows 11-40: tau %.15g, brute force %.15g", got, want);
    json_decref(root);

    /* --choose-ensemble on rows 1-25: its choice is the subset with the best mean tau-b, by brute force */
    snprintf(args, sizeof args, "stats '%s' --rows 1-25 --choose-ensemble", csv);
    rc = run(args, &out);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    unsigned best = 0;
    double best_mean = -2;
    for (unsigned set = 1; set < (1u << NP); set++) {
        if (__builtin_popcount(set) < 2) continue;
        naive_ensemble(NP, N, v, set, 0, 25, e);
        double mean = 0;
        for (int k = 0; k < 3; k++) mean += naive_tau_b(e, acc[k], 25, &used) / 3;
        if (mean > best_mean + 1e-12) { best_mean = mean; best = set; }
    }
    char line[256] = "chosen  --ensemble ";
    for (int p = 0, first = 1; p < NP; p++)
        if (best & (1u << p)) { strcat(line, first ? "" : ","); strcat(line, names[p]); first = 0; }
    strcat(line, "\n");
    cr_expect(strstr(out, line) != NULL, "expected '%s' (mean tau %.4f) in:\n%s", line, best_mean, out);
    char mean_s[32];
    snprintf(mean_s, sizeof mean_s, "  %+.4f  ", best_mean);
    cr_expect(strstr(out, mean_s) != NULL, "the best mean %s in:\n%s", mean_s, out);
    cr_expect(strstr(out, "rows 1..25 (25 architectures)") != NULL, "%s", out);
    free(out);

    /* bad input: each refused with exit 2 and a message naming what is wrong */
    static const struct { const char *opts, *msg; } bad[] = {
        {"--ensemble synflow,nosuch", "'nosuch' is no proxy name"},
        {"--ensemble grasp", "'grasp' is not a column"},
        {"--ensemble synflow,synflow", "listed twice"},
        {"--rows 50-60", "has only 40 data rows"},
        {"--rows 0-5", "counts data rows from 1"},
        {"--rows 9-3", "--rows"},
        {"--choose-ensemble --json", "do not apply"},
    };
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        snprintf(args, sizeof args, "stats '%s' %s", csv, bad[b].opts);
        rc = run(args, &out);
        cr_expect_eq(rc, 2, "%s: exit %d: %s", bad[b].opts, rc, out);
        cr_expect(strstr(out, bad[b].msg) != NULL, "%s: expected '%s' in: %s", bad[b].opts, bad[b].msg, out);
        free(out);
    }
}
