/* clnas/status.h - the one status type every fallible clnas call returns.
 *
 * Codes (as in CLBlast): CLNAS_OK is 0; OpenCL's own error codes (-1 .. -999)
 * are passed through unchanged, so a failing clEnqueueNDRangeKernel surfaces as
 * e.g. -5 (CL_OUT_OF_RESOURCES); clnas's own codes live in -1000 and below.
 * Results are returned through out-parameters.
 *
 * The convention every function of the library follows (public and internal):
 * - A function that can fail returns clnas_status: CLNAS_OK on success, a code above
 *   on failure. Results go through out-parameters. It never returns 0/1 for success
 *   or -1 for failure, and never prints.
 * - The details of a failure (which file, which line, which value) go to the context
 *   when the function has one: read them with clnas_ctx_errmsg(ctx). A function that
 *   runs without a context (listing devices, parsing, reading files before a device
 *   is opened) takes `char *err, size_t errlen` last and writes a one-line reason
 *   there; err may be NULL when the caller does not want it.
 * - Outcomes that are not failures are out-parameters too: "no such file yet" is
 *   CLNAS_OK with *found = 0, "no device installed" is CLNAS_OK with *n = 0.
 * - Predicates and look-ups that cannot fail (is this parameter set valid, is there a
 *   shipped default for this device) return int, 1 for yes and 0 for no, and say so. */
#ifndef CLNAS_STATUS_H
#define CLNAS_STATUS_H

/* Symbol visibility: libclnas is built with hidden visibility, and exactly what the public
 * headers declare between CLNAS_API_BEGIN and CLNAS_API_END is exported (tools/install_check.sh
 * checks the library's dynamic symbols against these headers). */
#if defined(__GNUC__)
#define CLNAS_API_BEGIN _Pragma("GCC visibility push(default)")
#define CLNAS_API_END _Pragma("GCC visibility pop")
#else
#define CLNAS_API_BEGIN
#define CLNAS_API_END
#endif

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

typedef enum clnas_status {
    CLNAS_OK = 0,
    /* -1 .. -999: OpenCL status codes, passed through */
    CLNAS_E_INVALID_ARG = -1000, /* a caller-supplied value is out of range or malformed */
    CLNAS_E_NOMEM = -1001,       /* host allocation failed */
    CLNAS_E_SHAPE = -1002,       /* tensor shapes do not agree */
    CLNAS_E_NO_DEVICE = -1003,   /* no OpenCL platform/device, or the requested one does not exist */
    CLNAS_E_BUILD = -1004,       /* an OpenCL program failed to build (log in the message) */
    CLNAS_E_IO = -1005,          /* a file could not be read or written, or is malformed */
    CLNAS_E_LAPACK = -1006,      /* LAPACK reported failure (info in the message) */
    CLNAS_E_PNG = -1007,         /* libpng or the rasteriser failed */
    CLNAS_E_CLBLAST = -1008,     /* CLBlast returned an error (its code in the message) */
    CLNAS_E_PARSE = -1009,       /* an architecture string or other text input is malformed */
    CLNAS_E_NUMERIC = -1010,     /* a result is NaN/inf or otherwise undefined (reason in the message) */
    CLNAS_E_DEVICE_MEM = -1011,  /* the device cannot hold what was asked of it */
    CLNAS_E_UNSUPPORTED = -1012  /* the request is valid but not implemented / not available */
} clnas_status;

/* A static, never-NULL name for a status code, e.g. "CL_OUT_OF_RESOURCES" or "CLNAS_E_PARSE". */
const char *clnas_status_str(int status);

/* The library's version, "MAJOR.MINOR.PATCH" (the CMake project version it was built as). */
const char *clnas_version(void);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
