/* fault.h - testing aids for reliability tests (documented in README "Reliability"), plus the
 * checked environment-variable reader they and the other tunables share.
 *
 *   CLNAS_FAIL_WRITE=N   the N-th checked write (a line, a row, a file's flush or close) and every
 *                        later one fails with ENOSPC, as on a full disk
 *   CLNAS_FAIL_ALLOC=N   the N-th checked allocation (host and device buffers) fails, once
 *   CLNAS_STOP_AFTER=N   the process ends (exit status 75, nothing cleaned up, as a kill would)
 *                        right after its N-th finished unit of work: a search candidate or a rank
 *                        row, so that interruption tests need no timing
 * Unset or empty: no effect. A value that is not a positive integer is refused (message, exit 2). */
#ifndef CLNAS_CORE_FAULT_H
#define CLNAS_CORE_FAULT_H

#include <stddef.h>
#include <stdio.h>

/* A checked environment variable: 0 when unset or empty (*out untouched), 1 when it is an integer
 * in [lo, hi] (in *out), -1 otherwise with "NAME=VALUE: why" in err (control characters of the
 * value escaped). */
int clnas_env_long(const char *name, long lo, long hi, long *out, char *err, size_t errlen);

/* Flushes f and says whether everything written to it so far is out of the process: 0, or -1
 * with errno set (the CLNAS_FAIL_WRITE hook included). */
int clnas_flush_checked(FILE *f);
/* The CLNAS_FAIL_WRITE hook alone, for writes that do not go through a FILE: 1 (errno ENOSPC)
 * when this write is to fail. */
int clnas_fault_write(void);
/* The CLNAS_FAIL_ALLOC hook: 1 when this allocation is to fail. */
int clnas_fault_alloc(void);
/* malloc / calloc / realloc with the CLNAS_FAIL_ALLOC hook in front. */
void *clnas_malloc(size_t n);
void *clnas_calloc(size_t n, size_t size);
void *clnas_realloc(void *p, size_t n);
/* One finished unit of work (what: "candidate", "row"); the CLNAS_STOP_AFTER hook. */
void clnas_stop_point(const char *what);

/* Checked size arithmetic: 1 and the product/sum in *out, or 0 on overflow. */
int clnas_mul_size(size_t a, size_t b, size_t *out);
int clnas_add_size(size_t a, size_t b, size_t *out);

/* Copies s into out with control characters and bytes >= 0x7f written as \n, \t, \xHH (for
 * echoing user input in messages); truncated to fit. Returns out. */
char *clnas_escape(const char *s, char *out, size_t len);

#endif
