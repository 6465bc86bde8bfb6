/* cmd_rank.c - `clnas rank`: scores many NAS-Bench-201 architectures as one paired study (the
 * same weights for every shared module, the same image batches and patches for every
 * architecture), appending each row to a CSV as soon as it is computed and resuming an
 * interrupted study from that file; then the rank correlations with the benchmark accuracies. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli.h"
#include "cli/mpi.h"
#include "cli/multi.h"
#include "cli/parts.h"
#include "cli/cmd_proxies.h"
#include "clnas/bench201.h"
#include "clnas/score.h"
#include "core/fault.h"
#include "core/util.h"
#include "report/settings.h"

static const char USAGE[] =
"usage: clnas rank --space nb201 (--sample N [--seed S] | --archs FILE | --all) --out scores.csv [options]\n"
"\n"
"Scores many architectures with TE-NAS's kappa and R (the settings of clnas score) as one paired\n"
"study: every architecture sees the same image batches and patches, and every module it shares\n"
"with another (the same op on the same edge, the stem, the reduction blocks, the classifier) has\n"
"the same weights. Each row is appended to the CSV as soon as it is computed; running the same\n"
"command again resumes: architectures already in the file are not scored again. At the end the\n"
"Kendall tau and Spearman rho against the NB201 accuracies are printed (as clnas stats does).\n"
"\n"
"--devices all|LIST scores on several devices at once (one architecture per device at a time, the\n"
"next one to the first device free); the rows are written in the same order and with the same\n"
"numbers as on one device. Ctrl-C finishes the architectures in flight, writes them and stops (run\n"
"the command again to resume). Under mpirun/srun (a clnas built with MPI) rank 0 hands the\n"
"architectures out to the ranks; each rank appends its rows to OUT.partR and rank 0 merges them in\n"
"list order at the end (`--devices local-rank`: each rank on the device of its node-local rank).\n";

static const char HELP_OUT[] =
"the CSV (required): index,arch,kappa,kappa_r1..,R,R_r1..,cifar10_test,\n"
"cifar100_test,imagenet16_test,kappa_status; kappa = geometric mean over repeats\n"
"(empty when a repeat is undefined), R = mean over repeats";

/* The command line. */
typedef struct rank_args {
    clnas_score_opts o;
    const char *data_path, *device, *devices, *out, *archs_file, *plot, *space;
    int sample, all;
} rank_args;

/* Parses the command line; returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, rank_args *a)
{
    memset(a, 0, sizeof *a);
    clnas_score_opts_default(&a->o);
    cli c;
    cli_init(&c, "rank", USAGE, NULL);
    cli_add_space(&c, &a->space);
    cli_opt *sample = cli_add_help(&c, "sample", &a->sample, "N architectures drawn uniformly without replacement from the "
                                                             "15,625 (--seed)");
    sample->hi = 15625;
    cli_add_help(&c, "archs", &a->archs_file, "one arch string per line ('#' comments and blank lines skipped)");
    cli_add_help(&c, "all", &a->all, "all 15,625 architectures");
    cli_add_help(&c, "seed", &a->o.seed, "study seed: the sample, the weights and the data (default 0)");
    cli_add_help(&c, "out", &a->out, HELP_OUT);
    cli_add_help(&c, "plot", &a->plot, "also draw the score-vs-accuracy figure (as clnas stats --plot)");
    cli_add_score_opts(&c, &a->o, &a->data_path, &a->device);
    cli_add(&c, "devices", &a->devices);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (a->space && strcmp(a->space, "nb201") != 0) {
        fprintf(stderr, "clnas rank: --space %s: rank studies NB201 only (it needs the benchmark's accuracies); score DARTS "
                        "networks one by one with clnas score --space darts\n", a->space);
        return 2;
    }
    if (!a->out) {
        fprintf(stderr, "clnas rank: --out FILE.csv is required\n");
        return 2;
    }
    if (a->space && strcmp(a->space, "nb201")) {
        fprintf(stderr, "clnas rank: --space %s: rank works on nb201 only (As-ViT: clnas score --space asvit)\n", a->space);
        return 2;
    }
    if ((a->sample > 0) + (a->archs_file != NULL) + a->all != 1) {
        fprintf(stderr, "clnas rank: give exactly one of --sample N, --archs FILE, --all\n");
        return 2;
    }
    return -1;
}

/* Cuts an unterminated last line (what a crash mid-write leaves) off the CSV, saying so, so that
 * the next row starts on a line of its own. 1, or 0 with the message printed. */
static int drop_partial(const char *path, long whole, long size)
{
    if (truncate(path, whole) != 0) {
        fprintf(stderr, "clnas rank: %s ends with an unterminated line and cannot be cut back: %s\n", path, strerror(errno));
        return 0;
    }
    fprintf(stderr, "clnas rank: %s: dropped an unterminated last line (%ld bytes, an interrupted write); its architecture "
                    "is scored again\n", path, size - whole);
    return 1;
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
    long whole = 0; /* the file's length up to its last newline */
    while (fgets(line, sizeof line, f)) {
        if (strchr(line, '\n')) whole = ftell(f);
        else if (!feof(f)) continue; /* a line longer than the buffer: not an arch row */
        else break;                  /* the unterminated last line */
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
        if (!end) continue;
        *end = 0;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(*out, (size_t)cap * sizeof *p);
            if (!p) { fclose(f); return 0; }
            *out = p;
        }
        if (!((*out)[*n] = strdup(a))) { fclose(f); return 0; }
        (*n)++;
    }
    int bad = ferror(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "clnas rank: cannot read %s\n", path);
        return 0;
    }
    return size > whole ? drop_partial(path, whole, size) : 1;
}

static int cmpstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, ",%.10g", v);
    else fputs(",", f);
}

/* The architectures of --archs FILE, canonical; 0 (with the message printed: FILE:LINE for a
 * malformed one, *usage set) on failure. */
static int archs_from_file(const char *path, char ***archs, int *narch, int *usage)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "clnas rank: cannot open %s: %s\n", path, strerror(errno));
        return 0;
    }
    char line[4096];
    int lineno = 0, cap = 0, ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        clnas_nb201_arch a;
        char perr[512], canon[512];
        if (clnas_nb201_parse(s, &a, perr, sizeof perr) != CLNAS_OK) {
            fprintf(stderr, "clnas rank: %s:%d: %s\n", path, lineno, perr);
            *usage = 1;
            ok = 0;
            break;
        }
        clnas_nb201_format(&a, canon, sizeof canon);
        if (*narch == cap) {
            cap = cap ? 2 * cap : 256;
            char **p = realloc(*archs, (size_t)cap * sizeof *p);
            if (!p) { ok = 0; break; }
            *archs = p;
        }
        if (!((*archs)[*narch] = strdup(canon))) ok = 0;
        else (*narch)++;
    }
    fclose(f);
    if (!ok && !*usage) fprintf(stderr, "clnas rank: out of memory\n");
    return ok;
}

/* The architectures of --sample N or --all, from the NB201 table. 0 when out of memory. */
static int archs_from_table(const rank_args *a, const clnas_nb201_table *table, char ***archs, int *narch)
{
    int total = clnas_nb201_table_size(table), want = a->all ? total : a->sample;
    int *idx = malloc((size_t)want * sizeof *idx);
    *archs = malloc((size_t)want * sizeof **archs);
    if (!idx || !*archs) {
        free(idx);
        return 0;
    }
    if (a->all) for (int i = 0; i < want; i++) idx[i] = i;
    else clnas_nb201_table_sample(table, want, a->o.seed, idx);
    for (int i = 0; i < want; i++) (*archs)[(*narch)++] = strdup(clnas_nb201_table_row(table, idx[i])->arch);
    free(idx);
    return 1;
}

/* Opens the CSV for appending, with its header when it is new. NULL with the message printed. */
static FILE *open_csv(const char *out, int repeats, int devcol)
{
    FILE *csv = fopen(out, "a");
    if (!csv) {
        fprintf(stderr, "clnas rank: cannot write %s: %s\n", out, strerror(errno));
        return NULL;
    }
    fseek(csv, 0, SEEK_END);
    if (ftell(csv) == 0) {
        fputs("index,arch,kappa", csv);
        for (int r = 1; r <= repeats; r++) fprintf(csv, ",kappa_r%d", r);
        fputs(",R", csv);
        for (int r = 1; r <= repeats; r++) fprintf(csv, ",R_r%d", r);
        fprintf(csv, ",cifar10_test,cifar100_test,imagenet16_test,kappa_status%s\n", devcol ? ",device" : "");
        if (clnas_flush_checked(csv) != 0) {
            fprintf(stderr, "clnas rank: cannot write %s: %s\n", out, strerror(errno));
            fclose(csv);
            if (truncate(out, 0) != 0) { /* the message above says what failed */
            }
            return NULL;
        }
    }
    return csv;
}

/* The settings of the study, recorded in OUT.json (the sidecar, written atomically before the
 * first row) and compared on a resume. 0, or 1 with the message printed. */
static int check_sidecar(const rank_args *a, const char *src, const char *device, int has_rows)
{
    char side[4200], err[4400];
    snprintf(side, sizeof side, "%s.json", a->out);
    json_t *cur = clnas_settings_new(a->space, &a->o, src, device), *rec = NULL;
    int rc = 0;
    if (!cur) {
        fprintf(stderr, "clnas rank: out of host memory\n");
        return 1;
    }
    if (has_rows && access(side, F_OK) != 0) {
        fprintf(stderr, "clnas rank: warning: %s has no %s (written by an older clnas): only its repeat count could be "
                        "checked; the other settings of its rows could not\n", a->out, side);
    } else if (has_rows) {
        clnas_status st = clnas_json_read_file(side, &rec, err, sizeof err);
        if (st != CLNAS_OK || !json_is_object(rec)) {
            fprintf(stderr, "clnas rank: %s%s (remove it and %s to start afresh)\n", st != CLNAS_OK ? err : side,
                    st != CLNAS_OK ? "" : ": not a JSON object", a->out);
            rc = 1;
        } else {
            rc = clnas_settings_check("rank", a->out, rec, cur);
        }
    } else if (clnas_json_write_file(side, cur, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", err);
        rc = 1;
    }
    json_decref(rec);
    json_decref(cur);
    return rc;
}

/* One row of the CSV, flushed (so that an interruption loses at most the row being written).
 * 0, or -1 (errno set) when it could not be written whole. */
static int write_row(FILE *csv, const clnas_nb201_row *w, const char *arch, const clnas_score_result *res, int repeats,
                     const char *device)
{
    fprintf(csv, "%d,\"%s\"", w ? w->index : -1, arch);
    num(csv, res->kappa_geomean);
    const char *status = "ok";
    for (int r = 0; r < repeats; r++) {
        num(csv, res->ntk[r].status == CLNAS_KAPPA_OK ? res->ntk[r].kappa : NAN);
        if (res->ntk[r].status != CLNAS_KAPPA_OK) status = clnas_kappa_status_str(res->ntk[r].status);
    }
    num(csv, res->regions_mean);
    for (int r = 0; r < repeats; r++) {
        if (res->regions_nonfinite[r]) fputs(",", csv); /* undefined: NaN or inf reached the ReLUs */
        else fprintf(csv, ",%zu", res->regions[r]);
    }
    num(csv, w ? w->cifar10 : NAN);
    num(csv, w ? w->cifar100 : NAN);
    num(csv, w ? w->imagenet16 : NAN);
    fprintf(csv, ",%s", status);
    if (device) fprintf(csv, ",\"%s\"", device);
    fputc('\n', csv);
    return clnas_flush_checked(csv);
}

/* After a failed row: closes the CSV (or part file) and cuts it back to the rows written whole before. */
static void undo_row(FILE *csv, const char *out, long before)
{
    int e = errno;
    fclose(csv);
    fprintf(stderr, "\nclnas rank: cannot write %s: %s; the rows written before are kept\n", out, strerror(e));
    if (truncate(out, before) != 0)
        fprintf(stderr, "clnas rank: cannot cut %s back to its last whole row: %s\n", out, strerror(errno));
}

/* What the scoring loop needs. */
typedef struct rank_study {
    const rank_args *a;
    const clnas_nb201_table *table;
    char **archs, **done; /* done: sorted, the arch strings already in the CSV */
    int narch, ndone;
    int devcol;           /* a last column with each row's device (a pool of different devices) */
    int mixed;            /* the devices (over every MPI rank) are not all of one kind */
} rank_study;

/* Is arch among the rows already in the file? (bsearch's base may not be NULL, even for none.) */
static int is_done(const rank_study *st, char *arch)
{
    return st->ndone > 0 && bsearch(&arch, st->done, (size_t)st->ndone, sizeof *st->done, cmpstr) != NULL;
}

/* The pool's job: the architectures not yet in the CSV, scored anywhere, written in list order. */
typedef struct rank_job {
    const rank_study *st;
    clnas_pool *pool;
    const clnas_dataset *data;
    FILE *csv;                /* NULL once a row that could not be written closed it */
    const char *path;         /* the file csv appends to: OUT, or this rank's part file */
    int *todo;                /* indices into st->archs */
    clnas_score_result **res; /* per todo item, from its device until its row is written */
    cli_progress prog;
} rank_job;

static clnas_status rank_work(void *ud, clnas_ctx *ctx, int d, int k)
{
    rank_job *j = ud;
    (void)d;
    clnas_nb201_arch arch;
    clnas_nb201_parse(j->st->archs[j->todo[k]], &arch, NULL, 0);
    if (!j->res[k] && !(j->res[k] = malloc(sizeof *j->res[k]))) return CLNAS_E_NOMEM;
    return clnas_score_nb201(ctx, &arch, j->data, &j->st->a->o, j->res[k]);
}

/* Fault injection for the tests of an interrupted job: CLNAS_TEST_DIE_AT="R:N" makes MPI rank R
 * (0 without MPI) write half a row after its N-th row and kill itself (SIGKILL), as a crash would;
 * "*:N" makes any rank that gets that far do so (rank 0 hands out the work as the ranks ask for it,
 * so how many rows one rank writes depends on the load; some rank always reaches N <= items/ranks). */
static void test_die(FILE *csv, int written)
{
    const char *v = getenv("CLNAS_TEST_DIE_AT");
    int r = -1, n = -1;
    if (v && v[0] == '*' && sscanf(v + 1, ":%d", &n) == 1) r = cli_mpi_rank();
    else if (!v || sscanf(v, "%d:%d", &r, &n) != 2) return;
    if (r != cli_mpi_rank() || n != written) return;
    fputs("99999,\"|nor_conv", csv);
    fflush(csv);
    raise(SIGKILL);
}

/* Writes item k's row (checked: a row that cannot be written whole is cut back off the file, which
 * is closed, and the run stops). */
static int rank_commit(void *ud, int k, int d)
{
    rank_job *j = ud;
    const rank_study *st = j->st;
    const char *s = st->archs[j->todo[k]];
    clnas_nb201_arch arch;
    clnas_nb201_parse(s, &arch, NULL, 0);
    int row = st->table ? clnas_nb201_table_find_arch(st->table, &arch) : -1;
    char dev[256];
    snprintf(dev, sizeof dev, "%s", clnas_ctx_device(clnas_pool_ctx(j->pool, d))->name);
    for (char *q = dev; *q; q++)
        if (*q == '"' || *q == ',') *q = ' ';
    if (!isfinite(j->res[k]->regions_mean))
        fprintf(stderr, "\nclnas rank: %s: R undefined (NaN or infinity in the linear-region pre-activations); "
                        "its R cells are empty\n", s);
    long before = ftell(j->csv);
    int bad = write_row(j->csv, row >= 0 ? clnas_nb201_table_row(st->table, row) : NULL, s, j->res[k], st->a->o.repeats,
                        st->devcol ? dev : NULL) != 0;
    free(j->res[k]);
    j->res[k] = NULL;
    if (bad) {
        undo_row(j->csv, j->path, before);
        j->csv = NULL;
        return 1;
    }
    clnas_stop_point("row");
    cli_progress_step(&j->prog, d);
    test_die(j->csv, j->prog.k);
    return 0;
}

/* -1 when the file is missing or empty, else 1 when its header ends with a device column. */
static int header_devcol(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192] = "";
    if (!f) return -1;
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    size_t n = strlen(line);
    return !got || n == 0 ? -1 : n >= 7 && strcmp(line + n - 7, ",device") == 0;
}

/* Whether rows get a device column: as the existing file (or part) says, else when the devices of
 * the pool (over every MPI rank) are not all the same kind (name and driver): *mixed. */
static int device_column(const char *out, clnas_pool *pool, int *mixed)
{
    int have = header_devcol(out);
    char **paths = NULL;
    int np = 0;
    if (have < 0 && cli_parts_list(out, &paths, &np))
        for (int i = 0; i < np && have < 0; i++) have = header_devcol(paths[i]);
    for (int i = 0; i < np; i++) free(paths[i]);
    free(paths);
    const clnas_device_info *d0 = clnas_ctx_device(clnas_pool_ctx(pool, 0));
    int mix = 0;
    for (int d = 1; d < clnas_pool_size(pool); d++) {
        const clnas_device_info *dd = clnas_ctx_device(clnas_pool_ctx(pool, d));
        mix |= strcmp(dd->name, d0->name) != 0 || strcmp(dd->driver_version, d0->driver_version) != 0;
    }
    uint64_t h = clnas_fnv1a64(clnas_fnv1a64(CLNAS_FNV_INIT, d0->name, strlen(d0->name)), d0->driver_version,
                               strlen(d0->driver_version));
    int hi = (int)(h & 0x3fffffff);
    mix = cli_mpi_max_int(mix) || cli_mpi_max_int(hi) != -cli_mpi_max_int(-hi); /* another device on another rank */
    if (have == 0 && mix && cli_mpi_rank() == 0)
        fprintf(stderr, "clnas rank: note: the devices differ, but %s has no device column: rows will not say which "
                        "device computed them\n", out);
    *mixed = mix;
    return have >= 0 ? have : mix;
}

/* Part files (cli/parts.h): used under MPI with several ranks, or when an earlier such run left
 * some. Cuts partial last lines, adds the parts' rows to the done list, and makes sure every
 * rank has read them before any writes. 0 on failure (printed). */
static int parts_begin(const rank_args *a, rank_study *st, int *parts, char *mine, size_t len)
{
    char **paths = NULL;
    int np = 0, ok = cli_parts_list(a->out, &paths, &np), me = cli_mpi_rank();
    *parts = cli_mpi_size() > 1 || np > 0;
    cli_part_name(a->out, me, mine, len);
    if (ok && *parts) ok = cli_part_trim("rank", mine);
    for (int i = 0; ok && me == 0 && i < np; i++) /* rank 0 also tidies the parts of ranks this run lacks */
        if (atoi(strrchr(paths[i], 't') + 1) >= cli_mpi_size()) ok = cli_part_trim("rank", paths[i]);
    ok = !cli_mpi_max_int(!ok);
    for (int i = 0; ok && i < np; i++) {
        char **more = NULL;
        int nmore = 0, ex = 0;
        ok = load_done(paths[i], a->o.repeats, &more, &nmore, &ex);
        if (ok && nmore) { /* (a part of no rows adds nothing: st->done may still be NULL) */
            char **p = realloc(st->done, (size_t)(st->ndone + nmore) * sizeof *p);
            if (!p) fprintf(stderr, "clnas rank: out of host memory\n");
            ok = p != NULL;
            if (p) st->done = p;
        }
        for (int k = 0; k < nmore; k++) {
            if (ok) st->done[st->ndone++] = more[k];
            else free(more[k]);
        }
        free(more);
    }
    for (int i = 0; i < np; i++) free(paths[i]);
    free(paths);
    return !cli_mpi_max_int(!ok); /* nobody writes before every rank has read */
}

static void rank_note(void *ud, const char *msg) { (void)ud; cli_pool_note("rank", msg); }

/* The study's settings against OUT.json before anything is written: checked (and, for a new
 * study, written) by MPI rank 0 alone, for the whole study (OUT and its part files); every rank
 * learns the outcome. The device is the pool's, or "several devices" for a pool of different
 * kinds (whose rows say their device). 0, or 1 (printed). */
static int settings_agree(const rank_study *st, clnas_pool *pool, const clnas_dataset *data)
{
    const char *device = st->mixed ? "several devices (each row's device column)"
                                    : clnas_ctx_device(clnas_pool_ctx(pool, 0))->name;
    int bad = cli_mpi_rank() == 0 ? check_sidecar(st->a, clnas_dataset_source(data), device, st->ndone > 0) : 0;
    return cli_mpi_max_int(bad);
}

/* Scores every architecture not yet in the CSV on the devices of --devices (or --device),
 * appending rows to `path` in list order (to this rank's part file, in any order, when parts is
 * set: items handed out by MPI rank 0). 0, 1 on an error (printed), 130 when stopped by Ctrl-C. */
static int score_all(const rank_study *st, clnas_pool *pool, const char *path, int parts)
{
    const rank_args *a = st->a;
    char err[4096] = "";
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(a->o.dataset, a->data_path, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    rank_job j = {st, pool, data, NULL, path, calloc((size_t)st->narch + 1, sizeof(int)),
                  calloc((size_t)st->narch + 1, sizeof(void *)), {0}};
    int todo = 0, rc = 1, stopped = 0;
    if (!j.todo || !j.res || settings_agree(st, pool, data) != 0) goto end;
    if (!(j.csv = open_csv(path, a->o.repeats, st->devcol))) {
        if (cli_mpi_size() > 1) cli_mpi_abort(1); /* the other ranks would wait for this one */
        goto end;
    }
    for (int i = 0; i < st->narch; i++)
        if (!is_done(st, st->archs[i])) j.todo[todo++] = i;
    char who[64] = "";
    if (cli_mpi_size() > 1) snprintf(who, sizeof who, "rank %d of %d: ", cli_mpi_rank(), cli_mpi_size());
    if (cli_mpi_rank() == 0)
        fprintf(stderr, "clnas rank: %d architectures, %d already in %s%s, %d to score\n", st->narch, st->narch - todo,
                a->out, parts ? " and its part files" : "", todo);
    for (int d = 0; d < clnas_pool_size(pool); d++) fprintf(stderr, "clnas rank: %son device %s\n", who, clnas_pool_label(pool, d));
    cli_mpi_barrier(); /* every rank ready (data loaded, devices open) before rank 0 hands out work */
    cli_progress_init(&j.prog, pool, todo, "arch");
    clnas_pool_job job = {todo, rank_work, rank_commit, NULL, rank_note, &j, !parts, &cli_stop};
    cli_stop_install();
    clnas_status ps = cli_mpi_run_pool(pool, &job, &stopped, err, sizeof err);
    cli_stop_restore();
    cli_progress_end(&j.prog);
    if (ps != CLNAS_OK && j.csv) { /* (a row that could not be written has said so) */
        int f = clnas_pool_failed_item(pool);
        fprintf(stderr, "clnas rank: %s%s%s%s (the rows before it are kept in %s)\n", who, f >= 0 ? st->archs[j.todo[f]] : "",
                f >= 0 ? ": " : "", err, path);
    } else if (ps == CLNAS_OK) {
        char shares[2048];
        cli_pool_shares(pool, shares, sizeof shares);
        fprintf(stderr, "clnas rank: %sscored %d architectures in %.1f s (%s); rows in %s\n", who, j.prog.k,
                clnas_now() - j.prog.t0, shares, parts ? "the part files" : a->out);
        if (stopped) fprintf(stderr, "clnas rank: stopped before the end: run the same command again to resume\n");
        rc = stopped ? 130 : 0;
    }
end:
    if (j.csv && (fclose(j.csv) != 0 || clnas_fault_write())) {
        fprintf(stderr, "clnas rank: cannot write %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    for (int i = 0; j.res && i < st->narch; i++) free(j.res[i]);
    free(j.res);
    free(j.todo);
    clnas_dataset_destroy(data);
    return rc;
}

int clnas_cmd_rank(int argc, char **argv)
{
    if (clnas_proxies_wanted(argc, argv)) return clnas_cmd_rank_proxies(argc, argv); /* zero-cost proxies */
    rank_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char err[1024] = "";
    clnas_nb201_table *table = NULL;
    if (clnas_nb201_table_load(NULL, &table, err, sizeof err) != CLNAS_OK && !a.archs_file) {
        fprintf(stderr, "clnas rank: %s\n", err);
        return 1;
    }
    rank_study st = {&a, table, NULL, NULL, 0, 0, 0, 0};
    int usage = 0, exists = 0;
    rc = 1;
    if (a.archs_file ? !archs_from_file(a.archs_file, &st.archs, &st.narch, &usage)
                     : !archs_from_table(&a, table, &st.archs, &st.narch)) {
        rc = usage ? 2 : 1;
        goto end;
    }
    /* resume */
    if (!load_done(a.out, a.o.repeats, &st.done, &st.ndone, &exists)) goto end;
    char part[4200];
    int parts = 0;
    if (!parts_begin(&a, &st, &parts, part, sizeof part)) goto end;
    if (st.ndone > 1) qsort(st.done, (size_t)st.ndone, sizeof *st.done, cmpstr);
    clnas_pool *pool = cli_pool_open("rank", a.devices, a.device);
    if (!pool && cli_mpi_size() > 1) cli_mpi_abort(1);
    if (!pool) goto end;
    st.devcol = device_column(a.out, pool, &st.mixed);
    rc = score_all(&st, pool, parts ? part : a.out, parts);
    clnas_pool_destroy(pool);
    if (rc == 1 && cli_mpi_size() > 1) cli_mpi_abort(1); /* one rank's failure ends the job; the parts keep the rows */
    rc = cli_mpi_max_int(rc);
    if (rc == 0 && parts && cli_mpi_rank() == 0 && !cli_parts_merge("rank", a.out, st.archs, st.narch)) rc = 1;
    if (rc == 0 && cli_mpi_rank() == 0) {
        char *sargv[5] = {"stats", (char *)a.out, NULL, NULL, NULL};
        int sargc = 2;
        if (a.plot) { sargv[2] = "--plot"; sargv[3] = (char *)a.plot; sargc = 4; }
        rc = clnas_cmd_stats(sargc, sargv);
    }
end:
    for (int i = 0; i < st.ndone; i++) free(st.done[i]);
    free(st.done);
    for (int i = 0; i < st.narch; i++) free(st.archs[i]);
    free(st.archs);
    clnas_nb201_table_destroy(table);
    return rc;
}
