/* cmd_figure_darts.c - `clnas figure cost --space darts`: TE-NAS's DARTS-space comparison,
 * published methods' accuracy (100 - test error) against search cost (data/published/
 * darts_search_cost.csv, TENAS.md §7.2-7.3), with the measured cost of clnas's own DARTS
 * searches (their result files) as a line - the found genotype is not trained here, so it has
 * no accuracy - and the found genotype with its evaluation network's parameter count. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "clnas/data.h"
#include "core/util.h"
#include "report/json.h"
#include "report/plot.h"

static const char USAGE[] =
"usage: clnas figure cost --space darts [--trace SEARCH.json ...] [--dataset cifar10|imagenet] [--out cost.png]\n"
"\n"
"Draws TE-NAS's DARTS-space comparison: the published methods' CIFAR-10 test accuracy (100 - test\n"
"error; ImageNet: 100 - top-1 error) against their search cost (GPU-days, drawn in seconds, log\n"
"scale), from data/published/darts_search_cost.csv (the TE-NAS paper's tables), and, for each\n"
"--trace (a result of clnas search --space darts: search_seedS.json or search.json), the measured\n"
"search cost as a dashed line - the found genotype is not trained here, so it has no accuracy - with\n"
"the found genotype and its evaluation network's parameter count under the plot.\n";

#define MAXT 8

typedef struct fargs {
    const char *space, *out, *pub, *title, *traces[MAXT];
    int ntrace;
    clnas_dataset_kind dataset;
    int dataset_given;
} fargs;

static int add_trace(const char *cmd, const char *opt, const char *val, void *ud)
{
    fargs *a = ud;
    if (a->ntrace == MAXT) {
        fprintf(stderr, "clnas %s: at most %d %s files\n", cmd, MAXT, opt);
        return 0;
    }
    a->traces[a->ntrace++] = val;
    return 1;
}

typedef struct pubrow {
    char method[64];
    double acc, acc_std, params, cost_s;
} pubrow;

/* The rows of the published CSV for one data set; -1 with a message. */
static int read_pub(const char *path, const char *dataset, pubrow *rows, int max, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errlen, "cannot read %s", path), -1;
    char line[1024];
    int n = 0, ln = 0, header = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        if (!*line || *line == '#') continue;
        char *fl[8];
        int nf = clnas_csv_split(line, fl, 8);
        if (!header++) {
            if (nf < 6 || strcmp(fl[0], "dataset") || strcmp(fl[1], "method") || strcmp(fl[2], "error") ||
                strcmp(fl[5], "cost_gpu_days")) {
                fclose(f);
                return snprintf(err, errlen, "%s:%d: expected the header dataset,method,error,error_std,params_m,cost_gpu_days",
                                path, ln), -1;
            }
            continue;
        }
        if (nf < 6) {
            fclose(f);
            return snprintf(err, errlen, "%s:%d: %d fields, 6 expected", path, ln, nf), -1;
        }
        if (strcmp(fl[0], dataset) || n == max) continue;
        snprintf(rows[n].method, sizeof rows[n].method, "%s", fl[1]);
        rows[n].acc = 100.0 - strtod(fl[2], NULL);
        rows[n].acc_std = *fl[3] ? strtod(fl[3], NULL) : NAN;
        rows[n].params = *fl[4] ? strtod(fl[4], NULL) : NAN;
        rows[n].cost_s = *fl[5] ? strtod(fl[5], NULL) * 86400.0 : NAN;
        n++;
    }
    fclose(f);
    return n;
}

typedef struct dtrace {
    char label[256], genotype[1400], device[128], dataset[32];
    double cost;
    size_t params;
    int runs;
} dtrace;

static int read_dtrace(const char *path, dtrace *t, char *err, size_t errlen)
{
    json_t *root = NULL;
    memset(t, 0, sizeof *t);
    if (clnas_json_read_file(path, &root, err, errlen) != CLNAS_OK) return 0;
    const json_t *runs = json_object_get(root, "runs");
    size_t n = json_is_array(runs) ? json_array_size(runs) : 1;
    double sw = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_is_array(runs) ? json_array_get(runs, i) : root;
        double w = clnas_json_get_num(o, "wall_s", NAN);
        const char *g = clnas_json_get_str(o, "genotype", NULL);
        if (!(w > 0) || !g || strcmp(clnas_json_get_str(o, "space", clnas_json_get_str(root, "space", "")), "darts")) {
            snprintf(err, errlen, "%s: not a result of clnas search --space darts (needs \"space\": \"darts\", \"wall_s\" and "
                                  "\"genotype\")", path);
            json_decref(root);
            return 0;
        }
        sw += w;
        if (i == 0) {
            snprintf(t->genotype, sizeof t->genotype, "%s", g);
            t->params = (size_t)clnas_json_get_int(o, "params", 0);
            snprintf(t->device, sizeof t->device, "%.60s", clnas_json_get_str(o, "device", "unknown device"));
            snprintf(t->dataset, sizeof t->dataset, "%s", clnas_json_get_str(o, "dataset", "cifar10"));
        }
    }
    t->runs = (int)n;
    t->cost = sw / (double)n;
    snprintf(t->label, sizeof t->label, "clnas search (%s): %.0f s%s, not trained", t->device, t->cost, n > 1 ? " (mean)" : "");
    json_decref(root);
    return 1;
}

static int parse(int argc, char **argv, fargs *a)
{
    memset(a, 0, sizeof *a);
    a->out = "cost.png";
    cli c;
    cli_init(&c, "figure", USAGE, NULL);
    c.max_pos = 1;
    c.pos_name = "figure name (cost)";
    cli_add_space(&c, &a->space);
    cli_add_fn(&c, "trace", add_trace, a, "a result of clnas search --space darts (repeat for several)");
    cli_add_fn(&c, "dataset", cli_parse_dataset, &a->dataset, "cifar10 or imagenet: which published table (default: the trace's)");
    cli_add_help(&c, "out", &a->out, "output PNG (default cost.png)");
    cli_add(&c, "published", &a->pub);
    cli_add(&c, "title", &a->title);
    char *pos[1];
    int npos = 0, pr = cli_parse(&c, argc, argv, pos, &npos);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (npos != 1 || strcmp(pos[0], "cost")) {
        fprintf(stderr, "clnas figure: which figure? (known: cost)\n");
        return 2;
    }
    a->dataset_given = cli_given(&c, "dataset");
    return -1;
}

/* Appends s to note wrapped at ", " into lines of at most `width` characters, indented. */
static size_t wrap(char *note, size_t n, size_t len, const char *s, size_t width)
{
    while (*s && n < len) {
        size_t take = strlen(s);
        if (take > width) {
            take = width;
            while (take > 0 && strncmp(s + take, ", ", 2) != 0) take--;
            take = take ? take + 1 : width;
        }
        n += (size_t)snprintf(note + n, len - n, "\n  %.*s", (int)take, s);
        s += take;
        while (*s == ' ') s++;
    }
    return n;
}

/* The note under the plot: methods without a cost, then each search's genotype and size. */
static void make_note(const pubrow *pub, int npub, const dtrace *t, int nt, char *note, size_t len)
{
    size_t n = 0;
    note[0] = 0;
    for (int i = 0; i < npub; i++)
        if (!(pub[i].cost_s > 0) && n < len)
            n += (size_t)snprintf(note + n, len - n, "%s%s %.2f %% (no search cost published)", n ? "; " : "Not plotted: ",
                                  pub[i].method, pub[i].acc);
    for (int k = 0; k < nt && n < len; k++) {
        n += (size_t)snprintf(note + n, len - n, "%sclnas genotype (%s, %zu parameters = %.2f M, auxiliary head apart):",
                              n ? "\n" : "", t[k].dataset, t[k].params, t[k].params / 1e6);
        n = wrap(note, n, len, t[k].genotype, 128);
    }
    if (n < len)
        snprintf(note + n, len - n, "%sPublished: TE-NAS paper (Chen et al., ICLR 2021), DARTS-space tables; GPU-days as published.",
                 n ? "\n" : "");
}

int clnas_cmd_figure_darts(int argc, char **argv)
{
    fargs a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0) return rc;
    char err[4400], found[4096];
    dtrace t[MAXT];
    for (int k = 0; k < a.ntrace; k++)
        if (!read_dtrace(a.traces[k], &t[k], err, sizeof err)) {
            fprintf(stderr, "clnas figure: %s\n", err);
            return 1;
        }
    const char *ds = a.dataset_given ? clnas_dataset_name(a.dataset) : a.ntrace ? t[0].dataset : "cifar10";
    if (strcmp(ds, "cifar10") && strcmp(ds, "imagenet")) {
        fprintf(stderr, "clnas figure: --space darts: the published DARTS tables are for cifar10 and imagenet, not %s\n", ds);
        return 2;
    }
    if (!a.pub && clnas_data_path("published/darts_search_cost.csv", found, sizeof found, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    pubrow pub[32];
    int npub = read_pub(a.pub ? a.pub : found, ds, pub, 32, err, sizeof err);
    if (npub < 0) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    clnas_cost_point pts[32 + MAXT];
    char labels[32][96];
    int np = 0;
    printf("%-16s %10s %8s %10s %14s\n", "method", "accuracy", "std", "params M", "cost s");
    for (int i = 0; i < npub; i++) {
        printf("%-16s %10.2f %8.3g %10.2g %14.6g\n", pub[i].method, pub[i].acc, pub[i].acc_std, pub[i].params, pub[i].cost_s);
        if (!(pub[i].cost_s > 0)) continue;
        snprintf(labels[i], sizeof labels[i], "%.60s (%.1f M)", pub[i].method, pub[i].params);
        pts[np++] = (clnas_cost_point){labels[i], pub[i].cost_s, NAN, pub[i].acc, pub[i].acc_std, !strcmp(pub[i].method, "TE-NAS")};
    }
    for (int k = 0; k < a.ntrace; k++) {
        pts[np++] = (clnas_cost_point){t[k].label, t[k].cost, NAN, NAN, NAN, 2};
        printf("%-16s %10s %8s %10.2f %14.6g   %s\n", "clnas", "-", "-", t[k].params / 1e6, t[k].cost, t[k].genotype);
    }
    char note[4096], cmd[4096], ttl[256];
    make_note(pub, npub, t, a.ntrace, note, sizeof note);
    clnas_cli_command_line(argc, argv, cmd, sizeof cmd);
    int imnet = !strcmp(ds, "imagenet");
    snprintf(ttl, sizeof ttl, "%s", a.title ? a.title : imnet ? "DARTS space, ImageNet: top-1 accuracy vs. search cost"
                                                                  : "DARTS space, CIFAR-10: test accuracy vs. search cost");
    clnas_plot_meta meta = {cmd, a.ntrace ? t[0].device : "n/a (published numbers only)", "n/a", "DARTS-space search cost", ttl};
    clnas_status st = clnas_plot_cost_labelled(a.out, pts, np, note, &meta,
                                               imnet ? "ImageNet top-1 accuracy (%) = 100 - published top-1 error"
                                                     : "CIFAR-10 test accuracy (%) = 100 - published test error",
                                               "published (TE-NAS paper, DARTS-space table)", err, sizeof err);
    clnas_plot_release_caches();
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    printf("\n%s\nfigure    %s\n", note, a.out);
    return 0;
}
