/* cmd_stats.c - `clnas stats`: how well kappa, R and TE-NAS's combined rank order a set of
 * scored NAS-Bench-201 architectures, as Kendall tau-b and Spearman rho against the NB201 test
 * accuracies, with an optional 3-panel figure; --json through jansson. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_proxies.h"
#include "clnas/bench201.h"
#include "clnas/stats.h"
#include "report/json.h"
#include "report/plot.h"
#include "core/util.h"

static const char USAGE[] =
"usage: clnas stats FILE.csv [--plot FILE.png] [--dataset NAME] [--json] [--table FILE]\n"
"       clnas stats STUDY.csv [MORE.csv ...] [--rows A-B] [--ensemble LIST | --choose-ensemble] [--plot ...]\n"
"\n"
"Rank correlations of training-free scores with NAS-Bench-201 test accuracy.\n"
"FILE.csv has a header line; columns are found by name:\n"
"  arch                       NB201 arch string (required)\n"
"  kappa                      NTK condition number, lower is better (required; or kappa_r1, kappa_r2, ...\n"
"                             whose mean is used when there is no kappa column)\n"
"  R                          number of linear regions, higher is better (required; or R_r1, ...)\n"
"  cifar10_test, cifar100_test, imagenet16_test\n"
"                             test accuracies in % (optional: missing columns or empty fields are\n"
"                             looked up in the bundled NB201 table by arch)\n"
"  device, seed               optional; recorded in the figure's metadata\n"
"Fields may be double-quoted; an empty field, nan, null or undefined is an undefined value.\n"
"Lines starting with '#' are comments (\"# device: NAME\" and \"# seed: S\" are recorded too).\n"
"\n"
"Prints the number of architectures, how many have an undefined kappa or R (left out of the\n"
"correlations that use that score, and counted), and Kendall tau-b and Spearman rho of\n"
"  -kappa     (same ranks as -log kappa),\n"
"  R,\n"
"  -combined  (TE-NAS: rank(kappa ascending) + rank(R descending), average ranks, over this file)\n"
"against each accuracy: for all three, higher score = predicted better, so positive is good.\n"
"\n"
"A zero-cost proxy study (the CSV of `clnas rank --metric LIST`: index,arch,<proxies>,cifar10_test,...)\n"
"gives tau-b and rho of every proxy column, of the fixed ensemble, of AZ-NAS's aggregate (when\n"
"its four columns are there) and of VKDNW's (vkdnw_agg, when flops, az_expressivity, az_trainability,\n"
"jacov_kaiming and vkdnw are); --plot draws one panel per score: accuracy (--dataset) against the\n"
"score's rank among the rows where it is defined, tau-b and n in each title; --json prints them.\n"
"--rows A-B takes only some of its rows; --ensemble LIST changes the ensemble's members (rank sum);\n"
"--choose-ensemble ranks the ensemble of every subset of the columns (or of --ensemble LIST) by its\n"
"mean tau-b over the three accuracies. Choose on some rows, test on others, e.g.\n"
"  clnas stats px.csv --rows 1-1000 --choose-ensemble\n"
"  clnas stats px.csv --rows 1001-3000 --ensemble LIST\n"
"Several proxy studies of one sample (the same --sample/--seed, e.g. a later run with another\n"
"metric) are joined on their index column: the arch strings must match, a column in several files\n"
"must agree (within 1e-6 relative; else an error naming both files), and only the rows present in\n"
"every file are used (stderr says how many are left out); --rows counts the first file's rows.\n";

#define STATS_MAX_FILES 16

/* The command line. */
typedef struct stats_args {
    const char *file, *plot, *table, *title, *ensemble;
    char *files[STATS_MAX_FILES]; /* the positional arguments: file = files[0] */
    int nfiles;
    int json, ds; /* ds: the accuracy of the figure, 0 cifar10, 1 cifar100, 2 imagenet16 */
    int rows[2], rows_given, choose; /* a proxy study's --rows, --choose-ensemble */
} stats_args;

static int parse_rows(const char *cmd, const char *opt, const char *v, void *ud)
{
    int *r = ud;
    if (!cli_parse_seed_range(cmd, opt, v, r)) return 0;
    if (r[0] < 1) {
        fprintf(stderr, "clnas %s: %s counts data rows from 1 (got \"%s\")\n", cmd, opt, v);
        return 0;
    }
    return 1;
}

static int parse_ds(const char *cmd, const char *opt, const char *v, void *ud)
{
    int *ds = ud;
    if (!strcmp(v, "cifar10")) *ds = 0;
    else if (!strcmp(v, "cifar100")) *ds = 1;
    else if (!strcmp(v, "imagenet16") || !strcmp(v, "ImageNet16-120")) *ds = 2;
    else {
        fprintf(stderr, "clnas %s: %s expects cifar10, cifar100 or imagenet16, got \"%s\"\n", cmd, opt, v);
        return 0;
    }
    return 1;
}

/* Parses the command line; returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, stats_args *a)
{
    memset(a, 0, sizeof *a);
    cli c;
    cli_init(&c, "stats", USAGE, NULL);
    c.max_pos = STATS_MAX_FILES;
    c.pos_name = "scores files at most";
    cli_add_help(&c, "plot", &a->plot, "also draw accuracy against log kappa, R and the combined rank (3 panels; a proxy study: one panel per score)");
    cli_add_fn(&c, "dataset", parse_ds, &a->ds, "accuracy in the figure: cifar10 (default), cifar100, imagenet16");
    cli_add(&c, "title", &a->title);
    cli_add_help(&c, "json", &a->json, "print one JSON object instead of the table");
    cli_add(&c, "table", &a->table);
    cli_add_fn(&c, "rows", parse_rows, a->rows, "a proxy study: only its data rows A..B (1-based, file order), e.g. a held-out part")->given =
        &a->rows_given;
    cli_add_help(&c, "ensemble", &a->ensemble, "a proxy study: the ensemble's members (default jacob_cov,synflow,az_nas)");
    cli_add(&c, "choose-ensemble", &a->choose);
    int npos = 0, pr = cli_parse(&c, argc, argv, a->files, &npos);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (!npos) {
        fprintf(stderr, "clnas stats: no scores file given\n\n");
        cli_help(&c, stderr);
        return 2;
    }
    a->file = a->files[0];
    a->nfiles = npos;
    return -1;
}

/* ---- reading the scores file ---- */


/* A score or accuracy field: empty / nan / null / undefined -> NaN (returns 1); a number -> 1;
 * anything else -> 0. */
static int parse_num(const char *s, double *out)
{
    if (!*s || !strcmp(s, "nan") || !strcmp(s, "NaN") || !strcmp(s, "null") || !strcmp(s, "undefined")) {
        *out = NAN;
        return 1;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end) return 0;
    *out = v;
    return 1;
}

#define MAXF 128
#define MAXREP 16

typedef struct {
    int n, cap;
    char **arch;     /* owned strings */
    int *line;
    double *kappa, *R, *acc[3];
    char device[256], seed[128];
    int acc_from_file, acc_from_table; /* counts of accuracy values by source */
} scores;

static void scores_free(scores *s)
{
    for (int i = 0; i < s->n; i++) free(s->arch[i]);
    free(s->arch);
    free(s->line);
    free(s->kappa);
    free(s->R);
    for (int c = 0; c < 3; c++) free(s->acc[c]);
}

static int scores_grow(scores *s)
{
    if (s->n < s->cap) return 1;
    int cap = s->cap ? 2 * s->cap : 256;
    void *p;
#define GROW(field)                                                   \
    if (!(p = realloc(s->field, (size_t)cap * sizeof *s->field))) return 0; \
    s->field = p;
    GROW(arch) GROW(line) GROW(kappa) GROW(R) GROW(acc[0]) GROW(acc[1]) GROW(acc[2])
#undef GROW
    s->cap = cap;
    return 1;
}

/* Records a metadata value; a second, different value makes it "mixed". */
static void note_meta(char *dst, size_t len, const char *v)
{
    if (!*v) return;
    if (!*dst) snprintf(dst, len, "%s", v);
    else if (strcmp(dst, v) != 0 && strncmp(dst, "mixed", 5) != 0) {
        char old[256];
        snprintf(old, sizeof old, "%s", dst);
        snprintf(dst, len, "mixed (%.100s, %.100s, ...)", old, v);
    }
}

static const char *acc_cols[3] = {"cifar10_test", "cifar100_test", "imagenet16_test"};
/* Where the columns are (-1: absent). */
typedef struct columns {
    int n; /* fields per line (0 until the header is read) */
    int arch, kappa, R, acc[3], dev, seed;
    int kr[MAXREP], rr[MAXREP], nkr, nrr; /* kappa_rK, R_rK */
} columns;

/* The header line; returns the missing required column, or NULL. */
static const char *read_header(char **fl, int nf, columns *c)
{
    memset(c, -1, sizeof *c);
    c->n = nf;
    c->nkr = c->nrr = 0;
    for (int i = 0; i < nf; i++) {
        const char *h = fl[i];
        int r;
        char tail;
        if (!strcmp(h, "arch")) c->arch = i;
        else if (!strcmp(h, "kappa")) c->kappa = i;
        else if (!strcmp(h, "R")) c->R = i;
        else if (!strcmp(h, "device")) c->dev = i;
        else if (!strcmp(h, "seed")) c->seed = i;
        else if (sscanf(h, "kappa_r%d%c", &r, &tail) == 1 && c->nkr < MAXREP) c->kr[c->nkr++] = i;
        else if (sscanf(h, "R_r%d%c", &r, &tail) == 1 && c->nrr < MAXREP) c->rr[c->nrr++] = i;
        else for (int k = 0; k < 3; k++) if (!strcmp(h, acc_cols[k])) c->acc[k] = i;
    }
    return c->arch < 0 ? "arch" : (c->kappa < 0 && !c->nkr) ? "kappa" : (c->R < 0 && !c->nrr) ? "R" : NULL;
}

/* kappa (k = 0) or R (k = 1) of a row: its column, or the mean over its repeat columns (one
 * undefined repeat makes it undefined). 0 with the message printed when a field is no number. */
static int row_score(const char *path, int line_no, char **fl, const columns *c, int k, double *v)
{
    const int single = k ? c->R : c->kappa, nrep = k ? c->nrr : c->nkr;
    const int *rep = k ? c->rr : c->kr;
    const char *what = k ? "R" : "kappa";
    if (single >= 0) {
        if (parse_num(fl[single], v)) return 1;
        fprintf(stderr, "clnas stats: %s:%d: %s \"%s\" is not a number\n", path, line_no, what, fl[single]);
        return 0;
    }
    double sum = 0;
    for (int r = 0; r < nrep; r++) {
        double x;
        if (!parse_num(fl[rep[r]], &x)) {
            fprintf(stderr, "clnas stats: %s:%d: %s repeat \"%s\" is not a number\n", path, line_no, what, fl[rep[r]]);
            return 0;
        }
        sum += x;
    }
    *v = sum / nrep;
    return 1;
}

/* One data row into s; 0 with the message printed. */
static int read_row(const char *path, int line_no, char **fl, int nf, const columns *c, scores *s)
{
    if (nf != c->n) {
        fprintf(stderr, "clnas stats: %s:%d: %d fields, the header has %d\n", path, line_no, nf, c->n);
        return 0;
    }
    if (!scores_grow(s)) {
        fprintf(stderr, "clnas stats: out of memory\n");
        return 0;
    }
    int i = s->n;
    if (!*fl[c->arch]) {
        fprintf(stderr, "clnas stats: %s:%d: empty arch\n", path, line_no);
        return 0;
    }
    double v[2];
    for (int k = 0; k < 2; k++)
        if (!row_score(path, line_no, fl, c, k, &v[k])) return 0;
    for (int k = 0; k < 3; k++) {
        double a = NAN;
        if (c->acc[k] >= 0 && !parse_num(fl[c->acc[k]], &a)) {
            fprintf(stderr, "clnas stats: %s:%d: %s \"%s\" is not a number\n", path, line_no, acc_cols[k], fl[c->acc[k]]);
            return 0;
        }
        s->acc[k][i] = a;
    }
    if (!(s->arch[i] = strdup(fl[c->arch]))) {
        fprintf(stderr, "clnas stats: out of memory\n");
        return 0;
    }
    s->line[i] = line_no;
    s->kappa[i] = v[0];
    s->R[i] = v[1];
    s->n++;
    if (c->dev >= 0) note_meta(s->device, sizeof s->device, fl[c->dev]);
    if (c->seed >= 0) note_meta(s->seed, sizeof s->seed, fl[c->seed]);
    return 1;
}

/* A "# key: value" comment: device and seed are recorded. l points after the '#'. */
static void read_comment(char *l, scores *s)
{
    while (*l == ' ') l++;
    char *colon = strpbrk(l, ":=");
    if (!colon) return;
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ') v++;
    if (!strcmp(l, "device")) note_meta(s->device, sizeof s->device, v);
    else if (!strcmp(l, "seed")) note_meta(s->seed, sizeof s->seed, v);
}

/* One line (newline stripped) of the file; 0 with the message printed. */
static int read_line(const char *path, int line_no, char *l, columns *c, scores *s)
{
    if (line_no == 1 && (unsigned char)l[0] == 0xEF && (unsigned char)l[1] == 0xBB && (unsigned char)l[2] == 0xBF) l += 3;
    while (*l == ' ' || *l == '\t') l++;
    if (!*l) return 1;
    if (*l == '#') {
        read_comment(l + 1, s);
        return 1;
    }
    if (strlen(l) > (size_t)1 << 20) {
        fprintf(stderr, "clnas stats: %s:%d: line too long\n", path, line_no);
        return 0;
    }
    char *fl[MAXF];
    int nf = clnas_csv_split(l, fl, MAXF);
    if (nf < 0) {
        fprintf(stderr, "clnas stats: %s:%d: unterminated quoted field\n", path, line_no);
        return 0;
    }
    if (nf > MAXF) {
        fprintf(stderr, "clnas stats: %s:%d: more than %d columns\n", path, line_no, MAXF);
        return 0;
    }
    if (c->n) return read_row(path, line_no, fl, nf, c, s);
    const char *missing = read_header(fl, nf, c);
    if (missing)
        fprintf(stderr, "clnas stats: %s:%d: the header has no '%s' column (required: arch, kappa, R)\n", path, line_no,
                missing);
    return !missing;
}

/* Reads FILE into s. Returns 0 and prints "clnas stats: FILE:LINE: what" on failure. */
static int read_scores(const char *path, scores *s)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "clnas stats: %s: cannot open: %s\n", path, strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int line_no = 0, ok = 1;
    columns c;
    memset(&c, 0, sizeof c);
    while (ok && (got = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        ok = read_line(path, line_no, line, &c, s);
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "clnas stats: %s: read error\n", path);
        ok = 0;
    }
    if (ok && !c.n) {
        fprintf(stderr, "clnas stats: %s:1: empty file (expected a header with arch, kappa, R)\n", path);
        ok = 0;
    }
    free(line);
    fclose(f);
    return ok;
}

/* Fills missing accuracies from the NB201 table (loaded only when needed). */
static int join_table(const char *path, scores *s, const char *table_path, char *used_table, size_t len)
{
    int need = 0;
    for (int i = 0; i < s->n && !need; i++)
        for (int c = 0; c < 3; c++) need |= isnan(s->acc[c][i]);
    for (int i = 0; i < s->n; i++)
        for (int c = 0; c < 3; c++) s->acc_from_file += !isnan(s->acc[c][i]);
    if (!need) return 1;
    char err[1024];
    clnas_nb201_table *t = NULL;
    if (clnas_nb201_table_load(table_path, &t, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas stats: %s\n", err);
        return 0;
    }
    snprintf(used_table, len, "%s", clnas_nb201_table_path(t));
    int ok = 1;
    for (int i = 0; i < s->n && ok; i++) {
        int need_row = isnan(s->acc[0][i]) || isnan(s->acc[1][i]) || isnan(s->acc[2][i]);
        if (!need_row) continue;
        int row;
        if (clnas_nb201_table_find(t, s->arch[i], &row, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas stats: %s:%d: %s\n", path, s->line[i], err);
            ok = 0;
        } else if (row < 0) {
            fprintf(stderr, "clnas stats: %s:%d: %s is not in the NB201 table %s (give its accuracies in the file)\n",
                    path, s->line[i], s->arch[i], clnas_nb201_table_path(t));
            ok = 0;
        } else {
            const clnas_nb201_row *r = clnas_nb201_table_row(t, row);
            for (int c = 0; c < 3; c++)
                if (isnan(s->acc[c][i])) {
                    s->acc[c][i] = clnas_nb201_row_acc(r, (clnas_nb201_column)c);
                    s->acc_from_table++;
                }
        }
    }
    clnas_nb201_table_destroy(t);
    return ok;
}

/* ---- the correlations ---- */

static const char *ds_keys[3] = {"cifar10", "cifar100", "imagenet16"};
static const char *ds_names[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};
static const char *score_keys[3] = {"neg_kappa", "R", "neg_combined"};
static const char *score_names[3] = {"-kappa", "R", "-combined"};

/* What the scores give. */
typedef struct stats_result {
    int n, excluded;
    clnas_corr corr[3][3];    /* [score][dataset] */
    double *buf;              /* owns logk and comb */
    double *logk, *comb;      /* log10 kappa, TE-NAS's combined rank (lower is better) */
    const char *acc_src;
} stats_result;

/* The correlations of -kappa, R and -combined with the three accuracies; 0 when out of memory. */
static int correlate(const scores *s, stats_result *r)
{
    int n = s->n;
    memset(r, 0, sizeof *r);
    r->n = n;
    r->buf = malloc(4 * (size_t)n * sizeof *r->buf);
    if (!r->buf) return 0;
    double *negk = r->buf, *negc = r->buf + n;
    r->logk = r->buf + 2 * n;
    r->comb = r->buf + 3 * n;
    if (clnas_tenas_combined(s->kappa, s->R, n, r->comb) != CLNAS_OK) return 0;
    for (int i = 0; i < n; i++) {
        negk[i] = -s->kappa[i];
        negc[i] = -r->comb[i];
        r->logk[i] = s->kappa[i] > 0 ? log10(s->kappa[i]) : NAN;
        r->excluded += isnan(s->kappa[i]) || isnan(s->R[i]);
    }
    const double *xs[3] = {negk, s->R, negc};
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 3; c++)
            if (clnas_correlate(xs[k], s->acc[c], n, &r->corr[k][c]) != CLNAS_OK) return 0;
    r->acc_src = s->acc_from_table == 0 ? "file" : s->acc_from_file == 0 ? "NB201 table" : "file and NB201 table";
    return 1;
}

/* ---- output ---- */

/* The 3-panel figure, with the command line, device, seed and correlations in its text chunks. */
static clnas_status draw(int argc, char **argv, const stats_args *a, const scores *s, const stats_result *r, char *err,
                         size_t errlen)
{
    int ds = a->ds;
    clnas_plot_stats_data d;
    memset(&d, 0, sizeof d);
    d.n = r->n;
    d.log10_kappa = r->logk;
    d.R = s->R;
    d.combined = r->comb;
    d.acc = s->acc[ds];
    char ylab[96];
    snprintf(ylab, sizeof ylab, "NB201 %s test accuracy (%%)", ds_names[ds]);
    d.acc_label = ylab;
    /* as plotted: kappa and the combined rank themselves (lower is better -> negative tau) */
    for (int k = 0; k < 3; k++) d.corr[k] = r->corr[k][ds];
    d.corr[0].tau = -d.corr[0].tau; d.corr[0].rho = -d.corr[0].rho;
    d.corr[2].tau = -d.corr[2].tau; d.corr[2].rho = -d.corr[2].rho;
    char cmd[4096], ttl[512], summary[1024], dev[300];
    clnas_cli_command_line(argc, argv, cmd, sizeof cmd);
    snprintf(dev, sizeof dev, "%s", *s->device ? s->device : "unknown (not recorded in the scores file)");
    if (a->title) snprintf(ttl, sizeof ttl, "%s", a->title);
    else if (*s->device)
        snprintf(ttl, sizeof ttl, "TE-NAS scores vs. NAS-Bench-201 %s accuracy: %d architectures, clnas on %.120s",
                 ds_names[ds], r->n, s->device);
    else
        snprintf(ttl, sizeof ttl, "TE-NAS scores vs. NAS-Bench-201 %s accuracy: %d architectures", ds_names[ds], r->n);
    const clnas_corr (*c)[3] = r->corr;
    snprintf(summary, sizeof summary,
             "%s: tau(-kappa)=%.4f rho(-kappa)=%.4f tau(R)=%.4f rho(R)=%.4f tau(-combined)=%.4f rho(-combined)=%.4f "
             "n=%d excluded=%d",
             ds_keys[ds], c[0][ds].tau, c[0][ds].rho, c[1][ds].tau, c[1][ds].rho, c[2][ds].tau, c[2][ds].rho, r->n,
             r->excluded);
    clnas_plot_meta meta = {cmd, dev, *s->seed ? s->seed : "unknown (not recorded in the scores file)", summary, ttl};
    clnas_status st = clnas_plot_stats(a->plot, &d, &meta, err, errlen);
    clnas_plot_release_caches();
    return st;
}

/* The --json object (NaN correlations as null); NULL when out of memory. */
static json_t *result_json(const stats_args *a, const stats_result *r, const char *used_table, int plotted)
{
    json_t *j = json_object(), *corr = json_object();
    int bad = json_object_set_new(j, "file", clnas_json_str(a->file));
    bad |= json_object_set_new(j, "n", json_integer(r->n));
    bad |= json_object_set_new(j, "excluded", json_integer(r->excluded));
    bad |= json_object_set_new(j, "accuracy_source", json_string(r->acc_src));
    bad |= json_object_set_new(j, "table", *used_table ? clnas_json_str(used_table) : json_null());
    bad |= json_object_set_new(j, "convention", json_string("Kendall tau-b and Spearman rho of -kappa, R and -combined "
                                                           "against test accuracy; higher score = predicted better"));
    for (int k = 0; k < 3; k++) {
        json_t *sk = json_object();
        for (int c = 0; c < 3; c++) {
            const clnas_corr *x = &r->corr[k][c];
            json_t *o = json_object();
            bad |= json_object_set_new(o, "tau", clnas_json_num(x->tau));
            bad |= json_object_set_new(o, "rho", clnas_json_num(x->rho));
            bad |= json_object_set_new(o, "n", json_integer(x->n_used));
            bad |= json_object_set_new(o, "excluded", json_integer(x->n_excluded));
            bad |= json_object_set_new(sk, ds_keys[c], o);
        }
        bad |= json_object_set_new(corr, score_keys[k], sk);
    }
    bad |= json_object_set_new(j, "correlations", corr);
    bad |= json_object_set_new(j, "plot", plotted ? clnas_json_str(a->plot) : json_null());
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void fmt_signed(char *b, size_t len, double v)
{
    if (isfinite(v)) snprintf(b, len, "%+.4f", v);
    else snprintf(b, len, "%s", "undef");
}

static void print_text(const stats_args *a, const stats_result *r, const char *used_table, int plotted)
{
    printf("file      %s\n", a->file);
    printf("n         %d architectures; accuracies from the %s%s%s\n", r->n, r->acc_src, *used_table ? " " : "", used_table);
    printf("excluded  %d with an undefined kappa or R (left out of the correlations that use it)\n\n", r->excluded);
    printf("Kendall tau-b and Spearman rho against test accuracy (higher score = predicted better):\n\n");
    printf("%-11s", "");
    for (int c = 0; c < 3; c++) printf("  %-17s", ds_names[c]);
    printf("  %s\n%-11s", "pairs", "score");
    for (int c = 0; c < 3; c++) printf("  %-8s %-8s", "tau", "rho");
    printf("  used / excluded\n");
    for (int k = 0; k < 3; k++) {
        printf("%-11s", score_names[k]);
        for (int c = 0; c < 3; c++) {
            char x[16], y[16];
            fmt_signed(x, sizeof x, r->corr[k][c].tau);
            fmt_signed(y, sizeof y, r->corr[k][c].rho);
            printf("  %-8s %-8s", x, y);
        }
        printf("  %d / %d\n", r->corr[k][0].n_used, r->corr[k][0].n_excluded);
    }
    printf("\n-kappa: ranks of -kappa = ranks of -log kappa; -combined: minus TE-NAS's rank(kappa) + rank(-R) over this file.\n");
    if (plotted) printf("figure    %s\n", a->plot);
}

int clnas_cmd_stats(int argc, char **argv)
{
    stats_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    for (int k = 1; k < a.nfiles; k++)
        if (!clnas_proxies_is_study(a.files[0]) || !clnas_proxies_is_study(a.files[k])) {
            fprintf(stderr, "clnas stats: several files are joined only when each is a proxy study (clnas rank --metric); "
                            "%s is not\n", clnas_proxies_is_study(a.files[0]) ? a.files[k] : a.files[0]);
            return 2;
        }
    if (clnas_proxies_is_study(a.file)) { /* a zero-cost proxy study (clnas rank --metric) */
        if (a.table) {
            fprintf(stderr, "clnas stats: %s is a proxy study, whose accuracies are in the file: --table does not apply\n",
                    a.file);
            return 2;
        }
        if (a.choose && (a.plot || a.json)) {
            fprintf(stderr, "clnas stats: --choose-ensemble prints a table of subsets; --plot and --json do not apply\n");
            return 2;
        }
        px_stats_opts o = {a.plot, a.title, a.json, a.ds, argc, argv, a.rows_given ? a.rows[0] : 0,
                           a.rows_given ? a.rows[1] : 0, a.ensemble, a.choose, a.nfiles, (const char *const *)a.files};
        return clnas_proxies_stats_opts(a.file, &o);
    }
    if (a.rows_given || a.ensemble || a.choose) {
        fprintf(stderr, "clnas stats: --rows, --ensemble and --choose-ensemble apply to a proxy study (clnas rank --metric), "
                        "not to %s\n", a.file);
        return 2;
    }
    scores s;
    memset(&s, 0, sizeof s);
    stats_result r;
    memset(&r, 0, sizeof r);
    char used_table[4096] = "", plot_err[1024] = "";
    rc = 1;
    if (!read_scores(a.file, &s) || !join_table(a.file, &s, a.table, used_table, sizeof used_table)) goto out;
    if (s.n == 0) {
        fprintf(stderr, "clnas stats: %s: no data rows\n", a.file);
        goto out;
    }
    if (!correlate(&s, &r)) {
        fprintf(stderr, "clnas stats: out of memory\n");
        goto out;
    }
    int plot_ok = !a.plot || draw(argc, argv, &a, &s, &r, plot_err, sizeof plot_err) == CLNAS_OK;
    if (a.json) {
        json_t *j = result_json(&a, &r, used_table, a.plot && plot_ok);
        if (!j || clnas_json_print(stdout, j) != 0) {
            fprintf(stderr, "clnas stats: cannot print the result\n");
            plot_ok = 0;
        }
        json_decref(j);
    } else {
        print_text(&a, &r, used_table, a.plot && plot_ok);
    }
    if (!plot_ok) {
        if (*plot_err) fprintf(stderr, "clnas stats: --plot: %s\n", plot_err);
        goto out;
    }
    rc = 0;
out:
    free(r.buf);
    scores_free(&s);
    return rc;
}
