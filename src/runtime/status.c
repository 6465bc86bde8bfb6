/* status.c - names for status codes and the context-owned error message. */
#include <stdio.h>
#include <string.h>
#include "internal.h"

const char *clnas_status_str(int s)
{
    switch (s) {
#define C(x) case x: return #x;
    C(CL_SUCCESS) C(CL_DEVICE_NOT_FOUND) C(CL_DEVICE_NOT_AVAILABLE) C(CL_COMPILER_NOT_AVAILABLE)
    C(CL_MEM_OBJECT_ALLOCATION_FAILURE) C(CL_OUT_OF_RESOURCES) C(CL_OUT_OF_HOST_MEMORY)
    C(CL_PROFILING_INFO_NOT_AVAILABLE) C(CL_MEM_COPY_OVERLAP) C(CL_IMAGE_FORMAT_MISMATCH)
    C(CL_IMAGE_FORMAT_NOT_SUPPORTED) C(CL_BUILD_PROGRAM_FAILURE) C(CL_MAP_FAILURE)
    C(CL_MISALIGNED_SUB_BUFFER_OFFSET) C(CL_COMPILE_PROGRAM_FAILURE) C(CL_LINKER_NOT_AVAILABLE)
    C(CL_LINK_PROGRAM_FAILURE) C(CL_INVALID_VALUE) C(CL_INVALID_DEVICE_TYPE)
    C(CL_INVALID_PLATFORM) C(CL_INVALID_DEVICE) C(CL_INVALID_CONTEXT) C(CL_INVALID_QUEUE_PROPERTIES)
    C(CL_INVALID_COMMAND_QUEUE) C(CL_INVALID_HOST_PTR) C(CL_INVALID_MEM_OBJECT)
    C(CL_INVALID_BINARY) C(CL_INVALID_BUILD_OPTIONS) C(CL_INVALID_PROGRAM)
    C(CL_INVALID_PROGRAM_EXECUTABLE) C(CL_INVALID_KERNEL_NAME) C(CL_INVALID_KERNEL_DEFINITION)
    C(CL_INVALID_KERNEL) C(CL_INVALID_ARG_INDEX) C(CL_INVALID_ARG_VALUE) C(CL_INVALID_ARG_SIZE)
    C(CL_INVALID_KERNEL_ARGS) C(CL_INVALID_WORK_DIMENSION) C(CL_INVALID_WORK_GROUP_SIZE)
    C(CL_INVALID_WORK_ITEM_SIZE) C(CL_INVALID_GLOBAL_OFFSET) C(CL_INVALID_EVENT_WAIT_LIST)
    C(CL_INVALID_EVENT) C(CL_INVALID_OPERATION) C(CL_INVALID_BUFFER_SIZE)
    C(CL_INVALID_GLOBAL_WORK_SIZE) C(CL_INVALID_PROPERTY)
    C(CLNAS_E_INVALID_ARG) C(CLNAS_E_NOMEM) C(CLNAS_E_SHAPE) C(CLNAS_E_NO_DEVICE) C(CLNAS_E_BUILD)
    C(CLNAS_E_IO) C(CLNAS_E_LAPACK) C(CLNAS_E_PNG) C(CLNAS_E_CLBLAST) C(CLNAS_E_PARSE)
    C(CLNAS_E_NUMERIC) C(CLNAS_E_DEVICE_MEM) C(CLNAS_E_UNSUPPORTED)
#undef C
    default:
        return s < 0 && s > -1000 ? "CL_UNKNOWN_ERROR" : "CLNAS_UNKNOWN_STATUS";
    }
}

clnas_status clnas_set_error(clnas_ctx *ctx, int status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
    }
    return (clnas_status)status;
}

void clnas_append_error(clnas_ctx *ctx, const char *fmt, ...)
{
    if (!ctx) return;
    size_t len = strlen(ctx->err);
    if (len + 1 >= sizeof ctx->err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err + len, sizeof ctx->err - len, fmt, ap);
    va_end(ap);
}

#ifndef CLNAS_VERSION_STRING
#error "CLNAS_VERSION_STRING must come from the build (CMakeLists.txt)"
#endif
const char *clnas_version(void) { return CLNAS_VERSION_STRING; }
