/* util.h - small helpers with no OpenCL and no model in them, usable by every layer including
 * the commands: a monotonic clock, FNV-1a hashing, a CSV line splitter. (internal.h includes it.) */
#ifndef CLNAS_CORE_UTIL_H
#define CLNAS_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

uint64_t clnas_fnv1a64(uint64_t h, const void *data, size_t len);
#define CLNAS_FNV_INIT 0xcbf29ce484222325ULL
double clnas_now(void); /* monotonic seconds */
/* Splits one CSV line in place (RFC 4180 quoting, no embedded newlines): fields point into
 * line, surrounding blanks trimmed, quotes removed. Returns the number of fields, or -1 for an
 * unterminated quote. At most maxf fields are stored; the count goes on beyond that. */
int clnas_csv_split(char *line, char **fields, int maxf);
/* Rounds x up to a multiple of m (m > 0). */
static inline size_t clnas_round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

#endif
