/* cmd_figure.c - `clnas figure cost`: the TE-NAS comparison figure, NB201 CIFAR-10 test
 * accuracy against search cost, with the published methods (data/published/
 * nb201_search_cost.csv) and clnas's own searches read from `clnas search` result files
 * (JSON, read with jansson). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "clnas/data.h"
#include "report/json.h"
#include "report/plot.h"
#include "core/util.h"

static const char USAGE[] =
"usage: clnas figure cost [--trace SEARCH.json ...] [--out cost.png] [--published FILE.csv]\n"
"\n"
"Draws the TE-NAS comparison figure: NAS-Bench-201 CIFAR-10 test accuracy (%, y) against search\n"
"cost in GPU-seconds (x, log scale), one labelled point per published method (TE-NAS paper,\n"
"data/published/nb201_search_cost.csv, with error bars where a std is published) and one point\n"
"per --trace file: a JSON object written by `clnas search`, from which \"wall_s\", \"device\" and\n"
"\"accuracy\".\"cifar10\" are read (or from each element of its \"runs\" list: the point is then the\n"
"mean, with error bars of one standard deviation over the runs). Methods without a published cost\n"
"(ResNet, the NB201 optimum) are listed in a note, not plotted.\n";

#define MAXTRACE 32

/* The command line. */
typedef struct figure_args {
    const char *traces[MAXTRACE], *out, *pub_path, *title;
    int ntrace;
} figure_args;

/* --trace FILE, repeatable. */
static int add_trace(const char *cmd, const char *opt, const char *val, void *ud)
{
    figure_args *a = ud;
    if (!*val) {
        fprintf(stderr, "clnas %s: %s needs a non-empty value\n", cmd, opt);
        return 0;
    }
    if (a->ntrace == MAXTRACE) {
        fprintf(stderr, "clnas %s: at most %d %s files\n", cmd, MAXTRACE, opt);
        return 0;
    }
    a->traces[a->ntrace++] = val;
    return 1;
}

/* Parses the command line; returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, figure_args *a)
{
    memset(a, 0, sizeof *a);
    a->out = "cost.png";
    cli c;
    cli_init(&c, "figure", USAGE, NULL);
    c.max_pos = 1;
    c.pos_name = "figure name (cost)";
    cli_add_fn(&c, "trace", add_trace, a, "a search result file (search_seedS.json or search.json; repeat for\n"
                                          "several); without any, only published points");
    cli_add_help(&c, "out", &a->out, "output PNG (default cost.png)");
    cli_add(&c, "published", &a->pub_path);
    cli_add(&c, "title", &a->title);
    char *pos[1];
    int npos = 0, pr = cli_parse(&c, argc, argv, pos, &npos);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (npos == 0) {
        fprintf(stderr, "clnas figure: which figure? (known: cost)\n\n");
        cli_help(&c, stderr);
        return 2;
    }
    if (strcmp(pos[0], "cost") != 0) {
        fprintf(stderr, "clnas figure: unknown figure \"%s\" (known: cost)\n", pos[0]);
        return 2;
    }
    return -1;
}

/* ---- input files ---- */

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        if (cap > ((size_t)64 << 20)) { free(b); b = NULL; snprintf(err, errlen, "%s: larger than 64 MiB", path); fclose(f); return NULL; }
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) { snprintf(err, errlen, "%s: out of memory", path); return NULL; }
    if (bad) { free(b); snprintf(err, errlen, "%s: read error", path); return NULL; }
    b[n] = 0;
    if (strlen(b) != n) { free(b); snprintf(err, errlen, "%s: contains a NUL byte (not a text file)", path); return NULL; }
    return b;
}

typedef struct {
    char label[160];
    char device[128];
    char seeds[128];
    double cost, cost_std, acc, acc_std;
    int runs;
} trace_point;

static double jnum(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

static void device_of(const json_t *o, char *out, size_t len)
{
    const json_t *d = json_object_get(o, "device");
    if (json_is_object(d)) d = json_object_get(d, "name");
    if (json_is_string(d) && *json_string_value(d) && !*out) snprintf(out, len, "%s", json_string_value(d));
}

static void seed_of(const json_t *o, char *out, size_t len)
{
    const json_t *s = json_object_get(o, "seed");
    if (json_is_number(s)) {
        size_t n = strlen(out);
        if (n + 24 < len) snprintf(out + n, len - n, "%s%.0f", n ? "," : "", json_number_value(s));
    }
}

/* The runs of a result file: its "runs" list, or the object itself. Returns their number, or 0
 * with a message. */
static size_t runs_of(const char *path, const json_t *root, const json_t **runs, char *err, size_t errlen)
{
    *runs = json_object_get(root, "runs");
    if (!*runs) return 1;
    if (!json_is_array(*runs)) snprintf(err, errlen, "%s: \"runs\" is not a list", path);
    else if (json_array_size(*runs) == 0) snprintf(err, errlen, "%s: \"runs\" is empty", path);
    else return json_array_size(*runs);
    return 0;
}

/* Mean cost and accuracy of the runs of a result file into *tp (and its device, seeds, dataset);
 * 0 with a message on failure. */
static int average_runs(const char *path, const json_t *root, trace_point *tp, const char **ds, char *err, size_t errlen)
{
    const json_t *runs;
    size_t nrun = runs_of(path, root, &runs, err, errlen);
    if (!nrun) return 0;
    double sw = 0, sw2 = 0, sa = 0, sa2 = 0;
    int nacc = 0;
    device_of(root, tp->device, sizeof tp->device);
    seed_of(root, tp->seeds, sizeof tp->seeds);
    *ds = clnas_json_get_str(root, "dataset", NULL);
    for (size_t r = 0; r < nrun; r++) {
        const json_t *o = runs ? json_array_get(runs, r) : root;
        const char *where = runs ? "runs[] element" : "object";
        if (!json_is_object(o)) {
            snprintf(err, errlen, "%s: runs[] element %zu is not an object", path, r);
            return 0;
        }
        double w = jnum(json_object_get(o, "wall_s")), a = jnum(json_object_get(json_object_get(o, "accuracy"), "cifar10"));
        if (!(w > 0) || !isfinite(w)) {
            snprintf(err, errlen, "%s: %s %zu has no positive number \"wall_s\"", path, where, r);
            return 0;
        }
        sw += w; sw2 += w * w;
        if (isfinite(a)) { sa += a; sa2 += a * a; nacc++; } /* null: the found arch was not in the table */
        device_of(o, tp->device, sizeof tp->device);
        if (runs) seed_of(o, tp->seeds, sizeof tp->seeds);
        if (!*ds) *ds = clnas_json_get_str(o, "dataset", NULL);
    }
    if (!nacc) {
        snprintf(err, errlen, "%s: no number \"accuracy\".\"cifar10\" in %s", path, runs ? "any run" : "the object");
        return 0;
    }
    tp->runs = (int)nrun;
    tp->cost = sw / (double)nrun;
    tp->acc = sa / nacc;
    /* spread over the runs with ddof 0, as `clnas search --seeds` reports it; a "mean" / "std"
     * object written by the search takes precedence */
    tp->cost_std = nrun > 1 ? sqrt(fmax(0, sw2 / (double)nrun - tp->cost * tp->cost)) : NAN;
    tp->acc_std = nacc > 1 ? sqrt(fmax(0, sa2 / nacc - tp->acc * tp->acc)) : NAN;
    if (runs) {
        double m = jnum(json_object_get(json_object_get(root, "mean"), "cifar10"));
        double sd = jnum(json_object_get(json_object_get(root, "std"), "cifar10"));
        if (isfinite(m)) tp->acc = m;
        if (isfinite(sd)) tp->acc_std = sd;
    }
    return 1;
}

/* Reads one result file into *tp; 0 with a message on failure. */
static int read_trace(const char *path, trace_point *tp, char *err, size_t errlen)
{
    memset(tp, 0, sizeof *tp);
    json_t *root = NULL;
    clnas_status st = clnas_json_read_file(path, &root, err, errlen);
    if (st != CLNAS_OK) {
        size_t n = strlen(err);
        if (st == CLNAS_E_PARSE && strstr(err, "end of file expected") && n < errlen)
            snprintf(err + n, errlen - n, " (more than one JSON value: a .jsonl trace? give search_seedS.json or search.json)");
        return 0;
    }
    const char *ds = NULL;
    int ok = 0;
    if (!json_is_object(root)) snprintf(err, errlen, "%s: expected a JSON object (a `clnas search` result)", path);
    else ok = average_runs(path, root, tp, &ds, err, errlen);
    if (ok) {
        if (!*tp->device) snprintf(tp->device, sizeof tp->device, "unknown device");
        char dev[64];
        snprintf(dev, sizeof dev, "%.40s%s", tp->device, strlen(tp->device) > 40 ? "..." : "");
        if (ds && strcmp(ds, "cifar10") != 0)
            snprintf(tp->label, sizeof tp->label, "clnas (%s; searched on %.20s)", dev, ds);
        else
            snprintf(tp->label, sizeof tp->label, "clnas (%s)", dev);
    }
    json_decref(root);
    return ok;
}

/* ---- the published table ---- */


static double csv_num(const char *s, int *ok)
{
    if (!*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    if (*end) *ok = 0;
    return v;
}

typedef struct {
    char method[64];
    double acc, acc_std, cost;
} published;

/* Reads the published CSV; returns the row count, or -1 with a message. */
static int read_published(const char *path, published **out, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (!text) return -1;
    published *rows = NULL;
    int n = 0, ncols = 0, cm = -1, ca = -1, cs = -1, cc = -1, line_no = 0;
    for (char *p = text, *nl; p && *p; p = nl) {
        nl = strchr(p, '\n');
        if (nl) *nl++ = 0;
        line_no++;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = 0;
        if (!*p || *p == '#') continue;
        char *f[32];
        int nf = clnas_csv_split(p, f, 32);
        if (nf < 0 || nf > 32) {
            snprintf(err, errlen, "%s:%d: malformed CSV line", path, line_no);
            goto fail;
        }
        if (!ncols) {
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                if (!strcmp(f[i], "method")) cm = i;
                else if (!strcmp(f[i], "cifar10")) ca = i;
                else if (!strcmp(f[i], "cifar10_std")) cs = i;
                else if (!strcmp(f[i], "cost_gpu_s")) cc = i;
            }
            if (cm < 0 || ca < 0 || cc < 0) {
                snprintf(err, errlen, "%s:%d: the header needs the columns method, cifar10 and cost_gpu_s", path, line_no);
                goto fail;
            }
            continue;
        }
        if (nf != ncols) {
            snprintf(err, errlen, "%s:%d: %d fields, the header has %d", path, line_no, nf, ncols);
            goto fail;
        }
        published *nr = realloc(rows, (size_t)(n + 1) * sizeof *nr);
        if (!nr) { snprintf(err, errlen, "out of memory"); goto fail; }
        rows = nr;
        int ok = 1;
        snprintf(rows[n].method, sizeof rows[n].method, "%s", f[cm]);
        rows[n].acc = csv_num(f[ca], &ok);
        rows[n].acc_std = cs >= 0 ? csv_num(f[cs], &ok) : NAN;
        rows[n].cost = csv_num(f[cc], &ok);
        if (!ok || !isfinite(rows[n].acc)) {
            snprintf(err, errlen, "%s:%d: cifar10, cifar10_std and cost_gpu_s must be numbers (cifar10 is required)", path, line_no);
            goto fail;
        }
        n++;
    }
    free(text);
    *out = rows;
    return n;
fail:
    free(text);
    free(rows);
    return -1;
}


/* ---- the figure ---- */

/* The plotted points: published methods with a cost, then one per trace; the methods without a
 * cost go into the note. Returns the number of points. */
static int make_points(const published *pub, int npub, const trace_point *tp, int ntrace, clnas_cost_point *pts,
                       char *note, size_t len)
{
    int np = 0;
    size_t nn = 0;
    note[0] = 0;
    for (int i = 0; i < npub && np < 64; i++) {
        if (!(pub[i].cost > 0)) {
            nn += (size_t)snprintf(note + nn, len - nn, "%s%s %.2f %%", nn ? ", " : "Not plotted (no search cost): ",
                                   pub[i].method, pub[i].acc);
            if (nn >= len) nn = len - 1;
            continue;
        }
        pts[np++] = (clnas_cost_point){pub[i].method, pub[i].cost, NAN, pub[i].acc, pub[i].acc_std,
                                       !strcmp(pub[i].method, "TE-NAS") ? 1 : 0};
    }
    for (int t = 0; t < ntrace; t++)
        pts[np++] = (clnas_cost_point){tp[t].label, tp[t].cost, tp[t].cost_std, tp[t].acc, tp[t].acc_std, 2};
    if (nn < len - 1)
        nn += (size_t)snprintf(note + nn, len - nn, "%sPublished: TE-NAS paper (Chen et al., ICLR 2021), NB201 table; "
                               "costs as published, on the authors' GPUs.", nn ? ".\n" : "");
    if (!ntrace && nn < len - 1)
        snprintf(note + nn, len - nn, "\nNo clnas search trace given (--trace): published points only.");
    return np;
}

/* stdout: what is plotted */
static void print_points(const clnas_cost_point *pts, int np, const char *note)
{
    printf("%-34s %10s %8s %14s %10s\n", "method", "cifar10 %", "std", "cost GPU-s", "std");
    for (int i = 0; i < np; i++) {
        char s1[16] = "-", s2[16] = "-";
        if (isfinite(pts[i].acc_std) && pts[i].acc_std > 0) snprintf(s1, sizeof s1, "%.2f", pts[i].acc_std);
        if (isfinite(pts[i].cost_std) && pts[i].cost_std > 0) snprintf(s2, sizeof s2, "%.3g", pts[i].cost_std);
        printf("%-34s %10.2f %8s %14.6g %10s\n", pts[i].label, pts[i].acc, s1, pts[i].cost_s, s2);
    }
    printf("\n%s\n", note);
}

/* The PNG with its text chunks: command line, devices, seeds, a one-line summary, title. */
static clnas_status draw(int argc, char **argv, const figure_args *a, const published *pub, int npub,
                         const trace_point *tp, const clnas_cost_point *pts, int np, const char *note, char *err,
                         size_t errlen)
{
    char cmd[4096], devs[512] = "", seeds[256] = "", summary[1024], ttl[256];
    clnas_cli_command_line(argc, argv, cmd, sizeof cmd);
    size_t nd = 0, ns = 0, nsum = 0;
    nsum += (size_t)snprintf(summary, sizeof summary, "cifar10 accuracy vs search cost:");
    for (int t = 0; t < a->ntrace; t++) {
        if (nd < sizeof devs) nd += (size_t)snprintf(devs + nd, sizeof devs - nd, "%s%s", t ? "; " : "", tp[t].device);
        if (*tp[t].seeds && ns < sizeof seeds) ns += (size_t)snprintf(seeds + ns, sizeof seeds - ns, "%s%s", ns ? "; " : "", tp[t].seeds);
        if (nsum < sizeof summary)
            nsum += (size_t)snprintf(summary + nsum, sizeof summary - nsum, " clnas[%s] %.2f+-%.2f%% at %.4g s (%d runs);",
                                     tp[t].device, tp[t].acc, isfinite(tp[t].acc_std) ? tp[t].acc_std : 0.0, tp[t].cost, tp[t].runs);
    }
    for (int i = 0; i < npub && nsum < sizeof summary; i++)
        if (!strcmp(pub[i].method, "TE-NAS"))
            nsum += (size_t)snprintf(summary + nsum, sizeof summary - nsum, " TE-NAS published %.2f%% at %.4g GPU-s",
                                     pub[i].acc, pub[i].cost);
    if (!a->ntrace) snprintf(devs, sizeof devs, "n/a (published numbers only)");
    snprintf(ttl, sizeof ttl, "%s", a->title ? a->title : "NAS-Bench-201 (CIFAR-10): test accuracy vs. search cost");
    clnas_plot_meta meta = {cmd, devs, *seeds ? seeds : "n/a", summary, ttl};
    clnas_status st = clnas_plot_cost(a->out, pts, np, note, &meta, err, errlen);
    clnas_plot_release_caches();
    return st;
}

int clnas_cmd_figure(int argc, char **argv)
{
    if (cli_wants_darts(argc, argv)) return clnas_cmd_figure_darts(argc, argv);
    figure_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char found[4096], err[8192];
    if (!a.pub_path) {
        if (clnas_data_path("published/nb201_search_cost.csv", found, sizeof found, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas figure: %s\n", err);
            return 1;
        }
        a.pub_path = found;
    }
    published *pub = NULL;
    int npub = read_published(a.pub_path, &pub, err, sizeof err);
    if (npub < 0) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    trace_point tp[MAXTRACE];
    for (int t = 0; t < a.ntrace; t++)
        if (!read_trace(a.traces[t], &tp[t], err, sizeof err)) {
            fprintf(stderr, "clnas figure: %s\n", err);
            free(pub);
            return 1;
        }
    clnas_cost_point pts[64 + MAXTRACE];
    char note[1024];
    int np = make_points(pub, npub, tp, a.ntrace, pts, note, sizeof note);
    print_points(pts, np, note);
    clnas_status st = draw(argc, argv, &a, pub, npub, tp, pts, np, note, err, sizeof err);
    free(pub);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    printf("figure    %s\n", a.out);
    return 0;
}
