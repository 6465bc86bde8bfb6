/* hostblas.c - the host CPU's own SGEMM rate through OpenBLAS, for `clnas bench`'s ratios
 * (a kappa's achieved rate and CLBlast's rate as fractions of what the CPU reaches with a tuned
 * BLAS). OpenBLAS is loaded at run time (dlopen of libopenblas.so.0, Debian's
 * libopenblas0-pthread), so clnas neither links against it nor changes which BLAS LAPACK uses;
 * without it the bench says so and reports no ratio. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench.h"
#include "core/util.h"
#include "internal.h"

/* CBLAS's row-major / transpose enumerators (cblas.h) */
#define CB_ROW_MAJOR 101
#define CB_NO_TRANS 111
#define CB_TRANS 112

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);
typedef char *(*oblas_str_fn)(void);
typedef int (*oblas_int_fn)(void);

static const char *const LIBS[] = {"libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.3.21.so", NULL};

int clnas_bench_host_open(clnas_bench_hostblas *h)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; LIBS[i] && !h->lib; i++) {
        h->lib = dlopen(LIBS[i], RTLD_NOW | RTLD_LOCAL);
        if (h->lib) snprintf(h->name, sizeof h->name, "%s", LIBS[i]);
    }
    if (!h->lib) {
        snprintf(h->why, sizeof h->why, "OpenBLAS not found (dlopen libopenblas.so.0: %s); install libopenblas0-pthread",
                 dlerror());
        return 0;
    }
    void *f = dlsym(h->lib, "cblas_sgemm");
    if (!f) {
        snprintf(h->why, sizeof h->why, "%s has no cblas_sgemm", h->name);
        dlclose(h->lib);
        h->lib = NULL;
        return 0;
    }
    memcpy(&h->sgemm, &f, sizeof f); /* object -> function pointer without a cast warning */
    oblas_str_fn core = NULL, cfg = NULL;
    oblas_int_fn thr = NULL;
    void *p = dlsym(h->lib, "openblas_get_corename");
    memcpy(&core, &p, sizeof p);
    p = dlsym(h->lib, "openblas_get_config");
    memcpy(&cfg, &p, sizeof p);
    p = dlsym(h->lib, "openblas_get_num_threads");
    memcpy(&thr, &p, sizeof p);
    snprintf(h->core, sizeof h->core, "%s", core ? core() : "?");
    snprintf(h->config, sizeof h->config, "%s", cfg ? cfg() : "?");
    h->threads = thr ? thr() : 0;
    const char *ct = getenv("OPENBLAS_CORETYPE");
    snprintf(h->coretype_env, sizeof h->coretype_env, "%s", ct ? ct : "");
    return 1;
}

void clnas_bench_host_close(clnas_bench_hostblas *h)
{
    if (h->lib) dlclose(h->lib);
    h->lib = NULL;
}

/* C[m x n] = A[m x k] op(B) on the host, row-major, op(B) = B^T (k-long rows) when transB; the
 * median over reps timed calls after one warm-up. Operands are filled with small values. */
clnas_status clnas_bench_host_sgemm(clnas_ctx *ctx, const clnas_bench_hostblas *h, size_t m, size_t n, size_t k,
                                    int transB, int reps, double *gflops)
{
    *gflops = -1;
    if (!h->lib) return CLNAS_OK;
    if (m > 1u << 30 || n > 1u << 30 || k > 1u << 30)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "host SGEMM %zux%zux%zu too large for CBLAS's int sizes", m, n, k);
    float *a = malloc(m * k * sizeof *a), *b = malloc(k * n * sizeof *b), *c = malloc(m * n * sizeof *c);
    double *t = calloc((size_t)reps, sizeof *t);
    clnas_status st = CLNAS_OK;
    if (!a || !b || !c || !t) {
        st = clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory for the host SGEMM %zux%zux%zu", m, n, k);
    } else {
        for (size_t i = 0; i < m * k; i++) a[i] = (float)((i * 7 % 13) - 6) / 8.0f;
        for (size_t i = 0; i < k * n; i++) b[i] = (float)((i * 5 % 11) - 5) / 8.0f;
        const int ldb = transB ? (int)k : (int)n;
        for (int r = -1; r < reps; r++) {
            double t0 = clnas_now();
            h->sgemm(CB_ROW_MAJOR, CB_NO_TRANS, transB ? CB_TRANS : CB_NO_TRANS, (int)m, (int)n, (int)k, 1.0f, a, (int)k,
                     b, ldb, 0.0f, c, (int)n);
            if (r >= 0) t[r] = clnas_now() - t0;
        }
        *gflops = 2.0 * (double)m * n * k / clnas_median(t, reps) / 1e9;
    }
    free(a);
    free(b);
    free(c);
    free(t);
    return st;
}
