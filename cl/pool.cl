/* pool.cl - average pooling (count_include_pad = false) and global average pooling.
 * Layout: NCHW; gradients [S][N][C][H][W]. Every buffer comes with an int offset in floats.
 * The pooling divisor is the number of in-bounds taps of the window (PyTorch's
 * count_include_pad=False), which the host guarantees is >= 1 (pad <= k/2). */

/* Number of in-bounds taps of the window of output (oh, ow). */
static int pool_taps(int oh, int ow, int H, int W, int k, int stride, int pad)
{
    const int h0 = oh * stride - pad, w0 = ow * stride - pad;
    const int hs = max(h0, 0), he = min(h0 + k, H);
    const int ws = max(w0, 0), we = min(w0 + k, W);
    return (he - hs) * (we - ws);
}

/* avgpool_fwd: y[p][oh][ow] = mean of the in-bounds x[p][h][w] of the k x k window,
 * p = n*C + c. NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void avgpool_fwd(__global const float *x, int x_off, __global float *y, int y_off, int NC,
                          int H, int W, int k, int stride, int pad, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), p = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && p < NC);
    const int h0 = oh * stride - pad, w0 = ow * stride - pad;
    const int hs = max(h0, 0), he = min(h0 + k, H);
    const int ws = max(w0, 0), we = min(w0 + k, W);
    __global const float *xp = x + x_off + (size_t)p * H * W;
    float acc = 0.0f;
    for (int h = hs; h < he; h++)
        for (int w = ws; w < we; w++) acc += xp[h * W + w];
    y[y_off + ((size_t)p * Hout + oh) * Wout + ow] = acc / (float)((he - hs) * (we - ws));
}

/* avgpool_bwd: dx[q][h][w] += sum over the windows (oh, ow) containing (h, w) of
 * dy[q][oh][ow] / taps(oh, ow), q = (s*N + n)*C + c (gather form: no atomics).
 * NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void avgpool_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off,
                          int SNC, int H, int W, int k, int stride, int pad, int Hout, int Wout)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), q = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && q < SNC);
    __global const float *dyq = dy + dy_off + (size_t)q * Hout * Wout;
    float acc = 0.0f;
    for (int kh = 0; kh < k; kh++) {
        const int th = h + pad - kh; /* = oh * stride when (h, w) is tap (kh, kw) of (oh, ow) */
        if (th < 0 || th % stride) continue;
        const int oh = th / stride;
        if (oh >= Hout) continue;
        for (int kw = 0; kw < k; kw++) {
            const int tw = w + pad - kw;
            if (tw < 0 || tw % stride) continue;
            const int ow = tw / stride;
            if (ow >= Wout) continue;
            acc += dyq[oh * Wout + ow] / (float)pool_taps(oh, ow, H, W, k, stride, pad);
        }
    }
    dx[dx_off + ((size_t)q * H + h) * W + w] += acc;
}

/* gap_fwd: y[p] = mean_i x[p][i] over HW, p = n*C + c. NDRange: 1-D over N*C, guarded.
 * HW is small (the final 8x8 feature map); the serial sum alternates between two
 * accumulators (even and odd indices) to halve the float dependency chain. */
__kernel void gap_fwd(__global const float *x, int x_off, __global float *y, int y_off, int NC, int HW)
{
    const int p = (int)get_global_id(0);
    CLNAS_GUARD(p < NC);
    __global const float *xp = x + x_off + (size_t)p * HW;
    float a0 = 0.0f, a1 = 0.0f;
    int i = 0;
    for (; i + 1 < HW; i += 2) {
        a0 += xp[i];
        a1 += xp[i + 1];
    }
    if (i < HW) a0 += xp[i];
    y[y_off + p] = (a0 + a1) / (float)HW;
}

/* gap_bwd: dx[q][i] += dy[q] / HW, q = (s*N + n)*C + c. NDRange: 1-D over S*N*C*HW (= total). */
__kernel void gap_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off, int HW,
                      int total)
{
    const int e = (int)get_global_id(0);
    CLNAS_GUARD(e < total);
    dx[dx_off + e] += dy[dy_off + e / HW] / (float)HW;
}
