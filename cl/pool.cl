/* pool.cl - average pooling (count_include_pad = false) and global average pooling.
 * Layout: NCHW; gradients [S][N][C][H][W]. Every buffer comes with an int offset in floats.
 * The pooling divisor is the number of in-bounds taps of the window (PyTorch's
 * count_include_pad=False), which the host guarantees is >= 1 (pad <= k/2). */

/* The window geometry is a compile-time constant when the host builds with
 * -DPOOL_K=k -DPOOL_S=stride -DPOOL_P=pad (NB201's 3x3 s1 p1 and 2x2 s2 p0): the tap loops
 * unroll and the stride arithmetic folds. Otherwise the runtime arguments are used.
 * Both kernels are branch-free: every tap loads from a clamped (always in-bounds) address
 * and a select drops the out-of-range ones, so PoCL vectorises the work-item loop. The
 * taps are added in the same order as plain loops over the valid ones would (adding +0.0f
 * for the others changes nothing), so results do not depend on the build. */
#ifdef POOL_K
#define PK POOL_K
#define PS POOL_S
#define PP POOL_P
#else
#define PK k
#define PS stride
#define PP pad
#endif

/* avgpool_fwd: y[p][oh][ow] = mean of the in-bounds x[p][h][w] of the k x k window,
 * p = n*C + c. NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void avgpool_fwd(__global const float *x, int x_off, __global float *y, int y_off, int NC,
                          int H, int W, int k, int stride, int pad, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), p = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && p < NC);
    const int h0 = oh * PS - PP, w0 = ow * PS - PP;
    const int nh = min(h0 + PK, H) - max(h0, 0), nw = min(w0 + PK, W) - max(w0, 0);
    __global const float *xp = x + x_off + (size_t)p * H * W;
    float acc = 0.0f;
    for (int kh = 0; kh < PK; kh++) {
        const int h = h0 + kh;
        const int vh = h >= 0 && h < H;
        const int hc = clamp(h, 0, H - 1);
        for (int kw = 0; kw < PK; kw++) {
            const int w = w0 + kw;
            const float v = xp[hc * W + clamp(w, 0, W - 1)];
            acc += (vh && w >= 0 && w < W) ? v : 0.0f;
        }
    }
    y[y_off + ((size_t)p * Hout + oh) * Wout + ow] = acc / (float)(nh * nw);
}

/* avgpool_bwd: dx[q][h][w] += sum over the windows (oh, ow) containing (h, w) of
 * dy[q][oh][ow] / taps(oh, ow), q = (s*N + n)*C + c (gather form: no atomics), taps = the
 * in-bounds size of the window (count_include_pad = false).
 * (h, w) is tap (kh, kw) of (oh, ow) when h + pad - kh = oh * stride (same for w).
 * NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void avgpool_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off,
                          int SNC, int H, int W, int k, int stride, int pad, int Hout, int Wout)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), q = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && q < SNC);
    __global const float *dyq = dy + dy_off + (size_t)q * Hout * Wout;
    float acc = 0.0f;
    for (int kh = 0; kh < PK; kh++) {
        const int th = h + PP - kh;
        const int oh = th / PS;
        const int vh = th >= 0 && oh * PS == th && oh < Hout;
        const int ohc = clamp(oh, 0, Hout - 1);
        const int h0 = ohc * PS - PP;
        const int nh = min(h0 + PK, H) - max(h0, 0);
        for (int kw = 0; kw < PK; kw++) {
            const int tw = w + PP - kw;
            const int ow = tw / PS;
            const int vw = tw >= 0 && ow * PS == tw && ow < Wout;
            const int owc = clamp(ow, 0, Wout - 1);
            const int w0 = owc * PS - PP;
            const int nw = min(w0 + PK, W) - max(w0, 0);
            const float v = dyq[ohc * Wout + owc] / (float)(nh * nw);
            acc += (vh && vw) ? v : 0.0f;
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
