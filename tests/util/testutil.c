/* testutil.c - implements testutil.h. */
#define _POSIX_C_SOURCE 200809L
#include "util/testutil.h"
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "core/rng.h"

static clnas_ctx *g_ctx;

static void release_ctx(void) { clnas_ctx_destroy(g_ctx); g_ctx = NULL; }

clnas_ctx *tu_ctx(void)
{
    if (g_ctx) return g_ctx;
    const char *dev = getenv("CLNAS_TEST_DEVICE");
    clnas_ctx *ctx = NULL;
    clnas_status st = clnas_ctx_create(dev, &ctx);
    if (st != CLNAS_OK) {
        char msg[CLNAS_ERRMSG_LEN + 64];
        snprintf(msg, sizeof msg, "no usable OpenCL device (install pocl-opencl-icd): %s",
                 ctx ? clnas_ctx_errmsg(ctx) : clnas_status_str(st));
        clnas_ctx_destroy(ctx);
        cr_assert_fail("%s", msg);
    }
    g_ctx = ctx;
    atexit(release_ctx);
    return ctx;
}

void tu_fill(double *d, size_t n, uint64_t seed, double lo, double hi)
{
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, seed, 7);
    for (size_t i = 0; i < n; i++) d[i] = clnas_pcg32_uniform(&r, lo, hi);
}

void tu_round_to_float(double *d, size_t n)
{
    for (size_t i = 0; i < n; i++) d[i] = (double)(float)d[i];
}

double *tu_dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    cr_assert(p, "out of host memory");
    return p;
}

void tu_fill_rounded(double *d, size_t n, uint64_t seed, double lo, double hi)
{
    tu_fill(d, n, seed, lo, hi);
    tu_round_to_float(d, n);
}

clnas_dt tu_dt(cl_mem m, size_t off)
{
    clnas_dt t = {m, off};
    return t;
}

cl_mem tu_upload(clnas_ctx *ctx, const double *h, size_t n)
{
    cl_mem m = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    cr_assert_eq(clnas_buf_alloc(ctx, bytes, &m), CLNAS_OK, "%s", clnas_ctx_errmsg(ctx));
    if (n) tu_write(ctx, m, 0, h, n);
    return m;
}

cl_mem tu_put(clnas_ctx *ctx, const double *h, size_t n, size_t off, double sentinel)
{
    size_t tot = off + n + 3;
    double *f = tu_dalloc(tot);
    for (size_t i = 0; i < tot; i++) f[i] = sentinel;
    if (h) memcpy(f + off, h, n * sizeof(double));
    cl_mem m = tu_upload(ctx, f, tot);
    free(f);
    return m;
}

void tu_write(clnas_ctx *ctx, cl_mem m, size_t off, const double *h, size_t n)
{
    float *f = malloc(n * sizeof(float));
    cr_assert(f);
    for (size_t i = 0; i < n; i++) f[i] = (float)h[i];
    cr_assert_eq(clnas_buf_write(ctx, m, off * sizeof(float), n * sizeof(float), f), CLNAS_OK,
                 "%s", clnas_ctx_errmsg(ctx));
    free(f);
}

void tu_read(clnas_ctx *ctx, cl_mem m, size_t off, size_t n, double *out)
{
    float *f = malloc((n ? n : 1) * sizeof(float));
    cr_assert(f);
    cr_assert_eq(clnas_buf_read(ctx, m, off * sizeof(float), n * sizeof(float), f), CLNAS_OK,
                 "%s", clnas_ctx_errmsg(ctx));
    for (size_t i = 0; i < n; i++) out[i] = f[i];
    free(f);
}

double tu_rel_err(const double *got, const double *ref, size_t n)
{
    double scale = 1e-30, worst = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) && isfinite(ref[i])) return INFINITY;
        double e = fabs(got[i] - ref[i]);
        if (e > worst) worst = e;
    }
    return worst / scale;
}

void tu_expect_close(const char *what, const double *got, const double *ref, size_t n, double tol)
{
    double scale = 1e-30, worst = -1;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        double e = (!isfinite(got[i]) && isfinite(ref[i])) ? INFINITY : fabs(got[i] - ref[i]);
        if (e > worst) { worst = e; wi = i; }
    }
    double rel = n ? worst / scale : 0;
    cr_expect(rel <= tol, "%s: relative error %.3g > %.3g (worst at [%zu]: got %.9g, ref %.9g, scale %.3g, n=%zu)",
              what, rel, tol, wi, n ? got[wi] : 0.0, n ? ref[wi] : 0.0, scale, n);
}

double tu_gradcheck(tu_fn f, void *ud, double *in, size_t nin, size_t nout, const double *w,
                    const double *grad, double h, size_t max_checks)
{
    double *out = malloc(nout * sizeof(double));
    cr_assert(out);
    double scale = 1e-30;
    for (size_t i = 0; i < nin; i++)
        if (fabs(grad[i]) > scale) scale = fabs(grad[i]);
    size_t step = 1;
    if (max_checks && nin > max_checks) step = nin / max_checks;
    double worst = 0;
    for (size_t i = 0; i < nin; i += step) {
        double keep = in[i], lp = 0, lm = 0;
        in[i] = keep + h;
        f(ud, in, out);
        for (size_t j = 0; j < nout; j++) lp += w[j] * out[j];
        in[i] = keep - h;
        f(ud, in, out);
        for (size_t j = 0; j < nout; j++) lm += w[j] * out[j];
        in[i] = keep;
        double fd = (lp - lm) / (2 * h);
        double den = fmax(fmax(fabs(fd), fabs(grad[i])), scale);
        double e = fabs(fd - grad[i]) / den;
        if (e > worst) worst = e;
    }
    free(out);
    return worst;
}

int tu_run(const char *cmd, char **out)
{
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen(%s) failed", cmd);
    size_t cap = 8192, len = 0, got;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = 0;
    int rc = pclose(p);
    *out = buf;
    if (rc == -1) return -1;
    if (WIFEXITED(rc)) return WEXITSTATUS(rc);
    return 128 + (WIFSIGNALED(rc) ? WTERMSIG(rc) : 0);
}

void tu_mkdtemp(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "/tmp/%s_XXXXXX", name);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp(%s) failed", buf);
}

void tu_rmrf(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

void tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* tu_check_gemm: Runs one C = alpha*op(A)*op(B) + beta*C on the device and on the host. Every matrix lives
 * at a nonzero offset inside a larger buffer with a padded leading dimension, and the whole
 * C buffer (padding included) is compared, so writes outside the m x n window are caught. */
void tu_check_gemm(clnas_ctx *ctx, int ta, int tb, size_t m, size_t n, size_t k, uint64_t seed, double tol)
{
    const size_t offA = 3, offB = 5, offC = 7;
    const size_t lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 3, ldc = n + 1;
    const size_t rowsA = ta ? k : m, rowsB = tb ? n : k;
    const size_t nA = offA + rowsA * lda, nB = offB + rowsB * ldb, nC = offC + m * ldc;
    double *A = malloc(nA * sizeof *A), *B = malloc(nB * sizeof *B), *C = malloc(nC * sizeof *C);
    double *got = malloc(nC * sizeof *got);
    cr_assert(A && B && C && got);
    tu_fill(A, nA, seed, -1, 1);
    tu_fill(B, nB, seed + 1, -1, 1);
    tu_fill(C, nC, seed + 2, -1, 1);
    tu_round_to_float(A, nA);
    tu_round_to_float(B, nB);
    tu_round_to_float(C, nC);
    const double alpha = 1.25, beta = -0.5;
    cl_mem dA = tu_upload(ctx, A, nA), dB = tu_upload(ctx, B, nB), dC = tu_upload(ctx, C, nC);
    clnas_status st = clnas_gemm(ctx, ta, tb, m, n, k, (float)alpha, dA, offA, lda, dB, offB, ldb,
                                 (float)beta, dC, offC, ldc);
    cr_assert_eq(st, CLNAS_OK, "clnas_gemm(%d,%d,%zu,%zu,%zu): %s", ta, tb, m, n, k, clnas_ctx_errmsg(ctx));
    tu_read(ctx, dC, 0, nC, got);
    clnas_gemm_ref(ta, tb, m, n, k, alpha, A + offA, lda, B + offB, ldb, beta, C + offC, ldc);
    char what[96];
    snprintf(what, sizeof what, "gemm transA=%d transB=%d m=%zu n=%zu k=%zu", ta, tb, m, n, k);
    tu_expect_close(what, got, C, nC, tol);
    clnas_buf_free(dA);
    clnas_buf_free(dB);
    clnas_buf_free(dC);
    free(A);
    free(B);
    free(C);
    free(got);
}
