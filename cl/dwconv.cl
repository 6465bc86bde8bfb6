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

#if DW_S <= 2
/* Row kernels for strides 1 and 2 over rows of whole 8-float vectors (stride 1: W % 8 == 0;
 * stride 2: W % 16 == 0, so the output rows are whole vectors too; W <= DW_MAXW; the host
 * checks): a work-item takes whole rows as float8 vectors, which PoCL turns into SIMD where
 * it never vectorises the one-value-per-item kernels above. Rows are copied into
 * zero-bordered private buffers, so the taps' horizontal shifts are plain unaligned loads and
 * the padding needs no branches:
 * - backward data: dy's row is spread onto the input grid (stride 2: zeros between its
 *   values), after which every stride is a stride-1 correlation;
 * - backward weight: x's row is split into even and odd columns (stride 2), so the taps read
 *   consecutive values.
 * The sums run in the same tap order as the kernels above. */
#define DW_MAXW 64
#define DW_B (2 * DW_P) /* border of the private row buffers */
/* DW_RW: the row width of the row kernels; the CPU-shaped variant is built with -DDW_W=<W> so
 * the loops over a row's vectors unroll and its sums stay in registers, else the W argument. */
#ifdef DW_W
#define DW_RW DW_W
#define DW_UNROLL _Pragma("unroll") /* PoCL keeps unrolled sums in registers, else in memory */
#else
#define DW_RW W
#define DW_UNROLL
#endif

#if defined(DW_W) && DW_P <= 8
/* The CPU-shaped variant: a tap's shifted row is built from the row's float8 vectors held in
 * registers (v[b] = columns 8b .. 8b+7) by shuffles, not loaded from a zero-bordered private
 * copy (which PoCL assembles from 64-bit pieces). Stride 2 spreads dy's row onto the input
 * grid (backward data) or splits x's row into even and odd columns (backward weight) first. */
#define DW_SHIFT 1
/* Lanes sh .. sh+7 of the 16 lanes (a, b), 0 <= sh <= 8 (a constant once unrolled). */
static float8 dw_lanes(float8 a, float8 b, int sh)
{
    switch (sh) {
    case 0: return a;
    case 1: return (float8)(a.s123, a.s4567, b.s0);
    case 2: return (float8)(a.s23, a.s4567, b.s01);
    case 3: return (float8)(a.s3, a.s4567, b.s012);
    case 4: return (float8)(a.s4567, b.s0123);
    case 5: return (float8)(a.s567, b.s0123, b.s4);
    case 6: return (float8)(a.s67, b.s0123, b.s45);
    case 7: return (float8)(a.s7, b.s0123, b.s456);
    default: return b;
    }
}

/* Columns 8b + sh .. 8b + sh + 7 of the row v[0 .. nv - 1], zero outside it; |sh| <= 8. */
static float8 dw_row_at(const float8 *v, int nv, int b, int sh)
{
    const float8 zero = 0.0f;
    if (sh >= 0) return dw_lanes(v[b], b + 1 < nv ? v[b + 1] : zero, sh);
    return dw_lanes(b > 0 ? v[b - 1] : zero, v[b], 8 + sh);
}
#else
#define DW_SHIFT 0
#endif

/* u[DW_P + j] = src[j] for j < W, zeros in the DW_P-wide borders (W % 8 == 0). */
static void dw_pad_row(__global const float *src, int W, float *u)
{
    DW_UNROLL for (int j = 0; j < DW_P; j++) {
        u[j] = 0.0f;
        u[DW_P + W + j] = 0.0f;
    }
    DW_UNROLL for (int w0 = 0; w0 < W; w0 += 8) vstore8(vload8(0, src + w0), 0, u + DW_P + w0);
}

/* u[DW_P + j] = the value of src landing on input column j (stride 1: src[j]; stride 2: src[j/2]
 * for even j < 2*nsrc, else 0), zeros in the DW_P-wide borders; W input columns. */
static void dw_spread_row(__global const float *src, int nsrc, int W, float *u)
{
#if DW_S == 1
    (void)nsrc;
    dw_pad_row(src, W, u);
#else
    DW_UNROLL for (int j = 0; j < DW_P; j++) {
        u[j] = 0.0f;
        u[DW_P + W + j] = 0.0f;
    }
    DW_UNROLL for (int j = 0; j < W; j++) u[DW_P + j] = ((j & 1) == 0 && j / 2 < nsrc) ? src[j / 2] : 0.0f;
#endif
}

/* dwconv_bwd_data_rows: dwconv_bwd_data for one row r = q*H + h of dx per work-item:
 * dx[h][w] (+)= sum over the taps whose output (oh, ow) = ((h + P - kh*D)/S, (w + P - kw*D)/S)
 * is exact and in range of w[kh][kw] * dy[oh][ow].
 * NDRange: 1-D over S*N*C*H rows, guarded. */
__kernel void dwconv_bwd_data_rows(__global const float *wt, int w_off, __global const float *dy, int dy_off,
                                   __global float *dx, int dx_off, int rows, int C, int xcs, int ycs, int H, int W,
                                   int Hout, int Wout, int accum)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int ql = r / H, h = r - ql * H, sn = ql / C, c = ql - sn * C;
    __global const float *dyq = dy + dy_off + (size_t)(sn * ycs + c) * Hout * Wout;
    __global const float *wp = wt + w_off + c * KK;
    __global float *dxr = dx + dx_off + ((size_t)(sn * xcs + c) * H + h) * W;
    float u[DW_MAXW + 2 * DW_P];
    float8 acc[DW_MAXW / 8];
    DW_UNROLL for (int b = 0; b < DW_RW / 8; b++) acc[b] = 0.0f;
    for (int kh = 0; kh < DW_K; kh++) {
        const int th = h + DW_P - kh * DW_D;
        if (th < 0 || th % DW_S) continue;
        const int oh = th / DW_S;
        if (oh >= Hout) continue;
#if DW_SHIFT
        float8 v[DW_W / 8]; /* dy's row on the input grid (stride 2: zeros between its values) */
#if DW_S == 1
        DW_UNROLL for (int b = 0; b < DW_W / 8; b++) v[b] = vload8(0, dyq + oh * DW_W + 8 * b);
#else
        DW_UNROLL for (int b = 0; b < DW_W / 8; b++) {
            const float4 q = vload4(0, dyq + oh * (DW_W / 2) + 4 * b);
            v[b] = (float8)(q.s0, 0.0f, q.s1, 0.0f, q.s2, 0.0f, q.s3, 0.0f);
        }
#endif
        DW_UNROLL for (int kw = 0; kw < DW_K; kw++) {
            const float wv = wp[kh * DW_K + kw];
            DW_UNROLL for (int b = 0; b < DW_W / 8; b++) acc[b] += wv * dw_row_at(v, DW_W / 8, b, DW_P - kw * DW_D);
        }
        continue;
#endif
        dw_spread_row(dyq + oh * Wout, Wout, DW_RW, u);
        DW_UNROLL for (int kw = 0; kw < DW_K; kw++) {
            const float wv = wp[kh * DW_K + kw];
            /* the dy value landing on column w + P - kw*D is u[w + 2P - kw*D] */
            DW_UNROLL for (int b = 0; b < DW_RW / 8; b++) acc[b] += wv * vload8(0, u + 8 * b + DW_B - kw * DW_D);
        }
    }
    DW_UNROLL for (int b = 0; b < DW_RW / 8; b++)
        vstore8(accum ? vload8(0, dxr + 8 * b) + acc[b] : acc[b], 0, dxr + 8 * b);
}

/* dwconv_bwd_weight_rows: dwconv_bwd_weight with the sum over output columns as float8
 * vectors. Work-group (L items) per (c, s): item lid takes the output rows e = lid, lid + L,
 * ... of the N*Hout (n = e / Hout, oh = e % Hout), then a local tree adds the items
 * (red: L*K*K). x[ih][ow*S - P + kw*D] = u[ow*S + kw*D] with u the zero-bordered row;
 * stride 2 reads it through its even / odd halves. NDRange: 3-D (L, C, S), local (L, 1, 1). */
__kernel void dwconv_bwd_weight_rows(__global const float *x, int x_off, __global const float *dy, int dy_off,
                                     __global float *dw, int dw_off, int g_ld, int N, int C, int xcs, int ycs,
                                     int H, int W, int Hout, int Wout, __local float *red)
{
    const int lid = (int)get_local_id(0), L = (int)get_local_size(0);
    const int c = (int)get_global_id(1), s = (int)get_global_id(2);
    float8 acc[KK];
    for (int j = 0; j < KK; j++) acc[j] = 0.0f;
    float u[DW_MAXW + 2 * DW_P];
#if DW_S == 2
    float ev[DW_MAXW / 2 + DW_P + 1], od[DW_MAXW / 2 + DW_P + 1];
#endif
    for (int e = lid; e < N * Hout; e += L) {
        const int n = e / Hout, oh = e - n * Hout;
        __global const float *dyr = dy + dy_off + ((size_t)((s * N + n) * ycs + c) * Hout + oh) * Wout;
        __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * W;
        for (int kh = 0; kh < DW_K; kh++) {
            const int ih = oh * DW_S - DW_P + kh * DW_D;
            if (ih < 0 || ih >= H) continue;
            dw_pad_row(xp + ih * W, DW_RW, u);
#if DW_S == 2
            for (int j = 0; 2 * j < W + 2 * DW_P; j++) {
                ev[j] = u[2 * j];
                od[j] = 2 * j + 1 < W + 2 * DW_P ? u[2 * j + 1] : 0.0f;
            }
#endif
            for (int b = 0; b < Wout / 8; b++) {
                const float8 g = vload8(0, dyr + 8 * b);
                for (int kw = 0; kw < DW_K; kw++) {
#if DW_S == 1
                    const float8 xv = vload8(0, u + 8 * b + kw * DW_D);
#else
                    const int o = kw * DW_D; /* u[2 ow + o] */
                    const float8 xv = (o & 1) ? vload8(0, od + 8 * b + o / 2) : vload8(0, ev + 8 * b + o / 2);
#endif
                    acc[kh * DW_K + kw] += g * xv;
                }
            }
        }
    }
    for (int j = 0; j < KK; j++) {
        const float8 a = acc[j];
        const float4 q = a.lo + a.hi;
        const float2 d = q.lo + q.hi;
        red[j * L + lid] = d.lo + d.hi;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int hs = L >> 1; hs > 0; hs >>= 1) {
        if (lid < hs)
            for (int j = 0; j < KK; j++) red[j * L + lid] += red[j * L + lid + hs];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int j = lid; j < KK; j += L) dw[dw_off + s * g_ld + c * KK + j] = red[j * L];
}

#ifdef DW_W
/* dwconv_bwd_weight_tap_rows (CPU-shaped, built with -DDW_W = W): one work-item per (kh, c, s)
 * sums the K weights of tap row kh over all N*Hout output rows itself: K float8 sums in
 * registers, the row loops unrolled, no work-group, barrier or local memory (the work-group
 * kernels above keep K*K float8 sums per item and add 64 items in a local tree, which PoCL
 * runs as 64 copies of the sums in memory). Summation: per lane over the rows in order, then
 * the 8 lanes pairwise. x's row ih = oh*S - P + kh*D is copied zero-bordered as in
 * dwconv_bwd_weight_rows. NDRange: 1-D over K*C*S items (item = (s*C + c)*K + kh), guarded. */
__kernel void dwconv_bwd_weight_tap_rows(__global const float *x, int x_off, __global const float *dy, int dy_off,
                                         __global float *dw, int dw_off, int g_ld, int N, int C, int xcs, int ycs,
                                         int H, int Hout, int items)
{
    const int it = (int)get_global_id(0);
    CLNAS_GUARD(it < items);
    const int kh = it % DW_K, sc = it / DW_K, s = sc / C, c = sc - s * C;
    const int Wout = DW_W / DW_S;
    float8 acc[DW_K];
    DW_UNROLL for (int j = 0; j < DW_K; j++) acc[j] = 0.0f;
    float u[DW_W + 2 * DW_P];
#if DW_S == 2
    float ev[DW_W / 2 + DW_P + 1], od[DW_W / 2 + DW_P + 1];
#endif
    for (int n = 0; n < N; n++) {
        __global const float *dyp = dy + dy_off + (size_t)((s * N + n) * ycs + c) * Hout * Wout;
        __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * DW_W;
        for (int oh = 0; oh < Hout; oh++) {
            const int ih = oh * DW_S - DW_P + kh * DW_D;
            if (ih < 0 || ih >= H) continue;
#if DW_SHIFT && DW_S == 1
            float8 v[DW_W / 8];
            DW_UNROLL for (int b = 0; b < DW_W / 8; b++) v[b] = vload8(0, xp + ih * DW_W + 8 * b);
            DW_UNROLL for (int b = 0; b < DW_W / 8; b++) {
                const float8 g = vload8(0, dyp + oh * DW_W + 8 * b);
                DW_UNROLL for (int kw = 0; kw < DW_K; kw++) acc[kw] += g * dw_row_at(v, DW_W / 8, b, kw * DW_D - DW_P);
            }
            continue;
#elif DW_SHIFT
            /* x[ih][2 ow + o], o = kw*D - P: the even (o even) or odd columns shifted by floor(o / 2) */
            float8 ve[DW_W / 16], vo[DW_W / 16];
            DW_UNROLL for (int b = 0; b < DW_W / 16; b++) {
                const float16 r16 = vload16(0, xp + ih * DW_W + 16 * b);
                ve[b] = r16.even;
                vo[b] = r16.odd;
            }
            DW_UNROLL for (int b = 0; b < DW_W / 16; b++) {
                const float8 g = vload8(0, dyp + oh * (DW_W / 2) + 8 * b);
                DW_UNROLL for (int kw = 0; kw < DW_K; kw++) {
                    const int o = kw * DW_D - DW_P;
                    acc[kw] += g * ((o & 1) ? dw_row_at(vo, DW_W / 16, b, (o - 1) / 2) : dw_row_at(ve, DW_W / 16, b, o / 2));
                }
            }
            continue;
#endif
            dw_pad_row(xp + ih * DW_W, DW_W, u);
#if DW_S == 2
            DW_UNROLL for (int j = 0; 2 * j < DW_W + 2 * DW_P; j++) {
                ev[j] = u[2 * j];
                od[j] = 2 * j + 1 < DW_W + 2 * DW_P ? u[2 * j + 1] : 0.0f;
            }
#endif
            DW_UNROLL for (int b = 0; b < Wout / 8; b++) {
                const float8 g = vload8(0, dyp + oh * Wout + 8 * b);
                DW_UNROLL for (int kw = 0; kw < DW_K; kw++) {
#if DW_S == 1
                    const float8 xv = vload8(0, u + 8 * b + kw * DW_D);
#else
                    const int o = kw * DW_D; /* u[2 ow + o] */
                    const float8 xv = (o & 1) ? vload8(0, od + 8 * b + o / 2) : vload8(0, ev + 8 * b + o / 2);
#endif
                    acc[kw] += g * xv;
                }
            }
        }
    }
    DW_UNROLL for (int kw = 0; kw < DW_K; kw++) {
        const float8 a = acc[kw];
        const float4 q = a.lo + a.hi;
        const float2 d = q.lo + q.hi;
        dw[dw_off + s * g_ld + c * KK + kh * DW_K + kw] = d.lo + d.hi;
    }
}
#endif

#if DW_SHIFT && DW_S == 1
/* dwconv_fwd_rows (CPU-shaped, stride 1, built with -DDW_W = W): dwconv_fwd for one output row
 * r = p*H + oh (p = n*C + c) per work-item as float8 vectors: each in-range input row
 * ih = oh - P + kh*D is loaded once and its taps shuffled from its vectors; the taps add in
 * dwconv_fwd's (kh, kw) order. NDRange: 1-D over N*C*H rows, guarded. */
__kernel void dwconv_fwd_rows(__global const float *x, int x_off, __global const float *wt, int w_off,
                              __global float *y, int y_off, int rows, int C, int xcs, int ycs, int H)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const int pl = r / H, oh = r - pl * H, n = pl / C, c = pl - n * C;
    __global const float *xp = x + x_off + (size_t)(n * xcs + c) * H * DW_W;
    __global const float *wp = wt + w_off + c * KK;
    float8 acc[DW_W / 8], v[DW_W / 8];
    DW_UNROLL for (int b = 0; b < DW_W / 8; b++) acc[b] = 0.0f;
    for (int kh = 0; kh < DW_K; kh++) {
        const int ih = oh - DW_P + kh * DW_D;
        if (ih < 0 || ih >= H) continue;
        DW_UNROLL for (int b = 0; b < DW_W / 8; b++) v[b] = vload8(0, xp + ih * DW_W + 8 * b);
        DW_UNROLL for (int kw = 0; kw < DW_K; kw++) {
            const float wv = wp[kh * DW_K + kw];
            DW_UNROLL for (int b = 0; b < DW_W / 8; b++) acc[b] += wv * dw_row_at(v, DW_W / 8, b, kw * DW_D - DW_P);
        }
    }
    __global float *yr = y + y_off + ((size_t)(n * ycs + c) * H + oh) * DW_W;
    DW_UNROLL for (int b = 0; b < DW_W / 8; b++) vstore8(acc[b], 0, yr + 8 * b);
}
#endif
#endif
