/* pool.c - a pool of devices and a dynamically scheduled work queue over them (runtime/pool.h).
 *
 * One worker thread per device. The shared state (the next item, the items to retry, the done
 * flags, the commit cursor) is guarded by one mutex; a worker holds it only to take an item and to
 * hand one back, never while computing. In ordered mode the commit cursor advances over the
 * longest finished prefix, so items are committed in item order whatever order they finish in;
 * since items are handed out in order and every taken item is finished (or retried) before the
 * run returns, what a stopped run has committed is always a prefix of the items. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/pool.h"
#include "internal.h"
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POOL_MAX 64
#define POOL_MSG 6000

struct clnas_pool {
    int n, alive, failed_item;
    clnas_ctx *ctx[POOL_MAX];
    int dead[POOL_MAX], done[POOL_MAX], idle[POOL_MAX];
    char label[POOL_MAX][300];
};

/* The state of one run, shared by the workers. */
typedef struct pool_run {
    clnas_pool *p;
    const clnas_pool_job *job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int next, inflight, cursor, fatal, active;
    int *retry, nretry;
    unsigned char *finished; /* ordered mode: computed, not yet committed */
    clnas_status st;
    char *err;
    size_t errlen;
} pool_run;

int clnas_pool_device_error(clnas_status st)
{
    return (st < 0 && st > -1000) || st == CLNAS_E_BUILD || st == CLNAS_E_CLBLAST || st == CLNAS_E_DEVICE_MEM ||
           st == CLNAS_E_NO_DEVICE;
}

int clnas_local_rank(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v && strspn(v, "0123456789") == strlen(v)) return atoi(v);
    }
    return -1;
}

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = hay; *h; h++)
        if (strncasecmp(h, needle, n) == 0) return 1;
    return 0;
}

/* Marks in want[] the devices one element of a --devices list selects; 0 when none does. */
static int select_part(const char *part, const clnas_device_info *devs, int n, unsigned char *want)
{
    int hit = 0;
    if (strspn(part, "0123456789") == strlen(part)) {
        long v = strtol(part, NULL, 10);
        if (v >= 0 && v < n) want[v] = 1, hit = 1;
        return hit;
    }
    for (int i = 0; i < n; i++)
        if (contains_ci(devs[i].name, part) || contains_ci(devs[i].vendor, part) || contains_ci(devs[i].platform_name, part))
            want[i] = 1, hit = 1;
    return hit;
}

/* The device local-rank picks: among the GPUs if any, else among all. */
static int pick_local(const clnas_device_info *devs, int n)
{
    int ngpu = 0, lr = clnas_local_rank();
    if (lr < 0) lr = 0;
    for (int i = 0; i < n; i++) ngpu += strcmp(devs[i].type, "GPU") == 0;
    if (ngpu == 0) return lr % n;
    int k = lr % ngpu;
    for (int i = 0; i < n; i++)
        if (strcmp(devs[i].type, "GPU") == 0 && k-- == 0) return i;
    return 0;
}

/* want[i] = 1 for the devices spec names. 0 with the reason in err. */
static int parse_spec(const char *spec, const clnas_device_info *devs, int n, unsigned char *want, char *err, size_t errlen)
{
    if (n == 0) {
        snprintf(err, errlen, "no OpenCL device is installed (for the CPU: apt-get install pocl-opencl-icd; check with clinfo -l)");
        return 0;
    }
    if (!strcmp(spec, "all")) {
        memset(want, 1, (size_t)n);
        return 1;
    }
    if (!strcmp(spec, "local-rank")) {
        want[pick_local(devs, n)] = 1;
        return 1;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t)) t++;
        if (!*t || !select_part(t, devs, n, want)) {
            snprintf(err, errlen, "--devices: \"%s\" names no device (give all, local-rank, or a comma-separated list of "
                                  "indices from `clnas devices` or name parts)", t);
            return 0;
        }
    }
    return 1;
}

/* Opens device index i (by its index, as --device N does) into the pool. */
static clnas_status pool_open(clnas_pool *p, const char *spec, char *err, size_t errlen)
{
    if (p->n == POOL_MAX) {
        snprintf(err, errlen, "--devices: at most %d devices", POOL_MAX);
        return CLNAS_E_INVALID_ARG;
    }
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create(spec, &ctx);
    if (st != CLNAS_OK) {
        snprintf(err, errlen, "%s", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        return st;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    snprintf(p->label[p->n], sizeof p->label[p->n], "%d (%s)", d->index, d->name);
    p->ctx[p->n++] = ctx;
    p->alive++;
    return CLNAS_OK;
}

clnas_status clnas_pool_create(const char *spec, const char *dev, clnas_pool **out, char *err, size_t errlen)
{
    *out = NULL;
    clnas_pool *p = calloc(1, sizeof *p);
    if (!p) return CLNAS_E_NOMEM;
    clnas_status st = CLNAS_OK;
    if (!spec || !*spec) st = pool_open(p, dev, err, errlen);
    else {
        clnas_device_info *devs = NULL;
        int n = 0;
        st = clnas_devices_list(&devs, &n, err, errlen);
        unsigned char *want = st == CLNAS_OK ? calloc((size_t)n + 1, 1) : NULL;
        if (st == CLNAS_OK && !want) st = CLNAS_E_NOMEM;
        if (st == CLNAS_OK && !parse_spec(spec, devs, n, want, err, errlen)) st = CLNAS_E_NO_DEVICE;
        for (int i = 0; st == CLNAS_OK && i < n; i++) {
            char idx[16];
            snprintf(idx, sizeof idx, "%d", i);
            if (want[i]) st = pool_open(p, idx, err, errlen);
        }
        free(want);
        free(devs);
    }
    if (st != CLNAS_OK) {
        clnas_pool_destroy(p);
        return st;
    }
    *out = p;
    return CLNAS_OK;
}

void clnas_pool_destroy(clnas_pool *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) clnas_ctx_destroy(p->ctx[i]);
    free(p);
}

int clnas_pool_size(const clnas_pool *p) { return p->n; }
int clnas_pool_alive(const clnas_pool *p) { return p->alive; }
clnas_ctx *clnas_pool_ctx(clnas_pool *p, int d) { return p->ctx[d]; }
int clnas_pool_done(const clnas_pool *p, int d) { return p->done[d]; }
int clnas_pool_failed_item(const clnas_pool *p) { return p->failed_item; }

int clnas_pool_first_alive(const clnas_pool *p)
{
    for (int d = 0; d < p->n; d++)
        if (!p->dead[d]) return d;
    return -1;
}

void clnas_pool_only(clnas_pool *p, int d)
{
    for (int i = 0; i < p->n; i++) p->idle[i] = d >= 0 && i != d;
}
const char *clnas_pool_label(const clnas_pool *p, int d) { return p->label[d]; }

/* Records the first fatal error of the run (under the lock). */
static void run_fail(pool_run *r, clnas_status st, const char *a, const char *b)
{
    if (r->fatal) return;
    r->fatal = 1;
    r->st = st;
    snprintf(r->err, r->errlen, "%s%s", a, b);
}

/* The next item for worker d, or -1: nothing left for it (under the lock; may wait). */
static int take(pool_run *r, int d)
{
    const clnas_pool_job *j = r->job;
    for (;;) {
        if (r->fatal || r->p->dead[d] || (j->stop && *j->stop)) return -1;
        if (r->nretry > 0) return r->retry[--r->nretry];
        int it = j->next ? j->next(j->ud) : (r->next < j->nitems ? r->next++ : -1);
        if (it >= 0) return it;
        /* nothing new: an item in flight elsewhere may still fail and come back */
        if (r->inflight == 0) return -1;
        pthread_cond_wait(&r->cv, &r->mu);
    }
}

/* Hands back a computed item (under the lock): commit, or retry elsewhere, or stop the run. */
static void give(pool_run *r, int d, int item, clnas_status st)
{
    clnas_pool *p = r->p;
    const clnas_pool_job *j = r->job;
    if (st == CLNAS_OK) {
        p->done[d]++;
        if (!j->ordered) {
            if (j->commit && j->commit(j->ud, item, d)) run_fail(r, CLNAS_E_IO, "writing the results failed", "");
        } else {
            r->finished[item] = (unsigned char)(d + 1);
            while (!r->fatal && r->cursor < j->nitems && r->finished[r->cursor]) {
                int c = r->cursor++;
                if (j->commit && j->commit(j->ud, c, r->finished[c] - 1))
                    run_fail(r, CLNAS_E_IO, "writing the results failed", "");
            }
        }
    } else if (clnas_pool_device_error(st)) {
        p->dead[d] = 1;
        p->alive--;
        r->active--;
        r->retry[r->nretry++] = item;
        char msg[POOL_MSG];
        snprintf(msg, sizeof msg, "device %s failed (%s) and is dropped from the pool; %s: %s", p->label[d],
                 clnas_status_str(st), r->active ? "its item goes to another device" : "no device is left",
                 clnas_ctx_errmsg(p->ctx[d]));
        if (j->note) j->note(j->ud, msg);
        if (r->active == 0 && !r->fatal) p->failed_item = item;
        if (r->active == 0) run_fail(r, st, "every device failed; the last error: ", clnas_ctx_errmsg(p->ctx[d]));
    } else {
        if (!r->fatal) p->failed_item = item;
        run_fail(r, st, clnas_ctx_errmsg(p->ctx[d]), "");
    }
    pthread_cond_broadcast(&r->cv);
}

typedef struct worker { pool_run *r; int d; } worker;

/* Fault injection for the tests of a failing device: CLNAS_TEST_FAIL_DEVICES="I,J" makes every item
 * on the devices with global index I or J (`clnas devices`) fail as a lost device would. */
static int injected_failure(clnas_ctx *ctx)
{
    const char *v = getenv("CLNAS_TEST_FAIL_DEVICES");
    if (!v || !*v) return 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (atoi(t) == clnas_ctx_device(ctx)->index && strspn(t, "0123456789") == strlen(t)) return 1;
    return 0;
}

static clnas_status work_one(pool_run *r, int d, int item)
{
    clnas_ctx *ctx = r->p->ctx[d];
    if (injected_failure(ctx))
        return clnas_set_error(ctx, CLNAS_E_NO_DEVICE, "device lost (injected by CLNAS_TEST_FAIL_DEVICES)");
    return r->job->work(r->job->ud, ctx, d, item);
}

static void *work_loop(void *arg)
{
    worker *w = arg;
    pool_run *r = w->r;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        int item = take(r, w->d);
        if (item < 0) break;
        r->inflight++;
        pthread_mutex_unlock(&r->mu);
        clnas_status st = work_one(r, w->d, item);
        pthread_mutex_lock(&r->mu);
        r->inflight--;
        give(r, w->d, item, st);
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Starts one worker per live device (the calling thread is the last one) and joins them. */
static void run_workers(pool_run *r)
{
    clnas_pool *p = r->p;
    pthread_t tid[POOL_MAX];
    worker w[POOL_MAX];
    int started[POOL_MAX] = {0}, last = -1;
    for (int d = 0; d < p->n; d++)
        if (!p->dead[d] && !p->idle[d]) last = d;
    for (int d = 0; d < p->n; d++) {
        w[d] = (worker){r, d};
        if (p->dead[d] || p->idle[d] || d == last) continue;
        started[d] = pthread_create(&tid[d], NULL, work_loop, &w[d]) == 0;
        if (!started[d]) { /* no thread: the device sits this run out */
            pthread_mutex_lock(&r->mu);
            p->dead[d] = 1;
            p->alive--;
            r->active--;
            pthread_mutex_unlock(&r->mu);
        }
    }
    if (last >= 0) work_loop(&w[last]);
    for (int d = 0; d < p->n; d++)
        if (started[d]) pthread_join(tid[d], NULL);
}

clnas_status clnas_pool_run(clnas_pool *p, const clnas_pool_job *job, int *stopped, char *err, size_t errlen)
{
    if (stopped) *stopped = 0;
    if (job->next && job->ordered) {
        snprintf(err, errlen, "a pool job with its own item source cannot be ordered");
        return CLNAS_E_INVALID_ARG;
    }
    pool_run r = {.p = p, .job = job, .err = err, .errlen = errlen, .st = CLNAS_OK};
    for (int d = 0; d < p->n; d++) r.active += !p->dead[d] && !p->idle[d];
    if (r.active == 0) {
        snprintf(err, errlen, "no device is left in the pool");
        return CLNAS_E_NO_DEVICE;
    }
    r.retry = malloc((size_t)(p->n + 1) * sizeof *r.retry);
    r.finished = calloc((size_t)job->nitems + 1, 1);
    if (!r.retry || !r.finished) {
        free(r.retry);
        free(r.finished);
        snprintf(err, errlen, "out of host memory");
        return CLNAS_E_NOMEM;
    }
    memset(p->done, 0, sizeof p->done);
    p->failed_item = -1;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    run_workers(&r);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    int halted = !r.fatal && job->stop && *job->stop;
    if (stopped) *stopped = halted;
    if (!r.fatal && !halted && (r.nretry > 0 || (job->ordered && r.cursor < job->nitems))) {
        snprintf(err, errlen, "items are left and no device can take them");
        r.st = CLNAS_E_NO_DEVICE;
    }
    free(r.retry);
    free(r.finished);
    return r.st;
}
