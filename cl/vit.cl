/* vit.cl - the vision-transformer kernels (As-ViT): LayerNorm, the bias and column sums of the
 * token linear (its products are CLBlast GEMMs), GELU (erf form) and tanh, the window
 * partition/reverse and the softmax of the window attention (its products are CLBlast
 * strided-batched GEMMs), unfold and the token mean-pool.
 *
 * Token tensors are [rows][d] row-major (rows = batch * tokens); every buffer comes with an
 * int offset in floats; gradients are [S][...] with the seed as the slowest index and the
 * forward activations shared by the seeds. `acc` != 0 adds into dx, acc == 0 overwrites it
 * without reading it. Ranges are rounded up by the host: every kernel guards its ids. */

/* ---------------- LayerNorm ---------------- */

/* ln_fwd: one work item per row: mean, biased variance (two passes), stats[row] = (mean,
 * invstd), y = gamma (x - mean) invstd + beta. NDRange: 1-D over rows. */
__kernel void ln_fwd(__global const float *x, int x_off, __global const float *gamma, int g_off,
                     __global const float *beta, int b_off, __global float *y, int y_off,
                     __global float *stats, int st_off, int rows, int d, float eps)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    __global const float *xr = x + x_off + (size_t)r * d;
    float s = 0.0f, c = 0.0f;
    for (int j = 0; j < d; j++) { /* Kahan: d reaches a few thousand (patch merging) */
        const float t = xr[j] - c, u = s + t;
        c = (u - s) - t;
        s = u;
    }
    const float mu = s / (float)d;
    float v = 0.0f;
    c = 0.0f;
    for (int j = 0; j < d; j++) {
        const float e = xr[j] - mu;
        const float t = e * e - c, u = v + t;
        c = (u - v) - t;
        v = u;
    }
    const float is = 1.0f / sqrt(v / (float)d + eps);
    stats[st_off + 2 * r] = mu;
    stats[st_off + 2 * r + 1] = is;
    __global float *yr = y + y_off + (size_t)r * d;
    for (int j = 0; j < d; j++) yr[j] = gamma[g_off + j] * ((xr[j] - mu) * is) + beta[b_off + j];
}

/* ln_bwd_data: for row r of seed s, g = dy * gamma,
 *   dx = invstd (g - mean(g) - xhat mean(g xhat)).
 * NDRange: 2-D (rows, S). */
__kernel void ln_bwd_data(__global const float *x, int x_off, __global const float *gamma, int g_off,
                          __global const float *stats, int st_off, __global const float *dy, int dy_off,
                          __global float *dx, int dx_off, int rows, int d, int acc)
{
    const int r = (int)get_global_id(0), s = (int)get_global_id(1);
    CLNAS_GUARD(r < rows);
    const float mu = stats[st_off + 2 * r], is = stats[st_off + 2 * r + 1];
    __global const float *xr = x + x_off + (size_t)r * d;
    const size_t row = ((size_t)s * rows + r) * d;
    __global const float *dyr = dy + dy_off + row;
    __global float *dxr = dx + dx_off + row;
    float sg = 0.0f, sgx = 0.0f;
    for (int j = 0; j < d; j++) {
        const float g = dyr[j] * gamma[g_off + j];
        sg += g;
        sgx += g * ((xr[j] - mu) * is);
    }
    sg /= (float)d;
    sgx /= (float)d;
    for (int j = 0; j < d; j++) {
        const float v = is * (dyr[j] * gamma[g_off + j] - sg - ((xr[j] - mu) * is) * sgx);
        dxr[j] = acc ? dxr[j] + v : v;
    }
}

/* ln_bwd_param: for feature j of seed s, over all rows (Kahan sums),
 *   dgamma[j] = sum dy xhat, dbeta[j] = sum dy, written at off + s*g_ld + j.
 * NDRange: 2-D (d, S). */
__kernel void ln_bwd_param(__global const float *x, int x_off, __global const float *stats, int st_off,
                           __global const float *dy, int dy_off, __global float *dgamma, int dg_off,
                           __global float *dbeta, int db_off, int g_ld, int rows, int d)
{
    const int j = (int)get_global_id(0), s = (int)get_global_id(1);
    CLNAS_GUARD(j < d);
    __global const float *dys = dy + dy_off + (size_t)s * rows * d + j;
    __global const float *xj = x + x_off + j;
    float sg = 0.0f, cg = 0.0f, sb = 0.0f, cb = 0.0f;
    for (int r = 0; r < rows; r++) {
        const float g = dys[(size_t)r * d];
        const float xh = (xj[(size_t)r * d] - stats[st_off + 2 * r]) * stats[st_off + 2 * r + 1];
        float t = g * xh - cg, u = sg + t;
        cg = (u - sg) - t;
        sg = u;
        t = g - cb;
        u = sb + t;
        cb = (u - sb) - t;
        sb = u;
    }
    dgamma[dg_off + (size_t)s * g_ld + j] = sg;
    dbeta[db_off + (size_t)s * g_ld + j] = sb;
}

/* ln_jvp: the tangent of row r, dy = gamma invstd (dx - mean(dx) - xhat mean(xhat dx)).
 * NDRange: 1-D over rows. */
__kernel void ln_jvp(__global const float *x, int x_off, __global const float *gamma, int g_off,
                     __global const float *stats, int st_off, __global const float *dx, int dx_off,
                     __global float *dy, int dy_off, int rows, int d)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < rows);
    const float mu = stats[st_off + 2 * r], is = stats[st_off + 2 * r + 1];
    __global const float *xr = x + x_off + (size_t)r * d, *t = dx + dx_off + (size_t)r * d;
    float m = 0.0f, mx = 0.0f;
    for (int j = 0; j < d; j++) {
        m += t[j];
        mx += ((xr[j] - mu) * is) * t[j];
    }
    m /= (float)d;
    mx /= (float)d;
    __global float *yr = dy + dy_off + (size_t)r * d;
    for (int j = 0; j < d; j++) yr[j] = gamma[g_off + j] * is * (t[j] - m - ((xr[j] - mu) * is) * mx);
}

/* ---------------- token linear: the parts that are not GEMMs ---------------- */

/* bias_rows: y[r][o] += b[o]. NDRange: 2-D (out, rows). */
__kernel void bias_rows(__global float *y, int y_off, __global const float *b, int b_off, int rows, int out)
{
    const int o = (int)get_global_id(0), r = (int)get_global_id(1);
    CLNAS_GUARD(o < out && r < rows);
    y[y_off + (size_t)r * out + o] += b[b_off + o];
}

/* col_sums: db[off + s*g_ld + o] = sum_r dy[s][r][o] (Kahan). NDRange: 2-D (out, S). */
__kernel void col_sums(__global const float *dy, int dy_off, __global float *db, int db_off, int g_ld,
                       int rows, int out)
{
    const int o = (int)get_global_id(0), s = (int)get_global_id(1);
    CLNAS_GUARD(o < out);
    __global const float *p = dy + dy_off + (size_t)s * rows * out + o;
    float sum = 0.0f, c = 0.0f;
    for (int r = 0; r < rows; r++) {
        const float t = p[(size_t)r * out] - c, u = sum + t;
        c = (u - sum) - t;
        sum = u;
    }
    db[db_off + (size_t)s * g_ld + o] = sum;
}

/* ---------------- GELU (exact, erf) and tanh ---------------- */

#define ACT_GELU 0
#define ACT_TANH 1

/* act_fwd: y = act(x). NDRange: 1-D over count. */
__kernel void act_fwd(__global const float *x, int x_off, __global float *y, int y_off, int count, int kind)
{
    const int i = (int)get_global_id(0);
    CLNAS_GUARD(i < count);
    const float v = x[x_off + i];
    y[y_off + i] = kind == ACT_GELU ? 0.5f * v * (1.0f + erf(v * 0.70710678118654752f)) : tanh(v);
}

/* act_bwd: dx[s][i] (+)= dy[s][i] act'(x[i]). NDRange: 2-D (count, S). */
__kernel void act_bwd(__global const float *x, int x_off, __global const float *dy, int dy_off,
                      __global float *dx, int dx_off, int count, int kind, int acc)
{
    const int i = (int)get_global_id(0);
    CLNAS_GUARD(i < count);
    const size_t e = (size_t)get_global_id(1) * count + i;
    const float v = x[x_off + i];
    float d;
    if (kind == ACT_GELU) {
        d = 0.5f * (1.0f + erf(v * 0.70710678118654752f)) + v * 0.39894228040143268f * exp(-0.5f * v * v);
    } else {
        const float t = tanh(v);
        d = 1.0f - t * t;
    }
    const float g = dy[dy_off + e] * d;
    dx[dx_off + e] = acc ? dx[dx_off + e] + g : g;
}

/* ---------------- window attention ----------------
 * Window layout of one part (q, k or v, or a gradient of one): [n][nwin][heads][wn][hd],
 * contiguous, so that every (sample, window, head) is one wn x hd matrix of a strided batch.
 * Token layout: [n][h*w][parts*c] with the features of a token [part][heads][hd]. */

/* Token t of sample b (flat index bt = b*h*w + t) -> its window-layout row base (without the
 * head), i.e. ((b*nwin + win)*heads)*wn + p; the head adds hh*wn. */
static size_t win_row(int bt, int h, int w, int wh, int ww, int heads)
{
    const int hw = h * w, b = bt / hw, t = bt - b * hw;
    const int y = t / w, x = t - y * w;
    const int nwx = w / ww, win = (y / wh) * nwx + x / ww;
    const int p = (y % wh) * ww + x % ww;
    const int nwin = (h / wh) * nwx;
    return ((size_t)(b * nwin + win) * heads) * (size_t)(wh * ww) + (size_t)p;
}

/* attn_gather: part q of token bt, feature f = hh*hd + dd, to the window layout:
 *   dst[q*part + (row(bt) + hh*wn)*hd + dd] = src[bt*(parts*c) + q*c + f] * (q == 0 ? scale0 : 1),
 * part = n*h*w*c floats. NDRange: 3-D (c, n*h*w, parts). */
__kernel void attn_gather(__global const float *src, int src_off, __global float *dst, int dst_off,
                          int ntok, int h, int w, int c, int heads, int wh, int ww, int parts, float scale0)
{
    const int f = (int)get_global_id(0), bt = (int)get_global_id(1), q = (int)get_global_id(2);
    CLNAS_GUARD(f < c && bt < ntok);
    const int hd = c / heads, hh = f / hd, dd = f - hh * hd;
    const size_t row = win_row(bt, h, w, wh, ww, heads) + (size_t)hh * (wh * ww);
    const float v = src[src_off + (size_t)bt * parts * c + (size_t)q * c + f];
    dst[dst_off + (size_t)q * ntok * c + row * hd + dd] = q == 0 ? v * scale0 : v;
}

/* attn_scatter: the reverse, into tokens: dst[bt*(parts*c) + q*c + f] (+)= src[...] * (q == 0 ?
 * scale0 : 1). NDRange: 3-D (c, n*h*w, parts). */
__kernel void attn_scatter(__global const float *src, int src_off, __global float *dst, int dst_off,
                           int ntok, int h, int w, int c, int heads, int wh, int ww, int parts, float scale0,
                           int acc)
{
    const int f = (int)get_global_id(0), bt = (int)get_global_id(1), q = (int)get_global_id(2);
    CLNAS_GUARD(f < c && bt < ntok);
    const int hd = c / heads, hh = f / hd, dd = f - hh * hd;
    const size_t row = win_row(bt, h, w, wh, ww, heads) + (size_t)hh * (wh * ww);
    float v = src[src_off + (size_t)q * ntok * c + row * hd + dd];
    if (q == 0) v *= scale0;
    const size_t e = dst_off + (size_t)bt * parts * c + (size_t)q * c + f;
    dst[e] = acc ? dst[e] + v : v;
}

#define SM_MAX_WG 256

/* Tree reduction of buf[0..lsz) into buf[0] (max when is_max, else sum); lsz a power of two.
 * Starts and ends with a barrier. */
static float sm_reduce(__local float *buf, int lid, int lsz, int is_max)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = lsz >> 1; h > 0; h >>= 1) {
        if (lid < h) buf[lid] = is_max ? fmax(buf[lid], buf[lid + h]) : buf[lid] + buf[lid + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* everyone has read buf[0] before it is reused */
    return r;
}

/* softmax_rows: each row of n scores in place, max-subtracted (numerically stable). One
 * work-group per row, its items striding through the row (contiguous loads across items).
 * NDRange: 1-D, global = nrows * lws, local = lws (a power of two <= SM_MAX_WG). */
__kernel void softmax_rows(__global float *p, int p_off, int nrows, int n)
{
    __local float buf[SM_MAX_WG];
    const int r = (int)get_group_id(0), lid = (int)get_local_id(0), lsz = (int)get_local_size(0);
    if (r >= nrows) return; /* whole groups only: the barriers stay uniform */
    __global float *row = p + p_off + (size_t)r * n;
    float mx = -INFINITY;
    for (int j = lid; j < n; j += lsz) mx = fmax(mx, row[j]);
    buf[lid] = mx;
    mx = sm_reduce(buf, lid, lsz, 1);
    float sum = 0.0f;
    for (int j = lid; j < n; j += lsz) {
        const float e = exp(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    buf[lid] = sum;
    const float inv = 1.0f / sm_reduce(buf, lid, lsz, 0);
    for (int j = lid; j < n; j += lsz) row[j] *= inv;
}

/* softmax_bwd_rows: dp (in place) becomes p * (dp - sum_j dp_j p_j) row by row; p is the
 * forward's probabilities (same row index). The softmax's Jacobian is symmetric, so this is
 * also its tangent map. NDRange as softmax_rows. */
__kernel void softmax_bwd_rows(__global const float *p, int p_off, __global float *dp, int dp_off, int nrows, int n)
{
    __local float buf[SM_MAX_WG];
    const int r = (int)get_group_id(0), lid = (int)get_local_id(0), lsz = (int)get_local_size(0);
    if (r >= nrows) return;
    __global const float *pr = p + p_off + (size_t)r * n;
    __global float *dr = dp + dp_off + (size_t)r * n;
    float rs = 0.0f;
    for (int j = lid; j < n; j += lsz) rs += dr[j] * pr[j];
    buf[lid] = rs;
    rs = sm_reduce(buf, lid, lsz, 0);
    for (int j = lid; j < n; j += lsz) dr[j] = pr[j] * (dr[j] - rs);
}

/* ---------------- unfold (zero padding pad before, Unfold k x k at stride st) ---------------- */

/* Input element (b, ch, iy, ix) in the input's layout. */
static size_t unf_in(int tok, int b, int ch, int iy, int ix, int c, int h, int w)
{
    return tok ? (((size_t)b * h + iy) * w + ix) * c + ch : (((size_t)b * c + ch) * h + iy) * w + ix;
}

/* unfold_fwd: y[b][oy][ox][ch*k*k + ki*k + kj] = x(b, ch, oy*st - pad + ki, ox*st - pad + kj),
 * 0 outside. NDRange: 2-D (c*k*k, n*ho*wo). */
__kernel void unfold_fwd(__global const float *x, int x_off, __global float *y, int y_off, int n, int c,
                         int h, int w, int k, int st, int pad, int ho, int wo, int tok)
{
    const int f = (int)get_global_id(0), o = (int)get_global_id(1);
    const int kk = k * k;
    CLNAS_GUARD(f < c * kk && o < n * ho * wo);
    const int b = o / (ho * wo), r = o - b * ho * wo, oy = r / wo, ox = r - oy * wo;
    const int ch = f / kk, ki = (f - ch * kk) / k, kj = f - ch * kk - ki * k;
    const int iy = oy * st - pad + ki, ix = ox * st - pad + kj;
    const int in = iy >= 0 && iy < h && ix >= 0 && ix < w;
    y[y_off + (size_t)o * c * kk + f] = in ? x[x_off + unf_in(tok, b, ch, iy, ix, c, h, w)] : 0.0f;
}

/* unfold_bwd: dx(b, ch, iy, ix) (+)= the sum of dy over the patches that read it (a gather:
 * no atomics, deterministic). NDRange: 2-D (n*c*h*w, S), the element in the input's layout
 * order. */
__kernel void unfold_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off, int n, int c,
                         int h, int w, int k, int st, int pad, int ho, int wo, int tok, int acc)
{
    const int e = (int)get_global_id(0), s = (int)get_global_id(1);
    const int total = n * c * h * w;
    CLNAS_GUARD(e < total);
    int b, ch, iy, ix;
    if (tok) {
        ch = e % c;
        const int t = e / c;
        ix = t % w;
        iy = (t / w) % h;
        b = t / (w * h);
    } else {
        ix = e % w;
        iy = (e / w) % h;
        ch = (e / (w * h)) % c;
        b = e / (w * h * c);
    }
    const int kk = k * k, F = c * kk;
    /* oy with 0 <= iy + pad - oy*st < k */
    const int ylo = max(0, (iy + pad - k + st) / st), yhi = min(ho - 1, (iy + pad) / st);
    const int xlo = max(0, (ix + pad - k + st) / st), xhi = min(wo - 1, (ix + pad) / st);
    __global const float *dys = dy + dy_off + (size_t)s * n * ho * wo * F;
    float sum = 0.0f;
    for (int oy = ylo; oy <= yhi; oy++) {
        const int ki = iy + pad - oy * st;
        for (int ox = xlo; ox <= xhi; ox++) {
            const int kj = ix + pad - ox * st;
            sum += dys[((size_t)(b * ho + oy) * wo + ox) * F + ch * kk + ki * k + kj];
        }
    }
    const size_t o = dx_off + (size_t)s * total + e;
    dx[o] = acc ? dx[o] + sum : sum;
}

/* ---------------- token mean-pool ---------------- */

/* tokpool_fwd: y[b][j] = mean_t x[b][t][j]. NDRange: 2-D (d, n). */
__kernel void tokpool_fwd(__global const float *x, int x_off, __global float *y, int y_off, int n, int t, int d)
{
    const int j = (int)get_global_id(0), b = (int)get_global_id(1);
    CLNAS_GUARD(j < d && b < n);
    __global const float *p = x + x_off + (size_t)b * t * d + j;
    float sum = 0.0f, c = 0.0f;
    for (int i = 0; i < t; i++) {
        const float v = p[(size_t)i * d] - c, u = sum + v;
        c = (u - sum) - v;
        sum = u;
    }
    y[y_off + (size_t)b * d + j] = sum / (float)t;
}

/* tokpool_bwd: dx[s][b][i][j] (+)= dy[s][b][j] / t. NDRange: 2-D (n*t*d, S). */
__kernel void tokpool_bwd(__global const float *dy, int dy_off, __global float *dx, int dx_off, int n, int t,
                          int d, int acc)
{
    const int e = (int)get_global_id(0), s = (int)get_global_id(1);
    const int total = n * t * d;
    CLNAS_GUARD(e < total);
    const int j = e % d, b = e / (t * d);
    const float g = dy[dy_off + ((size_t)s * n + b) * d + j] / (float)t;
    const size_t o = dx_off + (size_t)s * total + e;
    dx[o] = acc ? dx[o] + g : g;
}

/* The same two maps with one work item per row (what CPUs run best: the row streams through
 * one core's cache; float4 loads for the body, scalars for the n % 4 tail).
 * NDRange: 1-D over rows. */
__kernel void softmax_rows_item(__global float *p, int p_off, int nrows, int n)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < nrows);
    __global float *row = p + p_off + (size_t)r * n;
    const int n4 = n / 4;
    float4 m4 = (float4)(-INFINITY);
    for (int j = 0; j < n4; j++) m4 = fmax(m4, vload4(j, row));
    float mx = fmax(fmax(m4.s0, m4.s1), fmax(m4.s2, m4.s3));
    for (int j = 4 * n4; j < n; j++) mx = fmax(mx, row[j]);
    float4 s4 = (float4)(0.0f);
    for (int j = 0; j < n4; j++) {
        const float4 e = exp(vload4(j, row) - mx);
        vstore4(e, j, row);
        s4 += e;
    }
    float sum = (s4.s0 + s4.s1) + (s4.s2 + s4.s3);
    for (int j = 4 * n4; j < n; j++) {
        const float e = exp(row[j] - mx);
        row[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < n4; j++) vstore4(vload4(j, row) * inv, j, row);
    for (int j = 4 * n4; j < n; j++) row[j] *= inv;
}

__kernel void softmax_bwd_rows_item(__global const float *p, int p_off, __global float *dp, int dp_off, int nrows, int n)
{
    const int r = (int)get_global_id(0);
    CLNAS_GUARD(r < nrows);
    __global const float *pr = p + p_off + (size_t)r * n;
    __global float *dr = dp + dp_off + (size_t)r * n;
    const int n4 = n / 4;
    float4 s4 = (float4)(0.0f);
    for (int j = 0; j < n4; j++) s4 += vload4(j, dr) * vload4(j, pr);
    float rs = (s4.s0 + s4.s1) + (s4.s2 + s4.s3);
    for (int j = 4 * n4; j < n; j++) rs += dr[j] * pr[j];
    for (int j = 0; j < n4; j++) vstore4(vload4(j, pr) * (vload4(j, dr) - rs), j, dr);
    for (int j = 4 * n4; j < n; j++) dr[j] = pr[j] * (dr[j] - rs);
}
