/* maxpool.cl - max pooling (PyTorch MaxPool2d) forward and backward.
 * Layout: NCHW planes; plane p = n*C + c of a tensor of C channels stored in a tensor of cs
 * channels (a concatenation's slice; cs = C otherwise) starts at ((n*cs + c)*H*W) floats after
 * the offset. Gradients are [S][N][...] with the seed folded into n. Every buffer comes with
 * an int offset in floats.
 *
 * Out-of-range taps never win (PyTorch pads with -inf). The maximum is the first one in
 * row-major scan order with ">" (ties keep the earlier tap); a NaN always takes over (so the
 * last NaN of a window wins), as in PyTorch's kernels. The backward finds each window's
 * maximum again from x (no index tensor is kept between the passes). */

/* Row-major index (h*W + w) of the winning tap of window (oh, ow) of plane xp. */
static int window_argmax(__global const float *xp, int H, int W, int k, int stride, int pad, int oh,
                         int ow, float *best)
{
    const int h0 = oh * stride - pad, w0 = ow * stride - pad;
    int am = -1;
    float m = -INFINITY;
    for (int kh = 0; kh < k; kh++) {
        const int h = h0 + kh;
        if (h < 0 || h >= H) continue;
        for (int kw = 0; kw < k; kw++) {
            const int w = w0 + kw;
            if (w < 0 || w >= W) continue;
            const float v = xp[h * W + w];
            if (am < 0 || v > m || isnan(v)) {
                m = v;
                am = h * W + w;
            }
        }
    }
    *best = m;
    return am;
}

/* maxpool_fwd: y[p][oh][ow] = max of the in-range x[p] taps of the window.
 * NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void maxpool_fwd(__global const float *x, int x_off, __global float *y, int y_off, int NC, int C,
                          int xcs, int ycs, int H, int W, int k, int stride, int pad, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    float m;
    window_argmax(x + x_off + (size_t)(n * xcs + c) * H * W, H, W, k, stride, pad, oh, ow, &m);
    y[y_off + ((size_t)(n * ycs + c) * Hout + oh) * Wout + ow] = m;
}

/* maxpool_bwd: dx[q][h][w] (+)= sum of dy[q][oh][ow] over the windows containing (h, w) whose
 * winner is (h, w); q = (s*N + n)*C + c, x plane n*C + c (shared by the seeds). A gather
 * (no atomics): (h, w) is tap (kh, kw) of (oh, ow) when h + pad - kh = oh*stride (same for w).
 * accum == 0 stores without reading dx. NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void maxpool_bwd(__global const float *x, int x_off, __global const float *dy, int dy_off,
                          __global float *dx, int dx_off, int SNC, int N, int C, int xcs, int ycs, int H,
                          int W, int k, int stride, int pad, int Hout, int Wout, int accum)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), ql = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && ql < SNC);
    const int sn = ql / C, c = ql - sn * C, n = sn % N;
    __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    const int me = h * W + w;
    float acc = 0.0f;
    for (int kh = 0; kh < k; kh++) {
        const int th = h + pad - kh;
        if (th < 0 || th % stride) continue;
        const int oh = th / stride;
        if (oh >= Hout) continue;
        for (int kw = 0; kw < k; kw++) {
            const int tw = w + pad - kw;
            if (tw < 0 || tw % stride) continue;
            const int ow = tw / stride;
            if (ow >= Wout) continue;
            float m;
            if (window_argmax(xp, H, W, k, stride, pad, oh, ow, &m) == me) acc += dyq[oh * Wout + ow];
        }
    }
    __global float *d = dx + dx_off + (size_t)(sn * xcs + c) * H * W + me;
    *d = accum ? *d + acc : acc;
}
