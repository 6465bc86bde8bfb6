/* test_ops_conv.c - the convolution op: OpenCL against the double host reference over awkward
 * shapes (forward, backward-data with accumulation, backward-weight with the Jacobian row
 * stride), finite differences on the references, and shape validation.
 *
 * Few Test()s with many shapes each: Criterion forks a process per Test and each process
 * builds (or loads) the conv programs once per kernel size. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/testutil.h"

typedef struct { int n, cin, h, w, cout, k, stride, pad; } shp;

/* Batch 1, odd and non-square images, k 1 and 3, stride 1 and 2, pad 0 and 1, channel counts
 * 1, 3, 5, 13 and 64, outputs of 1x1, sizes that are multiples of no tile; the larger ones
 * (32x32, 16x16) have a reduction long enough that conv_bwd_weight splits it into parts
 * (workspace path, generic and specialised kernels), the rest take the single-part path. */
static const shp SHAPES[] = {
    {1, 1, 5, 7, 1, 3, 1, 1},   {2, 3, 5, 7, 5, 3, 2, 1},   {1, 13, 7, 5, 3, 1, 1, 0},
    {3, 5, 9, 9, 13, 3, 2, 0},  {2, 3, 3, 3, 5, 3, 1, 0},   {1, 5, 6, 8, 3, 1, 2, 0},
    {2, 13, 11, 6, 13, 3, 1, 1}, {1, 3, 4, 4, 2, 3, 2, 1},  {1, 2, 3, 3, 3, 1, 1, 1},
    {2, 1, 5, 7, 13, 1, 2, 1},  {4, 3, 32, 32, 4, 3, 1, 1}, {3, 5, 32, 31, 1, 3, 2, 1},
    {2, 64, 8, 8, 16, 3, 1, 1}, {5, 16, 8, 8, 64, 1, 2, 0},
    /* stride-1 "same" convolutions whose width is a multiple of 8 take the specialised
     * kernels (cl/conv_fast.cl): the TE-NAS cell shapes, the 1x1 after the reduction pool,
     * non-square images, unequal and prime channel counts, channel blocks (36 = 3 x 12,
     * 20 = 2 x 10, 17 and 19: blocks of 1) */
    {2, 3, 32, 32, 3, 3, 1, 1}, {3, 6, 16, 16, 6, 3, 1, 1}, {2, 12, 8, 8, 12, 1, 1, 0},
    {2, 3, 16, 16, 6, 1, 1, 0}, {2, 5, 8, 24, 7, 3, 1, 1},  {1, 20, 8, 16, 36, 3, 1, 1},
    {2, 17, 8, 8, 19, 1, 1, 0}, {1, 4, 16, 8, 2, 3, 1, 1},
    /* ... and so do K = 3 pad 1 stride 2 over even heights and widths that are multiples of
     * 16: the reduction convs (C -> 2C), a non-square one, odd channel counts, and a width of
     * 64, whose output rows are two float16s (the left neighbour of the second one is real) */
    {2, 3, 32, 32, 6, 3, 2, 1}, {2, 6, 16, 16, 12, 3, 2, 1}, {1, 5, 8, 32, 3, 3, 2, 1},
    {1, 3, 8, 64, 5, 3, 2, 1},
};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

static clnas_conv_shape mk(const shp *p)
{
    clnas_conv_shape s;
    clnas_conv_shape_init(&s, p->n, p->cin, p->h, p->w, p->cout, p->k, p->stride, p->pad);
    return s;
}

static size_t xc(const clnas_conv_shape *s) { return (size_t)s->n * s->cin * s->h * s->w; }
static size_t yc(const clnas_conv_shape *s) { return (size_t)s->n * s->cout * s->hout * s->wout; }
static size_t wc(const clnas_conv_shape *s) { return (size_t)s->cout * s->cin * s->k * s->k; }

static double *rnd(size_t n, uint64_t seed)
{
    double *d = malloc((n ? n : 1) * sizeof(double));
    cr_assert(d);
    tu_fill(d, n, seed, -1.0, 1.0);
    tu_round_to_float(d, n);
    return d;
}

static void name(char *buf, size_t n, const char *what, const clnas_conv_shape *s, int S)
{
    snprintf(buf, n, "%s n%d cin%d %dx%d cout%d k%d s%d p%d S%d", what, s->n, s->cin, s->h, s->w,
             s->cout, s->k, s->stride, s->pad, S);
}

static void check_ok(clnas_ctx *ctx, clnas_status st) { cr_assert_eq(st, CLNAS_OK, "%s", clnas_ctx_errmsg(ctx)); }

/* The specialised kernels come in two vector widths (CLNAS_CONV_VW: 8, or 16 = one AVX-512
 * register, with two 8-wide rows per vector in the weight gradient); the device picks one,
 * so every test of them runs both, whatever this machine's device would pick. The caller's
 * own CLNAS_CONV_VW is restored by vw_restore. */
static const int VWS[] = {8, 16};
#define NVW 2
static char vw_saved[16];
static int vw_had;
static void vw_set(int vw)
{
    if (!vw_saved[0] && !vw_had) {
        const char *e = getenv("CLNAS_CONV_VW");
        vw_had = e != NULL;
        snprintf(vw_saved, sizeof vw_saved, "%s", e ? e : "-");
    }
    char b[8];
    snprintf(b, sizeof b, "%d", vw);
    setenv("CLNAS_CONV_VW", b, 1);
}
static void vw_restore(void)
{
    if (vw_had) setenv("CLNAS_CONV_VW", vw_saved, 1);
    else unsetenv("CLNAS_CONV_VW");
}

/* Tolerance 1e-5 relative to max |ref|: inputs are exact floats in [-1, 1), the device sums
 * at most 64*9 = 576 (fwd, bwd_data) or 4*32*32 = 4096 (bwd_weight) products in float, whose
 * rounding error stays well below 1e-5 of the output scale (measured values are printed). */
#define TOL 1e-5

Test(conv, fwd_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    double worst = 0;
    for (int vi = 0; vi < NVW; vi++)
    for (size_t i = 0; i < NSHAPES; i++) {
        vw_set(VWS[vi]);
        clnas_conv_shape s = mk(&SHAPES[i]);
        const size_t nx = xc(&s), ny = yc(&s), nw = wc(&s);
        double *x = rnd(nx, 100 + i), *w = rnd(nw, 200 + i), *ref = malloc(ny * sizeof(double)),
               *got = malloc(ny * sizeof(double));
        clnas_conv_fwd_ref(&s, x, w, ref);
        /* all tensors at odd offsets inside one buffer */
        const size_t ox = 3, ow = ox + nx + 5, oy = ow + nw + 7;
        cl_mem buf = NULL;
        check_ok(ctx, clnas_buf_alloc(ctx, (oy + ny + 11) * sizeof(float), &buf));
        check_ok(ctx, clnas_buf_zero(ctx, buf, 0, (oy + ny + 11) * sizeof(float)));
        tu_write(ctx, buf, ox, x, nx);
        tu_write(ctx, buf, ow, w, nw);
        clnas_dt b = {buf, 0};
        check_ok(ctx, clnas_conv_fwd(ctx, &s, clnas_dt_at(b, ox), clnas_dt_at(b, ow), clnas_dt_at(b, oy)));
        tu_read(ctx, buf, oy, ny, got);
        char what[128];
        name(what, sizeof what, VWS[vi] == 8 ? "conv_fwd vw8" : "conv_fwd vw16", &s, 1);
        double e = tu_rel_err(got, ref, ny);
        if (e > worst) worst = e;
        tu_expect_close(what, got, ref, ny, TOL);
        /* the words after y are untouched */
        double tail[11];
        tu_read(ctx, buf, oy + ny, 11, tail);
        for (int j = 0; j < 11; j++) cr_expect_eq(tail[j], 0.0, "%s wrote past y", what);
        clnas_buf_free(buf);
        free(x); free(w); free(ref); free(got);
    }
    vw_restore();
    cr_log_info("conv_fwd: max relative error %.3g over %zu shapes", worst, NSHAPES);
    printf("conv_fwd: max relative error %.3g over %zu shapes\n", worst, NSHAPES);
}

Test(conv, bwd_data_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    double worst = 0;
    const int SEEDS[] = {1, 3};
    for (int vi = 0; vi < NVW; vi++)
    for (size_t i = 0; i < NSHAPES; i++)
        for (size_t si = 0; si < 2; si++) {
            vw_set(VWS[vi]);
            const int S = SEEDS[si];
            clnas_conv_shape s = mk(&SHAPES[i]);
            const size_t nx = xc(&s), ny = yc(&s), nw = wc(&s);
            double *w = rnd(nw, 300 + i), *dy = rnd((size_t)S * ny, 400 + i),
                   *dx0 = rnd((size_t)S * nx, 500 + i), *ref = malloc((size_t)S * nx * sizeof(double)),
                   *got = malloc((size_t)S * nx * sizeof(double));
            memcpy(ref, dx0, (size_t)S * nx * sizeof(double));
            for (int sd = 0; sd < S; sd++)
                clnas_conv_bwd_data_ref(&s, w, dy + (size_t)sd * ny, ref + (size_t)sd * nx);
            const size_t ow = 1, ody = ow + nw + 2, odx = ody + (size_t)S * ny + 3;
            const size_t total = odx + (size_t)S * nx + 4;
            cl_mem buf = NULL;
            check_ok(ctx, clnas_buf_alloc(ctx, total * sizeof(float), &buf));
            check_ok(ctx, clnas_buf_zero(ctx, buf, 0, total * sizeof(float)));
            tu_write(ctx, buf, ow, w, nw);
            tu_write(ctx, buf, ody, dy, (size_t)S * ny);
            tu_write(ctx, buf, odx, dx0, (size_t)S * nx); /* nonzero: the op must accumulate */
            clnas_dt b = {buf, 0};
            check_ok(ctx, clnas_conv_bwd_data(ctx, &s, S, clnas_dt_at(b, ow), clnas_dt_at(b, ody),
                                              clnas_dt_at(b, odx)));
            tu_read(ctx, buf, odx, (size_t)S * nx, got);
            char what[128];
            name(what, sizeof what, VWS[vi] == 8 ? "conv_bwd_data vw8" : "conv_bwd_data vw16", &s, S);
            double e = tu_rel_err(got, ref, (size_t)S * nx);
            if (e > worst) worst = e;
            tu_expect_close(what, got, ref, (size_t)S * nx, TOL);
            double tail[4];
            tu_read(ctx, buf, odx + (size_t)S * nx, 4, tail);
            for (int j = 0; j < 4; j++) cr_expect_eq(tail[j], 0.0, "%s wrote past dx", what);
            clnas_buf_free(buf);
            free(w); free(dy); free(dx0); free(ref); free(got);
        }
    vw_restore();
    cr_log_info("conv_bwd_data: max relative error %.3g", worst);
    printf("conv_bwd_data: max relative error %.3g\n", worst);
}

/* clnas_conv_bwd_data_ex: overwrite (dx starts as NaN, so a read shows) and the folded ReLU
 * (relu_in m shared by the seeds, with exact zeros: no gradient passes where m <= 0), against
 * the reference backward-data followed by the reference ReLU backward. */
Test(conv, bwd_data_ex_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    double worst = 0;
    const int S = 2;
    for (int vi = 0; vi < NVW; vi++)
    for (size_t i = 0; i < NSHAPES; i++)
        for (int mode = 0; mode < 3; mode++) {
            vw_set(VWS[vi]);
            const int accumulate = mode == 1, masked = mode > 0;
            clnas_conv_shape s = mk(&SHAPES[i]);
            const size_t nx = xc(&s), ny = yc(&s), nw = wc(&s);
            double *w = rnd(nw, 300 + i), *dy = rnd((size_t)S * ny, 400 + i), *m = rnd(nx, 700 + i),
                   *dx0 = rnd((size_t)S * nx, 500 + i), *tmp = calloc((size_t)S * nx, sizeof(double)),
                   *ref = malloc((size_t)S * nx * sizeof(double)), *got = malloc((size_t)S * nx * sizeof(double));
            for (size_t j = 0; j < nx; j += 5) m[j] = 0.0; /* the kink: no gradient */
            for (int sd = 0; sd < S; sd++)
                clnas_conv_bwd_data_ref(&s, w, dy + (size_t)sd * ny, tmp + (size_t)sd * nx);
            for (size_t j = 0; j < (size_t)S * nx; j++) {
                ref[j] = accumulate ? dx0[j] : 0.0;
                if (!masked || m[j % nx] > 0) ref[j] += tmp[j];
                if (!accumulate) dx0[j] = NAN;
            }
            const size_t ow = 1, ody = ow + nw + 2, om = ody + (size_t)S * ny + 1, odx = om + nx + 3;
            const size_t total = odx + (size_t)S * nx + 4;
            cl_mem buf = NULL;
            check_ok(ctx, clnas_buf_alloc(ctx, total * sizeof(float), &buf));
            check_ok(ctx, clnas_buf_zero(ctx, buf, 0, total * sizeof(float)));
            tu_write(ctx, buf, ow, w, nw);
            tu_write(ctx, buf, ody, dy, (size_t)S * ny);
            tu_write(ctx, buf, om, m, nx);
            tu_write(ctx, buf, odx, dx0, (size_t)S * nx);
            clnas_dt b = {buf, 0}, none = {NULL, 0};
            check_ok(ctx, clnas_conv_bwd_data_ex(ctx, &s, S, clnas_dt_at(b, ow), clnas_dt_at(b, ody),
                                                 clnas_dt_at(b, odx), accumulate, masked ? clnas_dt_at(b, om) : none));
            tu_read(ctx, buf, odx, (size_t)S * nx, got);
            char what[168];
            name(what, sizeof what, mode == 0 ? "conv_bwd_data_ex overwrite" : mode == 1 ? "conv_bwd_data_ex relu, accumulate"
                                                                                    : "conv_bwd_data_ex relu, overwrite", &s, S);
            strcat(what, VWS[vi] == 8 ? " vw8" : " vw16");
            double e = tu_rel_err(got, ref, (size_t)S * nx);
            if (e > worst) worst = e;
            tu_expect_close(what, got, ref, (size_t)S * nx, TOL);
            double tail[4];
            tu_read(ctx, buf, odx + (size_t)S * nx, 4, tail);
            for (int j = 0; j < 4; j++) cr_expect_eq(tail[j], 0.0, "%s wrote past dx", what);
            clnas_buf_free(buf);
            free(w); free(dy); free(m); free(dx0); free(tmp); free(ref); free(got);
        }
    vw_restore();
    printf("conv_bwd_data_ex: max relative error %.3g\n", worst);
}

/* Both kernel variants (CLNAS_KERNEL_VARIANT): on the specialised shapes the CPU-shaped one runs
 * conv_fast_bwd_weight, the GPU-shaped one the generic local-memory-tree kernel; the workspace
 * size covers either. The caller's own CLNAS_KERNEL_VARIANT is restored afterwards. */
Test(conv, bwd_weight_matches_reference)
{
    clnas_ctx *ctx = tu_ctx();
    double worst = 0;
    const int SEEDS[] = {1, 3};
    int split_seen = 0, direct_seen = 0;
    const double SENT = 12345.0; /* fills the gaps between Jacobian rows; must survive */
    const char *env = getenv("CLNAS_KERNEL_VARIANT");
    char saved[32];
    snprintf(saved, sizeof saved, "%s", env ? env : "");
    for (int v = 0; v < 3; v++) /* CPU-shaped with vectors of 8, of 16; GPU-shaped */
    for (size_t i = 0; i < NSHAPES; i++)
        for (size_t si = 0; si < 2; si++) {
            setenv("CLNAS_KERNEL_VARIANT", v == 2 ? "gpu" : "cpu", 1);
            vw_set(v == 1 ? 16 : 8);
            const int S = SEEDS[si];
            clnas_conv_shape s = mk(&SHAPES[i]);
            const size_t nx = xc(&s), ny = yc(&s), nw = wc(&s);
            const size_t g_ld = nw + 5 + (size_t)(i % 3); /* row stride > weight count */
            double *x = rnd(nx, 600 + i), *dy = rnd((size_t)S * ny, 700 + i),
                   *ref = malloc((size_t)S * nw * sizeof(double)), *got = malloc(nw * sizeof(double));
            for (int sd = 0; sd < S; sd++)
                clnas_conv_bwd_weight_ref(&s, x, dy + (size_t)sd * ny, ref + (size_t)sd * nw);
            size_t nws = clnas_conv_workspace_floats(&s, S);
            if (nws) split_seen++; else direct_seen++;
            const size_t ox = 2, ody = ox + nx + 1, ows = ody + (size_t)S * ny + 3,
                         odw = ows + nws + 9, gtotal = (size_t)S * g_ld;
            const size_t total = odw + gtotal;
            cl_mem buf = NULL;
            check_ok(ctx, clnas_buf_alloc(ctx, total * sizeof(float), &buf));
            double *fill = malloc(total * sizeof(double));
            for (size_t j = 0; j < total; j++) fill[j] = SENT;
            tu_write(ctx, buf, 0, fill, total); /* dw rows start as garbage: overwritten */
            tu_write(ctx, buf, ox, x, nx);
            tu_write(ctx, buf, ody, dy, (size_t)S * ny);
            clnas_dt b = {buf, 0};
            check_ok(ctx, clnas_conv_bwd_weight(ctx, &s, S, clnas_dt_at(b, ox), clnas_dt_at(b, ody),
                                                clnas_dt_at(b, odw), g_ld, clnas_dt_at(b, ows)));
            double *all = malloc(gtotal * sizeof(double));
            tu_read(ctx, buf, odw, gtotal, all);
            char what[128];
            for (int sd = 0; sd < S; sd++) {
                memcpy(got, all + (size_t)sd * g_ld, nw * sizeof(double));
                name(what, sizeof what, "conv_bwd_weight", &s, S);
                size_t l = strlen(what);
                snprintf(what + l, sizeof what - l, " seed %d%s, %s", sd, nws ? " (split)" : "",
                         v == 2 ? "gpu-shaped" : v == 1 ? "cpu-shaped vw16" : "cpu-shaped vw8");
                double e = tu_rel_err(got, ref + (size_t)sd * nw, nw);
                if (e > worst) worst = e;
                tu_expect_close(what, got, ref + (size_t)sd * nw, nw, TOL);
                for (size_t j = nw; j < g_ld; j++)
                    cr_expect_eq(all[(size_t)sd * g_ld + j], SENT, "%s wrote into the row gap at %zu",
                                 what, j);
            }
            clnas_buf_free(buf);
            free(x); free(dy); free(ref); free(got); free(fill); free(all);
        }
    if (env) setenv("CLNAS_KERNEL_VARIANT", saved, 1);
    else unsetenv("CLNAS_KERNEL_VARIANT");
    vw_restore();
    cr_expect(split_seen > 0 && direct_seen > 0, "both reduction paths exercised (split %d, direct %d)",
              split_seen, direct_seen);
    cr_log_info("conv_bwd_weight: max relative error %.3g (split %d, direct %d)", worst, split_seen,
                direct_seen);
    printf("conv_bwd_weight: max relative error %.3g (split cases %d, direct %d)\n", worst,
           split_seen, direct_seen);
}

/* The same inputs give bitwise the same outputs run to run (no float atomics, fixed
 * reduction orders), on the specialised and the generic kernels, with split reductions. */
Test(conv, results_are_bitwise_reproducible)
{
    clnas_ctx *ctx = tu_ctx();
    const shp R[] = {{16, 3, 32, 32, 3, 3, 1, 1}, {16, 12, 8, 8, 12, 1, 1, 0}, {8, 3, 32, 32, 6, 3, 2, 1},
                    {8, 3, 32, 31, 6, 3, 2, 1}};
    const int S = 5;
    for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
        clnas_conv_shape s = mk(&R[i]);
        const size_t nx = xc(&s), ny = yc(&s), nw = wc(&s), nws = clnas_conv_workspace_floats(&s, S);
        const size_t ox = 0, ow = ox + nx, oy = ow + nw, ody = oy + ny, odx = ody + (size_t)S * ny,
                     odw = odx + (size_t)S * nx, ows = odw + (size_t)S * nw, total = ows + nws + 1;
        double *h = rnd(total, 1100 + i);
        float *first = malloc(total * sizeof(float)), *again = malloc(total * sizeof(float));
        cl_mem buf = NULL;
        check_ok(ctx, clnas_buf_alloc(ctx, total * sizeof(float), &buf));
        clnas_dt b = {buf, 0};
        for (int run = 0; run < 2; run++) {
            tu_write(ctx, buf, 0, h, total);
            check_ok(ctx, clnas_conv_fwd(ctx, &s, clnas_dt_at(b, ox), clnas_dt_at(b, ow), clnas_dt_at(b, oy)));
            check_ok(ctx, clnas_conv_bwd_data(ctx, &s, S, clnas_dt_at(b, ow), clnas_dt_at(b, ody),
                                              clnas_dt_at(b, odx)));
            check_ok(ctx, clnas_conv_bwd_weight(ctx, &s, S, clnas_dt_at(b, ox), clnas_dt_at(b, ody),
                                                clnas_dt_at(b, odw), nw, clnas_dt_at(b, ows)));
            check_ok(ctx, clnas_buf_read(ctx, buf, 0, total * sizeof(float), run ? again : first));
        }
        char what[128];
        name(what, sizeof what, "reproducible", &s, S);
        cr_expect(memcmp(first + oy, again + oy, ny * sizeof(float)) == 0, "%s: fwd differs", what);
        cr_expect(memcmp(first + odx, again + odx, (size_t)S * nx * sizeof(float)) == 0,
                  "%s: bwd_data differs", what);
        cr_expect(memcmp(first + odw, again + odw, (size_t)S * nw * sizeof(float)) == 0,
                  "%s: bwd_weight differs", what);
        clnas_buf_free(buf);
        free(h); free(first); free(again);
    }
}

/* Callers size the scratch once for their largest seed count and run smaller batches
 * with it: the workspace size must never shrink as S grows. */
Test(conv, workspace_is_nondecreasing_in_seeds)
{
    const shp W[] = {{72, 3, 32, 32, 3, 3, 1, 1},  {72, 6, 16, 16, 6, 1, 1, 0},
                     {72, 12, 8, 8, 12, 3, 1, 1},  {72, 3, 32, 32, 6, 3, 2, 1},
                     {16, 64, 8, 8, 64, 3, 1, 1},  {4, 3, 32, 32, 4, 3, 1, 1},
                     {3, 5, 32, 31, 1, 3, 2, 1},   {128, 16, 32, 32, 16, 3, 1, 1}};
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++) {
        clnas_conv_shape s = mk(&W[i]);
        size_t prev = 0;
        for (int S = 1; S <= 80; S++) {
            const size_t f = clnas_conv_workspace_floats(&s, S);
            cr_expect(f >= prev, "shape %zu: workspace %zu floats at S=%d < %zu at S=%d", i, f, S,
                      prev, S - 1);
            prev = f;
        }
    }
}

/* ---------------- finite differences on the double references ---------------- */

struct fd_ud {
    const clnas_conv_shape *s;
    const double *other; /* w when differentiating in x, x when differentiating in w */
};

static void f_of_x(void *ud, const double *in, double *out)
{
    struct fd_ud *u = ud;
    clnas_conv_fwd_ref(u->s, in, u->other, out);
}

static void f_of_w(void *ud, const double *in, double *out)
{
    struct fd_ud *u = ud;
    clnas_conv_fwd_ref(u->s, u->other, in, out);
}

Test(conv, reference_gradients_match_finite_differences)
{
    const shp FD[] = {
        {2, 3, 5, 7, 4, 3, 1, 1}, {1, 5, 7, 5, 3, 3, 2, 0}, {2, 3, 6, 5, 2, 1, 2, 1},
        {1, 2, 5, 5, 3, 3, 2, 1}, {3, 4, 4, 4, 5, 1, 1, 0},
    };
    double worst_x = 0, worst_w = 0;
    for (size_t i = 0; i < sizeof FD / sizeof FD[0]; i++) {
        clnas_conv_shape s = mk(&FD[i]);
        const size_t nx = xc(&s), ny = yc(&s), nw = wc(&s);
        double *x = rnd(nx, 800 + i), *w = rnd(nw, 900 + i), *wy = rnd(ny, 1000 + i);
        double *gx = calloc(nx, sizeof(double)), *gw = malloc(nw * sizeof(double));
        clnas_conv_bwd_data_ref(&s, w, wy, gx);
        clnas_conv_bwd_weight_ref(&s, x, wy, gw);
        struct fd_ud ux = {&s, w}, uw = {&s, x};
        double ex = tu_gradcheck(f_of_x, &ux, x, nx, ny, wy, gx, 1e-3, 0);
        double ew = tu_gradcheck(f_of_w, &uw, w, nw, ny, wy, gw, 1e-3, 0);
        char what[128];
        name(what, sizeof what, "fd", &s, 1);
        cr_expect(ex <= 1e-6, "%s: bwd_data_ref vs finite differences: %.3g", what, ex);
        cr_expect(ew <= 1e-6, "%s: bwd_weight_ref vs finite differences: %.3g", what, ew);
        if (ex > worst_x) worst_x = ex;
        if (ew > worst_w) worst_w = ew;
        free(x); free(w); free(wy); free(gx); free(gw);
    }
    printf("fd: bwd_data_ref max rel err %.3g, bwd_weight_ref max rel err %.3g\n", worst_x, worst_w);
}

/* ---------------- validation ---------------- */

Test(conv, bad_shapes_are_rejected)
{
    clnas_ctx *ctx = tu_ctx();
    cl_mem buf = NULL;
    check_ok(ctx, clnas_buf_alloc(ctx, 4096 * sizeof(float), &buf));
    clnas_dt b = {buf, 0};
    const shp BAD[] = {
        {1, 3, 5, 5, 4, 0, 1, 0},  /* k = 0 */
        {1, 3, 5, 5, 4, -1, 1, 0}, /* k < 0 */
        {1, 3, 2, 2, 4, 3, 1, 0},  /* image smaller than the kernel: hout <= 0 */
        {1, 3, 5, 5, 4, 3, 0, 1},  /* stride 0 */
        {1, 3, 5, 5, 4, 3, 1, -1}, /* negative pad */
        {0, 3, 5, 5, 4, 3, 1, 1},  /* empty batch */
        {1, 0, 5, 5, 4, 3, 1, 1},  /* no input channels */
        {1, 3, 5, 5, 0, 3, 1, 1},  /* no output channels */
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        clnas_conv_shape s = mk(&BAD[i]);
        cr_expect_eq(clnas_conv_fwd(ctx, &s, b, b, b), CLNAS_E_SHAPE, "fwd bad shape %zu", i);
        cr_expect_eq(clnas_conv_bwd_data(ctx, &s, 1, b, b, b), CLNAS_E_SHAPE, "bwd_data bad %zu", i);
        cr_expect_eq(clnas_conv_bwd_weight(ctx, &s, 1, b, b, b, 1000, b), CLNAS_E_SHAPE,
                     "bwd_weight bad %zu", i);
        cr_expect_eq(clnas_conv_workspace_floats(&s, 1), 0);
        cr_expect(strlen(clnas_ctx_errmsg(ctx)) > 0);
    }
    /* an inconsistent hand-filled shape */
    clnas_conv_shape s = mk(&(shp){1, 3, 5, 5, 4, 3, 1, 1});
    s.hout = 7;
    cr_expect_eq(clnas_conv_fwd(ctx, &s, b, b, b), CLNAS_E_SHAPE);
    /* good shape, bad seed count or row stride */
    s = mk(&(shp){1, 3, 5, 5, 4, 3, 1, 1});
    cr_expect_eq(clnas_conv_bwd_data(ctx, &s, 0, b, b, b), CLNAS_E_SHAPE);
    cr_expect_eq(clnas_conv_bwd_weight(ctx, &s, 0, b, b, b, 108, b), CLNAS_E_SHAPE);
    cr_expect_eq(clnas_conv_bwd_weight(ctx, &s, 2, b, b, b, 107, b), CLNAS_E_SHAPE,
                 "g_ld below the weight count 108");
    /* NULL buffers are an argument error, not a crash */
    clnas_dt nul = {NULL, 0};
    cr_expect_eq(clnas_conv_fwd(ctx, &s, nul, b, b), CLNAS_E_INVALID_ARG);
    cr_expect_eq(clnas_conv_fwd(ctx, NULL, b, b, b), CLNAS_E_INVALID_ARG);
    /* and the good shape still works afterwards */
    cr_expect_eq(clnas_conv_fwd(ctx, &s, b, clnas_dt_at(b, 1000), clnas_dt_at(b, 2000)), CLNAS_OK,
                 "%s", clnas_ctx_errmsg(ctx));
    cr_expect_eq(clnas_ctx_finish(ctx), CLNAS_OK);
    clnas_buf_free(buf);
}
