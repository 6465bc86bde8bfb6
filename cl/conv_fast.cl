/* conv_fast.cl - shape-specialised 2-D convolution: forward, backward-data and
 * backward-weight of
 *   stride 1, "same" (K = 1 pad 0, K = 3 pad 1), width a multiple of 8, and
 *   stride 2, K = 3, pad 1, even height, width a multiple of 16 (the reduction convs).
 * src/ops/conv.c uses these when the shape fits and falls back to cl/conv.cl otherwise.
 *
 * Why: PoCL (the CPU device) does not vectorize the one-output-per-work-item kernels of
 * conv.cl across work-items. Here every work-item computes 8 (or, with CV_VW = 16, 16)
 * consecutive pixels of a row as one vector (explicit SIMD), with the shape baked in as
 * build options so every loop bound and stride is a constant. On AVX-512, float16 is one
 * register: twice the work per instruction of float8, measured 1.3-2x per kernel.
 *
 * Build options (all required):
 *   -DCV_CIN, -DCV_COUT   input / output channels of the convolution
 *   -DCV_H, -DCV_W        input height and width
 *   -DCV_K                kernel size, 1 or 3 (pad = (CV_K-1)/2)
 *   -DCV_S                stride, 1 or 2 (2 only with CV_K = 3)
 *   -DCOB_F               output channels per work-item in conv_fast_fwd (divides CV_COUT)
 *   -DCOB_B               input channels per work-item in conv_fast_bwd_data (divides CV_CIN)
 *   -DRB_F, -DRB_B        output rows per work-item in conv_fast_fwd (divides CV_H/CV_S) and
 *                         in the stride-1 conv_fast_bwd_data (divides CV_H)
 *   -DCIB_W               input channels per work-item in conv_fast_bwd_weight (divides CV_CIN)
 *   -DQB_W                dy rows (seed, output channel) per work-item in conv_fast_bwd_weight
 *   -DCV_VW               optional, 8 (default) or 16: outputs of a row per vector in every
 *                         kernel (16 = one AVX-512 register; stride 1 and CV_W % 16 == 0 only)
 *   -DWPAIR               optional, 0 (default) or 1: conv_fast_bwd_weight takes two image rows
 *                         per float16 (CV_W == 8, stride 1, CV_VW == 8 only)
 *
 * Rows are read with vload8 (vload16) plus two guarded scalar loads for the left and right
 * neighbours (zero padding without a padded copy); rows above / below the image are
 * skipped. Layouts are those of conv.cl (NCHW, int offsets in floats). All sums run in a
 * fixed order: results are bitwise reproducible. */
#if !defined(CV_CIN) || !defined(CV_COUT) || !defined(CV_H) || !defined(CV_W) || !defined(CV_K) || \
    !defined(CV_S) || !defined(COB_F) || !defined(COB_B) || !defined(CIB_W) || !defined(QB_W) || \
    !defined(RB_F) || !defined(RB_B)
#error "conv_fast.cl needs -DCV_CIN -DCV_COUT -DCV_H -DCV_W -DCV_K -DCV_S -DCOB_F -DCOB_B -DCIB_W -DQB_W -DRB_F -DRB_B"
#endif
#if CV_K != 1 && CV_K != 3
#error "conv_fast.cl supports CV_K = 1 and 3"
#endif
#if CV_S == 1
#if CV_W % 8 != 0
#error "conv_fast.cl needs CV_W % 8 == 0 at stride 1"
#endif
#elif CV_S == 2
#if CV_K != 3 || CV_W % 16 != 0 || CV_H % 2 != 0
#error "conv_fast.cl at stride 2 needs CV_K = 3, CV_W % 16 == 0 and an even CV_H"
#endif
#else
#error "conv_fast.cl supports CV_S = 1 and 2"
#endif
#ifndef CV_VW
#define CV_VW 8
#endif
#if CV_VW == 8
#define VF float8
#define VLOADV vload8
#define VSTOREV vstore8
#define VSHL(xl, t) (float8)(xl, t.s0, t.s1, t.s2, t.s3, t.s4, t.s5, t.s6)
#define VSHR(t, xr) (float8)(t.s1, t.s2, t.s3, t.s4, t.s5, t.s6, t.s7, xr)
#define VHSUM(a) hsum8(a)
#elif CV_VW == 16
#if CV_W % (16 * CV_S) != 0
#error "conv_fast.cl: CV_VW = 16 needs output rows that are whole 16-float vectors (CV_W % (16 * CV_S) == 0)"
#endif
#define VF float16
#define VLOADV vload16
#define VSTOREV vstore16
#define VSHL(xl, t) (float16)(xl, t.s0, t.s1, t.s2, t.s3, t.s4, t.s5, t.s6, t.s7, t.s8, t.s9, t.sa, t.sb, t.sc, t.sd, t.se)
#define VSHR(t, xr) (float16)(t.s1, t.s2, t.s3, t.s4, t.s5, t.s6, t.s7, t.s8, t.s9, t.sa, t.sb, t.sc, t.sd, t.se, t.sf, xr)
#define VHSUM(a) hsum8((a).lo + (a).hi)
#else
#error "conv_fast.cl supports CV_VW = 8 and 16"
#endif
/* The sum of the lanes of a float8 in a fixed order. */
inline float hsum8(const float8 a)
{
    const float4 h4 = a.lo + a.hi;
    const float2 h2 = h4.lo + h4.hi;
    return h2.x + h2.y;
}
#ifndef WPAIR
#define WPAIR 0
#endif
#if WPAIR
#if CV_W != 8 || CV_S != 1 || CV_VW != 8
#error "conv_fast.cl: WPAIR = 1 needs CV_W == 8, stride 1 and CV_VW == 8"
#endif
#define WF float16 /* the weight gradient's sums: two 8-wide rows per vector */
#define WHSUM(a) hsum8((a).lo + (a).hi)
#else
#define WF VF
#define WHSUM(a) VHSUM(a)
#endif
#define CV_PAD ((CV_K - 1) / 2)
#define CV_KK (CV_K * CV_K)
#define CV_HO (CV_H / CV_S) /* output size (exact for the shapes above) */
#define CV_WO (CV_W / CV_S)
#define CV_HW (CV_H * CV_W)
#define CV_OHW (CV_HO * CV_WO)
#define NWC (CV_WO / CV_VW) /* CV_VW-pixel output chunks per row */

/* The three horizontal taps of the input row at p = row start + CV_S*ow0 for the outputs
 * ow0 .. ow0+CV_VW-1: t_kw lane j = x[CV_S*(ow0+j) - PAD + kw], zero outside the row. For K = 1
 * only t1 is used. */
#if CV_S == 1
#define ROW_TAPS(p, ow0, t0, t1, t2)                                                        \
    do {                                                                                    \
        t1 = VLOADV(0, (p));                                                                \
        if (CV_K == 3) {                                                                    \
            const float xl_ = (ow0) > 0 ? (p)[-1] : 0.0f;                                   \
            const float xr_ = (ow0) + CV_VW < CV_W ? (p)[CV_VW] : 0.0f;                     \
            t0 = VSHL(xl_, t1);                                                             \
            t2 = VSHR(t1, xr_);                                                             \
        }                                                                                   \
    } while (0)
#elif CV_VW == 8
#define ROW_TAPS(p, ow0, t0, t1, t2)                                                        \
    do {                                                                                    \
        const float16 v_ = vload16(0, (p));                                                 \
        const float xl_ = (ow0) > 0 ? (p)[-1] : 0.0f;                                       \
        t0 = (float8)(xl_, v_.s1, v_.s3, v_.s5, v_.s7, v_.s9, v_.sb, v_.sd);                \
        t1 = v_.even;                                                                       \
        t2 = v_.odd;                                                                        \
    } while (0)
#else /* stride 2, 16 outputs from 32 input floats: t0 lane j = x[2j - 1] = t2 lane j - 1 */
#define ROW_TAPS(p, ow0, t0, t1, t2)                                                        \
    do {                                                                                    \
        const float16 a_ = vload16(0, (p)), b_ = vload16(1, (p));                           \
        const float xl_ = (ow0) > 0 ? (p)[-1] : 0.0f;                                       \
        t1 = (float16)(a_.even, b_.even);                                                   \
        t2 = (float16)(a_.odd, b_.odd);                                                     \
        t0 = VSHL(xl_, t2);                                                                 \
    } while (0)
#endif

/* RB output rows x 8 columns of a convolution with CI input and CO output channels, OB of
 * them per work-item:
 *   out[b][oc][oh][ow0..ow0+7] (=|+=) sum_{ic,kh,kw} wt(oc,ic,kh,kw) * in[b][ic][S*oh-PAD+kh][S*ow-PAD+kw]
 * for oh = oh0 .. oh0+RB-1: the S*(RB-1)+K input rows are loaded once each and feed every
 * output row they touch (RB*OB float8 sums).
 * trans = 0: the forward, wt = w[oc][ic][kh][kw].
 * trans = 1 (stride 1 only): backward-data (dx = dy convolved with the flipped, transposed
 *   weights), wt(oc,ic,kh,kw) = w[ic][oc][K-1-kh][K-1-kw].
 * The body leaves the sums in acc[r*OB + o] and ob_ pointing at out[b][oc0][oh0][ow0]; the
 * kernels store them (BWD_STOREV below for the backward).
 * NDRange 1-D, exact: gid = ((b*(CO/OB) + ob)*(CV_HO/RB) + ohb)*NWC + owc, oh0 = ohb*RB. */
#define CONV_ROWS_BODY(CI, CO, OB, RB, TRANS)                                               \
    const int gid = (int)get_global_id(0);                                                  \
    const int owc = gid % NWC;                                                              \
    int t_ = gid / NWC;                                                                     \
    const int oh0 = (t_ % (CV_HO / (RB))) * (RB);                                           \
    t_ /= CV_HO / (RB);                                                                     \
    const int ob = t_ % ((CO) / (OB));                                                      \
    const int b = t_ / ((CO) / (OB));                                                       \
    CLNAS_GUARD(b < nb);                                                                    \
    const int ow0 = owc * CV_VW;                                                            \
    const int oc0 = ob * (OB);                                                              \
    __global const float *ib = in + inoff + b * (CI) * CV_HW + CV_S * ow0;                  \
    __global const float *wb = w + woff;                                                    \
    VF acc[(RB) * (OB)];                                                                   \
    _Pragma("unroll") for (int o = 0; o < (RB) * (OB); o++) acc[o] = (VF)(0.0f);           \
    for (int ic = 0; ic < (CI); ic++) {                                                     \
        _Pragma("unroll") for (int ir = 0; ir < CV_S * ((RB) - 1) + CV_K; ir++) {           \
            const int ih = CV_S * oh0 - CV_PAD + ir;                                        \
            if (ih < 0 || ih >= CV_H) continue;                                             \
            __global const float *p = ib + ic * CV_HW + ih * CV_W;                          \
            VF t0 = (VF)(0.0f), t1, t2 = (VF)(0.0f);                                        \
            ROW_TAPS(p, ow0, t0, t1, t2);                                                   \
            _Pragma("unroll") for (int r = 0; r < (RB); r++) {                              \
                const int kh = ir - CV_S * r; /* a constant once unrolled */                \
                if (kh < 0 || kh >= CV_K) continue;                                         \
                _Pragma("unroll") for (int o = 0; o < (OB); o++) {                          \
                    const int oc = oc0 + o;                                                 \
                    VF *a = acc + r * (OB) + o;                                             \
                    if (CV_K == 1) {                                                        \
                        *a += ((TRANS) ? wb[ic * CV_CIN + oc] : wb[oc * CV_CIN + ic]) * t1; \
                    } else {                                                                \
                        __global const float *wp =                                          \
                            (TRANS) ? wb + (ic * CV_CIN + oc) * CV_KK + (CV_K - 1 - kh) * CV_K \
                                    : wb + (oc * CV_CIN + ic) * CV_KK + kh * CV_K;          \
                        *a += ((TRANS) ? wp[2] : wp[0]) * t0;                               \
                        *a += wp[1] * t1;                                                   \
                        *a += ((TRANS) ? wp[0] : wp[2]) * t2;                               \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    __global float *ob_ = out + outoff + (b * (CO) + oc0) * CV_OHW + oh0 * CV_WO + ow0;

/* conv_fast_fwd: y = conv(x, w); in = x [nb][CV_CIN][H][W], out = y [nb][CV_COUT][HO][WO].
 * Global size nb*(CV_COUT/COB_F)*(CV_HO/RB_F)*NWC (guarded). */
__kernel void conv_fast_fwd(__global const float *in, int inoff, __global const float *w, int woff,
                            __global float *out, int outoff, int nb)
{
    CONV_ROWS_BODY(CV_CIN, CV_COUT, COB_F, RB_F, 0)
#pragma unroll
    for (int r = 0; r < RB_F; r++)
#pragma unroll
        for (int o = 0; o < COB_F; o++) VSTOREV(acc[r * COB_F + o], 0, ob_ + o * CV_OHW + r * CV_WO);
}

/* Stores the vector v (type T, loaded and stored with LD / ST) of backward-data sums at dx
 * pointer d, with the options every backward-data kernel takes:
 *   accum != 0: dx += v; accum == 0: dx = v (dx is not read, so it needs no zeroing);
 *   mask_m != 0: the convolution's input was relu(m) for the forward tensor m at mask + moff
 *     ([mN][C][H][W], shared by the seeds; mofs = the element's offset in it), and the
 *     gradient goes on to m: where m <= 0 nothing is added (a select, so a non-finite v
 *     there is dropped, as in PyTorch's threshold_backward). This fuses the ReLU backward
 *     into the convolution's and saves a gradient tensor and two passes over it. */
#define BWD_STORE_T(T, LD, ST, d, v, mofs)                                                  \
    do {                                                                                    \
        const T v_ = (v);                                                                   \
        const T old_ = accum ? LD(0, (d)) : (T)(0.0f);                                      \
        if (mask_m) {                                                                       \
            const T m_ = LD(0, mask + moff + (mofs));                                       \
            ST(select(old_, old_ + v_, m_ > 0.0f), 0, (d));                                 \
        } else {                                                                            \
            ST(old_ + v_, 0, (d));                                                          \
        }                                                                                   \
    } while (0)
#define BWD_STORE16(d, v, mofs) BWD_STORE_T(float16, vload16, vstore16, d, v, mofs)
#define BWD_STOREV(d, v, mofs) BWD_STORE_T(VF, VLOADV, VSTOREV, d, v, mofs)

#if CV_S == 1
/* conv_fast_bwd_data: dx += conv(dy, flipped transposed w); in = dy [nb][CV_COUT][H][W],
 * out = dx [nb][CV_CIN][H][W] with nb = S*N (seeds folded into the batch).
 * Global size nb*(CV_CIN/COB_B)*(CV_H/RB_B)*NWC (guarded). */
__kernel void conv_fast_bwd_data(__global const float *in, int inoff, __global const float *w,
                                 int woff, __global float *out, int outoff, int nb,
                                 __global const float *mask, int moff, int mN, int mask_m, int accum)
{
    CONV_ROWS_BODY(CV_COUT, CV_CIN, COB_B, RB_B, 1)
    const int mb = (b % mN) * CV_CIN + oc0; /* the mask's (sample, channel) row */
#pragma unroll
    for (int r = 0; r < RB_B; r++)
#pragma unroll
        for (int o = 0; o < COB_B; o++) {
            const int e = o * CV_OHW + r * CV_WO;
            BWD_STOREV(ob_ + e, acc[r * COB_B + o], mb * CV_OHW + oh0 * CV_WO + ow0 + e);
        }
}
#else
/* conv_fast_bwd_data, stride 2 (K = 3, pad 1): dx[b][ci][ih][iw] += sum over (co, kh, kw)
 * with (ih+1-kh) and (iw+1-kw) even of w[co][ci][kh][kw] * dy[b][co][(ih+1-kh)/2][(iw+1-kw)/2].
 * A work-item takes 16 consecutive columns iw = 16c .. 16c+15 of one row ih for COB_B input
 * channels: the even columns 2j see dy column j through kw = 1, the odd ones 2j+1 see
 * dy columns j+1 (kw = 0) and j (kw = 2); the two halves are interleaved at the store.
 * in = dy [nb][CV_COUT][H/2][W/2], out = dx [nb][CV_CIN][H][W], nb = S*N.
 * NDRange 1-D, exact: gid = ((b*(CV_CIN/COB_B) + ob)*CV_H + ih)*NWC8 + c (NWC8 = W/16; 8 dy
 * columns per work-item whatever CV_VW is). */
__kernel void conv_fast_bwd_data(__global const float *in, int inoff, __global const float *w,
                                 int woff, __global float *out, int outoff, int nb,
                                 __global const float *mask, int moff, int mN, int mask_m, int accum)
{
    const int gid = (int)get_global_id(0);
    const int NWC8 = CV_WO / 8;
    const int c = gid % NWC8;
    int t = gid / NWC8;
    const int ih = t % CV_H;
    t /= CV_H;
    const int ob = t % (CV_CIN / COB_B);
    const int b = t / (CV_CIN / COB_B);
    CLNAS_GUARD(b < nb);
    const int ow0 = c * 8, ci0 = ob * COB_B;
    __global const float *db = in + inoff + b * CV_COUT * CV_OHW + ow0;
    __global const float *wb = w + woff + ci0 * CV_KK;
    float8 ev[COB_B], od[COB_B];
#pragma unroll
    for (int o = 0; o < COB_B; o++) ev[o] = od[o] = (float8)(0.0f);
    for (int co = 0; co < CV_COUT; co++) {
#pragma unroll
        for (int kh = 0; kh < 3; kh++) {
            const int ohs = ih + 1 - kh;
            if ((ohs & 1) || ohs < 0 || ohs / 2 >= CV_HO) continue;
            __global const float *p = db + co * CV_OHW + (ohs / 2) * CV_WO;
            const float8 d = vload8(0, p);
            const float dn = ow0 + 8 < CV_WO ? p[8] : 0.0f;
            const float8 d1 = (float8)(d.s1, d.s2, d.s3, d.s4, d.s5, d.s6, d.s7, dn);
#pragma unroll
            for (int o = 0; o < COB_B; o++) {
                __global const float *wp = wb + (co * CV_CIN + o) * CV_KK + kh * 3;
                ev[o] += wp[1] * d;
                od[o] += wp[0] * d1;
                od[o] += wp[2] * d;
            }
        }
    }
    const int pix = ih * CV_W + 2 * ow0;
    __global float *dst = out + outoff + (b * CV_CIN + ci0) * CV_HW + pix;
    const int mb = ((b % mN) * CV_CIN + ci0) * CV_HW + pix;
#pragma unroll
    for (int o = 0; o < COB_B; o++) {
        const float8 e = ev[o], q = od[o];
        const float16 v = (float16)(e.s0, q.s0, e.s1, q.s1, e.s2, q.s2, e.s3, q.s3, e.s4, q.s4,
                                    e.s5, q.s5, e.s6, q.s6, e.s7, q.s7);
        BWD_STORE16(dst + o * CV_HW, v, mb + o * CV_HW);
    }
}
#endif

/* conv_fast_bwd_weight: partial sums of
 *   dw[s][co][ci][kh][kw] = sum_{n,oh,ow} dy[s][n][co][oh][ow] * x[n][ci][S*oh-PAD+kh][S*ow-PAD+kw]
 * over the output rows r = n*CV_HO + oh in [p*rpp, min(n_img*CV_HO, (p+1)*rpp)) (part p).
 * The dy rows q = s*CV_COUT + co (nq = S*CV_COUT of them) all meet the same x, so a
 * work-item takes QB_W of them and CIB_W input channels: QB_W*CIB_W*K*K float8 sums (one
 * lane per output column mod 8), every x tap vector built once for QB_W FMAs; the lanes are
 * folded at the end in a fixed order. Rows past nq repeat row nq-1 and are never stored.
 * NDRange 1-D, exact: gid = (p*ceil(nq/QB_W) + qb)*(CV_CIN/CIB_W) + cb; the part index is
 * the slowest, so the work-items running together share one part of x and dy in cache.
 * Output: out[ooff + p*part_ld + s*seed_ld + (co*CV_CIN + ci)*K*K + kh*K + kw]
 *   (part_ld = 0, out = dw, seed_ld = g_ld for a single part; otherwise the workspace,
 *   summed by conv_fast_wreduce). */
__kernel void conv_fast_bwd_weight(__global const float *x, int xoff, __global const float *dy,
                                   int dyoff, __global float *out, int ooff, int n_img, int S,
                                   int rpp, int seed_ld, int part_ld)
{
    const int gid = (int)get_global_id(0);
    const int NCB = CV_CIN / CIB_W;
    const int nq = S * CV_COUT, nqb = (nq + QB_W - 1) / QB_W;
    const int cb = gid % NCB;
    const int t = gid / NCB;
    const int qb = t % nqb;
    const int p = t / nqb;
    const int rows = n_img * CV_HO;
    const int r0 = p * rpp;
    CLNAS_GUARD(r0 < rows);
    const int r1 = rows - r0 < rpp ? rows : r0 + rpp;
    const int ci0 = cb * CIB_W;
    int qoff[QB_W]; /* offset of dy row q of image 0 */
#pragma unroll
    for (int j = 0; j < QB_W; j++) {
        const int q = min(qb * QB_W + j, nq - 1);
        const int s = q / CV_COUT, co = q - s * CV_COUT;
        qoff[j] = dyoff + (s * n_img * CV_COUT + co) * CV_OHW;
    }
    WF acc[QB_W * CIB_W * CV_KK];
#pragma unroll
    for (int j = 0; j < QB_W * CIB_W * CV_KK; j++) acc[j] = (WF)(0.0f);
#if WPAIR
    /* rows r, r+1 (r even; CV_HO is even and so is rpp) are one float16 of dy and of each
     * x tap, the second row in the high half; the horizontal taps have zeros at both row
     * edges (CV_W == 8: every row is one whole 8-wide chunk). */
    for (int r = r0; r < r1; r += 2) {
        const int n = r / CV_HO;
        const int oh = r - n * CV_HO;
        const int drow = n * CV_COUT * CV_OHW + oh * CV_WO;
        __global const float *xr = x + xoff + (n * CV_CIN + ci0) * CV_HW;
        float16 d[QB_W];
#pragma unroll
        for (int j = 0; j < QB_W; j++) d[j] = vload16(0, dy + qoff[j] + drow);
#pragma unroll
        for (int kh = 0; kh < CV_K; kh++) {
            const int ih = oh - CV_PAD + kh; /* rows ih, ih + 1 */
#pragma unroll
            for (int c = 0; c < CIB_W; c++) {
                __global const float *pp = xr + c * CV_HW + ih * CV_W;
                const float8 lo = ih >= 0 ? vload8(0, pp) : (float8)(0.0f);
                const float8 hi = ih + 1 < CV_H ? vload8(1, pp) : (float8)(0.0f);
                const float16 t1 = (float16)(lo, hi);
#pragma unroll
                for (int j = 0; j < QB_W; j++) {
                    float16 *a = acc + (j * CIB_W + c) * CV_KK + kh * CV_K;
                    if (CV_K == 1) {
                        a[0] += d[j] * t1;
                    } else {
                        const float16 t0 = (float16)(0.0f, t1.s0, t1.s1, t1.s2, t1.s3, t1.s4, t1.s5, t1.s6,
                                                     0.0f, t1.s8, t1.s9, t1.sa, t1.sb, t1.sc, t1.sd, t1.se);
                        const float16 t2 = (float16)(t1.s1, t1.s2, t1.s3, t1.s4, t1.s5, t1.s6, t1.s7, 0.0f,
                                                     t1.s9, t1.sa, t1.sb, t1.sc, t1.sd, t1.se, t1.sf, 0.0f);
                        a[0] += d[j] * t0;
                        a[1] += d[j] * t1;
                        a[2] += d[j] * t2;
                    }
                }
            }
        }
    }
#else
    for (int r = r0; r < r1; r++) {
        const int n = r / CV_HO;
        const int oh = r - n * CV_HO;
        const int drow = n * CV_COUT * CV_OHW + oh * CV_WO;
        __global const float *xr = x + xoff + (n * CV_CIN + ci0) * CV_HW;
        for (int owc = 0; owc < NWC; owc++) {
            const int ow0 = owc * CV_VW;
            VF d[QB_W];
#pragma unroll
            for (int j = 0; j < QB_W; j++) d[j] = VLOADV(0, dy + qoff[j] + drow + ow0);
#pragma unroll
            for (int kh = 0; kh < CV_K; kh++) {
                const int ih = CV_S * oh - CV_PAD + kh;
                if (ih < 0 || ih >= CV_H) continue;
#pragma unroll
                for (int c = 0; c < CIB_W; c++) {
                    __global const float *pp = xr + c * CV_HW + ih * CV_W + CV_S * ow0;
                    VF t0 = (VF)(0.0f), t1, t2 = (VF)(0.0f);
                    ROW_TAPS(pp, ow0, t0, t1, t2);
#pragma unroll
                    for (int j = 0; j < QB_W; j++) {
                        VF *a = acc + (j * CIB_W + c) * CV_KK + kh * CV_K;
                        if (CV_K == 1) {
                            a[0] += d[j] * t1;
                        } else {
                            a[0] += d[j] * t0;
                            a[1] += d[j] * t1;
                            a[2] += d[j] * t2;
                        }
                    }
                }
            }
        }
    }
#endif
#pragma unroll
    for (int j = 0; j < QB_W; j++) {
        const int q = qb * QB_W + j;
        if (q >= nq) break;
        const int s = q / CV_COUT, co = q - s * CV_COUT;
        __global float *o = out + ooff + p * part_ld + s * seed_ld + (co * CV_CIN + ci0) * CV_KK;
#pragma unroll
        for (int e = 0; e < CIB_W * CV_KK; e++) {
            o[e] = WHSUM(acc[j * CIB_W * CV_KK + e]);
        }
    }
}

/* conv_fast_wreduce: dw[dwoff + s*g_ld + j] = sum_{p<P} ws[wsoff + (p*S + s)*WC + j] in a
 * fixed order, WC = CV_COUT*CV_CIN*K*K. NDRange 1-D, gid = s*WC + j, guarded by S*WC. */
__kernel void conv_fast_wreduce(__global const float *ws, int wsoff, __global float *dw, int dwoff,
                                int S, int P, int g_ld)
{
    const int WC = CV_COUT * CV_CIN * CV_KK;
    const int gid = (int)get_global_id(0);
    CLNAS_GUARD(gid < S * WC);
    const int s = gid / WC, j = gid - s * WC;
    float acc = 0.0f;
    for (int p = 0; p < P; p++) acc += ws[wsoff + p * S * WC + gid];
    dw[dwoff + s * g_ld + j] = acc;
}
