/* eltwise.cl - elementwise kernels: ReLU forward/backward, y = a*x + b*y, and the one-hot
 * seed rows of the NTK backward. All are 1-D over the element count, rounded up by the host
 * and guarded here; every buffer comes with an int offset in floats. */

/* relu_fwd: y[i] = max(x[i], 0). NDRange: 1-D over count. */
__kernel void relu_fwd(__global const float *x, int x_off, __global float *y, int y_off, int count)
{
    const int i = (int)get_global_id(0);
    CLNAS_GUARD(i < count);
    const float v = x[x_off + i];
    y[y_off + i] = v > 0.0f ? v : 0.0f;
}

/* relu_bwd: dx[s][i] += x[i] > 0 ? dy[s][i] : 0 for s in [0,S). x (the forward input) is
 * shared by the seeds; dy, dx are [S][count]. A select, not dy * (x > 0), so a non-finite
 * dy where x <= 0 contributes 0 (as PyTorch's threshold_backward); dx is then stored back
 * unchanged. accum == 0 overwrites dx instead (dx not read). The unconditional load/select/store and the seed as a second NDRange dimension
 * (no division, no inner loop) keep PoCL's work-item loop vectorisable.
 * NDRange: 2-D (count, S). */
__kernel void relu_bwd(__global const float *x, int x_off, __global const float *dy, int dy_off,
                       __global float *dx, int dx_off, int count, int accum)
{
    const int i = (int)get_global_id(0);
    CLNAS_GUARD(i < count);
    const size_t e = (size_t)get_global_id(1) * count + i;
    const float d = accum ? dx[dx_off + e] : 0.0f;
    const float g = dy[dy_off + e];
    dx[dx_off + e] = x[x_off + i] > 0.0f ? d + g : d;
}

/* axpby: y[i] = a*x[i] + b*y[i]; when b == 0, y is overwritten without being read (so NaN or
 * garbage in y does not propagate, as in BLAS). x and y may be the same tensor.
 * NDRange: 1-D over count. */
__kernel void axpby(int count, float a, __global const float *x, int x_off, float b,
                    __global float *y, int y_off)
{
    const int i = (int)get_global_id(0);
    CLNAS_GUARD(i < count);
    const float v = a * x[x_off + i];
    if (b == 0.0f)
        y[y_off + i] = v;
    else
        y[y_off + i] = v + b * y[y_off + i];
}

/* seed_rows: d[s][r][j] = (r == row0 + s) ? 1 : 0 for a [S][n][k] tensor.
 * NDRange: 1-D over S*n*k (= total). */
__kernel void seed_rows(__global float *d, int d_off, int n, int k, int row0, int total)
{
    const int e = (int)get_global_id(0);
    CLNAS_GUARD(e < total);
    const int s = e / (n * k);
    const int r = (e / k) % n;
    d[d_off + e] = (r == row0 + s) ? 1.0f : 0.0f;
}

/* relu_sign_pack: the linear-region code bits of one ReLU layer for a batch, packed on the
 * device so that only bits travel to the host. x is the ReLU's INPUT (its sign is the output's
 * sign, and a NaN or infinity still shows there, where ReLU would have turned NaN into 0):
 *   bit b of out[out_off + s*out_ld + w] = x[x_off + s*x_ld + 32w + b] > 0 (x_ld >= count: a
 *   channel slice of a concatenation has samples further apart than count),
 * for sample s, word w of the layer's ceil(count/32) words; bits past count are 0. Any
 * non-finite x sets flag[0] to 1 (it is never cleared here).
 * NDRange: 2-D (words, batch), any work-group size. */
__kernel void relu_sign_pack(__global const float *x, int x_off, int x_ld, int count, __global uint *out, int out_off,
                             int out_ld, __global int *flag)
{
    const int w = (int)get_global_id(0), s = (int)get_global_id(1);
    CLNAS_GUARD(w < (count + 31) / 32);
    const int base = x_off + s * x_ld + 32 * w;
    const int n = min(32, count - 32 * w);
    uint bits = 0;
    int bad = 0;
    for (int b = 0; b < n; b++) {
        const float v = x[base + b];
        bits |= (v > 0.0f ? 1u : 0u) << b;
        bad |= !isfinite(v);
    }
    out[out_off + s * out_ld + w] = bits;
    if (bad) atomic_or(flag, 1);
}
