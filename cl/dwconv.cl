/* dwconv.cl - depthwise convolution (PyTorch Conv2d with groups = C, no bias): every channel
 * convolved with its own K x K filter whose taps are D pixels apart, zero padding P.
 *   y[n][c][oh][ow] = sum_{kh,kw} w[c][kh][kw] * x[n][c][oh*S - P + kh*D][ow*S - P + kw*D]
 * Built with -DDW_K=<k> -DDW_S=<stride> -DDW_D=<dilation> (P = (K-1)*D/2, DARTS's "same"
 * padding): the tap loops unroll and the stride / dilation arithmetic folds (one program per
 * combination; DARTS uses 8). Every other size is an int argument.
 * Layouts: x [N][C][H][W], y [N][C][Hout][Wout], w [C][K][K]; gradients [S][N][...] with the
 * seed folded into n. x / dx may be channel slices of a storage of xcs >= C channels and
 * y / dy of ycs >= C channels: plane (n, c) starts at (n*cs + c)*plane floats after the
 * offset. Every buffer comes with an int offset in floats; the host checks the index range. */
#ifndef DW_K
#error "dwconv.cl must be built with -DDW_K, -DDW_S and -DDW_D"
#endif
#define KK (DW_K * DW_K)
#define DW_P ((DW_K - 1) * DW_D / 2)

/* dwconv_fwd: one work-item per output. NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void dwconv_fwd(__global const float *x, int x_off, __global const float *wt, int w_off,
                         __global float *y, int y_off, int NC, int C, int xcs, int ycs, int H, int W, int Hout,
                         int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
    __global const float *wp = wt + w_off + c * KK;
    const int h0 = oh * DW_S - DW_P, w0 = ow * DW_S - DW_P;
    float acc = 0.0f;
    for (int kh = 0; kh < DW_K; kh++) {
        const int h = h0 + kh * DW_D;
        if (h < 0 || h >= H) continue;
        for (int kw = 0; kw < DW_K; kw++) {
            const int w = w0 + kw * DW_D;
            if (w < 0 || w >= W) continue;
            acc += wp[kh * DW_K + kw] * xp[h * W + w];
        }
    }
    y[y_off + ((size_t)(n * ycs + c) * Hout + oh) * Wout + ow] = acc;
}

/* dwconv_bwd_data: dx[q][h][w] (+)= sum over the taps (kh, kw) that read (h, w) from an
 * in-range output (oh, ow) of w[c][kh][kw] * dy[q][oh][ow], q = (s*N + n)*C + c: the tap
 * reads (h, w) when h + P - kh*D = oh*S (same for w). A gather: no atomics.
 * accum == 0 stores without reading dx. NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void dwconv_bwd_data(__global const float *wt, int w_off, __global const float *dy, int dy_off,
                              __global float *dx, int dx_off, int SNC, int C, int xcs, int ycs, int H, int W,
                              int Hout, int Wout, int accum)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), ql = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && ql < SNC);
    const int sn = ql / C, c = ql - sn * C;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    __global const float *wp = wt + w_off + c * KK;
    float acc = 0.0f;
    for (int kh = 0; kh < DW_K; kh++) {
        const int th = h + DW_P - kh * DW_D;
        if (th < 0 || th % DW_S) continue;
        const int oh = th / DW_S;
        if (oh >= Hout) continue;
        for (int kw = 0; kw < DW_K; kw++) {
            const int tw = w + DW_P - kw * DW_D;
            if (tw < 0 || tw % DW_S) continue;
            const int ow = tw / DW_S;
            if (ow >= Wout) continue;
            acc += wp[kh * DW_K + kw] * dyq[oh * Wout + ow];
        }
    }
    __global float *d = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * W + w;
    *d = accum ? *d + acc : acc;
}

/* dwconv_bwd_weight: dw[s][c][kh][kw] = sum_{n,oh,ow} dy[s][n][c][oh][ow] * x[n][c][ih][iw]
 * (ih = oh*S - P + kh*D, in range), stored at dw_off + s*g_ld + c*K*K + kh*K + kw.
 * One work-group of L work-items (a power of two) per (c, s): item lid takes the outputs
 * e = lid, lid + L, ... of the N*Hout*Wout and keeps K*K sums, then a local-memory tree
 * (red: L*K*K floats) adds the items in a fixed order (deterministic for a given L).
 * NDRange: 3-D (L, C, S), local (L, 1, 1). */
__kernel void dwconv_bwd_weight(__global const float *x, int x_off, __global const float *dy, int dy_off,
                                __global float *dw, int dw_off, int g_ld, int N, int C, int xcs, int ycs,
                                int H, int W, int Hout, int Wout, __local float *red)
{
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    const int c = (int)get_global_id(1), s = (int)get_global_id(2);
    const int ohw = Hout * Wout, total = N * ohw;
    float acc[KK];
    for (int j = 0; j < KK; j++) acc[j] = 0.0f;
    for (int e = lid; e < total; e += L) {
        const int n = e / ohw, pix = e - n * ohw, oh = pix / Wout, ow = pix - oh * Wout;
        const float g = dy[dy_off + (size_t)((s * N + n) * ycs + c) * ohw + pix];
        __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
        const int h0 = oh * DW_S - DW_P, w0 = ow * DW_S - DW_P;
        for (int kh = 0; kh < DW_K; kh++) {
            const int ih = h0 + kh * DW_D;
            if (ih < 0 || ih >= H) continue;
            for (int kw = 0; kw < DW_K; kw++) {
                const int iw = w0 + kw * DW_D;
                if (iw >= 0 && iw < W) acc[kh * DW_K + kw] += g * xp[ih * W + iw];
            }
        }
    }
    for (int j = 0; j < KK; j++) red[j * L + lid] = acc[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int hs = L >> 1; hs > 0; hs >>= 1) {
        if (lid < hs)
            for (int j = 0; j < KK; j++) red[j * L + lid] += red[j * L + lid + hs];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int j = lid; j < KK; j += L) dw[dw_off + s * g_ld + c * KK + j] = red[j * L];
}
