/* pool.cl - average pooling (count_include_pad = false) and global average pooling.
 * Layout: NCHW; gradients [S][N][C][H][W]. Every buffer comes with an int offset in floats.
 * The pooling divisor is the number of in-bounds taps of the window (PyTorch's
 * count_include_pad=False), which the host guarantees is >= 1 (pad <= k/2). */

/* Two families of kernels:
 *  - generic (any k, stride, pad): one work item per output element, branch-free (every
 *    tap loads from a clamped, always in-bounds address and a select drops the out-of-range
 *    ones; adding +0.0f changes nothing, so the sums equal plain loops over the valid taps);
 *  - row kernels for NB201's two windows (3x3 s1 p1 and 2x2 s2 p0) when W is a multiple of
 *    8: one work item per output row, working on float8
 *    vectors. PoCL does not vectorise the generic kernels' work-item loops, so this is
 *    where the speed comes from. */
#define POOL_MAXW 64 /* must match src/ops/pool.c */
/* The generic kernels' window: build options -DPOOL_K/-DPOOL_S/-DPOOL_P when the host gives
 * them (the tap loops unroll, the stride arithmetic folds), else the int arguments. */
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
                          int H, int W, int k, int stride, int pad, int Hout, int Wout, int C, int xcs,
                          int ycs)
{
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1), pl = (int)get_global_id(2);
    CLNAS_GUARD(ow < Wout && oh < Hout && pl < NC);
    /* planes of channel slices: sample pl / C sits xcs (ycs) channels after the previous one */
    const int p = (pl / C) * xcs + pl % C, py = (pl / C) * ycs + pl % C;
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
    y[y_off + ((size_t)py * Hout + oh) * Wout + ow] = acc / (float)(nh * nw);
}

/* The backward kernels below read the output gradient as scale * dy and add into dx
 * (accum != 0) or store over it without reading it (accum == 0); see clnas_avgpool_bwd_ex.
 * Those for same-size windows (stride 1) also add skip * dy when skip != 0: the gradient of an
 * identity edge from the pool's input into the same sum, fused (clnas_avgpool_bwd_skip).
 *
 * avgpool_bwd: dx[q][h][w] += sum over the windows (oh, ow) containing (h, w) of
 * dy[q][oh][ow] / taps(oh, ow), q = (s*N + n)*C + c (gather form: no atomics), taps = the
 * in-bounds size of the window (count_include_pad = false).
 * (h, w) is tap (kh, kw) of (oh, ow) when h + pad - kh = oh * stride (same for w).
 * dy / dx planes of channel slices as in avgpool_fwd (ycs / xcs storage channels).
 * NDRange: 3-D (W, H, S*N*C), guarded. */
__kernel void avgpool_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off,
                          int SNC, int H, int W, int k, int stride, int pad, int Hout, int Wout,
                          float scale, float skip, int accum, int C, int xcs, int ycs)
{
    const int w = (int)get_global_id(0), h = (int)get_global_id(1), ql = (int)get_global_id(2);
    CLNAS_GUARD(w < W && h < H && ql < SNC);
    const int q = (ql / C) * xcs + ql % C, qy = (ql / C) * ycs + ql % C;
    __global const float *dyq = dy + dy_off + (size_t)qy * Hout * Wout;
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
    __global float *d = dx + dx_off + ((size_t)q * H + h) * W + w;
    float v = scale * acc;
    if (skip != 0.0f) v += skip * dyq[h * Wout + w]; /* the host checks Hout == H, Wout == W */
    *d = accum ? *d + v : v;
}

/* Number of in-bounds taps along one axis of the 3x3 s1 p1 window centred at o, for a
 * dimension of size n: min(o + 2, n) - max(o - 1, 0). */
#define TAPS3(o, n) (min((o) + 2, (n)) - max((o) - 1, 0))

/* avgpool3_fwd_rows: 3x3, stride 1, pad 1, count_include_pad = false; Hout = H, Wout = W,
 * W % 8 == 0. One work item per output row r = p*H + oh: the column sums
 * V[w] = sum of the valid x[oh-1..oh+1][w] (zero outside the row), then
 * y[oh][w] = (V[w-1] + V[w] + V[w+1]) / (nh * nw(w)). V rolls along the row in three float8
 * registers (previous, current, next block); the neighbours are shuffles (no private array).
 * NDRange: 1-D over N*C*H (= rows). */
static float8 pool3_vsum(__global const float *xp, int h0, int h1, int W, int w0)
{
    float8 v = vload8(0, xp + h0 * W + w0);
    for (int h = h0 + 1; h < h1; h++) v += vload8(0, xp + h * W + w0);
    return v;
}

__kernel void avgpool3_fwd_rows(__global const float *x, int x_off, __global float *y, int y_off,
                                int rows, int H, int W, int C, int xcs, int ycs)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int pl = r / H, oh = r - pl * H;
    /* planes of channel slices (as in avgpool_fwd) */
    const int p = (pl / C) * xcs + pl % C, py = (pl / C) * ycs + pl % C;
    __global const float *xp = x + x_off + (size_t)p * H * W;
    __global float *yr = y + y_off + ((size_t)py * H + oh) * W;
    const int h0 = max(oh - 1, 0), h1 = min(oh + 2, H);
    const float nh = (float)(h1 - h0);
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    float8 prev = 0.0f, cur = pool3_vsum(xp, h0, h1, W, 0);
    for (int w0 = 0; w0 < W; w0 += 8) {
        const float8 next = w0 + 8 < W ? pool3_vsum(xp, h0, h1, W, w0 + 8) : (float8)(0.0f);
        const float8 left = (float8)(prev.s7, cur.s0, cur.s1, cur.s2, cur.s3, cur.s4, cur.s5, cur.s6);
        const float8 right = (float8)(cur.s1, cur.s2, cur.s3, cur.s4, cur.s5, cur.s6, cur.s7, next.s0);
        const float8 nw = convert_float8(TAPS3(lane + w0, W));
        vstore8(((left + cur) + right) / (nh * nw), 0, yr + w0);
        prev = cur;
        cur = next;
    }
}

/* 1/k for the window sizes a 3x3 window can have (k = nh * nw in {1, 2, 3, 4, 6, 9}),
 * correctly rounded at compile time: the backward multiplies instead of dividing (a vector
 * division costs as much as the rest of the kernel on a CPU); the result is within one
 * rounding of dy / k. */
__constant float RCP3[10] = {0.0f, 1.0f / 1.0f, 1.0f / 2.0f, 1.0f / 3.0f, 1.0f / 4.0f, 1.0f / 5.0f,
                             1.0f / 6.0f, 1.0f / 7.0f, 1.0f / 8.0f, 1.0f / 9.0f};

/* U of the 8 columns w0..w0+7 of row h: sum over the valid oh in (h+1, h, h-1), in that
 * order, of dy[oh][w] / (nh(oh) * nw(w)). nw(w) is 3 except at w = 0 and w = W - 1 (2, the
 * lanes edge2 marks); r3[i] and r2[i] are 1/(3 nh) and 1/(2 nh) of row i of the three, and
 * rows[i] its start (only read when valid[i]). */
static float8 pool3_colsum(__global const float *const rows[3], const int valid[3], const float r3[3],
                           const float r2[3], int w0, int W)
{
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    const int8 edge2 = TAPS3(lane + w0, W) == 2;
    float8 acc = 0.0f;
    for (int i = 0; i < 3; i++)
        if (valid[i]) acc += vload8(0, rows[i] + w0) * select((float8)(r3[i]), (float8)(r2[i]), edge2);
    return acc;
}

/* avgpool3_bwd_rows: the adjoint of avgpool3_fwd_rows, accumulated into dx. Row r = q*H + h
 * (q = (s*N + n)*C + c): U[w] = sum over the valid oh in {h+1, h, h-1} of
 * dy[oh][w] / (nh(oh) * nw(w)) (U[-1] = U[W] = 0), then dx[h][w] += U[w-1] + U[w] + U[w+1]
 * (W >= 8, so nw is 3 or 2, and nh * nw <= 9). The column sums stay in registers: three
 * float8 blocks of U (previous, current, next) roll along the row and the shifted neighbours
 * are built with shuffles (a private array indexed at run time goes through memory:
 * store-forwarding stalls on CPUs, scratch memory on GPUs); the divisions are multiplications
 * by reciprocals looked up once per row. NDRange: 1-D over S*N*C*H (= rows). */
__kernel void avgpool3_bwd_rows(__global const float *dy, int dy_off, __global float *dx,
                                int dx_off, int rows, int H, int W, float scale, float skip, int accum, int C,
                                int xcs, int ycs)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int ql = r / H, h = r - ql * H;
    const int q = (ql / C) * ycs + ql % C, qx = (ql / C) * xcs + ql % C;
    __global const float *dyq = dy + dy_off + (size_t)q * H * W;
    __global float *dxr = dx + dx_off + ((size_t)qx * H + h) * W;
    __global const float *rws[3];
    int valid[3];
    float r3[3], r2[3];
    for (int i = 0; i < 3; i++) {
        const int oh = h + 1 - i;
        valid[i] = oh >= 0 && oh < H;
        const int nh = TAPS3(clamp(oh, 0, H - 1), H);
        rws[i] = dyq + clamp(oh, 0, H - 1) * W;
        r3[i] = RCP3[3 * nh];
        r2[i] = RCP3[2 * nh];
    }
    float8 prev = 0.0f, cur = pool3_colsum(rws, valid, r3, r2, 0, W);
    for (int w0 = 0; w0 < W; w0 += 8) {
        const float8 next = w0 + 8 < W ? pool3_colsum(rws, valid, r3, r2, w0 + 8, W) : (float8)(0.0f);
        /* U[w-1] and U[w+1] for the 8 columns of this block */
        const float8 left = (float8)(prev.s7, cur.s0, cur.s1, cur.s2, cur.s3, cur.s4, cur.s5, cur.s6);
        const float8 right = (float8)(cur.s1, cur.s2, cur.s3, cur.s4, cur.s5, cur.s6, cur.s7, next.s0);
        float8 v = scale * ((right + cur) + left);
        if (skip != 0.0f) v += skip * vload8(0, rws[1] + w0); /* row h of dy */
        vstore8(accum ? vload8(0, dxr + w0) + v : v, 0, dxr + w0);
        prev = cur;
        cur = next;
    }
}

/* One row oh of dy for avgpool3_bwd_cols' block at w0: the 8 columns and the two neighbour
 * columns w0 - 1 and w0 + 8, each times 1 / (nh(oh) * nw(w)) (0 outside the row, or for oh
 * outside [0, H)); raw = the 8 columns unweighted (the fused identity's term). (A branch-free
 * form with the weights precomputed per block measured no faster on PoCL.) */
static void pool3_row(__global const float *dyq, int oh, int H, int W, int w0, int8 edge2, float8 *v, float *l,
                      float *r, float8 *raw)
{
    *v = 0.0f;
    *l = 0.0f;
    *r = 0.0f;
    *raw = 0.0f;
    if (oh < 0 || oh >= H) return;
    __global const float *row = dyq + oh * W;
    const int nh = TAPS3(oh, H);
    *raw = vload8(0, row + w0);
    *v = *raw * select((float8)(RCP3[3 * nh]), (float8)(RCP3[2 * nh]), edge2);
    if (w0 > 0) *l = row[w0 - 1] * RCP3[nh * TAPS3(w0 - 1, W)];
    if (w0 + 8 < W) *r = row[w0 + 8] * RCP3[nh * TAPS3(w0 + 8, W)];
}

/* avgpool3_bwd_cols: the same adjoint as avgpool3_bwd_rows (the same products and sums in the
 * same order, so the same floats), plus skip * dy (a fused identity edge from the same input
 * to the same sum; needs Hout = H, Wout = W, which 3x3 s1 p1 has; skip == 0: none). One work
 * item per (8-column block b, plane ql): it walks the H rows of its block top to bottom with
 * the weighted dy rows h - 1, h and h + 1 in registers, so every dy row is loaded once (not
 * three times) and the per-row setup of the row kernel is paid once per plane; PoCL's
 * per-work-item cost is spread over H outputs. gid = ql * (W / 8) + b.
 * NDRange: 1-D over S*N*C*(W/8) (= items). */
__kernel void avgpool3_bwd_cols(__global const float *dy, int dy_off, __global float *dx, int dx_off, int items,
                                int H, int W, float scale, float skip, int accum, int C, int xcs, int ycs)
{
    const int gid = (int)get_global_id(0);
    CLNAS_GUARD(gid < items);
    const int WB = W / 8, ql = gid / WB, w0 = 8 * (gid - ql * WB);
    const int q = (ql / C) * ycs + ql % C, qx = (ql / C) * xcs + ql % C;
    __global const float *dyq = dy + dy_off + (size_t)q * H * W;
    __global float *dxq = dx + dx_off + (size_t)qx * H * W + w0;
    const int8 lane = (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    const int8 edge2 = TAPS3(lane + w0, W) == 2;
    float8 vm = 0.0f, vc, vn, dc, dn;
    float lm = 0.0f, lc, ln, rm = 0.0f, rc, rn;
    pool3_row(dyq, 0, H, W, w0, edge2, &vc, &lc, &rc, &dc);
    for (int h = 0; h < H; h++) {
        pool3_row(dyq, h + 1, H, W, w0, edge2, &vn, &ln, &rn, &dn);
        /* U (the column sums) of this block and of its two neighbour columns: rows h+1, h, h-1 */
        const float8 u = (vn + vc) + vm;
        const float ul = (ln + lc) + lm, ur = (rn + rc) + rm;
        const float8 left = (float8)(ul, u.s0, u.s1, u.s2, u.s3, u.s4, u.s5, u.s6);
        const float8 right = (float8)(u.s1, u.s2, u.s3, u.s4, u.s5, u.s6, u.s7, ur);
        float8 v = scale * ((right + u) + left);
        if (skip != 0.0f) v += skip * dc;
        __global float *d = dxq + h * W;
        vstore8(accum ? vload8(0, d) + v : v, 0, d);
        vm = vc; lm = lc; rm = rc;
        vc = vn; lc = ln; rc = rn;
        dc = dn;
    }
}

/* avgpool3s2_bwd_rows: the adjoint of 3x3, stride 2, pad 1, count_include_pad = false (DARTS's
 * reduction-cell avg_pool_3x3), W % 8 == 0, W <= POOL_MAXW, accumulated like avgpool_bwd.
 * Row r = ql*H + h of dx (ql = (s*N + n)*C + c; planes of channel slices as in avgpool_fwd):
 * for each output row oh whose window holds h (h + 1 - kh = 2 oh), the values
 * dy[oh][ow] / taps(oh, ow) are spread onto the input columns 2 ow of a zero-bordered private
 * row u (u[1 + 2 ow]); then column w gathers u[w] + u[w + 1] + u[w + 2], its three taps.
 * NDRange: 1-D over S*N*C*H (= rows). */
__kernel void avgpool3s2_bwd_rows(__global const float *dy, int dy_off, __global float *dx, int dx_off, int rows,
                                  int H, int W, int Hout, int Wout, float scale, int accum, int C, int xcs, int ycs)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int ql = r / H, h = r - ql * H;
    const int q = (ql / C) * ycs + ql % C, qx = (ql / C) * xcs + ql % C;
    __global const float *dyq = dy + dy_off + (size_t)q * Hout * Wout;
    __global float *dxr = dx + dx_off + ((size_t)qx * H + h) * W;
    float u[POOL_MAXW + 2];
    float8 acc[POOL_MAXW / 8];
    for (int b = 0; b < W / 8; b++) acc[b] = 0.0f;
    u[0] = 0.0f;
    u[W + 1] = 0.0f;
    for (int kh = 0; kh < 3; kh++) {
        const int th = h + 1 - kh;
        if (th < 0 || (th & 1)) continue;
        const int oh = th >> 1;
        if (oh >= Hout) continue;
        const int h0 = 2 * oh - 1;
        const float nh = (float)(min(h0 + 3, H) - max(h0, 0));
        for (int j = 0; j < W; j++) {
            const int ow = j >> 1, w0 = 2 * ow - 1;
            const float nw = (float)(min(w0 + 3, W) - max(w0, 0));
            u[1 + j] = ((j & 1) == 0 && ow < Wout) ? dyq[oh * Wout + ow] / (nh * nw) : 0.0f;
        }
        for (int b = 0; b < W / 8; b++)
            acc[b] += (vload8(0, u + 8 * b + 2) + vload8(0, u + 8 * b + 1)) + vload8(0, u + 8 * b);
    }
    for (int b = 0; b < W / 8; b++) {
        const float8 v = scale * acc[b];
        vstore8(accum ? vload8(0, dxr + 8 * b) + v : v, 0, dxr + 8 * b);
    }
}

/* avgpool2_fwd_rows: 2x2, stride 2, pad 0 (every window is inside: 4 taps), W % 8 == 0,
 * Wout = W / 2. Row r = p*Hout + oh; y = ((x00 + x01) + x10) + x11) / 4 as plain loops would.
 * NDRange: 1-D over N*C*Hout (= rows). */
__kernel void avgpool2_fwd_rows(__global const float *x, int x_off, __global float *y, int y_off,
                                int rows, int H, int W, int Hout)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int p = r / Hout, oh = r - p * Hout;
    __global const float *x0 = x + x_off + ((size_t)p * H + 2 * oh) * W;
    __global const float *x1 = x0 + W;
    __global float *yr = y + y_off + (size_t)r * (W / 2);
    for (int w0 = 0; w0 < W; w0 += 8) {
        const float8 a = vload8(0, x0 + w0), b = vload8(0, x1 + w0);
        vstore4((((a.even + a.odd) + b.even) + b.odd) / 4.0f, 0, yr + w0 / 2);
    }
}

/* avgpool2_bwd_rows: dx[h][w] += dy[h/2][w/2] / 4 for h < 2*Hout (a last odd row gets
 * nothing), W % 8 == 0 (so Wout = W / 2). Row r = q*H + h. NDRange: 1-D over S*N*C*H. */
__kernel void avgpool2_bwd_rows(__global const float *dy, int dy_off, __global float *dx,
                                int dx_off, int rows, int H, int W, int Hout, float scale, int accum)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int q = r / H, h = r - q * H;
    if (h >= 2 * Hout) { /* a last odd row is outside every window */
        if (!accum)
            for (int w0 = 0; w0 < W; w0 += 8) vstore8((float8)(0.0f), 0, dx + dx_off + (size_t)r * W + w0);
        return;
    }
    __global const float *dyr = dy + dy_off + ((size_t)q * Hout + (h >> 1)) * (W / 2);
    __global float *dxr = dx + dx_off + (size_t)r * W;
    for (int w0 = 0; w0 < W; w0 += 8) {
        const float4 a = scale * (vload4(0, dyr + w0 / 2) / 4.0f);
        const float8 v = (float8)(a.s0, a.s0, a.s1, a.s1, a.s2, a.s2, a.s3, a.s3);
        vstore8(accum ? vload8(0, dxr + w0) + v : v, 0, dxr + w0);
    }
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

