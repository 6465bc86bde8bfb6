/* alloc_hook.h - force-included into every library source (CMakeLists.txt: -include), so that
 * each host allocation of the library goes through the CLNAS_FAIL_ALLOC testing hook of
 * core/fault.h: a test fails the N-th allocation and checks that the failure is reported with a
 * message, without a crash or a leak. Without the variable set the hook is one branch. It must
 * not include the C library's headers: a source sets _POSIX_C_SOURCE before its own includes.
 * (stdlib.h's declarations of malloc/calloc/realloc then redeclare the clnas_ functions.) */
#ifndef CLNAS_CORE_ALLOC_HOOK_H
#define CLNAS_CORE_ALLOC_HOOK_H
#include <stddef.h> /* the compiler's own: no feature-test macros are fixed by it */
void *clnas_malloc(size_t n);
void *clnas_calloc(size_t n, size_t size);
void *clnas_realloc(void *p, size_t n);
#ifndef CLNAS_NO_ALLOC_HOOK
#define malloc(n) clnas_malloc(n)
#define calloc(n, s) clnas_calloc(n, s)
#define realloc(p, n) clnas_realloc(p, n)
#endif
#endif
