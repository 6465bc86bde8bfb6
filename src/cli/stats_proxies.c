/* stats_proxies.c - the output side of `clnas stats` on a zero-cost proxy study: Kendall tau-b and
 * Spearman rho of every score column (the proxies, the ensemble, AZ-NAS's and VKDNW's aggregates) against the
 * three NB201 accuracy columns, as a table or one JSON object, and the figure with one panel per
 * score. cmd_proxies.c reads the study and builds the columns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_proxies.h"
#include "clnas/stats.h"
#include "report/json.h"
#include "report/plot.h"

static const char *const ds_keys[3] = {"cifar10", "cifar100", "imagenet16"};
static const char *const ds_names[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};

static void print_table(const char *csv, int n, const px_study_col *cols, int ncols, const clnas_corr (*c)[3],
                        const int *ok)
{
    printf("%s: %d architectures; Kendall tau-b / Spearman rho against CIFAR-10 / CIFAR-100 / ImageNet16-120 test accuracy\n",
           csv, n);
    for (int j = 0; j < ncols; j++) {
        printf("  %-16s", cols[j].name);
        int used = 0, excl = 0;
        for (int k = 0; k < 3; k++) {
            if (!ok[3 * j + k]) { printf("  %s: -", ds_keys[k]); continue; }
            printf("  %+.3f / %+.3f", c[j][k].tau, c[j][k].rho);
            used = c[j][k].n_used;
            excl = c[j][k].n_excluded;
        }
        printf("   n = %d (%d excluded)", used, excl);
        if (cols[j].secs >= 0) printf("  %.3f s/arch", cols[j].secs / (n ? n : 1));
        printf("\n");
        if (cols[j].note) printf("  (%s)\n", cols[j].note);
    }
}

static json_t *study_json(const char *csv, int n, const px_study_col *cols, int ncols, const clnas_corr (*c)[3],
                          const int *ok, const char *plotted, const px_stats_opts *opts)
{
    json_t *j = json_object(), *arr = json_array();
    int bad = !j || !arr;
    bad |= json_object_set_new(j, "file", clnas_json_str(csv));
    if (opts && opts->nfiles > 1) { /* joined studies: "file" names them all, "files" one by one */
        json_t *fs = json_array();
        bad |= !fs;
        for (int k = 0; k < opts->nfiles && fs; k++) bad |= json_array_append_new(fs, clnas_json_str(opts->files[k]));
        bad |= json_object_set_new(j, "files", fs);
    }
    bad |= json_object_set_new(j, "kind", json_string("proxy study"));
    bad |= json_object_set_new(j, "n", json_integer(n));
    bad |= json_object_set_new(j, "convention", json_string("Kendall tau-b and Spearman rho of each score against test "
                                                           "accuracy; every score is higher = predicted better; an "
                                                           "undefined score leaves its row out (excluded)"));
    for (int q = 0; q < ncols && !bad; q++) {
        json_t *o = json_object();
        bad |= json_object_set_new(o, "name", json_string(cols[q].name));
        bad |= json_object_set_new(o, "kind", json_string(cols[q].kind ? cols[q].kind : "proxy"));
        if (cols[q].note) bad |= json_object_set_new(o, "note", json_string(cols[q].note));
        bad |= json_object_set_new(o, "s_per_arch", cols[q].secs >= 0 ? clnas_json_num(cols[q].secs / (n ? n : 1)) : json_null());
        for (int k = 0; k < 3; k++) {
            json_t *x = json_object();
            bad |= json_object_set_new(x, "tau", ok[3 * q + k] ? clnas_json_num(c[q][k].tau) : json_null());
            bad |= json_object_set_new(x, "rho", ok[3 * q + k] ? clnas_json_num(c[q][k].rho) : json_null());
            bad |= json_object_set_new(x, "n", json_integer(ok[3 * q + k] ? c[q][k].n_used : 0));
            bad |= json_object_set_new(x, "excluded", json_integer(ok[3 * q + k] ? c[q][k].n_excluded : n));
            bad |= json_object_set_new(o, ds_keys[k], x);
        }
        bad |= json_array_append_new(arr, o);
    }
    bad |= json_object_set_new(j, "columns", arr);
    bad |= json_object_set_new(j, "plot", plotted ? clnas_json_str(plotted) : json_null());
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The figure: one panel per column, accuracy against the score's rank among its defined rows. */
static clnas_status draw(const char *csv, int n, const px_study_col *cols, int ncols, const clnas_corr (*c)[3],
                         const double *const acc[3], const px_stats_opts *o, char *err, size_t errlen)
{
    if (ncols > CLNAS_PLOT_GRID_MAX) {
        snprintf(err, errlen, "%s has %d score columns; the figure holds at most %d", csv, ncols, CLNAS_PLOT_GRID_MAX);
        return CLNAS_E_INVALID_ARG;
    }
    const int ds = o->ds;
    double *ranks = malloc((size_t)ncols * (n ? n : 1) * sizeof *ranks);
    clnas_plot_panel *p = calloc((size_t)ncols, sizeof *p);
    char (*xl)[96] = calloc((size_t)ncols, sizeof *xl);
    char *summary = calloc(1, 64 + 64 * (size_t)ncols);
    clnas_status st = ranks && p && xl && summary ? CLNAS_OK : CLNAS_E_NOMEM;
    if (st != CLNAS_OK) snprintf(err, errlen, "out of memory");
    size_t at = 0;
    if (st == CLNAS_OK) at += (size_t)sprintf(summary, "%s:", ds_keys[ds]);
    for (int q = 0; q < ncols && st == CLNAS_OK; q++) {
        double *r = ranks + (size_t)q * n;
        if ((st = clnas_rank_average(cols[q].x, n, r)) != CLNAS_OK) { snprintf(err, errlen, "out of memory"); break; }
        snprintf(xl[q], sizeof xl[q], "rank of %.40s (1 = lowest)", cols[q].name);
        p[q] = (clnas_plot_panel){cols[q].name, xl[q], r, c[q][ds], cols[q].kind && strcmp(cols[q].kind, "proxy") != 0};
        at += (size_t)sprintf(summary + at, " tau(%.24s)=%.4f n=%d", cols[q].name, c[q][ds].tau, c[q][ds].n_used);
    }
    if (st == CLNAS_OK) {
        char ylab[96], ttl[512], cmd[4096];
        snprintf(ylab, sizeof ylab, "NB201 %s test accuracy (%%)", ds_names[ds]);
        if (o->title) snprintf(ttl, sizeof ttl, "%s", o->title);
        else snprintf(ttl, sizeof ttl, "Zero-cost proxies vs. NAS-Bench-201 %s accuracy: %d architectures", ds_names[ds], n);
        clnas_cli_command_line(o->argc, o->argv, cmd, sizeof cmd);
        const char *unk = "unknown (not recorded in the proxy study)";
        clnas_plot_meta meta = {cmd, unk, unk, summary, ttl};
        clnas_plot_grid_data d = {n, ncols, p, acc[ds], ylab};
        st = clnas_plot_grid(o->plot, &d, &meta, err, errlen);
        clnas_plot_release_caches();
    }
    free(ranks);
    free(p);
    free(xl);
    free(summary);
    return st;
}

int clnas_proxies_report(const char *csv, int n, const px_study_col *cols, int ncols, const double *const acc[3],
                         const px_stats_opts *o)
{
    clnas_corr (*c)[3] = calloc((size_t)(ncols ? ncols : 1), sizeof *c);
    int *ok = calloc(3 * (size_t)(ncols ? ncols : 1), sizeof *ok);
    if (!c || !ok) {
        free(c);
        free(ok);
        fprintf(stderr, "clnas stats: out of memory\n");
        return 1;
    }
    for (int q = 0; q < ncols; q++)
        for (int k = 0; k < 3; k++) ok[3 * q + k] = clnas_correlate(cols[q].x, acc[k], n, &c[q][k]) == CLNAS_OK;
    char err[1024] = "";
    int plot_ok = !o || !o->plot || draw(csv, n, cols, ncols, (const clnas_corr(*)[3])c, acc, o, err, sizeof err) == CLNAS_OK;
    int rc = 0;
    if (o && o->json) {
        json_t *j = study_json(csv, n, cols, ncols, (const clnas_corr(*)[3])c, ok, o->plot && plot_ok ? o->plot : NULL, o);
        if (!j || clnas_json_print(stdout, j) != 0) {
            fprintf(stderr, "clnas stats: cannot print the result\n");
            rc = 1;
        }
        json_decref(j);
    } else {
        print_table(csv, n, cols, ncols, (const clnas_corr(*)[3])c, ok);
        if (o && o->plot && plot_ok) printf("figure    %s\n", o->plot);
    }
    if (!plot_ok) {
        fprintf(stderr, "clnas stats: --plot: %s\n", err);
        rc = 1;
    }
    free(c);
    free(ok);
    return rc;
}
