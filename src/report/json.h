/* json.h - the few things every JSON reader and writer of clnas shares, on top of jansson (the
 * JSON library: strict parsing with line/column errors, keys kept in insertion order).
 *
 * JSON is read and written only by the serialisation layer (src/report/) and the commands
 * (src/cli/); the computing layers (runtime, ops, model, metrics, search, data) never see it.
 *
 * Numbers: reals are written with 17 significant digits, so every double reads back bit for bit;
 * NaN and infinities, which JSON cannot hold, are written as null (the fields that can be
 * undefined say so next to them, e.g. a status string). */
#ifndef CLNAS_REPORT_JSON_H
#define CLNAS_REPORT_JSON_H

#include <jansson.h>
#include <stdio.h>
#include "clnas/status.h"

/* The flags every writer uses: keys in insertion order, ", " and ": " separators, 17 digits. */
#define CLNAS_JSON_FLAGS (JSON_REAL_PRECISION(17))

/* A real, or null for NaN / +-inf. Never NULL unless out of memory. */
json_t *clnas_json_num(double v);
/* A JSON array of n reals (clnas_json_num each) or of n integers. */
json_t *clnas_json_nums(const double *v, int n);
json_t *clnas_json_sizes(const size_t *v, int n);
/* A string that is not valid UTF-8 (a path in some other encoding) is stored with every byte
 * outside ASCII replaced by '?', so that writing never fails on it. */
json_t *clnas_json_str(const char *s);

/* Prints v on one line followed by a newline. Returns 0, or -1 when the stream reports an error. */
int clnas_json_print(FILE *f, const json_t *v);
/* Writes v to path atomically: a temporary file in the same folder, flushed, closed, renamed over
 * path. On failure CLNAS_E_IO with "cannot write PATH: reason" in err, and the previous file (if
 * any) is left as it was. */
clnas_status clnas_json_write_file(const char *path, const json_t *v, char *err, size_t errlen);
/* Reads a whole file as one JSON value (duplicate keys rejected). On failure *out is NULL and err
 * says "PATH:LINE:COLUMN: what" (CLNAS_E_PARSE) or why the file could not be read (CLNAS_E_IO). */
clnas_status clnas_json_read_file(const char *path, json_t **out, char *err, size_t errlen);
/* The same for one line of text (JSON lines); `where` names it in messages ("FILE:LINE"). */
clnas_status clnas_json_parse(const char *text, const char *where, json_t **out, char *err, size_t errlen);

/* Typed getters for readers: a member's value, or the fallback when it is missing or of
 * another type (json_null counts as missing; number getters accept integers and reals). */
double clnas_json_get_num(const json_t *obj, const char *key, double fallback);
long long clnas_json_get_int(const json_t *obj, const char *key, long long fallback);
const char *clnas_json_get_str(const json_t *obj, const char *key, const char *fallback);

#endif
