/* json.c - shared JSON helpers on top of jansson (json.h). */
#define _POSIX_C_SOURCE 200809L
#include "report/json.h"
#include "core/fault.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

json_t *clnas_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *clnas_json_nums(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, clnas_json_num(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *clnas_json_sizes(const size_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer((json_int_t)v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *clnas_json_str(const char *s)
{
    json_t *v = json_string(s ? s : "");
    if (v || !s) return v;
    /* not UTF-8: keep what can be kept */
    char *c = strdup(s);
    if (!c) return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80) *p = '?';
    v = json_string(c);
    free(c);
    return v;
}

int clnas_json_print(FILE *f, const json_t *v)
{
    if (!v || json_dumpf(v, f, CLNAS_JSON_FLAGS) != 0 || fputc('\n', f) == EOF) return -1;
    return clnas_flush_checked(f);
}

clnas_status clnas_json_write_file(const char *path, const json_t *v, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        if (err) snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        return CLNAS_E_IO;
    }
    errno = 0;
    int bad = clnas_json_print(f, v);
    int e = errno;
    if ((fclose(f) != 0 || clnas_fault_write()) && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad || rename(tmp, path) != 0) {
        if (!bad) e = errno;
        if (err) snprintf(err, errlen, "cannot write %s: %s", path, e ? strerror(e) : "write error");
        unlink(tmp);
        return CLNAS_E_IO;
    }
    return CLNAS_OK;
}

static void parse_error(const json_error_t *je, const char *where, char *err, size_t errlen)
{
    if (err) snprintf(err, errlen, "%s:%d:%d: malformed JSON: %s", where, je->line, je->column, je->text);
}

clnas_status clnas_json_read_file(const char *path, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (err) snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return CLNAS_E_IO;
    }
    json_error_t je;
    *out = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        json_decref(*out);
        *out = NULL;
        if (err) snprintf(err, errlen, "cannot read %s", path);
        return CLNAS_E_IO;
    }
    if (!*out) {
        parse_error(&je, path, err, errlen);
        return CLNAS_E_PARSE;
    }
    return CLNAS_OK;
}

clnas_status clnas_json_parse(const char *text, const char *where, json_t **out, char *err, size_t errlen)
{
    json_error_t je;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!*out) {
        parse_error(&je, where, err, errlen);
        return CLNAS_E_PARSE;
    }
    return CLNAS_OK;
}

double clnas_json_get_num(const json_t *obj, const char *key, double fallback)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_is_number(v) ? json_number_value(v) : fallback;
}

long long clnas_json_get_int(const json_t *obj, const char *key, long long fallback)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

const char *clnas_json_get_str(const json_t *obj, const char *key, const char *fallback)
{
    const json_t *v = json_object_get(obj, key);
    return v && json_is_string(v) ? json_string_value(v) : fallback;
}
