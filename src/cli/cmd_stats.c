/* cmd_stats.c - `clnas stats`: how well kappa, R and TE-NAS's combined rank order a set of
 * scored NAS-Bench-201 architectures, as Kendall tau-b and Spearman rho against the NB201 test
 * accuracies, with an optional 3-panel figure. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "clnas/bench201.h"
#include "clnas/stats.h"
#include "report/plot.h"
#include "internal.h"

static void help(FILE *f)
{
    fprintf(f,
"usage: clnas stats FILE.csv [--plot FILE.png] [--dataset NAME] [--json] [--table FILE]\n"
"\n"
"Rank correlations of training-free scores with NAS-Bench-201 test accuracy.\n"
"FILE.csv has a header line; columns are found by name:\n"
"  arch                       NB201 arch string (required)\n"
"  kappa                      NTK condition number, lower is better (required; or kappa_r1, kappa_r2, ...\n"
"                             whose mean is used when there is no kappa column)\n"
"  R                          number of linear regions, higher is better (required; or R_r1, ...)\n"
"  cifar10_test, cifar100_test, imagenet16_test\n"
"                             test accuracies in %% (optional: missing columns or empty fields are\n"
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
"  --plot FILE.png  also draw accuracy against log kappa, R and the combined rank (3 panels)\n"
"  --dataset NAME   accuracy in the figure: cifar10 (default), cifar100, imagenet16\n"
"  --title TEXT     figure title\n"
"  --json           print one JSON object instead of the table\n"
"  --table FILE     NB201 accuracy table (default: the bundled data/nb201/nb201_accuracies.csv)\n");
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
    int line_no = 0, ncols = 0, ok = 0;
    int c_arch = -1, c_kappa = -1, c_R = -1, c_acc[3] = {-1, -1, -1}, c_dev = -1, c_seed = -1;
    int c_kr[MAXREP], c_rr[MAXREP], nkr = 0, nrr = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        char *l = line;
        if (line_no == 1 && (unsigned char)l[0] == 0xEF && (unsigned char)l[1] == 0xBB && (unsigned char)l[2] == 0xBF) l += 3;
        while (*l == ' ' || *l == '\t') l++;
        if (!*l) continue;
        if (*l == '#') { /* "# key: value" comments */
            l++;
            while (*l == ' ') l++;
            char *colon = strpbrk(l, ":=");
            if (colon) {
                *colon = 0;
                char *v = colon + 1;
                while (*v == ' ') v++;
                if (!strcmp(l, "device")) note_meta(s->device, sizeof s->device, v);
                else if (!strcmp(l, "seed")) note_meta(s->seed, sizeof s->seed, v);
            }
            continue;
        }
        if (strlen(l) > (size_t)1 << 20) {
            fprintf(stderr, "clnas stats: %s:%d: line too long\n", path, line_no);
            goto done;
        }
        char *fl[MAXF];
        int nf = clnas_csv_split(l, fl, MAXF);
        if (nf < 0) {
            fprintf(stderr, "clnas stats: %s:%d: unterminated quoted field\n", path, line_no);
            goto done;
        }
        if (nf > MAXF) {
            fprintf(stderr, "clnas stats: %s:%d: more than %d columns\n", path, line_no, MAXF);
            goto done;
        }
        if (!ncols) {
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                const char *h = fl[i];
                int r;
                char tail;
                if (!strcmp(h, "arch")) c_arch = i;
                else if (!strcmp(h, "kappa")) c_kappa = i;
                else if (!strcmp(h, "R")) c_R = i;
                else if (!strcmp(h, "device")) c_dev = i;
                else if (!strcmp(h, "seed")) c_seed = i;
                else if (sscanf(h, "kappa_r%d%c", &r, &tail) == 1 && nkr < MAXREP) c_kr[nkr++] = i;
                else if (sscanf(h, "R_r%d%c", &r, &tail) == 1 && nrr < MAXREP) c_rr[nrr++] = i;
                else for (int c = 0; c < 3; c++) if (!strcmp(h, acc_cols[c])) c_acc[c] = i;
            }
            const char *missing = c_arch < 0 ? "arch" : (c_kappa < 0 && !nkr) ? "kappa" : (c_R < 0 && !nrr) ? "R" : NULL;
            if (missing) {
                fprintf(stderr, "clnas stats: %s:%d: the header has no '%s' column (required: arch, kappa, R)\n",
                        path, line_no, missing);
                goto done;
            }
            continue;
        }
        if (nf != ncols) {
            fprintf(stderr, "clnas stats: %s:%d: %d fields, the header has %d\n", path, line_no, nf, ncols);
            goto done;
        }
        if (!scores_grow(s)) {
            fprintf(stderr, "clnas stats: out of memory\n");
            goto done;
        }
        int i = s->n;
        if (!*fl[c_arch]) {
            fprintf(stderr, "clnas stats: %s:%d: empty arch\n", path, line_no);
            goto done;
        }
        double v[2];
        const int single[2] = {c_kappa, c_R}, nrep[2] = {nkr, nrr};
        const int *rep[2] = {c_kr, c_rr};
        const char *what[2] = {"kappa", "R"};
        for (int k = 0; k < 2; k++) {
            if (single[k] >= 0) {
                if (!parse_num(fl[single[k]], &v[k])) {
                    fprintf(stderr, "clnas stats: %s:%d: %s \"%s\" is not a number\n", path, line_no, what[k], fl[single[k]]);
                    goto done;
                }
                continue;
            }
            double sum = 0; /* mean over the repeats; one undefined repeat makes it undefined */
            for (int r = 0; r < nrep[k]; r++) {
                double x;
                if (!parse_num(fl[rep[k][r]], &x)) {
                    fprintf(stderr, "clnas stats: %s:%d: %s repeat \"%s\" is not a number\n", path, line_no, what[k], fl[rep[k][r]]);
                    goto done;
                }
                sum += x;
            }
            v[k] = sum / nrep[k];
        }
        for (int c = 0; c < 3; c++) {
            double a = NAN;
            if (c_acc[c] >= 0 && !parse_num(fl[c_acc[c]], &a)) {
                fprintf(stderr, "clnas stats: %s:%d: %s \"%s\" is not a number\n", path, line_no, acc_cols[c], fl[c_acc[c]]);
                goto done;
            }
            s->acc[c][i] = a;
        }
        if (!(s->arch[i] = strdup(fl[c_arch]))) {
            fprintf(stderr, "clnas stats: out of memory\n");
            goto done;
        }
        s->line[i] = line_no;
        s->kappa[i] = v[0];
        s->R[i] = v[1];
        s->n++;
        if (c_dev >= 0) note_meta(s->device, sizeof s->device, fl[c_dev]);
        if (c_seed >= 0) note_meta(s->seed, sizeof s->seed, fl[c_seed]);
    }
    if (ferror(f)) {
        fprintf(stderr, "clnas stats: %s: read error\n", path);
        goto done;
    }
    if (!ncols) {
        fprintf(stderr, "clnas stats: %s:1: empty file (expected a header with arch, kappa, R)\n", path);
        goto done;
    }
    ok = 1;
done:
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

/* ---- output ---- */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch == '\n') printf("\\n");
        else if (ch == '\t') printf("\\t");
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isfinite(v)) printf("%.6f", v);
    else printf("null");
}

static const char *ds_keys[3] = {"cifar10", "cifar100", "imagenet16"};
static const char *ds_names[3] = {"CIFAR-10", "CIFAR-100", "ImageNet16-120"};
static const char *score_keys[3] = {"neg_kappa", "R", "neg_combined"};
static const char *score_names[3] = {"-kappa", "R", "-combined"};

static void fmt_signed(char *b, size_t len, double v)
{
    if (isfinite(v)) snprintf(b, len, "%+.4f", v);
    else snprintf(b, len, "%s", "undef");
}


int clnas_cmd_stats(int argc, char **argv)
{
    const char *file = NULL, *plot = NULL, *table = NULL, *title = NULL;
    int json = 0, ds = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--plot"))) { if (!*v) return 2; plot = v; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--table"))) { if (!*v) return 2; table = v; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--title"))) title = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--dataset"))) {
            if (!strcmp(v, "cifar10")) ds = 0;
            else if (!strcmp(v, "cifar100")) ds = 1;
            else if (!strcmp(v, "imagenet16") || !strcmp(v, "ImageNet16-120")) ds = 2;
            else {
                fprintf(stderr, "clnas stats: --dataset expects cifar10, cifar100 or imagenet16, got \"%s\"\n", v);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "clnas stats: unknown option %s (see clnas stats --help)\n", argv[i]);
            return 2;
        } else if (!file) file = argv[i];
        else {
            fprintf(stderr, "clnas stats: more than one input file (%s, %s)\n", file, argv[i]);
            return 2;
        }
    }
    if (!file) {
        fprintf(stderr, "clnas stats: no scores file given\n\n");
        help(stderr);
        return 2;
    }

    scores s;
    memset(&s, 0, sizeof s);
    char used_table[4096] = "";
    int rc = 1;
    double *buf = NULL;
    if (!read_scores(file, &s) || !join_table(file, &s, table, used_table, sizeof used_table)) goto out;
    if (s.n == 0) {
        fprintf(stderr, "clnas stats: %s: no data rows\n", file);
        goto out;
    }

    int n = s.n, excluded = 0;
    buf = malloc(5 * (size_t)n * sizeof *buf);
    if (!buf) { fprintf(stderr, "clnas stats: out of memory\n"); goto out; }
    double *comb = buf, *negk = buf + n, *negc = buf + 2 * n, *logk = buf + 3 * n, *poscomb = buf + 4 * n;
    if (clnas_tenas_combined(s.kappa, s.R, n, comb) != CLNAS_OK) { fprintf(stderr, "clnas stats: out of memory\n"); goto out; }
    for (int i = 0; i < n; i++) {
        negk[i] = -s.kappa[i];
        negc[i] = -comb[i];
        logk[i] = s.kappa[i] > 0 ? log10(s.kappa[i]) : NAN;
        poscomb[i] = comb[i];
        excluded += isnan(s.kappa[i]) || isnan(s.R[i]);
    }
    const double *xs[3] = {negk, s.R, negc};
    clnas_corr corr[3][3]; /* [score][dataset] */
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < 3; c++)
            if (clnas_correlate(xs[k], s.acc[c], n, &corr[k][c]) != CLNAS_OK) {
                fprintf(stderr, "clnas stats: out of memory\n");
                goto out;
            }
    const char *acc_src = s.acc_from_table == 0 ? "file" : s.acc_from_file == 0 ? "NB201 table" : "file and NB201 table";

    char plot_err[1024] = "";
    int plot_ok = 1;
    if (plot) {
        clnas_plot_stats_data d;
        memset(&d, 0, sizeof d);
        d.n = n;
        d.log10_kappa = logk;
        d.R = s.R;
        d.combined = poscomb;
        d.acc = s.acc[ds];
        char ylab[96];
        snprintf(ylab, sizeof ylab, "NB201 %s test accuracy (%%)", ds_names[ds]);
        d.acc_label = ylab;
        /* as plotted: kappa and the combined rank themselves (lower is better -> negative tau) */
        d.corr[0] = corr[0][ds];
        d.corr[1] = corr[1][ds];
        d.corr[2] = corr[2][ds];
        d.corr[0].tau = -d.corr[0].tau; d.corr[0].rho = -d.corr[0].rho;
        d.corr[2].tau = -d.corr[2].tau; d.corr[2].rho = -d.corr[2].rho;
        char cmd[4096], ttl[512], summary[1024], dev[300];
        clnas_cli_command_line(argc, argv, cmd, sizeof cmd);
        snprintf(dev, sizeof dev, "%s", *s.device ? s.device : "unknown (not recorded in the scores file)");
        if (title) snprintf(ttl, sizeof ttl, "%s", title);
        else if (*s.device)
            snprintf(ttl, sizeof ttl, "TE-NAS scores vs. NAS-Bench-201 %s accuracy: %d architectures, clnas on %.120s",
                     ds_names[ds], n, s.device);
        else
            snprintf(ttl, sizeof ttl, "TE-NAS scores vs. NAS-Bench-201 %s accuracy: %d architectures", ds_names[ds], n);
        snprintf(summary, sizeof summary,
                 "%s: tau(-kappa)=%.4f rho(-kappa)=%.4f tau(R)=%.4f rho(R)=%.4f tau(-combined)=%.4f rho(-combined)=%.4f "
                 "n=%d excluded=%d",
                 ds_keys[ds], corr[0][ds].tau, corr[0][ds].rho, corr[1][ds].tau, corr[1][ds].rho, corr[2][ds].tau,
                 corr[2][ds].rho, n, excluded);
        clnas_plot_meta meta = {cmd, dev, *s.seed ? s.seed : "unknown (not recorded in the scores file)", summary, ttl};
        clnas_status st = clnas_plot_stats(plot, &d, &meta, plot_err, sizeof plot_err);
        clnas_plot_release_caches();
        plot_ok = st == CLNAS_OK;
    }

    if (json) {
        printf("{\"file\": ");
        json_str(file);
        printf(", \"n\": %d, \"excluded\": %d, \"accuracy_source\": ", n, excluded);
        json_str(acc_src);
        printf(", \"table\": ");
        if (*used_table) json_str(used_table); else printf("null");
        printf(",\n \"convention\": \"Kendall tau-b and Spearman rho of -kappa, R and -combined against test accuracy; higher score = predicted better\",\n");
        printf(" \"correlations\": {");
        for (int k = 0; k < 3; k++) {
            printf("%s\n  \"%s\": {", k ? "," : "", score_keys[k]);
            for (int c = 0; c < 3; c++) {
                printf("%s\"%s\": {\"tau\": ", c ? ", " : "", ds_keys[c]);
                json_num(corr[k][c].tau);
                printf(", \"rho\": ");
                json_num(corr[k][c].rho);
                printf(", \"n\": %d, \"excluded\": %d}", corr[k][c].n_used, corr[k][c].n_excluded);
            }
            printf("}");
        }
        printf("},\n \"plot\": ");
        if (plot && plot_ok) json_str(plot); else printf("null");
        printf("}\n");
    } else {
        printf("file      %s\n", file);
        printf("n         %d architectures; accuracies from the %s%s%s\n", n, acc_src,
               *used_table ? " " : "", used_table);
        printf("excluded  %d with an undefined kappa or R (left out of the correlations that use it)\n\n", excluded);
        printf("Kendall tau-b and Spearman rho against test accuracy (higher score = predicted better):\n\n");
        printf("%-11s", "");
        for (int c = 0; c < 3; c++) printf("  %-17s", ds_names[c]);
        printf("  %s\n%-11s", "pairs", "score");
        for (int c = 0; c < 3; c++) printf("  %-8s %-8s", "tau", "rho");
        printf("  used / excluded\n");
        for (int k = 0; k < 3; k++) {
            printf("%-11s", score_names[k]);
            for (int c = 0; c < 3; c++) {
                char a[16], b[16];
                fmt_signed(a, sizeof a, corr[k][c].tau);
                fmt_signed(b, sizeof b, corr[k][c].rho);
                printf("  %-8s %-8s", a, b);
            }
            printf("  %d / %d\n", corr[k][0].n_used, corr[k][0].n_excluded);
        }
        printf("\n-kappa: ranks of -kappa = ranks of -log kappa; -combined: minus TE-NAS's rank(kappa) + rank(-R) over this file.\n");
        if (plot && plot_ok) printf("figure    %s\n", plot);
    }
    if (!plot_ok) {
        fprintf(stderr, "clnas stats: --plot: %s\n", plot_err);
        goto out;
    }
    rc = 0;
out:
    free(buf);
    scores_free(&s);
    return rc;
}
