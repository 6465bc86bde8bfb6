/* selftest.cl - a trivial kernel for the runtime's own tests (program build, on-disk binary
 * cache, build-failure reporting). Not used by any computation.
 *
 * -DCLNAS_SELFTEST_BREAK makes the program fail to compile on purpose, with a recognisable
 * message in the build log. -DCLNAS_SELFTEST_TAG=<n> only changes the options string, so a
 * test can ask for a program that no earlier run has cached. */
__kernel void selftest_fill(__global float *out, int off, int n, float value)
{
    int i = (int)get_global_id(0);
    CLNAS_GUARD(i < n);
    out[off + i] = value + (float)i;
}

#ifdef CLNAS_SELFTEST_BREAK
#error "clnas selftest: deliberate build failure"
#endif
