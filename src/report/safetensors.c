/* safetensors.c - safetensors writer and reader (see safetensors.h).
 *
 * Writer: header JSON with "__metadata__" first and the tensors in the order they were
 * added, padded with spaces to a multiple of 8 bytes (as Hugging Face's writer does), then
 * the raw little-endian data; written to a temporary file next to the target and renamed.
 *
 * Reader: loads the header, parses it with jansson (strict RFC 8259, duplicate keys rejected,
 * no NUL characters in strings, nesting depth limited), checks every tensor entry (dtype,
 * shape, data_offsets inside the data section and equal to dtype size * element count, all
 * without overflow; together the tensors must cover the data section without overlaps or gaps,
 * as the format requires), and copies the data section into a malloc'd (hence suitably
 * aligned) buffer. Every failure is CLNAS_E_IO with a message that names the path and what is
 * wrong; hostile input never reads out of bounds. */
#define _POSIX_C_SOURCE 200809L
#include "core/fault.h"
#include "report/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024) /* as the reference implementation */

static const char *const dtype_names[] = {"F32", "F64", "U8", "I64"};
static const size_t dtype_sizes[] = {4, 8, 1, 8};

static int host_is_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Reverses the bytes of every element (esize 1, 4 or 8) in place. */
static void swap_elems(unsigned char *p, size_t n, size_t esize)
{
    if (esize <= 1) return;
    for (size_t i = 0; i < n; i++, p += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* n = prod(shape) elements of esize bytes; 0 on overflow (and *ok = 0). */
static uint64_t nbytes_of(int ndims, const int64_t *shape, size_t esize, int *ok)
{
    uint64_t n = 1;
    *ok = 1;
    for (int d = 0; d < ndims; d++) {
        if (shape[d] < 0) { *ok = 0; return 0; }
        uint64_t s = (uint64_t)shape[d];
        if (s && n > UINT64_MAX / s) { *ok = 0; return 0; }
        n *= s;
    }
    if (n && n > UINT64_MAX / esize) { *ok = 0; return 0; }
    return n * esize;
}

/* ======================================================================== writer */

typedef struct st_wtensor {
    char *name;
    st_dtype dtype;
    int ndims;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} st_wtensor;

struct st_writer {
    st_wtensor *t;
    int n, cap;
    char **mkey, **mval;
    int nmeta, capmeta;
};

st_writer *st_writer_new(void) { return calloc(1, sizeof(st_writer)); }

void st_writer_free(st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->nmeta; i++) {
        free(w->mkey[i]);
        free(w->mval[i]);
    }
    free(w->t);
    free(w->mkey);
    free(w->mval);
    free(w);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

clnas_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndims, const int64_t *shape,
                           const void *data)
{
    if (!w || !name || !*name || !strcmp(name, "__metadata__")) return CLNAS_E_INVALID_ARG;
    if ((int)dtype < 0 || dtype > ST_I64 || ndims < 0 || ndims > ST_MAX_DIMS || (ndims > 0 && !shape))
        return CLNAS_E_INVALID_ARG;
    int ok;
    uint64_t nb = nbytes_of(ndims, shape, dtype_sizes[dtype], &ok);
    if (!ok || nb > (uint64_t)SIZE_MAX || (nb && !data)) return CLNAS_E_INVALID_ARG;
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return CLNAS_E_INVALID_ARG;
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        void *p = realloc(w->t, (size_t)cap * sizeof *w->t);
        if (!p) return CLNAS_E_NOMEM;
        w->t = p;
        w->cap = cap;
    }
    st_wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = xstrdup(name))) return CLNAS_E_NOMEM;
    t->dtype = dtype;
    t->ndims = ndims;
    for (int d = 0; d < ndims; d++) t->shape[d] = shape[d];
    t->data = data;
    t->nbytes = nb;
    w->n++;
    return CLNAS_OK;
}

clnas_status st_writer_add_params(st_writer *w, const clnas_net *net, const float *params, const char *prefix)
{
    clnas_status st = CLNAS_OK;
    for (int i = 0; i < clnas_net_nparam_tensors(net) && st == CLNAS_OK; i++) {
        const char *nm;
        size_t off, cnt;
        int sh[4];
        clnas_net_param_tensor(net, i, &nm, &off, &cnt, sh);
        int64_t shape[4];
        int nd = 0;
        while (nd < 4 && sh[nd] > 0) { shape[nd] = sh[nd]; nd++; }
        char name[256];
        if (snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", nm) >= (int)sizeof name) return CLNAS_E_INVALID_ARG;
        st = st_writer_add(w, name, ST_F32, nd, shape, params + off);
    }
    return st;
}

clnas_status st_writer_meta(st_writer *w, const char *key, const char *value)
{
    if (!w || !key || !value) return CLNAS_E_INVALID_ARG;
    for (int i = 0; i < w->nmeta; i++)
        if (!strcmp(w->mkey[i], key)) { /* a repeated key replaces the value */
            char *v = xstrdup(value);
            if (!v) return CLNAS_E_NOMEM;
            free(w->mval[i]);
            w->mval[i] = v;
            return CLNAS_OK;
        }
    if (w->nmeta == w->capmeta) {
        int cap = w->capmeta ? 2 * w->capmeta : 8;
        char **k = realloc(w->mkey, (size_t)cap * sizeof *k);
        if (!k) return CLNAS_E_NOMEM;
        w->mkey = k;
        char **v = realloc(w->mval, (size_t)cap * sizeof *v);
        if (!v) return CLNAS_E_NOMEM;
        w->mval = v;
        w->capmeta = cap;
    }
    char *k = xstrdup(key), *v = xstrdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return CLNAS_E_NOMEM;
    }
    w->mkey[w->nmeta] = k;
    w->mval[w->nmeta] = v;
    w->nmeta++;
    return CLNAS_OK;
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    if (clnas_fault_write()) return -1; /* the CLNAS_FAIL_WRITE testing hook (errno ENOSPC) */
    while (n) {
        ssize_t k = write(fd, c, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Writes one tensor's data in little-endian order. */
static int write_data(int fd, const st_wtensor *t)
{
    if (!t->nbytes) return 0;
    size_t es = dtype_sizes[t->dtype];
    if (es == 1 || host_is_le()) return write_all(fd, t->data, (size_t)t->nbytes);
    unsigned char chunk[1 << 16];
    const unsigned char *src = t->data;
    size_t left = (size_t)t->nbytes;
    while (left) {
        size_t k = left < sizeof chunk ? left : sizeof chunk; /* a multiple of es: 2^16 and es | 8 */
        memcpy(chunk, src, k);
        swap_elems(chunk, k / es, es);
        if (write_all(fd, chunk, k)) return -1;
        src += k;
        left -= k;
    }
    return 0;
}

clnas_status st_writer_save(st_writer *w, const char *path, char *err, size_t errlen)
{
    if (!w || !path || !*path) {
        seterr(err, errlen, "safetensors: no writer or empty path");
        return CLNAS_E_IO;
    }
    /* ---- header: compact JSON, __metadata__ first, tensors in the order added ---- */
    json_t *root = json_object(), *meta = json_object();
    int jbad = !root || !meta;
    for (int i = 0; i < w->nmeta && !jbad; i++) jbad = json_object_set_new(meta, w->mkey[i], json_string(w->mval[i])) != 0;
    if (!jbad && w->nmeta) jbad = json_object_set(root, "__metadata__", meta) != 0;
    uint64_t off = 0;
    for (int i = 0; i < w->n && !jbad; i++) {
        const st_wtensor *t = &w->t[i];
        json_t *e = json_object(), *sh = json_array(), *of = json_array();
        jbad = !e || !sh || !of;
        for (int d = 0; d < t->ndims && !jbad; d++) jbad = json_array_append_new(sh, json_integer(t->shape[d])) != 0;
        jbad = jbad || json_array_append_new(of, json_integer((json_int_t)off)) != 0;
        off += t->nbytes;
        jbad = jbad || json_array_append_new(of, json_integer((json_int_t)off)) != 0;
        jbad = jbad || json_object_set_new(e, "dtype", json_string(dtype_names[t->dtype])) != 0;
        jbad = jbad || json_object_set_new(e, "shape", sh) != 0;
        sh = NULL;
        jbad = jbad || json_object_set_new(e, "data_offsets", of) != 0;
        of = NULL;
        jbad = jbad || json_object_set_new(root, t->name, e) != 0;
        e = NULL;
        json_decref(sh);
        json_decref(of);
    }
    char *text = jbad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(meta);
    json_decref(root);
    size_t tl = text ? strlen(text) : 0;
    struct { char *p; size_t len; } h = {text ? realloc(text, tl + 8) : NULL, tl};
    if (!h.p) {
        free(text);
        seterr(err, errlen, "%s: cannot build the safetensors header (out of memory, or a name or metadata value that is "
               "not UTF-8)", path);
        return CLNAS_E_IO;
    }
    while (h.len % 8) h.p[h.len++] = ' ';
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));

    /* ---- temporary file next to the target, then rename ---- */
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    if (!tmp) {
        free(h.p);
        seterr(err, errlen, "%s: out of memory", path);
        return CLNAS_E_IO;
    }
    static _Thread_local unsigned counter;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(tmp, plen + 64, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        seterr(err, errlen, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        free(h.p);
        return CLNAS_E_IO;
    }
    int bad = write_all(fd, len8, 8) || write_all(fd, h.p, h.len);
    for (int i = 0; i < w->n && !bad; i++) bad = write_data(fd, &w->t[i]);
    int e = errno;
    if (!bad && fsync(fd) != 0 && errno != EINVAL && errno != EROFS) { bad = 1; e = errno; }
    if (close(fd) != 0 && !bad) { bad = 1; e = errno; }
    if (!bad && rename(tmp, path) != 0) {
        e = errno;
        seterr(err, errlen, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
        unlink(tmp);
        free(tmp);
        free(h.p);
        return CLNAS_E_IO;
    }
    if (bad) {
        seterr(err, errlen, "%s: write failed: %s", path, strerror(e));
        unlink(tmp);
        free(tmp);
        free(h.p);
        return CLNAS_E_IO;
    }
    free(tmp);
    free(h.p);
    return CLNAS_OK;
}

/* ======================================================================== reader */

typedef struct st_rtensor {
    char *name;
    st_dtype dtype;
    int ndims;
    int64_t shape[ST_MAX_DIMS];
    const void *data;
    void *own; /* a separate aligned copy when the offset is misaligned for the dtype */
} st_rtensor;

struct st_file {
    st_rtensor *t;
    int n;
    char **mkey, **mval;
    int nmeta;
    unsigned char *data; /* the data section (malloc'd: aligned for every dtype) */
    size_t datalen;
};

void st_close(st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].own);
    }
    for (int i = 0; i < f->nmeta; i++) {
        free(f->mkey[i]);
        free(f->mval[i]);
    }
    free(f->t);
    free(f->mkey);
    free(f->mval);
    free(f->data);
    free(f);
}

int st_count(const st_file *f) { return f ? f->n : 0; }
const char *st_name(const st_file *f, int i) { return f && i >= 0 && i < f->n ? f->t[i].name : NULL; }

const void *st_get(const st_file *f, const char *name, st_dtype *dtype, int *ndims, int64_t shape[ST_MAX_DIMS])
{
    if (!f || !name) return NULL;
    for (int i = 0; i < f->n; i++) {
        const st_rtensor *t = &f->t[i];
        if (strcmp(t->name, name)) continue;
        if (dtype) *dtype = t->dtype;
        if (ndims) *ndims = t->ndims;
        if (shape)
            for (int d = 0; d < ST_MAX_DIMS; d++) shape[d] = d < t->ndims ? t->shape[d] : 0;
        return t->data;
    }
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->mkey[i], key)) return f->mval[i];
    return NULL;
}

/* A non-negative integer that fits int64 (jansson reads larger ones as errors, reals as reals). */
static int nonneg_int(const json_t *v, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (int64_t)json_integer_value(v);
    return 1;
}

static int cmp_span(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

/* The tensors must cover [0, datalen) exactly once: sorted by begin, each begins where the
 * previous ended (no overlap, no gap) and the last ends at datalen. span[2i], span[2i+1]. */
static int check_cover(uint64_t *span, int n, uint64_t datalen, const char *path, char *err, size_t errlen)
{
    qsort(span, (size_t)n, 2 * sizeof *span, cmp_span);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = span[2 * i], e = span[2 * i + 1];
        if (b != at) {
            seterr(err, errlen, "%s: safetensors data_offsets %s at byte %llu of the data section (tensors must cover it "
                   "without overlaps or gaps)", path, b < at ? "overlap" : "leave a gap", (unsigned long long)(b < at ? b : at));
            return 0;
        }
        at = e;
    }
    if (at != datalen) {
        seterr(err, errlen, "%s: the tensors cover %llu bytes of a %llu-byte data section (a gap at the end, or trailing "
               "bytes)", path, (unsigned long long)at, (unsigned long long)datalen);
        return 0;
    }
    return 1;
}

/* Validates one tensor entry into t (name set by the caller); 0 with a message in err. */
static int load_tensor(const char *key, const json_t *v, st_rtensor *t, uint64_t datalen, uint64_t span[2],
                       const char *path, char *err, size_t errlen)
{
    if (!json_is_object(v)) {
        seterr(err, errlen, "%s: safetensors header: entry of tensor \"%.60s\" is not an object", path, key);
        return 0;
    }
    const json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"), *of = json_object_get(v, "data_offsets");
    if (!dt || !sh || !of) {
        seterr(err, errlen, "%s: safetensors header: tensor \"%.60s\" lacks \"%s\"", path, key,
               !dt ? "dtype" : !sh ? "shape" : "data_offsets");
        return 0;
    }
    int found = -1;
    if (json_is_string(dt))
        for (int d = 0; d <= ST_I64; d++)
            if (!strcmp(json_string_value(dt), dtype_names[d])) found = d;
    if (found < 0) {
        seterr(err, errlen, "%s: safetensors header: tensor \"%.60s\" has %s dtype %s%.16s%s (supported: F32, F64, U8, I64)",
               path, key, json_is_string(dt) ? "unsupported" : "a non-string", json_is_string(dt) ? "\"" : "",
               json_is_string(dt) ? json_string_value(dt) : "", json_is_string(dt) ? "\"" : "");
        return 0;
    }
    t->dtype = (st_dtype)found;
    if (!json_is_array(sh) || json_array_size(sh) > ST_MAX_DIMS) {
        seterr(err, errlen, "%s: safetensors header: shape of tensor \"%.60s\" must be an array of at most %d integers",
               path, key, ST_MAX_DIMS);
        return 0;
    }
    t->ndims = (int)json_array_size(sh);
    for (int d = 0; d < t->ndims; d++)
        if (!nonneg_int(json_array_get(sh, (size_t)d), &t->shape[d])) {
            seterr(err, errlen, "%s: safetensors header: shape of tensor \"%.60s\" holds a value that is not a "
                   "non-negative integer", path, key);
            return 0;
        }
    int64_t ob, oe;
    if (!json_is_array(of) || json_array_size(of) != 2 || !nonneg_int(json_array_get(of, 0), &ob) ||
        !nonneg_int(json_array_get(of, 1), &oe)) {
        seterr(err, errlen, "%s: safetensors header: data_offsets of tensor \"%.60s\" must be two non-negative integers",
               path, key);
        return 0;
    }
    uint64_t b = (uint64_t)ob, e = (uint64_t)oe;
    if (b > e || e > datalen) {
        seterr(err, errlen, "%s: tensor \"%.60s\": data_offsets [%llu, %llu] lie outside the data section of %llu "
               "bytes (truncated file?)", path, key, (unsigned long long)b, (unsigned long long)e,
               (unsigned long long)datalen);
        return 0;
    }
    int ok;
    uint64_t need = nbytes_of(t->ndims, t->shape, dtype_sizes[t->dtype], &ok);
    if (!ok || need != e - b) {
        char sbuf2[160];
        size_t o = 0;
        for (int d = 0; d < t->ndims && o < sizeof sbuf2 - 24; d++)
            o += (size_t)snprintf(sbuf2 + o, sizeof sbuf2 - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        sbuf2[o] = 0;
        seterr(err, errlen, "%s: tensor \"%.60s\": shape [%s] of %s needs %s%llu bytes but data_offsets [%llu, %llu] "
               "span %llu", path, key, sbuf2, dtype_names[t->dtype], ok ? "" : "more than ",
               (unsigned long long)(ok ? need : UINT64_MAX), (unsigned long long)b, (unsigned long long)e,
               (unsigned long long)(e - b));
        return 0;
    }
    t->data = (const void *)(uintptr_t)b; /* offset for now */
    span[0] = b;
    span[1] = e;
    return 1;
}

/* Validates the parsed header and fills f (tensor table and metadata; data pointers are set
 * later). Returns 0 with a message in err on failure. */
static int load_header(const json_t *root, st_file *f, uint64_t datalen, const char *path, char *err, size_t errlen)
{
    if (!json_is_object(root)) {
        seterr(err, errlen, "%s: safetensors header: expected a JSON object, found %s", path,
               json_is_array(root) ? "an array" : json_is_string(root) ? "a string" : "another value");
        return 0;
    }
    size_t n = json_object_size(root);
    f->t = calloc(n ? n : 1, sizeof *f->t);
    uint64_t *span = calloc(2 * (n ? n : 1), sizeof *span);
    if (!f->t || !span) {
        free(span);
        seterr(err, errlen, "%s: out of memory", path);
        return 0;
    }
    const char *key;
    const json_t *v;
    int ok = 1;
    json_object_foreach((json_t *)root, key, v) {
        if (!ok) break;
        if (!strcmp(key, "__metadata__")) {
            if (!json_is_object(v)) {
                seterr(err, errlen, "%s: safetensors header: \"__metadata__\" must be an object of strings", path);
                ok = 0;
                break;
            }
            size_t m = json_object_size(v);
            f->mkey = calloc(m ? m : 1, sizeof *f->mkey);
            f->mval = calloc(m ? m : 1, sizeof *f->mval);
            if (!f->mkey || !f->mval) { seterr(err, errlen, "%s: out of memory", path); ok = 0; break; }
            const char *mk;
            const json_t *mv;
            json_object_foreach((json_t *)v, mk, mv) {
                if (!json_is_string(mv)) {
                    seterr(err, errlen, "%s: safetensors header: metadata value of \"%.60s\" is not a string", path, mk);
                    ok = 0;
                    break;
                }
                f->mkey[f->nmeta] = xstrdup(mk);
                f->mval[f->nmeta] = xstrdup(json_string_value(mv));
                f->nmeta++;
                if (!f->mkey[f->nmeta - 1] || !f->mval[f->nmeta - 1]) { seterr(err, errlen, "%s: out of memory", path); ok = 0; break; }
            }
            continue;
        }
        if (!*key) {
            seterr(err, errlen, "%s: safetensors header: empty tensor name", path);
            ok = 0;
            break;
        }
        st_rtensor *t = &f->t[f->n];
        if (!load_tensor(key, v, t, datalen, span + 2 * f->n, path, err, errlen)) { ok = 0; break; }
        if (!(t->name = xstrdup(key))) { seterr(err, errlen, "%s: out of memory", path); ok = 0; break; }
        f->n++;
    }
    if (ok) ok = check_cover(span, f->n, datalen, path, err, errlen);
    free(span);
    return ok;
}

/* Reads and parses the length-prefixed JSON header of an open safetensors file of fsize bytes;
 * on success *root is the parsed header and *datalen the size of the data section that follows. */
static int read_header(FILE *fp, uint64_t fsize, const char *path, json_t **root, uint64_t *datalen,
                       char *err, size_t errlen)
{
    unsigned char len8[8];
    if (fsize < 8 || fread(len8, 1, 8, fp) != 8) {
        seterr(err, errlen, "%s: truncated safetensors file: %llu bytes, shorter than the 8-byte header length", path,
               (unsigned long long)fsize);
        return 0;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    if (hlen > fsize - 8) {
        seterr(err, errlen, "%s: truncated safetensors file: the header length is %llu bytes but only %llu bytes follow",
               path, (unsigned long long)hlen, (unsigned long long)(fsize - 8));
        return 0;
    }
    if (hlen > ST_MAX_HEADER) {
        seterr(err, errlen, "%s: safetensors header of %llu bytes exceeds the limit of %llu", path,
               (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
        return 0;
    }
    *datalen = fsize - 8 - hlen;
    if (*datalen > (uint64_t)SIZE_MAX - 1) {
        seterr(err, errlen, "%s: file too large", path);
        return 0;
    }
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        seterr(err, errlen, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        return 0;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != (size_t)hlen) {
        seterr(err, errlen, "%s: read error in the safetensors header", path);
        free(hdr);
        return 0;
    }
    hdr[hlen] = 0;
    /* jansson refuses NUL characters in strings (JSON_ALLOW_NUL unset), duplicate keys and
       nesting beyond its depth limit, so names and metadata are plain C strings */
    json_error_t je;
    *root = json_loadb(hdr, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    free(hdr);
    if (!*root) {
        seterr(err, errlen, "%s: bad JSON in the safetensors header at byte offset %d of the file (%d of the header, "
               "line %d column %d): %s", path, 8 + je.position, je.position, je.line, je.column, je.text);
        return 0;
    }
    return 1;
}

/* Points every tensor at its bytes in f->data: in place when aligned on a little-endian host,
 * otherwise in its own (byte-swapped) copy. */
static int bind_tensors(st_file *f, const char *path, char *err, size_t errlen)
{
    int le = host_is_le();
    for (int i = 0; i < f->n; i++) {
        st_rtensor *t = &f->t[i];
        size_t b = (size_t)(uintptr_t)t->data, es = dtype_sizes[t->dtype];
        int okb;
        size_t nb = (size_t)nbytes_of(t->ndims, t->shape, es, &okb);
        if (b % es || !le) { /* misaligned (or to be byte-swapped): its own malloc'd copy */
            t->own = malloc(nb ? nb : 8);
            if (!t->own) {
                seterr(err, errlen, "%s: out of memory", path);
                return 0;
            }
            if (nb) memcpy(t->own, f->data + b, nb);
            t->data = t->own;
        } else {
            t->data = f->data + b;
        }
        if (!le) swap_elems((unsigned char *)(uintptr_t)t->data, nb / es, es);
    }
    return 1;
}

clnas_status st_open(const char *path, st_file **out, char *err, size_t errlen)
{
    if (out) *out = NULL;
    if (!path || !out) {
        seterr(err, errlen, "safetensors: no path");
        return CLNAS_E_IO;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return CLNAS_E_IO;
    }
    struct stat sb;
    json_t *root = NULL;
    st_file *f = NULL;
    uint64_t datalen64 = 0;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (!read_header(fp, (uint64_t)sb.st_size, path, &root, &datalen64, err, errlen)) goto fail;
    if (!(f = calloc(1, sizeof *f))) {
        seterr(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (!load_header(root, f, datalen64, path, err, errlen)) goto fail;
    json_decref(root);
    root = NULL;
    f->datalen = (size_t)datalen64;
    f->data = malloc(f->datalen ? f->datalen : 8);
    if (!f->data) {
        seterr(err, errlen, "%s: out of memory for %zu bytes of tensor data", path, f->datalen);
        goto fail;
    }
    if (f->datalen && fread(f->data, 1, f->datalen, fp) != f->datalen) {
        seterr(err, errlen, "%s: read error in the tensor data (file changed while reading?)", path);
        goto fail;
    }
    if (!bind_tensors(f, path, err, errlen)) goto fail;
    fclose(fp);
    *out = f;
    return CLNAS_OK;
fail:
    json_decref(root);
    if (f) st_close(f);
    fclose(fp);
    return CLNAS_E_IO;
}
