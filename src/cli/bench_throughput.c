/* bench_throughput.c - `clnas bench --throughput`: NB201 architectures scored per second by
 * each device alone and by all devices of the pool together (dynamic scheduling, as `clnas rank
 * --devices` runs them), medians of timed runs; under mpirun, by every rank together.
 *
 * One run scores N architectures (a fixed sample) with TE-NAS's settings (--batch, --repeat of
 * the score: 3). Before the timed runs every device scores one architecture untimed, so program
 * builds and first-touch allocations are not counted. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli/cli.h"
#include "cli/mpi.h"
#include "cli/multi.h"
#include "clnas/bench201.h"
#include "core/util.h"
#include "report/json.h"

typedef struct tp_job {
    char **archs;
    int narch;
    const clnas_dataset *data;
    clnas_score_opts o;
} tp_job;

static clnas_status tp_work(void *ud, clnas_ctx *ctx, int d, int k)
{
    (void)d;
    tp_job *j = ud;
    clnas_nb201_arch arch;
    clnas_nb201_parse(j->archs[k % j->narch], &arch, NULL, 0);
    clnas_score_result res;
    return clnas_score_nb201(ctx, &arch, j->data, &j->o, &res);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of `reps` runs of n items on the pool's current devices; shares[d] = items
 * device d took in the median run. 0 on failure (printed). */
static int time_runs(clnas_pool *pool, tp_job *j, int n, int reps, double *median, int *shares)
{
    double t[1000];
    int sh[1000][8];
    for (int r = 0; r < reps; r++) {
        clnas_pool_job job = {n, tp_work, NULL, NULL, NULL, j, 0, NULL};
        char err[4096] = "";
        cli_mpi_barrier();
        double t0 = clnas_now();
        if (clnas_pool_run(pool, &job, NULL, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas bench: %s\n", err);
            return 0;
        }
        t[r] = cli_mpi_max(clnas_now() - t0);
        for (int d = 0; d < clnas_pool_size(pool) && d < 8; d++) sh[r][d] = clnas_pool_done(pool, d);
    }
    double s[1000];
    memcpy(s, t, (size_t)reps * sizeof *t);
    qsort(s, (size_t)reps, sizeof *s, cmp_double);
    *median = s[reps / 2];
    for (int r = 0; r < reps; r++)
        if (t[r] == *median)
            for (int d = 0; d < clnas_pool_size(pool) && d < 8; d++) shares[d] = sh[r][d];
    return 1;
}

/* The architectures of a run: a fixed sample of the table (seed 0). */
static int tp_archs(int n, char ***archs)
{
    char err[1024] = "";
    clnas_nb201_table *t = NULL;
    if (clnas_nb201_table_load(NULL, &t, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", err);
        return 0;
    }
    int *idx = malloc((size_t)n * sizeof *idx);
    *archs = calloc((size_t)n, sizeof **archs);
    int ok = idx && *archs;
    if (ok) clnas_nb201_table_sample(t, n, 0, idx);
    for (int i = 0; ok && i < n; i++) ok = ((*archs)[i] = strdup(clnas_nb201_table_row(t, idx[i])->arch)) != NULL;
    free(idx);
    clnas_nb201_table_destroy(t);
    if (!ok) fprintf(stderr, "clnas bench: out of host memory\n");
    return ok;
}

static void print_row(const char *what, int items, double sec, const int *shares, int nd, double best)
{
    printf("%-58s %8.3f", what, items / sec);
    if (nd > 1) {
        printf("   items:");
        for (int d = 0; d < nd; d++) printf(" %d", shares[d]);
        if (best > 0) printf("   %.2fx the fastest alone", (items / sec) / best);
    }
    printf("\n");
}

/* Times every device alone (when there are several) and all together; prints or adds to js. */
static int tp_measure(clnas_pool *pool, tp_job *j, int n, int reps, json_t *js)
{
    int nd = clnas_pool_size(pool), ranks = cli_mpi_size(), shares[8] = {0};
    double sec, best = 0;
    json_t *alone = json_array();
    if (cli_mpi_rank() == 0 && !js)
        printf("NB201 architectures scored per second (batch %d, %d repeats; %d per run, median of %d runs%s)\n\n"
               "%-58s %8s\n", j->o.batch, j->o.repeats, n * ranks, reps, ranks > 1 ? ", summed over the ranks" : "",
               "devices", "arch/s");
    for (int d = 0; nd > 1 && d < nd; d++) {
        clnas_pool_only(pool, d);
        if (!time_runs(pool, j, n, reps, &sec, shares)) return 0;
        best = n / sec > best ? n / sec : best;
        if (cli_mpi_rank() == 0 && !js) print_row(clnas_pool_label(pool, d), n * ranks, sec, shares, 1, 0);
        json_array_append_new(alone, json_pack("{s:o, s:f}", "device", clnas_json_str(clnas_pool_label(pool, d)),
                                               "arch_per_s", n * ranks / sec));
    }
    clnas_pool_only(pool, -1);
    if (!time_runs(pool, j, n, reps, &sec, shares)) return 0;
    char what[128];
    if (ranks > 1) snprintf(what, sizeof what, "%d device%s on each of %d ranks", nd, nd > 1 ? "s" : "", ranks);
    else snprintf(what, sizeof what, "%d device%s together", nd, nd > 1 ? "s" : "");
    if (cli_mpi_rank() == 0 && !js) print_row(what, n * ranks, sec, shares, nd, best * ranks);
    if (js) {
        json_t *sh = json_array();
        for (int d = 0; d < nd && d < 8; d++) json_array_append_new(sh, json_integer(shares[d]));
        json_object_set_new(js, "alone", alone);
        json_object_set_new(js, "together", json_pack("{s:i, s:i, s:f, s:o}", "devices", nd, "ranks", ranks,
                                                      "arch_per_s", n * ranks / sec, "items_per_device", sh));
    } else {
        json_decref(alone);
    }
    return 1;
}

int cli_bench_throughput(const char *devices, const char *device, int n, int reps, int batch, int seeds, int json)
{
    char err[1024] = "";
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", err);
        return 1;
    }
    tp_job j = {NULL, n, data, {0}};
    clnas_score_opts_default(&j.o);
    j.o.batch = batch;
    j.o.seeds = seeds;
    clnas_pool *pool = tp_archs(n, &j.archs) ? cli_pool_open("bench", devices, device) : NULL;
    int rc = 1;
    if (pool && clnas_pool_size(pool) > 8) fprintf(stderr, "clnas bench: --throughput times at most 8 devices\n");
    else if (pool) {
        clnas_pool_job warm = {clnas_pool_size(pool), tp_work, NULL, NULL, NULL, &j, 0, NULL};
        for (int d = 0; d < clnas_pool_size(pool) && rc == 1; d++) { /* one untimed item per device */
            clnas_pool_only(pool, d);
            warm.nitems = 1;
            if (clnas_pool_run(pool, &warm, NULL, err, sizeof err) != CLNAS_OK) {
                fprintf(stderr, "clnas bench: %s\n", err);
                rc = 2;
            }
        }
        json_t *js = json ? json_object() : NULL;
        if (rc == 1 && tp_measure(pool, &j, n, reps, js)) rc = 0;
        if (rc == 0 && js && cli_mpi_rank() == 0 && clnas_json_print(stdout, js) != 0) rc = 1;
        json_decref(js);
        if (rc == 2) rc = 1;
    }
    for (int i = 0; j.archs && i < n; i++) free(j.archs[i]);
    free(j.archs);
    clnas_pool_destroy(pool);
    clnas_dataset_destroy(data);
    return rc;
}
