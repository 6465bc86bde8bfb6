/* conv.c - 2-D convolution (PyTorch Conv2d: no bias, groups 1, dilation 1, zero padding):
 * the double host reference and the OpenCL forward / backward dispatch (cl/conv_fast.cl,
 * falling back to cl/conv.cl).
 *
 * Specialised path (cl/conv_fast.cl; fast_config says which shapes): stride-1 "same"
 * convolutions (K = 1 pad 0, K = 3 pad 1) with widths that are multiples of 8, and K = 3
 * pad 1 stride 2 with even heights and widths that are multiples of 16 - every convolution
 * of the NB201 / TE-NAS networks at 32..8 px. One program per shape: channels, image size,
 * K, stride and the blockings below are build options (the program cache makes that a
 * one-time compile per shape). Work-items compute 8 consecutive outputs of a row as one
 * float8, which PoCL turns into SIMD where it never vectorizes the generic kernels:
 * - fwd / bwd_data: RB output rows x 8 columns x OB output channels per work-item (RB*OB
 *   float8 sums); the stride-1 backward-data is the forward of dy with the flipped,
 *   transposed weights over S*N images; the stride-2 one interleaves even / odd columns.
 * - bwd_weight: QB dy rows (s, co) x IB input channels x K*K taps of float8 sums per
 *   work-item over a part of the N*hout output rows; parts go to the workspace and
 *   conv_fast_wreduce adds them in a fixed order (deterministic; no atomics).
 * Vector width (clnas_conv_vector_width): on a CPU-shaped device that prefers 16-float vectors
 * (PoCL on AVX-512) rows whose width is a multiple of 16 take float16 in every kernel, and the
 * 8-wide rows' weight gradient takes two rows per float16 (WPAIR); elsewhere float8.
 * `clnas bench --shapes`, 2-core AVX-512 Xeon, PoCL, batch 72, 8 seeds, same session:
 * 6->6 16x16 K=3 fwd / data / weight 72 / 81 / 52 -> 147 / 167 / 92 GFLOP/s, and the weight
 * 114-141 with 2 dy rows per item (CONV_FAST_WQB3_WIDE); 12->12 8x8 weight 55 -> 109-128;
 * all convolutions of a supernet kappa 0.73 s -> 0.47 s. $CLNAS_CONV_VW=8 or 16 overrides.
 * Zero padding comes from guarded loads of the row neighbours: no padded copies.
 * bwd_weight takes this path with the CPU-shaped kernel variant only (clnas_cpu_shaped): its
 * float8 sums per work-item would spill registers on a GPU, where the generic kernel's small
 * per-item footprint and local-memory tree fit (`clnas tune` measures which variant wins).
 *
 * Generic path (cl/conv.cl), every other shape:
 * - conv_fwd: one work-item per output element, loops over (kh, kw, ci).
 * - conv_bwd_data: one work-item per (pixel, block of CONV_CB input channels): a gather over
 *   (kh, kw, co) whose dy loads the block shares; no atomics. The S seeds are folded into
 *   the batch (dy, dx are [S][N][...], w is shared): one launch.
 * - conv_bwd_weight: one work-group of L work-items per (part, ci, block of CONV_QB dy rows
 *   q = s*cout + co); each work-item takes output pixels lid, lid+L, ... and loops over the
 *   part's samples keeping CONV_QB*K*K sums in registers (the rows share every x tap), then
 *   a local-memory tree combines the group. When there are few groups and a long
 *   reduction, the samples are cut into P parts whose sums go to the workspace and
 *   conv_bwd_weight_reduce adds them (fixed order); otherwise (P = 1) the groups write dw
 *   directly. All seeds in one launch.
 * The kernel size and the two block sizes are build options (-DK=k -DCB=.. -DQB=..: one
 * program per k, 1 and 3 in clnas); every other shape is an int argument, so new shapes
 * never trigger a compilation.
 * On PoCL (CPU) the work-item loops of these kernels are not vectorized across work-items;
 * the blocking (CB, QB) pays by sharing loads and index math among scalar FMAs. CB = 4 and
 * QB = 2 measured best of {1,2,4,8} and {1,2,3,4} on the 2-core PoCL device. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/ops.h"

#define CONV_FILE "conv.cl"
#define CONV_MAX_K 11          /* registers/unrolling: K*K accumulators per work-item */
#define CONV_LWS 64            /* work-group size of the elementwise kernels (upper bound) */
#define CONV_CB 4              /* input channels per conv_bwd_data work-item */
#define CONV_QB 2              /* dy rows (seed, cout) per conv_bwd_weight work-group */
#define CONV_WG_LWS 64         /* work-group size of conv_bwd_weight (power of two, upper bound) */
#define CONV_WG_TARGET_GROUPS 512 /* split the weight reduction until about this many groups... */
#define CONV_WG_MIN_CHUNK 512     /* ...but never into parts shorter than this */

#define CONV_FAST_FILE "conv_fast.cl"
#define CONV_FAST_MAX_C 1024       /* channel counts the specialised kernels accept */
#define CONV_FAST_OB 16            /* output channels (float8 sums) per fwd / bwd_data work-item, at most */
#define CONV_FAST_RB 4             /* output rows per fwd / bwd_data work-item, at most (power of 2) */
#define CONV_FAST_ACC 16           /* rows x channels float8 sums per fwd / bwd_data work-item, at most */
#define CONV_FAST_WIB3 1           /* input channels per bwd_weight work-item, K = 3 (9 float8 sums each) */
#define CONV_FAST_WQB3 3           /* dy rows per bwd_weight work-item, K = 3 */
#define CONV_FAST_WQB3_WIDE 2      /* ... with 16-float vectors (fast_config's wide) */
#define CONV_FAST_WIB1 4           /* ... K = 1 */
#define CONV_FAST_WQB1 4
#define CONV_FAST_WTARGET 256      /* split the weight reduction until about this many work-items... */
#define CONV_FAST_WMIN_ROWS 16     /* ...but never into parts of fewer image rows than this */
#define CONV_FAST_WPART_BYTES (512u * 1024u) /* x + dy rows of one weight-reduction part, at most */
#define CONV_FAST_LWS 16           /* work-group size cap of the specialised kernels (CPU shape) */
#define CONV_FAST_GPU_LWS 64       /* the same for the GPU shape: two NVIDIA warps, one AMD wavefront */
/* ---------------- shape ---------------- */

static int out_extent(int in, int k, int stride, int pad)
{
    if (k < 1 || stride < 1 || pad < 0) return 0;
    long num = (long)in + 2L * pad - k;
    if (num < 0) return 0;
    long r = num / stride + 1;
    return r > INT_MAX ? 0 : (int)r;
}

void clnas_conv_shape_init(clnas_conv_shape *s, int n, int cin, int h, int w, int cout, int k,
                           int stride, int pad)
{
    s->n = n;
    s->cin = cin;
    s->h = h;
    s->w = w;
    s->cout = cout;
    s->k = k;
    s->stride = stride;
    s->pad = pad;
    s->hout = out_extent(h, k, stride, pad);
    s->wout = out_extent(w, k, stride, pad);
    s->ycs = cout;
}

/* ---------------- host reference (one seed, double accumulation) ---------------- */

void clnas_conv_fwd_ref(const clnas_conv_shape *s, const double *x, const double *w, double *y)
{
    const int K = s->k, H = s->h, W = s->w, HO = s->hout, WO = s->wout;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++)
            for (int oh = 0; oh < HO; oh++)
                for (int ow = 0; ow < WO; ow++) {
                    double acc = 0;
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int kh = 0; kh < K; kh++) {
                            int ih = oh * s->stride - s->pad + kh;
                            if (ih < 0 || ih >= H) continue;
                            for (int kw = 0; kw < K; kw++) {
                                int iw = ow * s->stride - s->pad + kw;
                                if (iw < 0 || iw >= W) continue;
                                acc += w[(((size_t)co * s->cin + ci) * K + kh) * K + kw] *
                                       x[(((size_t)n * s->cin + ci) * H + ih) * W + iw];
                            }
                        }
                    y[(((size_t)n * s->cout + co) * HO + oh) * WO + ow] = acc;
                }
}

void clnas_conv_bwd_data_ref(const clnas_conv_shape *s, const double *w, const double *dy,
                             double *dx)
{
    const int K = s->k, H = s->h, W = s->w, HO = s->hout, WO = s->wout;
    for (int n = 0; n < s->n; n++)
        for (int co = 0; co < s->cout; co++)
            for (int oh = 0; oh < HO; oh++)
                for (int ow = 0; ow < WO; ow++) {
                    const double g = dy[(((size_t)n * s->cout + co) * HO + oh) * WO + ow];
                    for (int ci = 0; ci < s->cin; ci++)
                        for (int kh = 0; kh < K; kh++) {
                            int ih = oh * s->stride - s->pad + kh;
                            if (ih < 0 || ih >= H) continue;
                            for (int kw = 0; kw < K; kw++) {
                                int iw = ow * s->stride - s->pad + kw;
                                if (iw < 0 || iw >= W) continue;
                                dx[(((size_t)n * s->cin + ci) * H + ih) * W + iw] +=
                                    w[(((size_t)co * s->cin + ci) * K + kh) * K + kw] * g;
                            }
                        }
                }
}

void clnas_conv_bwd_weight_ref(const clnas_conv_shape *s, const double *x, const double *dy,
                               double *dw)
{
    const int K = s->k, H = s->h, W = s->w, HO = s->hout, WO = s->wout;
    for (int co = 0; co < s->cout; co++)
        for (int ci = 0; ci < s->cin; ci++)
            for (int kh = 0; kh < K; kh++)
                for (int kw = 0; kw < K; kw++) {
                    double acc = 0;
                    for (int n = 0; n < s->n; n++)
                        for (int oh = 0; oh < HO; oh++) {
                            int ih = oh * s->stride - s->pad + kh;
                            if (ih < 0 || ih >= H) continue;
                            for (int ow = 0; ow < WO; ow++) {
                                int iw = ow * s->stride - s->pad + kw;
                                if (iw < 0 || iw >= W) continue;
                                acc += dy[(((size_t)n * s->cout + co) * HO + oh) * WO + ow] *
                                       x[(((size_t)n * s->cin + ci) * H + ih) * W + iw];
                            }
                        }
                    dw[(((size_t)co * s->cin + ci) * K + kh) * K + kw] = acc;
                }
}

/* ---------------- OpenCL ---------------- */

static int shape_ok(const clnas_conv_shape *s)
{
    return s && s->n >= 1 && s->cin >= 1 && s->h >= 1 && s->w >= 1 && s->cout >= 1 &&
           s->k >= 1 && s->k <= CONV_MAX_K && s->stride >= 1 && s->pad >= 0 &&
           s->hout >= 1 && s->wout >= 1 && s->hout == out_extent(s->h, s->k, s->stride, s->pad) &&
           s->wout == out_extent(s->w, s->k, s->stride, s->pad) && s->ycs >= s->cout;
}

static clnas_status check_shape(clnas_ctx *ctx, const clnas_conv_shape *s, const char *fn)
{
    if (!s) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: NULL shape", fn);
    if (!shape_ok(s))
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: bad convolution shape n=%d cin=%d h=%d w=%d cout=%d k=%d "
                               "stride=%d pad=%d -> hout=%d wout=%d (need positive sizes, "
                               "1 <= k <= %d, stride >= 1, pad >= 0, h+2*pad >= k and w+2*pad >= k, "
                               "hout/wout as clnas_conv_shape_init derives them)",
                               fn, s->n, s->cin, s->h, s->w, s->cout, s->k, s->stride, s->pad,
                               s->hout, s->wout, CONV_MAX_K);
    return CLNAS_OK;
}

static size_t x_count(const clnas_conv_shape *s)
{
    return (size_t)s->n * s->cin * s->h * s->w;
}
static size_t y_count(const clnas_conv_shape *s)
{
    return (size_t)s->n * s->cout * s->hout * s->wout;
}
/* Floats spanned by nb samples of y / dy (more than nb samples' worth for a channel slice). */
static size_t y_span(const clnas_conv_shape *s, size_t nb)
{
    return ((nb - 1) * (size_t)s->ycs + (size_t)s->cout) * s->hout * s->wout;
}
static size_t w_count(const clnas_conv_shape *s)
{
    return (size_t)s->cout * s->cin * s->k * s->k;
}

static clnas_status get_kernel(clnas_ctx *ctx, int k, const char *name, cl_kernel *out)
{
    char defs[64];
    snprintf(defs, sizeof defs, "-DK=%d -DCB=%d -DQB=%d", k, CONV_CB, CONV_QB);
    return clnas_kernel_get(ctx, CONV_FILE, defs, name, out);
}

/* The largest power of two <= min(cap, what the device allows for this kernel). */
static clnas_status pick_lws(clnas_ctx *ctx, cl_kernel k, size_t cap, size_t *out)
{
    size_t kwg = 0;
    CL_CHECK(ctx, clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kwg,
                                           &kwg, NULL));
    if (ctx->info.max_work_group && ctx->info.max_work_group < kwg) kwg = ctx->info.max_work_group;
    if (kwg < cap) cap = kwg;
    size_t l = 1;
    while (l * 2 <= cap) l *= 2;
    *out = l;
    return CLNAS_OK;
}

static clnas_status check_mem(clnas_ctx *ctx, const char *fn, const char *what, clnas_dt t,
                              size_t count)
{
    if (!t.m) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "%s: %s buffer is NULL", fn, what);
    if (!clnas_fits_int(t.off, count))
        return clnas_set_error(ctx, CLNAS_E_SHAPE,
                               "%s: %s (offset %zu + %zu floats) exceeds the int index range", fn,
                               what, t.off, count);
    return CLNAS_OK;
}

/* ---------------- the specialised path (cl/conv_fast.cl) ---------------- */

/* Blocking of one shape on the specialised path; ok = 0 when the shape must take conv.cl. */
typedef struct fast_cfg {
    int ok;
    int obf, obb, ibw, qbw; /* COB_F, COB_B, CIB_W, QB_W of conv_fast.cl */
    int rbf, rbb;           /* RB_F, RB_B */
    int vw;                 /* CV_VW: outputs of a row per vector, 8 or 16 (set per device) */
    int wpair;              /* WPAIR: the weight gradient takes two 8-wide rows per vector */
} fast_cfg;

static int largest_divisor_le(int n, int cap)
{
    for (int d = cap < n ? cap : n; d > 1; d--)
        if (n % d == 0) return d;
    return 1;
}

/* Output rows per fwd / bwd_data work-item: as many as divide the height while the
 * rows x channels float8 sums stay within CONV_FAST_ACC (registers). */
static int rows_per_item(int h, int ob)
{
    int rb = CONV_FAST_RB;
    while (rb > 1 && (h % rb || rb * ob > CONV_FAST_ACC)) rb /= 2;
    return rb;
}

/* Stride-1 "same" convolutions (K = 1 pad 0, K = 3 pad 1) over rows that are whole 8-float
 * vectors, and K = 3 pad 1 stride 2 over even heights and widths that are whole 16-float
 * vectors (output rows of whole 8-float vectors). wide = 1: the 16-float blocking: float16
 * where output rows are whole float16s (stride 2: width % 32; its backward-data stays 8 wide),
 * two 8-wide rows per vector in the weight gradient, and then 2 dy rows per weight work-item
 * at K = 3: 18 float16 sums, which fit AVX-512's 32 registers with the taps, where 27 spill). The device picks wide (fast_config_dev); the workspace size covers
 * both (ws_need). */
static fast_cfg fast_config(const clnas_conv_shape *s, int wide)
{
    fast_cfg c = {0, 1, 1, 1, 1, 1, 1, 8, 0};
    if (s->ycs != s->cout) return c; /* an output slice: the generic kernels take its stride */
    if (s->stride == 1) {
        if (!((s->k == 1 && s->pad == 0) || (s->k == 3 && s->pad == 1))) return c;
        if (s->w % 8 != 0 || s->hout != s->h || s->wout != s->w) return c;
    } else if (s->stride == 2) {
        if (s->k != 3 || s->pad != 1 || s->w % 16 != 0 || s->h % 2 != 0) return c;
        if (s->hout != s->h / 2 || s->wout != s->w / 2) return c;
    } else {
        return c;
    }
    if (s->cin > CONV_FAST_MAX_C || s->cout > CONV_FAST_MAX_C) return c;
    c.ok = 1;
    c.obf = largest_divisor_le(s->cout, CONV_FAST_OB);
    c.obb = largest_divisor_le(s->cin, CONV_FAST_OB);
    c.ibw = largest_divisor_le(s->cin, s->k == 1 ? CONV_FAST_WIB1 : CONV_FAST_WIB3);
    c.qbw = s->k == 1 ? CONV_FAST_WQB1 : CONV_FAST_WQB3;
    c.rbf = rows_per_item(s->hout, c.obf);
    c.rbb = s->stride == 1 ? rows_per_item(s->h, c.obb) : 1;
    if (wide) {
        if (s->w % (16 * s->stride) == 0) c.vw = 16;
        if (s->stride == 1 && s->w == 8) c.wpair = 1;
        if ((c.vw == 16 || c.wpair) && s->k == 3) c.qbw = CONV_FAST_WQB3_WIDE;
    }
    return c;
}

/* fast_config with the device's vector width (clnas_conv_vector_width). */
static fast_cfg fast_config_dev(clnas_ctx *ctx, const clnas_conv_shape *s)
{
    return fast_config(s, clnas_conv_vector_width(ctx, NULL) == 16);
}

static clnas_status fast_kernel(clnas_ctx *ctx, const clnas_conv_shape *s, const fast_cfg *c,
                                const char *name, cl_kernel *out)
{
    char defs[208];
    snprintf(defs, sizeof defs,
             "-DCV_CIN=%d -DCV_COUT=%d -DCV_H=%d -DCV_W=%d -DCV_K=%d -DCV_S=%d -DCOB_F=%d "
             "-DCOB_B=%d -DCIB_W=%d -DQB_W=%d -DRB_F=%d -DRB_B=%d -DCV_VW=%d -DWPAIR=%d",
             s->cin, s->cout, s->h, s->w, s->k, s->stride, c->obf, c->obb, c->ibw, c->qbw, c->rbf,
             c->rbb, c->vw, c->wpair);
    return clnas_kernel_get(ctx, CONV_FAST_FILE, defs, name, out);
}

/* Work-group size cap of the specialised kernels: PoCL runs a group's items as one loop, so small
 * groups balance best there; GPUs want whole warps / wavefronts. */
static size_t fast_lws_cap(const clnas_ctx *ctx) { return clnas_cpu_shaped(ctx) ? CONV_FAST_LWS : CONV_FAST_GPU_LWS; }

/* The largest power of two <= cap that divides gws and the device allows for k. */
static clnas_status pick_div_lws(clnas_ctx *ctx, cl_kernel k, size_t gws, size_t cap, size_t *out)
{
    size_t l;
    clnas_status st = pick_lws(ctx, k, cap, &l);
    if (st != CLNAS_OK) return st;
    while (l > 1 && gws % l) l /= 2;
    *out = l;
    return CLNAS_OK;
}

/* conv_fast_fwd (trans = 0) or conv_fast_bwd_data (trans = 1) over nb images. */
static clnas_status fast_rows(clnas_ctx *ctx, const clnas_conv_shape *s, const fast_cfg *c,
                              int trans, int nb, clnas_dt in, clnas_dt w, clnas_dt out,
                              clnas_dt mask, int accumulate)
{
    cl_kernel k;
    clnas_status st = fast_kernel(ctx, s, c, trans ? "conv_fast_bwd_data" : "conv_fast_fwd", &k);
    if (st != CLNAS_OK) return st;
    if (trans)
        st = clnas_kernel_args(ctx, k, "mimimiimiiii", in.m, (int)in.off, w.m, (int)w.off, out.m,
                               (int)out.off, nb, mask.m ? mask.m : out.m, (int)mask.off, s->n,
                               mask.m != NULL, accumulate ? 1 : 0);
    else
        st = clnas_kernel_args(ctx, k, "mimimii", in.m, (int)in.off, w.m, (int)w.off, out.m,
                               (int)out.off, nb);
    if (st != CLNAS_OK) return st;
    /* one work-item per 8 outputs of RB rows (16 dx columns of a row for the stride-2 backward) */
    const int oc = trans ? s->cin : s->cout, ob = trans ? c->obb : c->obf;
    const int rows = trans ? s->h / c->rbb : s->hout / c->rbf, cols = trans ? s->w : s->wout;
    const int vw = trans && s->stride == 2 ? 8 : c->vw; /* the stride-2 backward-data is 8 dy columns wide */
    size_t gws = (size_t)nb * (size_t)(oc / ob) * rows * (size_t)(cols / (vw * (trans ? s->stride : 1))), lws;
    if ((st = pick_div_lws(ctx, k, gws, fast_lws_cap(ctx), &lws)) != CLNAS_OK) return st;
    return clnas_launch(ctx, k, 1, &gws, &lws);
}

/* Parts of the specialised weight reduction (output rows per part in *rpp): enough parts
 * for CONV_FAST_WTARGET work-items, and parts whose x and dy rows fit CONV_FAST_WPART_BYTES
 * (the work-items of a part run together and share them in cache), but never parts shorter
 * than CONV_FAST_WMIN_ROWS rows, nor more partial sums than half the floats the kernel
 * reads (the workspace and the second pass stay small). */
static int fast_wparts(const clnas_conv_shape *s, const fast_cfg *c, int S, int *rpp)
{
    const size_t rows = (size_t)s->n * s->hout;
    const size_t base = ((size_t)S * s->cout + c->qbw - 1) / c->qbw * (size_t)(s->cin / c->ibw);
    size_t P = (CONV_FAST_WTARGET + base - 1) / base;
    const size_t row_bytes = ((size_t)s->cin * s->stride * s->w + (size_t)S * s->cout * s->wout) *
                             sizeof(float);
    size_t cache_rows = CONV_FAST_WPART_BYTES / row_bytes;
    if (cache_rows < 1) cache_rows = 1;
    const size_t pc = (rows + cache_rows - 1) / cache_rows;
    if (P < pc) P = pc;
    size_t pmax = (rows + CONV_FAST_WMIN_ROWS - 1) / CONV_FAST_WMIN_ROWS;
    const size_t pws = (x_count(s) + (size_t)S * y_count(s)) / 2 / ((size_t)S * w_count(s));
    if (pmax > pws) pmax = pws;
    if (P > pmax) P = pmax;
    if (P < 1) P = 1;
    size_t r = (rows + P - 1) / P;
    if (s->stride == 1 && s->w == 8) r += r & 1; /* whole row pairs (WPAIR; shape only) */
    P = (rows + r - 1) / r; /* no empty part */
    *rpp = (int)r;
    return (int)P;
}

clnas_status clnas_conv_fwd(clnas_ctx *ctx, const clnas_conv_shape *s, clnas_dt x, clnas_dt w,
                            clnas_dt y)
{
    static const char fn[] = "clnas_conv_fwd";
    clnas_status st = check_shape(ctx, s, fn);
    if (st != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "x", x, x_count(s))) != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "w", w, w_count(s))) != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "y", y, y_span(s, (size_t)s->n))) != CLNAS_OK) return st;
    const fast_cfg fc = fast_config_dev(ctx, s);
    if (fc.ok) return fast_rows(ctx, s, &fc, 0, s->n, x, w, y, (clnas_dt){NULL, 0}, 0);
    cl_kernel k;
    if ((st = get_kernel(ctx, s->k, "conv_fwd", &k)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiii", x.m, (int)x.off, w.m, (int)w.off, y.m,
                           (int)y.off, s->n, s->cin, s->h, s->w, s->cout, s->stride, s->pad,
                           s->hout, s->wout, s->ycs);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = pick_lws(ctx, k, CONV_LWS, &lws)) != CLNAS_OK) return st;
    size_t gws = y_count(s);
    return clnas_launch(ctx, k, 1, &gws, &lws);
}

clnas_status clnas_conv_bwd_data(clnas_ctx *ctx, const clnas_conv_shape *s, int S, clnas_dt w,
                                 clnas_dt dy, clnas_dt dx)
{
    return clnas_conv_bwd_data_ex(ctx, s, S, w, dy, dx, 1, (clnas_dt){NULL, 0});
}

clnas_status clnas_conv_bwd_data_ex(clnas_ctx *ctx, const clnas_conv_shape *s, int S, clnas_dt w,
                                    clnas_dt dy, clnas_dt dx, int accumulate, clnas_dt relu_in)
{
    static const char fn[] = "clnas_conv_bwd_data";
    clnas_status st = check_shape(ctx, s, fn);
    if (st != CLNAS_OK) return st;
    if (S < 1) return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: seed count S=%d < 1", fn, S);
    if ((size_t)S * s->n > (size_t)INT_MAX)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: S*N too large", fn);
    if ((st = check_mem(ctx, fn, "w", w, w_count(s))) != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "dy", dy, y_span(s, (size_t)S * s->n))) != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "dx", dx, (size_t)S * x_count(s))) != CLNAS_OK) return st;
    if (relu_in.m && (st = check_mem(ctx, fn, "relu_in", relu_in, x_count(s))) != CLNAS_OK) return st;
    const fast_cfg fc = fast_config_dev(ctx, s);
    if (fc.ok) return fast_rows(ctx, s, &fc, 1, S * s->n, dy, w, dx, relu_in, accumulate);
    cl_kernel k;
    if ((st = get_kernel(ctx, s->k, "conv_bwd_data", &k)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiimiiiii", w.m, (int)w.off, dy.m, (int)dy.off, dx.m,
                           (int)dx.off, S * s->n, s->cin, s->h, s->w, s->cout, s->stride, s->pad,
                           s->hout, s->wout, relu_in.m ? relu_in.m : dx.m, (int)relu_in.off, s->n,
                           relu_in.m != NULL, accumulate ? 1 : 0, s->ycs);
    if (st != CLNAS_OK) return st;
    size_t lws;
    if ((st = pick_lws(ctx, k, CONV_LWS, &lws)) != CLNAS_OK) return st;
    const size_t ncb = ((size_t)s->cin + CONV_CB - 1) / CONV_CB;
    size_t gws = (size_t)S * s->n * ncb * s->h * s->w;
    return clnas_launch(ctx, k, 1, &gws, &lws);
}

/* Number of parts the weight-gradient reduction is cut into (whole samples per part) and
 * the samples per part. Depends on the shape only, so clnas_conv_workspace_floats agrees. */
static int wgrad_parts(const clnas_conv_shape *s, int S, int *bchunk)
{
    const size_t ohw = (size_t)s->hout * s->wout;
    const size_t nqb = ((size_t)S * s->cout + CONV_QB - 1) / CONV_QB;
    const size_t base = nqb * s->cin;
    size_t P = (CONV_WG_TARGET_GROUPS + base - 1) / base;
    size_t min_b = (CONV_WG_MIN_CHUNK + ohw - 1) / ohw; /* samples per part, at least */
    size_t pmax = ((size_t)s->n + min_b - 1) / min_b;
    if (P > pmax) P = pmax;
    if (P < 1) P = 1;
    size_t c = ((size_t)s->n + P - 1) / P;
    P = ((size_t)s->n + c - 1) / c; /* no empty part */
    *bchunk = (int)c;
    return (int)P;
}

/* Scratch floats one conv_bwd_weight call with exactly S seeds uses: on a specialised shape the
 * largest of the paths (generic, specialised at either vector width), since the kernel variant
 * and width are picked at launch and may change between sizing and launch (`clnas tune` times
 * both variants on one plan). */
static size_t ws_need(const clnas_conv_shape *s, const fast_cfg *fc, int S)
{
    int chunk;
    const int Pg = wgrad_parts(s, S, &chunk);
    int Pf = 1;
    if (fc->ok) {
        const fast_cfg wide = fast_config(s, 1); /* the blocking of a 16-wide device */
        const int P8 = fast_wparts(s, fc, S, &chunk), P16 = fast_wparts(s, &wide, S, &chunk);
        Pf = P8 > P16 ? P8 : P16;
    }
    const int P = Pf > Pg ? Pf : Pg;
    return P > 1 ? (size_t)P * S * w_count(s) : 0;
}

/* The maximum over 1..S seeds: the part count is picked per seed count and P*S is not
 * monotone in S, while callers size the scratch once for their largest S and then also run
 * smaller seed batches (the last batch of the NTK). So this is nondecreasing in S. */
size_t clnas_conv_workspace_floats(const clnas_conv_shape *s, int S)
{
    if (!shape_ok(s) || S < 1) return 0;
    const fast_cfg fc = fast_config(s, 0);
    size_t m = 0;
    for (int k = 1; k <= S; k++) {
        const size_t v = ws_need(s, &fc, k);
        if (v > m) m = v;
    }
    return m;
}

static clnas_status fast_bwd_weight(clnas_ctx *ctx, const clnas_conv_shape *s, const fast_cfg *c,
                                    int S, clnas_dt x, clnas_dt dy, clnas_dt dw, size_t g_ld,
                                    clnas_dt ws)
{
    static const char fn[] = "clnas_conv_bwd_weight";
    const size_t W = w_count(s);
    int rpp;
    const int P = fast_wparts(s, c, S, &rpp);
    clnas_status st;
    if (P > 1 && (st = check_mem(ctx, fn, "ws", ws, (size_t)P * S * W)) != CLNAS_OK) return st;
    cl_kernel k;
    if ((st = fast_kernel(ctx, s, c, "conv_fast_bwd_weight", &k)) != CLNAS_OK) return st;
    clnas_dt out = P > 1 ? ws : dw;
    const int seed_ld = P > 1 ? (int)W : (int)g_ld;
    const int part_ld = P > 1 ? (int)((size_t)S * W) : 0;
    st = clnas_kernel_args(ctx, k, "mimimiiiiii", x.m, (int)x.off, dy.m, (int)dy.off, out.m,
                           (int)out.off, s->n, S, rpp, seed_ld, part_ld);
    if (st != CLNAS_OK) return st;
    size_t gws = (size_t)P * (((size_t)S * s->cout + c->qbw - 1) / c->qbw) * (size_t)(s->cin / c->ibw), lws;
    if ((st = pick_div_lws(ctx, k, gws, fast_lws_cap(ctx), &lws)) != CLNAS_OK) return st;
    if ((st = clnas_launch(ctx, k, 1, &gws, &lws)) != CLNAS_OK) return st;
    if (P == 1) return CLNAS_OK;
    cl_kernel kr;
    if ((st = fast_kernel(ctx, s, c, "conv_fast_wreduce", &kr)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, kr, "mimiiii", ws.m, (int)ws.off, dw.m, (int)dw.off, S, P, (int)g_ld);
    if (st != CLNAS_OK) return st;
    size_t lr;
    if ((st = pick_lws(ctx, kr, CONV_LWS, &lr)) != CLNAS_OK) return st;
    size_t gr = (size_t)S * W;
    return clnas_launch(ctx, kr, 1, &gr, &lr);
}

clnas_status clnas_conv_bwd_weight(clnas_ctx *ctx, const clnas_conv_shape *s, int S, clnas_dt x,
                                   clnas_dt dy, clnas_dt dw, size_t g_ld, clnas_dt ws)
{
    static const char fn[] = "clnas_conv_bwd_weight";
    clnas_status st = check_shape(ctx, s, fn);
    if (st != CLNAS_OK) return st;
    if (S < 1) return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: seed count S=%d < 1", fn, S);
    const size_t W = w_count(s);
    if (g_ld < W)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: gradient row stride g_ld=%zu < weight count %zu",
                               fn, g_ld, W);
    if (g_ld > (size_t)INT_MAX || (size_t)(S - 1) > (size_t)INT_MAX / g_ld)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: S*g_ld exceeds the int index range", fn);
    if ((st = check_mem(ctx, fn, "x", x, x_count(s))) != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "dy", dy, y_span(s, (size_t)S * s->n))) != CLNAS_OK) return st;
    if ((st = check_mem(ctx, fn, "dw", dw, (size_t)(S - 1) * g_ld + W)) != CLNAS_OK) return st;
    if ((size_t)S * s->cout > (size_t)INT_MAX / 2)
        return clnas_set_error(ctx, CLNAS_E_SHAPE, "%s: S*cout too large", fn);

    /* The specialised kernel keeps QB*IB*K*K float8 sums per work-item (216 floats for K = 3):
     * PoCL's SIMD lanes take them, a GPU would spill them. The GPU-shaped variant takes the
     * generic kernel on every shape: 64 work-items per output block of CONV_QB*K*K weights,
     * 18 floats each, combined in a local-memory tree. */
    const fast_cfg fc = fast_config_dev(ctx, s);
    if (fc.ok && clnas_cpu_shaped(ctx)) return fast_bwd_weight(ctx, s, &fc, S, x, dy, dw, g_ld, ws);

    int chunk;
    const int P = wgrad_parts(s, S, &chunk);
    if (P > 1 && (st = check_mem(ctx, fn, "ws", ws, (size_t)P * S * W)) != CLNAS_OK) return st;

    cl_kernel k;
    if ((st = get_kernel(ctx, s->k, "conv_bwd_weight", &k)) != CLNAS_OK) return st;
    size_t L;
    if ((st = pick_lws(ctx, k, CONV_WG_LWS, &L)) != CLNAS_OK) return st;
    const size_t kk = (size_t)s->k * s->k * CONV_QB;
    while (L > 1 && ctx->info.local_mem_bytes && L * kk * sizeof(float) > ctx->info.local_mem_bytes)
        L /= 2;
    clnas_dt out = P > 1 ? ws : dw;
    const int seed_ld = P > 1 ? (int)W : (int)g_ld;
    const int part_ld = P > 1 ? (int)((size_t)S * W) : 0;
    const int nq = S * s->cout;
    st = clnas_kernel_args(ctx, k, "mimimiiiiiiiiiiiiiiil", x.m, (int)x.off, dy.m, (int)dy.off,
                           out.m, (int)out.off, s->n, s->cin, s->h, s->w, s->cout, s->stride,
                           s->pad, s->hout, s->wout, nq, chunk, seed_ld, part_ld, s->ycs,
                           L * kk * sizeof(float));
    if (st != CLNAS_OK) return st;
    const size_t gws[3] = {(size_t)P * L, (size_t)s->cin, ((size_t)nq + CONV_QB - 1) / CONV_QB};
    const size_t lws[3] = {L, 1, 1};
    if ((st = clnas_launch(ctx, k, 3, gws, lws)) != CLNAS_OK) return st;
    if (P == 1) return CLNAS_OK;

    cl_kernel kr;
    if ((st = get_kernel(ctx, s->k, "conv_bwd_weight_reduce", &kr)) != CLNAS_OK) return st;
    st = clnas_kernel_args(ctx, kr, "mimiiiii", ws.m, (int)ws.off, dw.m, (int)dw.off, S, (int)W, P,
                           (int)g_ld);
    if (st != CLNAS_OK) return st;
    size_t lr;
    if ((st = pick_lws(ctx, kr, CONV_LWS, &lr)) != CLNAS_OK) return st;
    size_t gr = (size_t)S * W;
    return clnas_launch(ctx, kr, 1, &gr, &lr);
}
