/* maxpool.cl - max pooling (PyTorch MaxPool2d) forward and backward.
 * Layout: NCHW planes; plane p = n*C + c of a tensor of C channels stored in a tensor of cs
 * channels (a concatenation's slice; cs = C otherwise) starts at ((n*cs + c)*H*W) floats after
 * the offset. Gradients are [S][N][...] with the seed folded into n. Every buffer comes with
 * an int offset in floats.
 *
 * Out-of-range taps never win (PyTorch pads with -inf). The maximum is the first one in
 * row-major scan order with ">" (ties keep the earlier tap); a NaN always takes over (so the
 * last NaN of a window wins), as in PyTorch's kernels. The backward finds each window's
 * winner again from x, once for all seeds, into the caller's scratch (no index tensor is kept
 * between the passes); given the forward's input at a reference point instead of x, the backward
 * keeps that point's winners (the frozen pool of maxpool_fwd_frozen).
 * Built with -DMP_K=<k> -DMP_S=<stride> -DMP_P=<pad> (one program per window: the tap loops
 * unroll and the stride arithmetic folds); every size is an int argument. */
#ifndef MP_K
#error "maxpool.cl must be built with -DMP_K, -DMP_S and -DMP_P"
#endif

/* Row-major index (h*W + w) of the winning tap of window (oh, ow) of plane xp. */
static int window_argmax(__global const float *xp, int H, int W, int oh, int ow, float *best)
{
    const int h0 = oh * MP_S - MP_P, w0 = ow * MP_S - MP_P;
    int am = -1;
    float m = -INFINITY;
    for (int kh = 0; kh < MP_K; kh++) {
        const int h = h0 + kh;
        if (h < 0 || h >= H) continue;
        for (int kw = 0; kw < MP_K; kw++) {
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
                          int xcs, int ycs, int H, int W, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    float m;
    window_argmax(x + x_off + (size_t)(n * xcs + c) * H * W, H, W, oh, ow, &m);
    y[y_off + ((size_t)(n * ycs + c) * Hout + oh) * Wout + ow] = m;
}

/* maxpool_fwd_frozen: maxpool_fwd with every window's choice frozen at a reference input xr (x's
 * layout; the unperturbed forward's input, kept by clnas_plan_freeze): y = x at the winner of the
 * same window of xr (window_argmax's rule). At x = xr it is maxpool_fwd; elsewhere a gather,
 * linear in x, whose gradient is maxpool_bwd with the winners of xr: the max pool as autograd's
 * double backward sees it (the argmax a constant). NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void maxpool_fwd_frozen(__global const float *xr, int xr_off, __global const float *x, int x_off,
                                 __global float *y, int y_off, int NC, int C, int xcs, int ycs, int H, int W, int Hout,
                                 int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    const size_t plane = (size_t)(n * xcs + c) * H * W;
    float m;
    const int am = window_argmax(xr + xr_off + plane, H, W, oh, ow, &m);
    y[y_off + ((size_t)(n * ycs + c) * Hout + oh) * Wout + ow] = am >= 0 ? x[x_off + plane + am] : -INFINITY;
}

/* maxpool_argmax: idx[p][oh][ow] = the winning tap (h*W + w) of every window, p = n*C + c
 * (contiguous [N][C][Hout][Wout] ints in the caller's scratch): the backward's S seeds share it.
 * NDRange: 3-D (Wout, Hout, N*C), guarded. */
__kernel void maxpool_argmax(__global const float *x, int x_off, __global int *idx, int idx_off, int NC, int C,
                             int xcs, int H, int W, int Hout, int Wout)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    const int n = pl / C, c = pl - n * C;
    float m;
    idx[idx_off + ((size_t)pl * Hout + oh) * Wout + ow] =
        window_argmax(x + x_off + (size_t)(n * xcs + c) * H * W, H, W, oh, ow, &m);
}

/* maxpool_bwd: dx[q][h][w] (+)= sum of dy[q][oh][ow] over the windows containing (h, w) whose
 * winner (idx, from maxpool_argmax) is (h, w); q = (s*N + n)*C + c, idx plane n*C + c. A
 * gather (no atomics): (h, w) is tap (kh, kw) of (oh, ow) when h + pad - kh = oh*stride (same
 * for w). accum == 0 stores without reading dx. NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void maxpool_bwd(__global const int *idx, int idx_off, __global const float *dy, int dy_off,
                          __global float *dx, int dx_off, int SNC, int N, int C, int xcs, int ycs, int H,
                          int W, int Hout, int Wout, int accum)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), ql = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && ql < SNC);
    const int sn = ql / C, c = ql - sn * C, n = sn % N;
    __global const int *ip = idx + idx_off + (size_t)(n * C + c) * Hout * Wout;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    const int me = h * W + w;
    float acc = 0.0f;
    for (int kh = 0; kh < MP_K; kh++) {
        const int th = h + MP_P - kh;
        if (th < 0 || th % MP_S) continue;
        const int oh = th / MP_S;
        if (oh >= Hout) continue;
        for (int kw = 0; kw < MP_K; kw++) {
            const int tw = w + MP_P - kw;
            if (tw < 0 || tw % MP_S) continue;
            const int ow = tw / MP_S;
            if (ow >= Wout) continue;
            if (ip[oh * Wout + ow] == me) acc += dyq[oh * Wout + ow];
        }
    }
    __global float *d = dx + dx_off + (size_t)(sn * xcs + c) * H * W + me;
    *d = accum ? *d + acc : acc;
}

/* maxpool_bwd_rows: maxpool_bwd for one dx row r = q*H + h per work-item (W <= MP_MAXW; the
 * host checks): for each output row oh whose windows hold row h (h + P - kh = oh*S), every
 * window (oh, ow) whose winner (idx) lies in row h adds dy[q][oh][ow] at the winner's column
 * of a private row, which is then stored (accum: added) into dx. Each window is looked at
 * once per row it covers instead of once per pixel of it (the gather above), and the row
 * is written with no conditional per pixel. NDRange: 1-D over S*N*C*H rows, guarded. */
#define MP_MAXW 64
__kernel void maxpool_bwd_rows(__global const int *idx, int idx_off, __global const float *dy, int dy_off,
                               __global float *dx, int dx_off, int rows, int N, int C, int xcs, int ycs, int H,
                               int W, int Hout, int Wout, int accum)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int ql = r / H, h = r - ql * H, sn = ql / C, c = ql - sn * C, n = sn % N;
    __global const int *ip = idx + idx_off + (size_t)(n * C + c) * Hout * Wout;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    __global float *dxr = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * W;
    float u[MP_MAXW];
    for (int w = 0; w < W; w++) u[w] = 0.0f;
    const int row0 = h * W;
    for (int kh = 0; kh < MP_K; kh++) {
        const int th = h + MP_P - kh;
        if (th < 0 || th % MP_S) continue;
        const int oh = th / MP_S;
        if (oh >= Hout) continue;
        for (int ow = 0; ow < Wout; ow++) {
            const int col = ip[oh * Wout + ow] - row0;
            if (col >= 0 && col < W) u[col] += dyq[oh * Wout + ow];
        }
    }
    for (int w = 0; w < W; w++) dxr[w] = accum ? dxr[w] + u[w] : u[w];
}

#if MP_K == 3 && MP_S == 1 && MP_P == 1 && defined(MP_W)
/* The CPU-shaped backward of the 3x3 stride-1 pad-1 window (DARTS's max_pool_3x3 in its normal
 * cells; Hout = H, Wout = W; built with -DMP_W = W, a multiple of 8 <= MP_MAXW; the host
 * checks): a work-item takes a whole row as float8 vectors, the loops unrolled and a row's
 * neighbours in a tap's direction built by shuffling the loaded vectors (so they stay in
 * registers, no private copy), where the kernels above take one window per work-item with
 * data-dependent branches (argmax) or scatter a row's winners one by one (maxpool_bwd_rows):
 * PoCL vectorises neither. */
#define MP_NB (MP_W / 8)

/* Lane j = column 8b + j - 1 (left) / + 1 (right) of a row held as vectors; prev / next: the
 * neighbouring vectors, or a fill where the row ends. */
#define MP_LEFT(T, prev, cur) ((T)((prev).s7, (cur).s0, (cur).s1, (cur).s2, (cur).s3, (cur).s4, (cur).s5, (cur).s6))
#define MP_RIGHT(T, cur, next) ((T)((cur).s1, (cur).s2, (cur).s3, (cur).s4, (cur).s5, (cur).s6, (cur).s7, (next).s0))

/* maxpool_argmax_vec: maxpool_argmax for output row r = p*H + oh (p = n*C + c): lane j of
 * vector b is window ow = 8b + j, which visits its taps in window_argmax's row-major order
 * with its rule (the first in-range tap, then ">" or a NaN takes over) as masks and selects.
 * NDRange: 1-D over N*C*H rows, guarded. */
__kernel void maxpool_argmax_vec(__global const float *x, int x_off, __global int *idx, int idx_off, int rows,
                                 int C, int xcs, int H)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int pl = r / H, oh = r - pl * H, n = pl / C, c = pl - n * C;
    __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * MP_W;
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    const float8 zero = 0.0f;
    float8 m[MP_NB], v[MP_NB];
    int8 am[MP_NB];
#pragma unroll
    for (int b = 0; b < MP_NB; b++) {
        m[b] = -INFINITY;
        am[b] = -1;
    }
    for (int kh = 0; kh < 3; kh++) {
        const int h = oh - 1 + kh;
        if (h < 0 || h >= H) continue;
#pragma unroll
        for (int b = 0; b < MP_NB; b++) v[b] = vload8(0, xp + h * MP_W + 8 * b);
#pragma unroll
        for (int kw = 0; kw < 3; kw++)
#pragma unroll
            for (int b = 0; b < MP_NB; b++) {
                const int8 w = lane + (8 * b - 1 + kw); /* input column of the tap */
                const float8 t = kw == 0   ? MP_LEFT(float8, b > 0 ? v[b - 1] : zero, v[b])
                                 : kw == 1 ? v[b]
                                           : MP_RIGHT(float8, v[b], b + 1 < MP_NB ? v[b + 1] : zero);
                const int8 take = (w >= 0) & (w < MP_W) & ((am[b] < 0) | isgreater(t, m[b]) | isnan(t));
                m[b] = select(m[b], t, take);
                am[b] = select(am[b], w + h * MP_W, take);
            }
    }
    __global int *ir = idx + idx_off + (size_t)r * MP_W;
#pragma unroll
    for (int b = 0; b < MP_NB; b++) vstore8(am[b], 0, ir + 8 * b);
}

/* maxpool_bwd_vec: maxpool_bwd for dx row r = q*H + h (q = (s*N + n)*C + c): pixel w is tap
 * (kh, kw) of window (oh, ow) = (h + 1 - kh, w + 1 - kw) and takes that window's dy where its
 * winner (idx) is (h, w): an int8 compare and a select per tap and vector, no scatter.
 * Windows outside the map read the fills (idx -1, dy 0). Each pixel adds its windows in
 * (kh, kw) order. NDRange: 1-D over S*N*C*H rows, guarded. */
__kernel void maxpool_bwd_vec(__global const int *idx, int idx_off, __global const float *dy, int dy_off,
                              __global float *dx, int dx_off, int rows, int N, int C, int xcs, int ycs, int H,
                              int accum)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int ql = r / H, h = r - ql * H, sn = ql / C, c = ql - sn * C, n = sn % N;
    __global const int *ip = idx + idx_off + (size_t)(n * C + c) * H * MP_W;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * H * MP_W;
    __global float *dxr = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * MP_W;
    const int8 me = (int8)(0, 1, 2, 3, 4, 5, 6, 7) + h * MP_W, none = -1;
    const float8 zero = 0.0f;
    float8 acc[MP_NB], g[MP_NB];
    int8 wi[MP_NB];
#pragma unroll
    for (int b = 0; b < MP_NB; b++) acc[b] = 0.0f;
    for (int kh = 0; kh < 3; kh++) {
        const int oh = h + 1 - kh;
        if (oh < 0 || oh >= H) continue;
#pragma unroll
        for (int b = 0; b < MP_NB; b++) {
            wi[b] = vload8(0, ip + oh * MP_W + 8 * b);
            g[b] = vload8(0, dyq + oh * MP_W + 8 * b);
        }
#pragma unroll
        for (int kw = 0; kw < 3; kw++)
#pragma unroll
            for (int b = 0; b < MP_NB; b++) { /* window column w + 1 - kw */
                const int8 win = kw == 0   ? MP_RIGHT(int8, wi[b], b + 1 < MP_NB ? wi[b + 1] : none)
                                 : kw == 1 ? wi[b]
                                           : MP_LEFT(int8, b > 0 ? wi[b - 1] : none, wi[b]);
                const float8 gv = kw == 0   ? MP_RIGHT(float8, g[b], b + 1 < MP_NB ? g[b + 1] : zero)
                                  : kw == 1 ? g[b]
                                            : MP_LEFT(float8, b > 0 ? g[b - 1] : zero, g[b]);
                acc[b] += select(zero, gv, win == me + 8 * b);
            }
    }
#pragma unroll
    for (int b = 0; b < MP_NB; b++) vstore8(accum ? vload8(0, dxr + 8 * b) + acc[b] : acc[b], 0, dxr + 8 * b);
}
#endif
