/* avgpool_sl.cl - average pooling (count_include_pad = false) as DARTS's cells run it: on
 * channel slices of a concatenation, and 3x3 pad-1 windows at strides 1 and 2. pool.cl keeps
 * NB201's whole-tensor kernels; these take the slices' storage channels.
 * Layout: plane p = n*C + c of a tensor of C channels in a storage of cs channels starts at
 * (n*cs + c)*H*W floats after the offset; gradients fold the seed into n. Every buffer comes
 * with an int offset in floats; the host checks the index range.
 * Built with -DAP_K=<k> -DAP_S=<stride> -DAP_P=<pad> (the tap loops unroll, the stride
 * arithmetic folds). */
#ifndef AP_K
#error "avgpool_sl.cl must be built with -DAP_K, -DAP_S and -DAP_P"
#endif

/* in-range taps of the window starting at o0 along an axis of n */
#define AP_TAPS(o0, n) (min((o0) + AP_K, (n)) - max((o0), 0))

/* avgpool_sl_fwd: y = mean of the in-range taps. NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void avgpool_sl_fwd(__global const float *x, int x_off, __global float *y, int y_off, int NC, int C,
                             int xcs, int ycs, int H, int W, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
    const int h0 = oh * AP_S - AP_P, w0 = ow * AP_S - AP_P;
    float acc = 0.0f;
    for (int kh = 0; kh < AP_K; kh++) {
        const int h = h0 + kh;
        if (h < 0 || h >= H) continue;
        for (int kw = 0; kw < AP_K; kw++) {
            const int w = w0 + kw;
            if (w >= 0 && w < W) acc += xp[h * W + w];
        }
    }
    y[y_off + ((size_t)(n * ycs + c) * Hout + oh) * Wout + ow] = acc / (float)(AP_TAPS(h0, H) * AP_TAPS(w0, W));
}

/* avgpool_sl_bwd: dx[q][h][w] (+)= scale * sum over the windows (oh, ow) holding (h, w) of
 * dy[q][oh][ow] / taps(oh, ow), q = (s*N + n)*C + c; a gather (no atomics); accum == 0
 * stores without reading dx. NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void avgpool_sl_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off, int SNC, int C,
                             int xcs, int ycs, int H, int W, int Hout, int Wout, float scale, int accum)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), ql = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && ql < SNC);
    const int sn = ql / C, c = ql - sn * C;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    float acc = 0.0f;
    for (int kh = 0; kh < AP_K; kh++) {
        const int th = h + AP_P - kh;
        if (th < 0 || th % AP_S) continue;
        const int oh = th / AP_S;
        if (oh >= Hout) continue;
        for (int kw = 0; kw < AP_K; kw++) {
            const int tw = w + AP_P - kw;
            if (tw < 0 || tw % AP_S) continue;
            const int ow = tw / AP_S;
            if (ow >= Wout) continue;
            acc += dyq[oh * Wout + ow] / (float)(AP_TAPS(oh * AP_S - AP_P, H) * AP_TAPS(ow * AP_S - AP_P, W));
        }
    }
    __global float *d = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * W + w;
    *d = accum ? *d + scale * acc : scale * acc;
}

#if AP_K == 3 && AP_P == 1 && AP_S <= 2
#define AP_MAXW 64
/* avgpool3_sl_bwd_rows: avgpool_sl_bwd for 3x3 pad-1 windows at stride 1 or 2 over rows of
 * whole float8 vectors (W % 8 == 0, W <= AP_MAXW; the host checks), one dx row r = ql*H + h
 * per work-item. For each output row oh whose window holds h (h + 1 - kh = oh*S), the values
 * dy[oh][ow] / taps(oh, ow) are spread onto the input columns ow*S of a zero-bordered private
 * row u (u[1 + ow*S]; zeros between them at stride 2); column w then gathers its three taps
 * u[w] + u[w + 1] + u[w + 2] as float8 vectors, which PoCL turns into SIMD.
 * NDRange: 1-D over S*N*C*H (= rows), guarded. */
__kernel void avgpool3_sl_bwd_rows(__global const float *dy, int dy_off, __global float *dx, int dx_off, int rows,
                                   int C, int xcs, int ycs, int H, int W, int Hout, int Wout, float scale, int accum)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int ql = r / H, h = r - ql * H, sn = ql / C, c = ql - sn * C;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    __global float *dxr = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * W;
    float u[AP_MAXW + 2];
    float8 acc[AP_MAXW / 8];
    for (int b = 0; b < W / 8; b++) acc[b] = 0.0f;
    u[0] = 0.0f;
    u[W + 1] = 0.0f;
    for (int kh = 0; kh < 3; kh++) {
        const int th = h + 1 - kh;
        if (th < 0 || th % AP_S) continue;
        const int oh = th / AP_S;
        if (oh >= Hout) continue;
        const float nh = (float)AP_TAPS(oh * AP_S - 1, H);
        for (int j = 0; j < W; j++) {
            const int ow = j / AP_S;
            const int on = j % AP_S == 0 && ow < Wout;
            const float nw = (float)AP_TAPS(ow * AP_S - 1, W);
            u[1 + j] = on ? dyq[oh * Wout + min(ow, Wout - 1)] / (nh * nw) : 0.0f;
        }
        for (int b = 0; b < W / 8; b++)
            acc[b] += (vload8(0, u + 8 * b + 2) + vload8(0, u + 8 * b + 1)) + vload8(0, u + 8 * b);
    }
    for (int b = 0; b < W / 8; b++) {
        const float8 v = scale * acc[b];
        vstore8(accum ? vload8(0, dxr + 8 * b) + v : v, 0, dxr + 8 * b);
    }
}
#endif
