/* bn.cl - BatchNorm2d in train mode (batch statistics, biased variance), PyTorch semantics.
 *
 * Layout: x, y are [N][C][HW] (NCHW, HW = H*W); gradients are [S][N][C][HW]. M = N*HW is
 * the number of elements of one channel. stats = [mean(C) | invstd(C)].
 *
 * The program is built with -DBN_VW=8, 4 or 1: the vector width of the loads, chosen by the
 * host as the largest that divides HW (a channel of one sample, HW contiguous floats, is then
 * a whole number of vectors). vloadn needs only float alignment, so offsets stay arbitrary.
 *
 * One work-group handles one channel (forward) or one (seed, channel) (backward) from start
 * to end: it reduces, combines the per-item partial sums with a tree in local memory, and
 * then applies the elementwise pass over the same channel while it is still in cache, so a
 * call is one launch. Every work item sums its vectors (see SEG_FOR) serially with Kahan
 * compensation per lane (blocks of four on CPUs); the lanes are then added in a fixed order. No long plain float
 * sums occur even for M ~ 1e5, and the result does not depend on scheduling. */

#define BN_MAX_WG 256

#ifndef BN_VW
#define BN_VW 1
#endif

/* Which vectors of the channel a work item visits (v in [0, MV), MV = N*HW/BN_VW):
 *  BN_CONTIG=0 (GPUs): v = lid, lid + lsz, ... — neighbouring items read neighbouring vectors
 *    at the same time (coalesced);
 *  BN_CONTIG=1 (CPUs): a contiguous run of about MV/lsz vectors per item — PoCL runs a group's
 *    items one after another, so each item streams through its own run (hardware prefetch)
 *    instead of touching one vector every lsz*BN_VW floats.
 * Vector v is sample n = v / HWV, position iv * BN_VW with iv = v - n*HWV, HWV = HW / BN_VW.
 * BN_SPAN sets up v_lo, v_hi and the start (n0, i0). SEG_FOR(e, len) then walks the item's
 * vectors as segments: e = the segment's first float (from the channel's start of sample 0),
 * len = its length in vectors, contiguous in memory. CPU-shaped: one segment per sample the
 * run touches (up to HWV vectors each); GPU-shaped: one vector per segment (len = 1, stepping
 * (n, iv) by (dn, di) with one carry: no integer division per vector). nsi = C * HW. */
/* BN_EVAL=1: bn_bwd of eval mode (cl/bn_eval.cl's forward): the statistics in `stats` are fixed
 * constants, so dx = gamma * invstd * g without the batch-statistics terms; dgamma, dbeta as in
 * train mode. */
#ifndef BN_EVAL
#define BN_EVAL 0
#endif

#ifndef BN_CONTIG
#define BN_CONTIG 0
#endif
#if BN_CONTIG
#define BN_SPAN(lid, lsz, MV, HWV)                                                        \
    const int per_ = ((MV) + (lsz) - 1) / (lsz);                                          \
    const int v_lo = min((lid) * per_, (MV)), v_hi = min(v_lo + per_, (MV));             \
    const int n0 = v_lo / (HWV), i0 = v_lo - n0 * (HWV)
#define SEG_FOR(e, len)                                                                              \
    for (int v_ = v_lo, n_ = n0, len = min(HWV - i0, v_hi - v_lo), e = n0 * nsi + i0 * BN_VW; v_ < v_hi; \
         v_ += len, n_++, len = min(HWV, v_hi - v_), e = n_ * nsi)
#else
#define BN_SPAN(lid, lsz, MV, HWV)                                                        \
    const int v_lo = (lid), v_hi = (MV);                                                  \
    const int n0 = (lid) / (HWV), i0 = (lid) - n0 * (HWV);                                \
    const int vs = (lsz), dn = (lsz) / (HWV), di = (lsz) - dn * (HWV)
#define SEG_FOR(e, len)                                                                        \
    for (int v_ = v_lo, n_ = n0, iv_ = i0, len = 1, e = n0 * nsi + i0 * BN_VW; v_ < v_hi;      \
         v_ += vs, n_ += dn, iv_ += di, (iv_ >= HWV ? (iv_ -= HWV, n_++) : 0), e = n_ * nsi + iv_ * BN_VW)
#endif

#if BN_VW == 8
#define VT float8
#define VLOAD(p) vload8(0, (p))
#define VSTORE(v, p) vstore8((v), 0, (p))
#define HSUM(v) ((((v).s0 + (v).s1) + ((v).s2 + (v).s3)) + (((v).s4 + (v).s5) + ((v).s6 + (v).s7)))
#elif BN_VW == 4
#define VT float4
#define VLOAD(p) vload4(0, (p))
#define VSTORE(v, p) vstore4((v), 0, (p))
#define HSUM(v) (((v).s0 + (v).s1) + ((v).s2 + (v).s3))
#elif BN_VW == 1
#define VT float
#define VLOAD(p) (*(p))
#define VSTORE(v, p) (*(p) = (v))
#define HSUM(v) (v)
#else
#error "BN_VW must be 1, 4 or 8"
#endif

/* Kahan step: adds v to (sum, comp), lane-wise. The compiler keeps this exact (no fast-math). */
#define KAHAN_ADD(sum, comp, v)          \
    do {                                 \
        VT y_ = (v) - (comp);            \
        VT t_ = (sum) + y_;              \
        (comp) = (t_ - (sum)) - y_;      \
        (sum) = t_;                      \
    } while (0)

/* The segment sums add four vectors per compensated step: the four are summed plainly,
 * ((a + b) + (c + d)), and the block goes through KAHAN_ADD; the rest one by one. The four loads
 * are independent, so a long segment is not bound by the latency of one Kahan chain (four
 * dependent adds per vector), and no plain sum has more than four terms. A one-vector segment
 * (GPU-shaped) is one KAHAN_ADD, as before. */

/* (s, comp) += sum of a[j] over a segment of len vectors; with sq, of (a[j] - mean)^2 instead. */
static void seg_sum(__global const float *a, int len, float mean, int sq, VT *s, VT *comp)
{
    int j = 0;
    for (; j + 4 <= len; j += 4) {
        VT a0 = VLOAD(a + j * BN_VW), a1 = VLOAD(a + (j + 1) * BN_VW);
        VT a2 = VLOAD(a + (j + 2) * BN_VW), a3 = VLOAD(a + (j + 3) * BN_VW);
        if (sq) {
            a0 = (a0 - mean) * (a0 - mean);
            a1 = (a1 - mean) * (a1 - mean);
            a2 = (a2 - mean) * (a2 - mean);
            a3 = (a3 - mean) * (a3 - mean);
        }
        KAHAN_ADD(*s, *comp, (a0 + a1) + (a2 + a3));
    }
    for (; j < len; j++) {
        VT a0 = VLOAD(a + j * BN_VW);
        if (sq) a0 = (a0 - mean) * (a0 - mean);
        KAHAN_ADD(*s, *comp, a0);
    }
}

/* The backward's two sums over a segment: (s1, c1) += sum g, (s2, c2) += sum g * xhat, with
 * g = dy[j] and xhat = (x[j] - mean) * invstd. */
static void seg_sum_bwd(__global const float *dy, __global const float *x, int len, float mean, float invstd,
                        VT *s1, VT *c1, VT *s2, VT *c2)
{
    int j = 0;
    for (; j + 4 <= len; j += 4) {
        const VT g0 = VLOAD(dy + j * BN_VW), g1 = VLOAD(dy + (j + 1) * BN_VW);
        const VT g2 = VLOAD(dy + (j + 2) * BN_VW), g3 = VLOAD(dy + (j + 3) * BN_VW);
        const VT h0 = (VLOAD(x + j * BN_VW) - mean) * invstd, h1 = (VLOAD(x + (j + 1) * BN_VW) - mean) * invstd;
        const VT h2 = (VLOAD(x + (j + 2) * BN_VW) - mean) * invstd, h3 = (VLOAD(x + (j + 3) * BN_VW) - mean) * invstd;
        KAHAN_ADD(*s1, *c1, (g0 + g1) + (g2 + g3));
        KAHAN_ADD(*s2, *c2, (g0 * h0 + g1 * h1) + (g2 * h2 + g3 * h3));
    }
    for (; j < len; j++) {
        const VT g = VLOAD(dy + j * BN_VW);
        const VT h = (VLOAD(x + j * BN_VW) - mean) * invstd;
        KAHAN_ADD(*s1, *c1, g);
        KAHAN_ADD(*s2, *c2, g * h);
    }
}

/* Tree sum of buf[0..lsz) into buf[0]; lsz is a power of two. Ends with a barrier. */
static void bn_tree(__local float *buf, int lid, int lsz)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = lsz >> 1; h > 0; h >>= 1) {
        if (lid < h) buf[lid] += buf[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* Same for two buffers at once. */
static void bn_tree2(__local float *b1, __local float *b2, int lid, int lsz)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = lsz >> 1; h > 0; h >>= 1) {
        if (lid < h) {
            b1[lid] += b1[lid + h];
            b2[lid] += b2[lid + h];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

/* bn_fwd: per-channel mean and invstd = 1/sqrt(var_biased + eps) (two passes), written to
 * stats, then y = gamma[c] * (x - mean[c]) * invstd[c] + beta[c] over the channel.
 * NDRange: 1-D, global = C * lws, local = lws (power of two <= BN_MAX_WG); group = channel.
 * The work items walk the channel's vectors as SEG_FOR says (above). */
__kernel void bn_fwd(__global const float *x, int x_off, __global const float *gamma, int g_off,
                     __global const float *beta, int b_off, __global float *stats, int st_off,
                     __global float *y, int y_off, int N, int C, int HW, float eps)
{
    __local float buf[BN_MAX_WG];
    const int c = (int)get_group_id(0);
    const int lid = (int)get_local_id(0);
    const int lsz = (int)get_local_size(0);
    const int HWV = HW / BN_VW;
    const int MV = N * HWV;
    BN_SPAN(lid, lsz, MV, HWV);
    const int M = N * HW, nsi = C * HW;
    __global const float *xc = x + x_off + (size_t)c * HW;

    VT s = 0.0f, comp = 0.0f;
    SEG_FOR(e, len) seg_sum(xc + e, len, 0.0f, 0, &s, &comp);
    buf[lid] = HSUM(s);
    bn_tree(buf, lid, lsz);
    const float mean = buf[0] / (float)M;
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read buf[0] before it is overwritten */

    s = 0.0f;
    comp = 0.0f;
    SEG_FOR(e, len) seg_sum(xc + e, len, mean, 1, &s, &comp);
    buf[lid] = HSUM(s);
    bn_tree(buf, lid, lsz);
    const float invstd = 1.0f / sqrt(buf[0] / (float)M + eps);
    if (lid == 0) {
        stats[st_off + c] = mean;
        stats[st_off + C + c] = invstd;
    }

    const float ga = gamma[g_off + c], be = beta[b_off + c];
    __global float *yc = y + y_off + (size_t)c * HW;
    SEG_FOR(e, len) {
        for (int j = 0; j < len; j++) {
            const int f = e + j * BN_VW;
            const VT xhat = (VLOAD(xc + f) - mean) * invstd;
            VSTORE(ga * xhat + be, yc + f);
        }
    }
}

/* bn_bwd: the output gradient is g = dy_scale * dy (dy_scale folds in the coefficient of an
 * edge sum whose gradient is read directly instead of being copied into a tensor of its own).
 * For seed s and channel c, sdy = sum g and sdyx = sum g * xhat over the channel's M
 * elements; writes the parameter gradients dbeta[db_off + s*g_ld + c] = sdy and
 * dgamma[dg_off + s*g_ld + c] = sdyx (overwritten), then the train-mode input gradient
 *   gamma*invstd/M * (M*g - sdy - xhat*sdyx)
 * computed as gamma*invstd * (g - sdy/M - xhat*sdyx/M) over the channel of seed s, added to
 * dx when acc != 0, stored over it (dx not read) when acc == 0.
 * NDRange: 2-D, global = (C * lws, S), local = (lws, 1); group (c, s). x is shared by the
 * seeds; dy, dx are [S][N][C][HW]. */
__kernel void bn_bwd(__global const float *x, int x_off, __global const float *gamma, int g_off,
                     __global const float *stats, int st_off, __global const float *dy,
                     int dy_off, __global float *dx, int dx_off, __global float *dgamma,
                     int dg_off, __global float *dbeta, int db_off, int g_ld, int N, int C, int HW,
                     float dy_scale, int acc)
{
    __local float b1[BN_MAX_WG];
    __local float b2[BN_MAX_WG];
    const int c = (int)get_group_id(0);
    const int s = (int)get_global_id(1);
    const int lid = (int)get_local_id(0);
    const int lsz = (int)get_local_size(0);
    const int HWV = HW / BN_VW;
    const int MV = N * HWV;
    BN_SPAN(lid, lsz, MV, HWV);
    const int nsi = C * HW;
    const size_t soff = (size_t)s * N * nsi + (size_t)c * HW;
    __global const float *xc = x + x_off + (size_t)c * HW;
    __global const float *dyc = dy + dy_off + soff;
    __global float *dxc = dx + dx_off + soff;
    const float mean = stats[st_off + c], invstd = stats[st_off + C + c];

    VT s1 = 0.0f, c1 = 0.0f, s2 = 0.0f, c2 = 0.0f;
    SEG_FOR(e, len) seg_sum_bwd(dyc + e, xc + e, len, mean, invstd, &s1, &c1, &s2, &c2);
    b1[lid] = HSUM(s1);
    b2[lid] = HSUM(s2);
    bn_tree2(b1, b2, lid, lsz);
    const float sdy = b1[0] * dy_scale, sdyx = b2[0] * dy_scale;
    if (lid == 0) {
        dbeta[db_off + s * g_ld + c] = sdy;
        dgamma[dg_off + s * g_ld + c] = sdyx;
    }

    const float invM = 1.0f / (float)(N * HW);
#if BN_EVAL /* eval mode: fixed statistics, no batch-statistics terms: dx = gamma * invstd * g */
    const float a = 0.0f, b = 0.0f;
    (void)invM;
#else
    const float a = sdy * invM, b = sdyx * invM;
#endif
    const float k = gamma[g_off + c] * invstd;
    SEG_FOR(e, len) {
        for (int j = 0; j < len; j++) {
            const int f = e + j * BN_VW;
            const VT xh = (VLOAD(xc + f) - mean) * invstd;
            const VT g = VLOAD(dyc + f) * dy_scale - a - xh * b;
            if (acc)
                VSTORE(VLOAD(dxc + f) + k * g, dxc + f);
            else
                VSTORE(k * g, dxc + f);
        }
    }
}
