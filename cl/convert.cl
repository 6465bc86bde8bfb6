/* convert.cl - float -> double copy of a strided matrix, for the optional fp64 Gram matrix.
 * Built only on devices with cl_khr_fp64 and only when fp64 is asked for.
 * NDRange: (cols, rows). src row-major with leading dimension lds, dst with ldd. */
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
__kernel void convert_f32_f64(__global const float *src, int src_off, int lds,
                              __global double *dst, int ldd, int rows, int cols)
{
    int c = get_global_id(0), r = get_global_id(1);
    CLNAS_GUARD(c < cols && r < rows);
    dst[(size_t)r * ldd + c] = (double)src[src_off + (size_t)r * lds + c];
}
