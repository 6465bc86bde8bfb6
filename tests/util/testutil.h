/* testutil.h - helpers shared by the Criterion tests: a context fixture that fails loudly
 * when no OpenCL device exists, random fills, float/double transfers, comparison against a
 * double reference, and a central finite-difference gradient check. */
#ifndef CLNAS_TESTUTIL_H
#define CLNAS_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>
#include "internal.h"
#include "ops/ops.h"

/* A context on $CLNAS_TEST_DEVICE (else the default device). Fails the test, naming what
 * is missing, when no device can be opened. Cached per process; freed at exit. */
clnas_ctx *tu_ctx(void);

/* Deterministic uniform fill in [lo, hi). */
void tu_fill(double *d, size_t n, uint64_t seed, double lo, double hi);
/* Rounds doubles to float precision in place, so host reference and device see the same inputs. */
void tu_round_to_float(double *d, size_t n);

/* n zeroed doubles (at least one), failing the test when out of host memory; free() them. */
double *tu_dalloc(size_t n);
/* tu_fill, then tu_round_to_float: random inputs the device sees exactly. */
void tu_fill_rounded(double *d, size_t n, uint64_t seed, double lo, double hi);
/* The device tensor at float offset off of buffer m. */
clnas_dt tu_dt(cl_mem m, size_t off);

/* Uploads n doubles (as floats) into a new buffer; the test releases it with clnas_buf_free. */
cl_mem tu_upload(clnas_ctx *ctx, const double *h, size_t n);
/* A new buffer of off + n + 3 floats, all `sentinel` except h[0..n) at float offset off (h NULL:
 * sentinel there too): writes outside a tensor, or reads of what was never written, show. */
cl_mem tu_put(clnas_ctx *ctx, const double *h, size_t n, size_t off, double sentinel);
/* Uploads into an existing buffer at float offset off. */
void tu_write(clnas_ctx *ctx, cl_mem m, size_t off, const double *h, size_t n);
/* Downloads n floats from float offset off into doubles. */
void tu_read(clnas_ctx *ctx, cl_mem m, size_t off, size_t n, double *out);

/* Error of got against ref relative to the reference's scale:
 *   max_i |got_i - ref_i| / max(max_i |ref_i|, 1e-30).
 * Any NaN/inf in got where ref is finite counts as an infinite error. */
double tu_rel_err(const double *got, const double *ref, size_t n);
/* cr_assert-style check with a message that names `what` and the worst index. */
void tu_expect_close(const char *what, const double *got, const double *ref, size_t n, double tol);

/* Central finite-difference check of a directional derivative.
 * f(ud, in, out) computes out[0..nout) from in[0..nin) in double.
 * Checks d/d in_i of L(in) = sum_j w_j out_j against grad[i] for every i (or, when nin is
 * large, `max_checks` evenly spaced indices). Returns the worst relative error
 * |fd - g| / max(|fd|, |g|, scale) where scale = max |grad|. */
typedef void (*tu_fn)(void *ud, const double *in, double *out);
double tu_gradcheck(tu_fn f, void *ud, double *in, size_t nin, size_t nout, const double *w,
                    const double *grad, double h, size_t max_checks);

/* ---- processes and files ---- */
/* Runs cmd through the shell (the caller adds any redirection, e.g. " 2>&1"); returns the exit
 * status (128+signal when killed, -1 if it could not be waited for) and stdout as a malloc'd
 * string in *out. */
int tu_run(const char *cmd, char **out);
/* Makes a fresh directory /tmp/<name>_XXXXXX into buf. */
void tu_mkdtemp(char *buf, size_t len, const char *name);
/* Removes a directory tree (best effort). */
void tu_rmrf(const char *dir);
/* Writes text to path, failing the test when it cannot. */
void tu_write_file(const char *path, const char *text);
/* clnas_gemm (alpha 1.25, beta -0.5, operands at offsets inside padded buffers) against
 * clnas_gemm_ref on random data; the whole C buffer is compared (writes outside caught). */
void tu_check_gemm(clnas_ctx *ctx, int ta, int tb, size_t m, size_t n, size_t k, uint64_t seed, double tol);

#endif
