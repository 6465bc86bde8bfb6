/* spectrum.c - the only file that includes lapacke.h: symmetric eigenvalues in double and
 * the condition-number policy (NaN and lambda_min <= 0 are reported, never turned into a
 * plausible number). */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include "clnas/score.h"

clnas_status clnas_sym_eigvals(int n, double *A, double *w, char *err, size_t errlen)
{
    if (n < 1) {
        if (err && errlen) snprintf(err, errlen, "eigenvalues of a %dx%d matrix asked for", n, n);
        return CLNAS_E_INVALID_ARG;
    }
    for (long i = 0; i < (long)n * n; i++)
        if (!isfinite(A[i])) {
            if (err && errlen)
                snprintf(err, errlen, "the %dx%d matrix holds %g at (%ld, %ld): no spectrum", n, n, A[i], i / n, i % n);
            return CLNAS_E_NUMERIC;
        }
    /* dsyevd reads the lower triangle (row-major 'L') and overwrites A */
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'L', n, A, n, w);
    if (info != 0) {
        if (err && errlen) {
            if (info < 0)
                snprintf(err, errlen, "LAPACKE_dsyevd on a %dx%d matrix: info = %d (argument %d had an illegal value, "
                         "or the workspace could not be allocated)", n, n, (int)info, (int)-info);
            else
                snprintf(err, errlen, "LAPACKE_dsyevd on a %dx%d matrix: info = %d (the algorithm failed to converge: %d "
                         "off-diagonal elements of an intermediate tridiagonal form did not converge to zero)",
                         n, n, (int)info, (int)info);
        }
        return CLNAS_E_LAPACK;
    }
    return CLNAS_OK;
}

clnas_kappa clnas_kappa_from_eigs(int n, const double *w)
{
    clnas_kappa k = {NAN, NAN, NAN, CLNAS_KAPPA_NAN};
    if (n < 1) return k;
    for (int i = 0; i < n; i++)
        if (!isfinite(w[i])) return k;
    k.lambda_min = w[0];
    k.lambda_max = w[n - 1];
    if (w[0] <= 0) {
        k.kappa = INFINITY;
        k.status = CLNAS_KAPPA_NONPOSITIVE;
        return k;
    }
    k.kappa = w[n - 1] / w[0];
    k.status = CLNAS_KAPPA_OK;
    return k;
}

const char *clnas_kappa_status_str(clnas_kappa_status s)
{
    switch (s) {
    case CLNAS_KAPPA_OK: return "ok";
    case CLNAS_KAPPA_NAN: return "NaN in the NTK";
    case CLNAS_KAPPA_NONPOSITIVE: return "lambda_min <= 0 (singular NTK)";
    }
    return "unknown";
}
