/* multi.c - the device pool as the commands use it: opening it, Ctrl-C, progress (multi.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli/multi.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "core/util.h"

volatile sig_atomic_t cli_stop;
static struct sigaction old_int, old_term;

static void on_stop(int sig)
{
    if (cli_stop) { /* the second one: no more waiting */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop = 1;
    static const char msg[] = "\nclnas: stopping: no new item starts; what is done is written (again to quit now)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

void cli_stop_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    cli_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

void cli_stop_restore(void)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

clnas_pool *cli_pool_open(const char *cmd, const char *devices, const char *device)
{
    clnas_pool *p = NULL;
    char err[4096] = "";
    clnas_status st = clnas_pool_create(devices, device, &p, err, sizeof err);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas %s: %s\n", cmd, st == CLNAS_E_NOMEM && !err[0] ? "out of host memory" : err);
        return NULL;
    }
    return p;
}

void cli_pool_note(void *ud, const char *msg) { fprintf(stderr, "\nclnas %s: %s\n", (const char *)ud, msg); }

void cli_pool_shares(const clnas_pool *pool, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int d = 0; d < clnas_pool_size(pool) && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, "%s%d on %s", d ? ", " : "", clnas_pool_done(pool, d),
                              clnas_pool_label(pool, d));
}

void cli_progress_init(cli_progress *pr, clnas_pool *pool, int total, const char *unit)
{
    pr->pool = pool;
    pr->total = total;
    pr->k = 0;
    pr->show = isatty(2);
    pr->t0 = clnas_now();
    pr->unit = unit;
}

void cli_progress_step(cli_progress *pr, int d)
{
    (void)d;
    pr->k++;
    if (!pr->show || pr->total <= 0) return;
    double el = clnas_now() - pr->t0, rate = pr->k / (el > 0 ? el : 1e-9);
    int bar = (int)(30.0 * pr->k / pr->total);
    fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f %s/s  ETA %.0fs", bar, "##############################", 30 - bar, "", pr->k,
            pr->total, rate, pr->unit, (pr->total - pr->k) / rate);
    if (pr->pool && clnas_pool_size(pr->pool) > 1) {
        fputs("  per device:", stderr);
        for (int i = 0; i < clnas_pool_size(pr->pool); i++) fprintf(stderr, " %d", clnas_pool_done(pr->pool, i));
    }
    fputc(' ', stderr);
}

void cli_progress_end(cli_progress *pr)
{
    if (pr->show && pr->k > 0) fputc('\n', stderr);
}
