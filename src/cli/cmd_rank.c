/* cmd_rank.c - `clnas rank`: scores many NAS-Bench-201 architectures as one paired study (the
 * same weights for every shared module, the same image batches and patches for every
 * architecture), appending each row to a CSV as soon as it is computed and resuming an
 * interrupted study from that file; then the rank correlations with the benchmark accuracies. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "clnas/bench201.h"
#include "clnas/score.h"
#include "internal.h"

static void help(FILE *f)
{
    fprintf(f,
"usage: clnas rank --space nb201 (--sample N [--seed S] | --archs FILE | --all) --out scores.csv [options]\n"
"\n"
"Scores many architectures with TE-NAS's kappa and R (the settings of clnas score) as one paired\n"
"study: every architecture sees the same image batches and patches, and every module it shares\n"
"with another (the same op on the same edge, the stem, the reduction blocks, the classifier) has\n"
"the same weights. Each row is appended to the CSV as soon as it is computed; running the same\n"
"command again resumes: architectures already in the file are not scored again. At the end the\n"
"Kendall tau and Spearman rho against the NB201 accuracies are printed (as clnas stats does).\n"
"\n"
"  --sample N          N architectures drawn uniformly without replacement from the 15,625 (--seed)\n"
"  --archs FILE        one arch string per line ('#' comments and blank lines skipped)\n"
"  --all               all 15,625 architectures\n"
"  --seed S            study seed: the sample, the weights and the data (default 0)\n"
"  --out FILE          the CSV (required): index,arch,kappa,kappa_r1..,R,R_r1..,cifar10_test,\n"
"                      cifar100_test,imagenet16_test,kappa_status; kappa = geometric mean over repeats\n"
"                      (empty when a repeat is undefined), R = mean over repeats\n"
"  --plot FILE.png     also draw the score-vs-accuracy figure\n"
"  --dataset, --data, --batch, --repeat, --lr-batch, --lr-batches, --seeds-in-flight, --device:\n"
"                      as for clnas score\n");
}

/* canonical arch strings already in an existing CSV (second field, quoted or not) */
static int load_done(const char *path, int repeats, char ***out, int *n, int *exists)
{
    *out = NULL;
    *n = 0;
    *exists = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 1 : 0;
    *exists = 1;
    char line[8192];
    int cap = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (lineno == 1) {
            char want[64];
            snprintf(want, sizeof want, "kappa_r%d,R,", repeats);
            if (strncmp(line, "index,arch,kappa,", 17) != 0 || !strstr(line, want)) {
                fprintf(stderr, "clnas rank: %s exists but its header does not match this study (%d repeats): "
                                "use another --out or the same settings\n", path, repeats);
                fclose(f);
                return 0;
            }
            continue;
        }
        char *a = strchr(line, ',');
        if (!a) continue;
        a++;
        char *end;
        if (*a == '"') { a++; end = strchr(a, '"'); }
        else end = strchr(a, ',');
        if (!end) continue; /* a partial last line from an interruption: scored again */
        if (!strchr(end, '\n')) continue;
        *end = 0;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(*out, (size_t)cap * sizeof *p);
            if (!p) { fclose(f); return 0; }
            *out = p;
        }
        (*out)[(*n)++] = strdup(a);
    }
    fclose(f);
    return 1;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, ",%.10g", v);
    else fputs(",", f);
}

int clnas_cmd_stats(int argc, char **argv);

int clnas_cmd_rank(int argc, char **argv)
{
    clnas_score_opts o;
    clnas_score_opts_default(&o);
    const char *data_path = NULL, *device = NULL, *out = NULL, *archs_file = NULL, *plot = NULL, *v;
    long n, sample = 0;
    int all = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--space"))) {
            if (strcmp(v, "nb201")) { fprintf(stderr, "clnas rank: --space %s is not implemented; only nb201 is\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--sample"))) { if (!clnas_cli_int("--sample", v, 1, 15625, &sample)) return 2; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--archs"))) archs_file = v;
        else if (!strcmp(argv[i], "--all")) all = 1;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--out"))) out = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--plot"))) plot = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--dataset"))) {
            if (clnas_dataset_parse_kind(v, &o.dataset) != CLNAS_OK) { fprintf(stderr, "clnas rank: --dataset expects cifar10, cifar100 or imagenet16 (got \"%s\")\n", v); return 2; }
        }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--data"))) data_path = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--device"))) device = v;
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seeds-in-flight"))) { if (!clnas_cli_int("--seeds-in-flight", v, 1, 100000, &n)) return 2; o.seeds = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--seed"))) { if (!clnas_cli_int("--seed", v, 0, 2147483647L, &n)) return 2; o.seed = (uint64_t)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--batch"))) { if (!clnas_cli_int("--batch", v, 2, 100000, &n)) return 2; o.batch = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--repeat"))) { if (!clnas_cli_int("--repeat", v, 1, CLNAS_MAX_REPEATS, &n)) return 2; o.repeats = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--lr-batch"))) { if (!clnas_cli_int("--lr-batch", v, 1, 1000000, &n)) return 2; o.lr_batch = (int)n; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--lr-batches"))) { if (!clnas_cli_int("--lr-batches", v, 1, 1000, &n)) return 2; o.lr_batches = (int)n; }
        else { fprintf(stderr, "clnas rank: unknown option \"%s\" (see clnas rank --help)\n", argv[i]); return 2; }
    }
    if (!out) { fprintf(stderr, "clnas rank: --out FILE.csv is required\n"); return 2; }
    if ((sample > 0) + (archs_file != NULL) + all != 1) {
        fprintf(stderr, "clnas rank: give exactly one of --sample N, --archs FILE, --all\n");
        return 2;
    }
    char err[1024] = "";
    clnas_nb201_table *table = NULL;
    if (clnas_nb201_table_load(NULL, &table, err, sizeof err) != CLNAS_OK && !archs_file) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    /* the list of architectures, canonical */
    int narch = 0, cap = 0, rc = 0;
    char **archs = NULL;
    if (archs_file) {
        FILE *f = fopen(archs_file, "r");
        if (!f) { fprintf(stderr, "clnas rank: cannot open %s: %s\n", archs_file, strerror(errno)); clnas_nb201_table_destroy(table); return 1; }
        char line[4096];
        int lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            line[strcspn(line, "\r\n")] = 0;
            char *s = line;
            while (*s == ' ' || *s == '\t') s++;
            if (!*s || *s == '#') continue;
            clnas_nb201_arch a;
            char perr[512], canon[512];
            if (clnas_nb201_parse(s, &a, perr, sizeof perr) != CLNAS_OK) {
                fprintf(stderr, "clnas rank: %s:%d: %s\n", archs_file, lineno, perr);
                fclose(f);
                rc = 2;
                goto end;
            }
            clnas_nb201_format(&a, canon, sizeof canon);
            if (narch == cap) { cap = cap ? 2 * cap : 256; archs = realloc(archs, (size_t)cap * sizeof *archs); }
            archs[narch++] = strdup(canon);
        }
        fclose(f);
    } else {
        int total = clnas_nb201_table_size(table), want = all ? total : (int)sample;
        int *idx = malloc((size_t)want * sizeof *idx);
        if (!idx) { rc = 1; goto end; }
        if (all) for (int i = 0; i < want; i++) idx[i] = i;
        else clnas_nb201_table_sample(table, want, o.seed, idx);
        archs = malloc((size_t)want * sizeof *archs);
        for (int i = 0; i < want; i++) archs[narch++] = strdup(clnas_nb201_table_row(table, idx[i])->arch);
        free(idx);
    }
    /* resume */
    char **done = NULL;
    int ndone = 0, exists = 0;
    if (!load_done(out, o.repeats, &done, &ndone, &exists)) { rc = 1; goto end; }
    qsort(done, (size_t)ndone, sizeof *done, cmpstr);
    FILE *csv = fopen(out, "a");
    if (!csv) { fprintf(stderr, "clnas rank: cannot write %s: %s\n", out, strerror(errno)); rc = 1; goto end_done; }
    if (!exists || ftell(csv) == 0) {
        fputs("index,arch,kappa", csv);
        for (int r = 1; r <= o.repeats; r++) fprintf(csv, ",kappa_r%d", r);
        fputs(",R", csv);
        for (int r = 1; r <= o.repeats; r++) fprintf(csv, ",R_r%d", r);
        fputs(",cifar10_test,cifar100_test,imagenet16_test,kappa_status\n", csv);
        fflush(csv);
    }
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(o.dataset, data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", err);
        fclose(csv);
        rc = 1;
        goto end_done;
    }
    clnas_ctx *ctx = NULL;
    if (clnas_ctx_create(device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        fclose(csv);
        rc = 1;
        goto end_done;
    }
    int todo = 0;
    for (int i = 0; i < narch; i++)
        if (!bsearch(&archs[i], done, (size_t)ndone, sizeof *done, cmpstr)) todo++;
    fprintf(stderr, "clnas rank: %d architectures, %d already in %s, %d to score on %s\n", narch, narch - todo, out, todo,
            clnas_ctx_device(ctx)->name);
    int show = isatty(2), k = 0;
    double t0 = clnas_now();
    for (int i = 0; i < narch; i++) {
        if (bsearch(&archs[i], done, (size_t)ndone, sizeof *done, cmpstr)) continue;
        clnas_nb201_arch a;
        clnas_nb201_parse(archs[i], &a, NULL, 0);
        clnas_score_result res;
        if (clnas_score_nb201(ctx, &a, data, &o, &res) != CLNAS_OK) {
            fprintf(stderr, "\nclnas rank: %s: %s\n", archs[i], clnas_ctx_errmsg(ctx));
            rc = 1;
            break;
        }
        int row = table ? clnas_nb201_table_find_arch(table, &a) : -1;
        const clnas_nb201_row *w = row >= 0 ? clnas_nb201_table_row(table, row) : NULL;
        fprintf(csv, "%d,\"%s\"", w ? w->index : -1, archs[i]);
        num(csv, res.kappa_geomean);
        const char *status = "ok";
        for (int r = 0; r < o.repeats; r++) {
            num(csv, res.ntk[r].status == CLNAS_KAPPA_OK ? res.ntk[r].kappa : NAN);
            if (res.ntk[r].status != CLNAS_KAPPA_OK) status = clnas_kappa_status_str(res.ntk[r].status);
        }
        num(csv, res.regions_mean);
        for (int r = 0; r < o.repeats; r++) fprintf(csv, ",%zu", res.regions[r]);
        num(csv, w ? w->cifar10 : NAN);
        num(csv, w ? w->cifar100 : NAN);
        num(csv, w ? w->imagenet16 : NAN);
        fprintf(csv, ",%s\n", status);
        fflush(csv);
        k++;
        if (show) {
            double el = clnas_now() - t0, rate = k / el;
            int bar = (int)(30.0 * k / todo);
            fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f arch/s  ETA %.0fs ", bar, "##############################", 30 - bar, "", k,
                    todo, rate, (todo - k) / rate);
        }
    }
    if (show) fputc('\n', stderr);
    fclose(csv);
    fprintf(stderr, "clnas rank: scored %d architectures in %.1f s; rows in %s\n", k, clnas_now() - t0, out);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    if (rc == 0) {
        char *sargv[5] = {"stats", (char *)out, NULL, NULL, NULL};
        int sargc = 2;
        if (plot) { sargv[2] = "--plot"; sargv[3] = (char *)plot; sargc = 4; }
        rc = clnas_cmd_stats(sargc, sargv);
    }
end_done:
    for (int i = 0; i < ndone; i++) free(done[i]);
    free(done);
end:
    for (int i = 0; i < narch; i++) free(archs[i]);
    free(archs);
    clnas_nb201_table_destroy(table);
    return rc;
}
