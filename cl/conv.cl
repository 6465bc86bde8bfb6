/* conv.cl - 2-D convolution (PyTorch Conv2d: no bias, groups 1, dilation 1, zero padding).
 *
 * Built with -DK=<kernel size> (clnas uses K = 1 and 3) and the block sizes -DCB (input
 * channels per conv_bwd_data work-item) and -DQB (dy rows per conv_bwd_weight work-group):
 * the K x K tap loops unroll and the accumulators stay in registers. Every other shape is an
 * int argument, so one program per K serves all shapes.
 *
 * Layouts (all contiguous float32, every buffer paired with an int offset in floats):
 *   x  [N][cin][h][wd]            forward input, shared by all seeds
 *   w  [cout][cin][K][K]
 *   y  [N][cout][hout][wout]
 *   dy [S][N][cout][hout][wout]   one gradient per seed
 *   (y and dy may be channel slices of a wider storage of ycs >= cout channels: sample b
 *   then starts b*ycs*hout*wout floats after the slice's first element)
 *   dx [S][N][cin][h][wd]         accumulated (+=)
 *   dw seed s at dwoff + s*g_ld, [cout][cin][K][K] inside, overwritten
 * with hout = (h + 2*pad - K)/stride + 1 (likewise wout). The host checks that every index
 * fits in an int. */
#ifndef K
#error "conv.cl must be built with -DK=<kernel size>"
#endif
#define KK (K * K)
#ifndef CB
#define CB 4 /* input channels per work-item in conv_bwd_data */
#endif
#ifndef QB
#define QB 2 /* dy rows (seed, cout) per work-group in conv_bwd_weight */
#endif

/* conv_fwd: y[b][co][oh][ow] = sum_{ci,kh,kw} w[co][ci][kh][kw] * x[b][ci][oh*stride-pad+kh][ow*stride-pad+kw]
 * NDRange 1-D: one work-item per output element,
 *   gid = ((b*cout + co)*hout + oh)*wout + ow,  global size >= nb*cout*hout*wout (guarded),
 *   any local size. y is overwritten. */
__kernel void conv_fwd(__global const float *x, int xoff, __global const float *w, int woff,
                       __global float *y, int yoff, int nb, int cin, int h, int wd, int cout,
                       int stride, int pad, int hout, int wout, int ycs)
{
    const int gid = (int)get_global_id(0);
    CLNAS_GUARD(gid < nb * cout * hout * wout);
    const int ow = gid % wout;
    int t = gid / wout;
    const int oh = t % hout;
    t /= hout;
    const int co = t % cout;
    const int b = t / cout;
    const int ih0 = oh * stride - pad, iw0 = ow * stride - pad;
    const int hw = h * wd;
    __global const float *xb = x + xoff + b * cin * hw;
    __global const float *wb = w + woff + co * cin * KK;
    float acc = 0.0f;
    for (int kh = 0; kh < K; kh++) {
        const int ih = ih0 + kh;
        if (ih < 0 || ih >= h) continue;
        for (int kw = 0; kw < K; kw++) {
            const int iw = iw0 + kw;
            if (iw < 0 || iw >= wd) continue;
            __global const float *xp = xb + ih * wd + iw;
            __global const float *wp = wb + kh * K + kw;
            for (int ci = 0; ci < cin; ci++) acc += wp[ci * KK] * xp[ci * hw];
        }
    }
    y[yoff + ((b * ycs + co) * hout + oh) * wout + ow] = acc;
}

/* conv_bwd_data: dx[b][ci][ih][iw] (+)= sum over (co, kh, kw) with oh = (ih+pad-kh)/stride and
 * ow = (iw+pad-kw)/stride exact and in range of w[co][ci][kh][kw] * dy[b][co][oh][ow].
 * Seeds and samples share one batch index b = s*N + n (dy and dx are both [S][N][...] and w
 * is shared), so nb = S*N. Each work-item computes CB input channels of one pixel, which
 * share every dy load (a gather: no races, no atomics).
 * NDRange 1-D: gid = ((b*ncb + cb)*h + ih)*wd + iw with ncb = ceil(cin/CB), channels
 *   ci = cb*CB .. cb*CB+CB-1 (< cin); global size >= nb*ncb*h*wd (guarded), any local size. */
__kernel void conv_bwd_data(__global const float *w, int woff, __global const float *dy, int dyoff,
                            __global float *dx, int dxoff, int nb, int cin, int h, int wd,
                            int cout, int stride, int pad, int hout, int wout,
                            __global const float *mask, int moff, int mN, int mask_m, int accum, int ycs)
{
    const int gid = (int)get_global_id(0);
    const int ncb = (cin + CB - 1) / CB;
    CLNAS_GUARD(gid < nb * ncb * h * wd);
    const int iw = gid % wd;
    int t = gid / wd;
    const int ih = t % h;
    t /= h;
    const int cb = t % ncb;
    const int b = t / ncb;
    const int ci0 = cb * CB;
    const int ohw = hout * wout;
    __global const float *dyb = dy + dyoff + b * ycs * ohw;
    int wc[CB]; /* weight offsets of the block's channels (clamped: extra lanes are never stored) */
    for (int c = 0; c < CB; c++) wc[c] = woff + min(ci0 + c, cin - 1) * KK;
    const int wco = cin * KK; /* stride of co in w */
    float acc[CB];
    for (int c = 0; c < CB; c++) acc[c] = 0.0f;
    for (int kh = 0; kh < K; kh++) {
        const int ohs = ih + pad - kh;
        if (ohs < 0) continue;
        const int oh = ohs / stride;
        if (oh * stride != ohs || oh >= hout) continue;
        for (int kw = 0; kw < K; kw++) {
            const int ows = iw + pad - kw;
            if (ows < 0) continue;
            const int ow = ows / stride;
            if (ow * stride != ows || ow >= wout) continue;
            __global const float *dp = dyb + oh * wout + ow;
            const int tap = kh * K + kw;
            for (int co = 0; co < cout; co++) {
                const float g = dp[co * ohw];
                for (int c = 0; c < CB; c++) acc[c] += w[wc[c] + co * wco + tap] * g;
            }
        }
    }
    const int hw = h * wd, pixel = ih * wd + iw;
    for (int c = 0; c < CB; c++) {
        if (ci0 + c >= cin) continue;
        __global float *d = dx + dxoff + (b * cin + ci0 + c) * hw + pixel;
        const float old = accum ? *d : 0.0f;
        /* mask_m: the input was relu(mask) (mask shared by the seeds), the gradient flows on
           to mask, nothing where mask <= 0 (a select: a non-finite acc there is dropped) */
        const int through = !mask_m || mask[moff + ((b % mN) * cin + ci0 + c) * hw + pixel] > 0.0f;
        *d = through ? old + acc[c] : old;
    }
}

/* conv_bwd_weight: partial sums of
 *   dw[s][co][ci][kh][kw] = sum_{n,oh,ow} dy[s][n][co][oh][ow] * x[n][ci][oh*stride-pad+kh][ow*stride-pad+kw]
 * Rows q = s*cout + co of dy ([S][N][cout] flattened; row q of sample b starts at
 * (s*N*cout + co)*hout*wout + b*cout*hout*wout) are taken QB at a time: they share every x tap.
 * NDRange 3-D: global (P*L, cin, ceil(S*cout/QB)), local (L, 1, 1), L a power of two.
 *   Work-group (p, ci, qb) computes rows q in [qb*QB, qb*QB+QB) for input channel ci over the
 *   samples b in [p*bchunk, min(N, (p+1)*bchunk)) (part p). Work-item lid takes the output
 *   pixels pix = lid, lid+L, ... < hout*wout (adjacent items read adjacent dy/x: coalesced;
 *   the loop runs the same trip count in every item, the tail items contribute zeros),
 *   and for each pixel loops over the part's samples with QB*K*K sums in registers; a
 *   local-memory tree (red: L*QB*K*K floats) then combines the L work-items.
 * Output: out[ooff + p*part_ld + s*seed_ld + (co*cin + ci)*K*K + kh*K + kw] = part p's sum.
 *   Single part: out = dw, seed_ld = g_ld, part_ld = 0 (final result directly);
 *   several parts: out = workspace, seed_ld = W = cout*cin*K*K, part_ld = S*W, then
 *   conv_bwd_weight_reduce adds the parts. */
__kernel void conv_bwd_weight(__global const float *x, int xoff, __global const float *dy, int dyoff,
                              __global float *out, int ooff, int n, int cin, int h, int wd,
                              int cout, int stride, int pad, int hout, int wout, int nq,
                              int bchunk, int seed_ld, int part_ld, int ycs, __local float *red)
{
    const int lid = (int)get_local_id(0);
    const int L = (int)get_local_size(0);
    const int p = (int)get_group_id(0);
    const int ci = (int)get_global_id(1); /* exact range */
    const int q0 = (int)get_global_id(2) * QB; /* exact range */
    const int ohw = hout * wout, hw = h * wd;
    const int b0 = p * bchunk;
    const int b1 = (n - b0 < bchunk) ? n : b0 + bchunk;
    const int dyn = ycs * ohw, xn = cin * hw; /* per-sample strides */
    int row[QB];
    for (int j = 0; j < QB; j++) {
        const int q = min(q0 + j, nq - 1); /* rows past the end compute garbage, never stored */
        const int s = q / cout, co = q - s * cout;
        row[j] = dyoff + (s * n * ycs + co) * ohw;
    }
    __global const float *xc = x + xoff + ci * hw;

    float acc[QB * KK];
    for (int j = 0; j < QB * KK; j++) acc[j] = 0.0f;
    for (int base = 0; base < ohw; base += L) { /* same trip count for the whole group */
        const bool live = base + lid < ohw;
        const int pix = live ? base + lid : ohw - 1; /* dead items read a valid pixel, add 0 */
        const int oh = pix / wout;
        const int ow = pix - oh * wout;
        const int ih0 = oh * stride - pad, iw0 = ow * stride - pad;
        for (int b = b0; b < b1; b++) {
            __global const float *xp = xc + b * xn;
            const int d = b * dyn + pix;
            float g[QB];
            for (int j = 0; j < QB; j++) g[j] = live ? dy[row[j] + d] : 0.0f;
            for (int kh = 0; kh < K; kh++) {
                const int ih = ih0 + kh;
                const bool okh = ih >= 0 && ih < h;
                for (int kw = 0; kw < K; kw++) {
                    const int iw = iw0 + kw;
                    const bool ok = okh && iw >= 0 && iw < wd;
                    const float xv = ok ? xp[ok ? ih * wd + iw : 0] : 0.0f;
                    for (int j = 0; j < QB; j++) acc[j * KK + kh * K + kw] += g[j] * xv;
                }
            }
        }
    }
    for (int j = 0; j < QB * KK; j++) red[j * L + lid] = acc[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int hs = L >> 1; hs > 0; hs >>= 1) {
        if (lid < hs)
            for (int j = 0; j < QB * KK; j++) red[j * L + lid] += red[j * L + lid + hs];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    for (int e = lid; e < QB * KK; e += L) {
        const int q = q0 + e / KK;
        if (q < nq) {
            const int s = q / cout, co = q - s * cout;
            out[ooff + p * part_ld + s * seed_ld + (co * cin + ci) * KK + e % KK] = red[e * L];
        }
    }
}

/* conv_bwd_weight_reduce: dw[dwoff + s*g_ld + j] = sum_{p<P} ws[wsoff + (p*S + s)*W + j],
 * the parts in a fixed order (deterministic).
 * NDRange 1-D: one work-item per (s, j), gid = s*W + j, global size >= S*W (guarded). */
__kernel void conv_bwd_weight_reduce(__global const float *ws, int wsoff, __global float *dw, int dwoff,
                                     int S, int W, int P, int g_ld)
{
    const int gid = (int)get_global_id(0);
    CLNAS_GUARD(gid < S * W);
    const int s = gid / W, j = gid - s * W;
    const int SW = S * W;
    float acc = 0.0f;
    for (int p = 0; p < P; p++) acc += ws[wsoff + p * SW + gid];
    dw[dwoff + s * g_ld + j] = acc;
}
