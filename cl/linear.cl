/* linear.cl - fully connected layer y[n][o] = sum_i x[n][i] W[o][i] + b[o] (PyTorch nn.Linear,
 * W is [out][in] row-major). Sizes are small (classifier head: in <= 64, out <= 120,
 * n <= 128), so these are plain one-output-per-work-item kernels. Every buffer comes with an
 * int offset in floats; the host rounds ranges up and kernels guard. */

/* linear_fwd: NDRange 2-D (out, n). */
__kernel void linear_fwd(__global const float *x, int x_off, __global const float *W, int w_off,
                         __global const float *b, int b_off, __global float *y, int y_off, int n,
                         int in, int out)
{
    const int o = (int)get_global_id(0), r = (int)get_global_id(1);
    CLNAS_GUARD(o < out && r < n);
    __global const float *xr = x + x_off + (size_t)r * in;
    __global const float *wo = W + w_off + (size_t)o * in;
    float acc = 0.0f;
    for (int i = 0; i < in; i++) acc += xr[i] * wo[i];
    y[y_off + (size_t)r * out + o] = acc + b[b_off + o];
}

/* linear_bwd_data: dx[s][r][i] += sum_o dy[s][r][o] W[o][i].
 * dy is [S][n][out], dx is [S][n][in]. NDRange 3-D (in, n, S). */
__kernel void linear_bwd_data(__global const float *W, int w_off, __global const float *dy,
                              int dy_off, __global float *dx, int dx_off, int n, int in, int out,
                              int S)
{
    const int i = (int)get_global_id(0), r = (int)get_global_id(1), s = (int)get_global_id(2);
    CLNAS_GUARD(i < in && r < n && s < S);
    __global const float *dyr = dy + dy_off + ((size_t)s * n + r) * out;
    __global const float *wi = W + w_off + i;
    float acc = 0.0f;
    for (int o = 0; o < out; o++) acc += dyr[o] * wi[(size_t)o * in];
    dx[dx_off + ((size_t)s * n + r) * in + i] += acc;
}

/* linear_bwd_param: for seed s, dW[o][i] = sum_r dy[s][r][o] x[r][i] at
 * dW_off + s*g_ld + o*in + i, and (column i == in) db[o] = sum_r dy[s][r][o] at
 * db_off + s*g_ld + o. Both overwritten. NDRange 3-D (in + 1, out, S). */
__kernel void linear_bwd_param(__global const float *x, int x_off, __global const float *dy,
                               int dy_off, __global float *dW, int dw_off, __global float *db,
                               int db_off, int g_ld, int n, int in, int out, int S)
{
    const int i = (int)get_global_id(0), o = (int)get_global_id(1), s = (int)get_global_id(2);
    CLNAS_GUARD(i <= in && o < out && s < S);
    __global const float *dys = dy + dy_off + (size_t)s * n * out + o;
    float acc = 0.0f;
    if (i < in) {
        __global const float *xi = x + x_off + i;
        for (int r = 0; r < n; r++) acc += dys[(size_t)r * out] * xi[(size_t)r * in];
        dW[dw_off + (size_t)s * g_ld + (size_t)o * in + i] = acc;
    } else {
        for (int r = 0; r < n; r++) acc += dys[(size_t)r * out];
        db[db_off + (size_t)s * g_ld + o] = acc;
    }
}
