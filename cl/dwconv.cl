/* dwconv.cl - depthwise convolution (PyTorch Conv2d with groups = C, no bias): every channel
 * convolved with its own k x k filter whose taps are dil pixels apart, zero padding pad.
 *   y[n][c][oh][ow] = sum_{kh,kw} w[c][kh][kw] * x[n][c][oh*stride - pad + kh*dil][ow*stride - pad + kw*dil]
 * Layouts: x [N][C][H][W], y [N][C][Hout][Wout], w [C][k][k]; gradients [S][N][...] with the
 * seed folded into n. x / dx may be channel slices of a storage of xcs >= C channels and
 * y / dy of ycs >= C channels: plane (n, c) starts at (n*cs + c)*plane floats after the
 * offset. Every buffer comes with an int offset in floats; the host checks the index range. */

/* dwconv_fwd: one work-item per output. NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void dwconv_fwd(__global const float *x, int x_off, __global const float *wt, int w_off,
                         __global float *y, int y_off, int NC, int C, int xcs, int ycs, int H, int W,
                         int k, int stride, int dil, int pad, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
    __global const float *wp = wt + w_off + c * k * k;
    const int h0 = oh * stride - pad, w0 = ow * stride - pad;
    float acc = 0.0f;
    for (int kh = 0; kh < k; kh++) {
        const int h = h0 + kh * dil;
        if (h < 0 || h >= H) continue;
        for (int kw = 0; kw < k; kw++) {
            const int w = w0 + kw * dil;
            if (w < 0 || w >= W) continue;
            acc += wp[kh * k + kw] * xp[h * W + w];
        }
    }
    y[y_off + ((size_t)(n * ycs + c) * Hout + oh) * Wout + ow] = acc;
}

/* dwconv_bwd_data: dx[q][h][w] (+)= sum over the taps (kh, kw) that read (h, w) from an
 * in-range output (oh, ow) of w[c][kh][kw] * dy[q][oh][ow], q = (s*N + n)*C + c: the tap
 * reads (h, w) when h + pad - kh*dil = oh*stride (same for w). A gather: no atomics.
 * accum == 0 stores without reading dx. NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void dwconv_bwd_data(__global const float *wt, int w_off, __global const float *dy, int dy_off,
                              __global float *dx, int dx_off, int SNC, int C, int xcs, int ycs, int H, int W,
                              int k, int stride, int dil, int pad, int Hout, int Wout, int accum)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), ql = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && ql < SNC);
    const int sn = ql / C, c = ql - sn * C;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    __global const float *wp = wt + w_off + c * k * k;
    float acc = 0.0f;
    for (int kh = 0; kh < k; kh++) {
        const int th = h + pad - kh * dil;
        if (th < 0 || th % stride) continue;
        const int oh = th / stride;
        if (oh >= Hout) continue;
        for (int kw = 0; kw < k; kw++) {
            const int tw = w + pad - kw * dil;
            if (tw < 0 || tw % stride) continue;
            const int ow = tw / stride;
            if (ow >= Wout) continue;
            acc += wp[kh * k + kw] * dyq[oh * Wout + ow];
        }
    }
    __global float *d = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * W + w;
    *d = accum ? *d + acc : acc;
}

/* dwconv_bwd_weight: dw[s][c][kh][kw] = sum_{n,oh,ow} dy[s][n][c][oh][ow] * x[n][c][ih][iw]
 * (ih = oh*stride - pad + kh*dil, in range), stored at dw_off + s*g_ld + c*k*k + kh*k + kw.
 * One work-item per (tap, c, s) runs the whole sum in a fixed order (deterministic, no
 * atomics); DARTS's depthwise layers are narrow, so S*C*k*k items keep the device busy.
 * NDRange: 3-D (k*k, C, S), exact. */
__kernel void dwconv_bwd_weight(__global const float *x, int x_off, __global const float *dy, int dy_off,
                                __global float *dw, int dw_off, int g_ld, int N, int C, int xcs, int ycs,
                                int H, int W, int k, int stride, int dil, int pad, int Hout, int Wout)
{
    const int tap = (int)get_global_id(0), c = (int)get_global_id(1), s = (int)get_global_id(2);
    const int kh = tap / k, kw = tap - kh * k;
    /* output rows / columns whose tap lands inside the image */
    const int oh_lo = max(0, (pad - kh * dil + stride - 1) / stride);
    const int ow_lo = max(0, (pad - kw * dil + stride - 1) / stride);
    float acc = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
        __global const float *dyp = dy + dy_off + (size_t)((s * N + n) * ycs + c) * Hout * Wout;
        for (int oh = oh_lo; oh < Hout; oh++) {
            const int ih = oh * stride - pad + kh * dil;
            if (ih >= H) break;
            for (int ow = ow_lo; ow < Wout; ow++) {
                const int iw = ow * stride - pad + kw * dil;
                if (iw >= W) break;
                acc += dyp[oh * Wout + ow] * xp[ih * W + iw];
            }
        }
    }
    dw[dw_off + s * g_ld + c * k * k + tap] = acc;
}
