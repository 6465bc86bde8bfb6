/* conv_fast.cl - shape-specialised 2-D convolution for "same" stride-1 convolutions
 * (K = 1, pad 0 or K = 3, pad 1; output width = input width, a multiple of 8): forward,
 * backward-data and backward-weight. src/ops/conv.c uses these when the shape fits and falls
 * back to cl/conv.cl otherwise.
 *
 * Why: PoCL (the CPU device) does not vectorize the one-output-per-work-item kernels of
 * conv.cl across work-items. Here every work-item computes 8 consecutive pixels of a row as
 * one float8 (explicit SIMD), with the shape baked in as build options so every loop bound
 * and stride is a constant.
 *
 * Build options (all required):
 *   -DCV_CIN, -DCV_COUT   input / output channels of the convolution
 *   -DCV_H, -DCV_W        image height and width (output = input size; CV_W % 8 == 0)
 *   -DCV_K                kernel size, 1 or 3 (pad = (CV_K-1)/2, stride 1)
 *   -DCOB_F               output channels per work-item in conv_fast_fwd (divides CV_COUT)
 *   -DCOB_B               input channels per work-item in conv_fast_bwd_data (divides CV_CIN)
 *   -DCIB_W               input channels per work-item in conv_fast_bwd_weight (divides CV_CIN)
 *
 * Rows are read with vload8 plus two guarded scalar loads for the left and right
 * neighbours (zero padding without a padded copy); rows above / below the image are
 * skipped. Layouts are those of conv.cl (NCHW, int offsets in floats). All sums run in a
 * fixed order: results are bitwise reproducible. */
#if !defined(CV_CIN) || !defined(CV_COUT) || !defined(CV_H) || !defined(CV_W) || !defined(CV_K) || \
    !defined(COB_F) || !defined(COB_B) || !defined(CIB_W)
#error "conv_fast.cl needs -DCV_CIN -DCV_COUT -DCV_H -DCV_W -DCV_K -DCOB_F -DCOB_B -DCIB_W"
#endif
#if CV_K != 1 && CV_K != 3
#error "conv_fast.cl supports CV_K = 1 and 3"
#endif
#if CV_W % 8 != 0
#error "conv_fast.cl needs CV_W % 8 == 0"
#endif
#define CV_PAD ((CV_K - 1) / 2)
#define CV_KK (CV_K * CV_K)
#define CV_HW (CV_H * CV_W)
#define NWC (CV_W / 8) /* 8-pixel chunks per row */

/* The three horizontal taps of the row at p (p = row start + ow0): x[ow0-1+kw .. ow0+6+kw]
 * for kw = 0, 1, 2, zero outside the row. For K = 1 only the centre is used. */
#define ROW_TAPS(p, ow0, t0, t1, t2)                                                        \
    do {                                                                                    \
        t1 = vload8(0, (p));                                                                \
        if (CV_K == 3) {                                                                    \
            const float xl_ = (ow0) > 0 ? (p)[-1] : 0.0f;                                   \
            const float xr_ = (ow0) + 8 < CV_W ? (p)[8] : 0.0f;                             \
            t0 = (float8)(xl_, t1.s0, t1.s1, t1.s2, t1.s3, t1.s4, t1.s5, t1.s6);            \
            t2 = (float8)(t1.s1, t1.s2, t1.s3, t1.s4, t1.s5, t1.s6, t1.s7, xr_);            \
        }                                                                                   \
    } while (0)

/* One output-row chunk of a stride-1 "same" convolution with CI input and CO output
 * channels, OB of them per work-item:
 *   out[b][oc][oh][ow0..ow0+7] (=|+=) sum_{ic,kh,kw} wt(oc,ic,kh,kw) * in[b][ic][oh-PAD+kh][ow-PAD+kw]
 * trans = 0: the forward, wt = w[oc][ic][kh][kw], out overwritten.
 * trans = 1: backward-data (dx = dy convolved with the flipped, transposed weights),
 *   wt(oc,ic,kh,kw) = w[ic][oc][K-1-kh][K-1-kw], out accumulated.
 * NDRange 1-D, exact: gid = ((b*(CO/OB) + ob)*CV_H + oh)*NWC + owc. */
#define CONV_ROWS_BODY(CI, CO, OB, TRANS)                                                   \
    const int gid = (int)get_global_id(0);                                                  \
    const int owc = gid % NWC;                                                              \
    int t_ = gid / NWC;                                                                     \
    const int oh = t_ % CV_H;                                                               \
    t_ /= CV_H;                                                                             \
    const int ob = t_ % ((CO) / (OB));                                                      \
    const int b = t_ / ((CO) / (OB));                                                       \
    CLNAS_GUARD(b < nb);                                                                    \
    const int ow0 = owc * 8;                                                                \
    const int oc0 = ob * (OB);                                                              \
    __global const float *ib = in + inoff + b * (CI) * CV_HW + ow0;                         \
    __global const float *wb = w + woff;                                                    \
    float8 acc[OB];                                                                         \
    _Pragma("unroll") for (int o = 0; o < (OB); o++) acc[o] = (float8)(0.0f);               \
    for (int ic = 0; ic < (CI); ic++) {                                                     \
        _Pragma("unroll") for (int kh = 0; kh < CV_K; kh++) {                               \
            const int ih = oh - CV_PAD + kh;                                                \
            if (ih < 0 || ih >= CV_H) continue;                                             \
            __global const float *p = ib + ic * CV_HW + ih * CV_W;                          \
            float8 t0 = (float8)(0.0f), t1, t2 = (float8)(0.0f);                            \
            ROW_TAPS(p, ow0, t0, t1, t2);                                                   \
            _Pragma("unroll") for (int o = 0; o < (OB); o++) {                              \
                const int oc = oc0 + o;                                                     \
                if (CV_K == 1) {                                                            \
                    const float w1 = (TRANS) ? wb[ic * CV_CIN + oc] : wb[oc * CV_CIN + ic]; \
                    acc[o] += w1 * t1;                                                      \
                } else {                                                                    \
                    __global const float *wp =                                              \
                        (TRANS) ? wb + (ic * CV_CIN + oc) * CV_KK + (CV_K - 1 - kh) * CV_K  \
                                : wb + (oc * CV_CIN + ic) * CV_KK + kh * CV_K;              \
                    const float w0 = (TRANS) ? wp[2] : wp[0];                               \
                    const float w2 = (TRANS) ? wp[0] : wp[2];                               \
                    acc[o] += w0 * t0;                                                      \
                    acc[o] += wp[1] * t1;                                                   \
                    acc[o] += w2 * t2;                                                      \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    __global float *ob_ = out + outoff + (b * (CO) + oc0) * CV_HW + oh * CV_W + ow0;        \
    _Pragma("unroll") for (int o = 0; o < (OB); o++) {                                      \
        if (TRANS) vstore8(vload8(0, ob_ + o * CV_HW) + acc[o], 0, ob_ + o * CV_HW);        \
        else vstore8(acc[o], 0, ob_ + o * CV_HW);                                           \
    }

/* conv_fast_fwd: y = conv(x, w); in = x [nb][CV_CIN][H][W], out = y [nb][CV_COUT][H][W].
 * Global size nb*(CV_COUT/COB_F)*CV_H*NWC (guarded). */
__kernel void conv_fast_fwd(__global const float *in, int inoff, __global const float *w, int woff,
                            __global float *out, int outoff, int nb)
{
    CONV_ROWS_BODY(CV_CIN, CV_COUT, COB_F, 0)
}

/* conv_fast_bwd_data: dx += conv(dy, flipped transposed w); in = dy [nb][CV_COUT][H][W],
 * out = dx [nb][CV_CIN][H][W] with nb = S*N (seeds folded into the batch).
 * Global size nb*(CV_CIN/COB_B)*CV_H*NWC (guarded). */
__kernel void conv_fast_bwd_data(__global const float *in, int inoff, __global const float *w,
                                 int woff, __global float *out, int outoff, int nb)
{
    CONV_ROWS_BODY(CV_COUT, CV_CIN, COB_B, 1)
}

/* conv_fast_bwd_weight: partial sums of
 *   dw[s][co][ci][kh][kw] = sum_{n,oh,ow} dy[s][n][co][oh][ow] * x[n][ci][oh-PAD+kh][ow-PAD+kw]
 * over the image rows r = n*CV_H + oh in [p*rpp, min(n_img*CV_H, (p+1)*rpp)) (part p).
 * One work-item per (part p, seed s, co, block of CIB_W input channels) keeps CIB_W*K*K
 * float8 sums (one lane per pixel column mod 8) and folds the lanes at the end in a fixed
 * order. NDRange 1-D, exact: gid = ((p*S + s)*CV_COUT + co)*(CV_CIN/CIB_W) + cb.
 * Output: out[ooff + p*part_ld + s*seed_ld + (co*CV_CIN + ci)*K*K + kh*K + kw]
 *   (part_ld = 0, out = dw, seed_ld = g_ld for a single part; otherwise the workspace,
 *   summed by conv_fast_wreduce). */
__kernel void conv_fast_bwd_weight(__global const float *x, int xoff, __global const float *dy,
                                   int dyoff, __global float *out, int ooff, int n_img, int S,
                                   int rpp, int seed_ld, int part_ld)
{
    const int gid = (int)get_global_id(0);
    const int NCB = CV_CIN / CIB_W;
    const int cb = gid % NCB;
    int t = gid / NCB;
    const int co = t % CV_COUT;
    t /= CV_COUT;
    const int s = t % S;
    const int p = t / S;
    const int rows = n_img * CV_H;
    const int r0 = p * rpp;
    CLNAS_GUARD(r0 < rows);
    const int r1 = rows - r0 < rpp ? rows : r0 + rpp;
    const int ci0 = cb * CIB_W;
    float8 acc[CIB_W * CV_KK];
#pragma unroll
    for (int j = 0; j < CIB_W * CV_KK; j++) acc[j] = (float8)(0.0f);
    for (int r = r0; r < r1; r++) {
        const int n = r / CV_H;
        const int oh = r - n * CV_H;
        __global const float *dyr = dy + dyoff + ((s * n_img + n) * CV_COUT + co) * CV_HW + oh * CV_W;
        __global const float *xr = x + xoff + (n * CV_CIN + ci0) * CV_HW;
        for (int owc = 0; owc < NWC; owc++) {
            const int ow0 = owc * 8;
            const float8 d = vload8(owc, dyr);
#pragma unroll
            for (int kh = 0; kh < CV_K; kh++) {
                const int ih = oh - CV_PAD + kh;
                if (ih < 0 || ih >= CV_H) continue;
#pragma unroll
                for (int c = 0; c < CIB_W; c++) {
                    __global const float *pp = xr + c * CV_HW + ih * CV_W + ow0;
                    float8 t0 = (float8)(0.0f), t1, t2 = (float8)(0.0f);
                    ROW_TAPS(pp, ow0, t0, t1, t2);
                    if (CV_K == 1) {
                        acc[c] += d * t1;
                    } else {
                        acc[c * CV_KK + kh * 3 + 0] += d * t0;
                        acc[c * CV_KK + kh * 3 + 1] += d * t1;
                        acc[c * CV_KK + kh * 3 + 2] += d * t2;
                    }
                }
            }
        }
    }
    __global float *o = out + ooff + p * part_ld + s * seed_ld + (co * CV_CIN + ci0) * CV_KK;
#pragma unroll
    for (int j = 0; j < CIB_W * CV_KK; j++) {
        const float8 a = acc[j];
        const float4 h4 = a.lo + a.hi;
        const float2 h2 = h4.lo + h4.hi;
        o[j] = h2.x + h2.y;
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
