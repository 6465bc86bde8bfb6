/* safetensors.c - safetensors writer and reader (see safetensors.h).
 *
 * Writer: header JSON with "__metadata__" first and the tensors in the order they were
 * added, padded with spaces to a multiple of 8 bytes (as Hugging Face's writer does), then
 * the raw little-endian data; written to a temporary file next to the target and renamed.
 *
 * Reader: loads the header, parses it with a small strict JSON parser (RFC 8259: objects,
 * arrays, strings with escapes, numbers, literals; nesting depth limited), checks every
 * tensor entry (dtype, shape, data_offsets inside the data section and equal to
 * dtype size * element count, all without overflow), and copies the data section into a
 * malloc'd (hence suitably aligned) buffer. Every failure is CLNAS_E_IO with a message that
 * names the path and what is wrong; hostile input never reads out of bounds. */
#define _POSIX_C_SOURCE 200809L
#include "report/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024) /* as the reference implementation */
#define JSON_MAX_DEPTH 64
#define JSON_MAX_VALUES ((size_t)4 << 20) /* bounds the parse tree of a hostile header (~0.5 GB) */

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

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->failed = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_fmt(sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}
/* JSON string literal; bytes >= 0x80 pass through (UTF-8), control characters are escaped. */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"': sb_put(b, "\\\"", 2); break;
        case '\\': sb_put(b, "\\\\", 2); break;
        case '\n': sb_put(b, "\\n", 2); break;
        case '\r': sb_put(b, "\\r", 2); break;
        case '\t': sb_put(b, "\\t", 2); break;
        case '\b': sb_put(b, "\\b", 2); break;
        case '\f': sb_put(b, "\\f", 2); break;
        default:
            if (*c < 0x20) sb_fmt(b, "\\u%04x", (unsigned)*c);
            else sb_put(b, (const char *)c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

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
    /* ---- header ---- */
    sbuf h = {0};
    sb_str(&h, "{");
    int first = 1;
    if (w->nmeta) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            if (i) sb_str(&h, ",");
            sb_json_str(&h, w->mkey[i]);
            sb_str(&h, ":");
            sb_json_str(&h, w->mval[i]);
        }
        sb_str(&h, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const st_wtensor *t = &w->t[i];
        if (!first) sb_str(&h, ",");
        first = 0;
        sb_json_str(&h, t->name);
        sb_fmt(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[t->dtype]);
        for (int d = 0; d < t->ndims; d++) sb_fmt(&h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        sb_fmt(&h, "],\"data_offsets\":[%llu,", (unsigned long long)off);
        off += t->nbytes;
        sb_fmt(&h, "%llu]}", (unsigned long long)off);
    }
    sb_str(&h, "}");
    while (!h.failed && h.len % 8) sb_str(&h, " ");
    if (h.failed) {
        free(h.p);
        seterr(err, errlen, "%s: out of memory building the safetensors header", path);
        return CLNAS_E_IO;
    }
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

/* ======================================================================== JSON */

typedef enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    size_t pos;       /* byte offset of the value in the header */
    int is_int;       /* J_NUM: an integer that fits int64 */
    int64_t i;
    int b;
    char *s;          /* J_STR: NUL-terminated UTF-8; slen bytes (may hold NULs) */
    size_t slen;
    struct jval *items; /* J_ARR / J_OBJ */
    char **keys;        /* J_OBJ */
    size_t *keylens;
    size_t n, cap;
} jval;

typedef struct jparser {
    const char *s;
    size_t n, pos;
    int depth;
    size_t nvalues;
    size_t epos;
    char emsg[160];
} jparser;

static void jfree(jval *v)
{
    if (!v) return;
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        jfree(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->keylens);
    memset(v, 0, sizeof *v);
}

static int jfail(jparser *p, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int jfail(jparser *p, size_t pos, const char *fmt, ...)
{
    if (p->emsg[0]) return 0;
    p->epos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->emsg, sizeof p->emsg, fmt, ap);
    va_end(ap);
    if (!p->emsg[0]) snprintf(p->emsg, sizeof p->emsg, "error");
    return 0;
}

static void jws(jparser *p)
{
    while (p->pos < p->n && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static const char *describe(const jparser *p, char buf[32])
{
    if (p->pos >= p->n) return "end of header";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 32, "'%c'", c);
    else snprintf(buf, 32, "byte 0x%02x", c);
    return buf;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_hex4(jparser *p, unsigned *out)
{
    if (p->n - p->pos < 4) return jfail(p, p->pos, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + (size_t)i]);
        if (h < 0) return jfail(p, p->pos + (size_t)i, "bad hex digit in \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return 1;
}

/* Parses a string at p->pos (which holds '"') into a malloc'd buffer. */
static int jstring(jparser *p, char **out, size_t *outlen)
{
    size_t start = p->pos;
    p->pos++; /* opening quote */
    /* the decoded string is never longer than the raw one */
    size_t end = p->pos;
    while (end < p->n && p->s[end] != '"') end += (p->s[end] == '\\') ? 2 : 1;
    if (end >= p->n) return jfail(p, start, "unterminated string");
    char *buf = malloc(end - p->pos + 1);
    if (!buf) return jfail(p, start, "out of memory");
    size_t o = 0;
    while (p->pos < p->n && p->s[p->pos] != '"') {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20) {
            free(buf);
            return jfail(p, p->pos, "control character 0x%02x in a string", c);
        }
        if (c != '\\') {
            buf[o++] = (char)c;
            p->pos++;
            continue;
        }
        size_t esc = p->pos;
        p->pos++;
        if (p->pos >= p->n) {
            free(buf);
            return jfail(p, esc, "unterminated escape");
        }
        char e = p->s[p->pos++];
        switch (e) {
        case '"': buf[o++] = '"'; break;
        case '\\': buf[o++] = '\\'; break;
        case '/': buf[o++] = '/'; break;
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (!read_hex4(p, &cp)) { free(buf); return 0; }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(buf);
                return jfail(p, esc, "unpaired low surrogate in \\u escape");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    free(buf);
                    return jfail(p, esc, "unpaired high surrogate in \\u escape");
                }
                p->pos += 2;
                if (!read_hex4(p, &lo)) { free(buf); return 0; }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    return jfail(p, esc, "unpaired high surrogate in \\u escape");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* UTF-8: at most 4 bytes from at least 6 (or 12) escape bytes */
            if (cp < 0x80) buf[o++] = (char)cp;
            else if (cp < 0x800) {
                buf[o++] = (char)(0xC0 | (cp >> 6));
                buf[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                buf[o++] = (char)(0xE0 | (cp >> 12));
                buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                buf[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                buf[o++] = (char)(0xF0 | (cp >> 18));
                buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                buf[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            free(buf);
            return jfail(p, esc, "invalid escape '\\%c'", (e >= 0x20 && e < 0x7f) ? e : '?');
        }
    }
    if (p->pos >= p->n) {
        free(buf);
        return jfail(p, start, "unterminated string");
    }
    p->pos++; /* closing quote */
    buf[o] = 0;
    *out = buf;
    *outlen = o;
    return 1;
}

static int jnumber(jparser *p, jval *v)
{
    size_t start = p->pos;
    int neg = 0;
    if (p->s[p->pos] == '-') { neg = 1; p->pos++; }
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') return jfail(p, p->pos, "expected a digit");
    uint64_t mag = 0;
    int overflow = 0;
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return jfail(p, p->pos, "leading zero in a number");
    } else {
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            unsigned d = (unsigned)(p->s[p->pos] - '0');
            if (mag > (UINT64_MAX - d) / 10) overflow = 1;
            else mag = mag * 10 + d;
            p->pos++;
        }
    }
    int integer = 1;
    if (p->pos < p->n && p->s[p->pos] == '.') {
        integer = 0;
        p->pos++;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') return jfail(p, p->pos, "expected a digit after '.'");
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integer = 0;
        p->pos++;
        if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9') return jfail(p, p->pos, "expected a digit in the exponent");
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    }
    v->type = J_NUM;
    v->pos = start;
    if (integer && !overflow && (neg ? mag <= (uint64_t)INT64_MAX + 1 : mag <= (uint64_t)INT64_MAX)) {
        v->is_int = 1;
        v->i = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    }
    return 1;
}

static int jvalue(jparser *p, jval *v);

static int jpush(jparser *p, jval *v, char *key, size_t keylen, size_t pos)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 4;
        jval *it = realloc(v->items, cap * sizeof *it);
        if (!it) return jfail(p, pos, "out of memory");
        v->items = it;
        if (v->type == J_OBJ) {
            char **k = realloc(v->keys, cap * sizeof *k);
            if (!k) return jfail(p, pos, "out of memory");
            v->keys = k;
            size_t *kl = realloc(v->keylens, cap * sizeof *kl);
            if (!kl) return jfail(p, pos, "out of memory");
            v->keylens = kl;
        }
        v->cap = cap;
    }
    memset(&v->items[v->n], 0, sizeof v->items[v->n]);
    if (v->type == J_OBJ) {
        v->keys[v->n] = key;
        v->keylens[v->n] = keylen;
    }
    v->n++;
    return 1;
}

/* Rejects an object with a repeated key (sorting, so hostile headers stay O(n log n)). */
static _Thread_local const jval *g_sort_obj;
static int cmp_keys(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = g_sort_obj->keylens[i], lj = g_sort_obj->keylens[j];
    int c = memcmp(g_sort_obj->keys[i], g_sort_obj->keys[j], li < lj ? li : lj);
    if (c) return c;
    if (li != lj) return li < lj ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static int jcheck_dups(jparser *p, const jval *v)
{
    if (v->n < 2) return 1;
    size_t *idx = malloc(v->n * sizeof *idx);
    if (!idx) return jfail(p, v->pos, "out of memory");
    for (size_t i = 0; i < v->n; i++) idx[i] = i;
    g_sort_obj = v;
    qsort(idx, v->n, sizeof *idx, cmp_keys);
    for (size_t i = 1; i < v->n; i++) {
        size_t a = idx[i - 1], b = idx[i];
        if (v->keylens[a] == v->keylens[b] && !memcmp(v->keys[a], v->keys[b], v->keylens[a])) {
            size_t later = a > b ? a : b;
            free(idx);
            return jfail(p, v->items[later].pos, "duplicate key \"%.60s\"", v->keys[later]);
        }
    }
    free(idx);
    return 1;
}

static int jcontainer(jparser *p, jval *v, int is_obj)
{
    char b[32];
    v->type = is_obj ? J_OBJ : J_ARR;
    v->pos = p->pos;
    if (++p->depth > JSON_MAX_DEPTH) return jfail(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
    p->pos++;
    jws(p);
    char close = is_obj ? '}' : ']';
    if (p->pos < p->n && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 1;
    }
    for (;;) {
        jws(p);
        char *key = NULL;
        size_t keylen = 0, kpos = p->pos;
        if (is_obj) {
            if (p->pos >= p->n || p->s[p->pos] != '"')
                return jfail(p, p->pos, "expected a string key, found %s", describe(p, b));
            if (!jstring(p, &key, &keylen)) return 0;
            jws(p);
            if (p->pos >= p->n || p->s[p->pos] != ':') {
                free(key);
                return jfail(p, p->pos, "expected ':' after an object key, found %s", describe(p, b));
            }
            p->pos++;
        }
        if (!jpush(p, v, key, keylen, kpos)) {
            free(key);
            return 0;
        }
        if (!jvalue(p, &v->items[v->n - 1])) return 0;
        jws(p);
        if (p->pos < p->n && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->n && p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return is_obj ? jcheck_dups(p, v) : 1;
        }
        return jfail(p, p->pos, "expected ',' or '%c', found %s", close, describe(p, b));
    }
}

static int jvalue(jparser *p, jval *v)
{
    char b[32];
    jws(p);
    v->pos = p->pos;
    if (++p->nvalues > JSON_MAX_VALUES) return jfail(p, p->pos, "more than %zu JSON values", JSON_MAX_VALUES);
    if (p->pos >= p->n) return jfail(p, p->pos, "expected a value, found the end of the header");
    char c = p->s[p->pos];
    if (c == '{') return jcontainer(p, v, 1);
    if (c == '[') return jcontainer(p, v, 0);
    if (c == '"') {
        v->type = J_STR;
        return jstring(p, &v->s, &v->slen);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return jnumber(p, v);
    static const struct { const char *w; jtype t; int b; } lits[] = {
        {"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
        size_t L = strlen(lits[i].w);
        if (p->n - p->pos >= L && !memcmp(p->s + p->pos, lits[i].w, L)) {
            v->type = lits[i].t;
            v->b = lits[i].b;
            p->pos += L;
            return 1;
        }
    }
    return jfail(p, p->pos, "expected a value, found %s", describe(p, b));
}

static const jval *jget(const jval *obj, const char *key)
{
    size_t L = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->keylens[i] == L && !memcmp(obj->keys[i], key, L)) return &obj->items[i];
    return NULL;
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

/* Validates the parsed header and fills f (tensor table and metadata; data pointers are set
 * later). Returns 0 with a message in err on failure. */
static int load_header(const jval *root, st_file *f, uint64_t datalen, const char *path, char *err, size_t errlen)
{
    const size_t base = 8;
    if (root->type != J_OBJ) {
        seterr(err, errlen, "%s: safetensors header at byte %zu: expected a JSON object", path, base + root->pos);
        return 0;
    }
    f->t = calloc(root->n ? root->n : 1, sizeof *f->t);
    if (!f->t) { seterr(err, errlen, "%s: out of memory", path); return 0; }
    for (size_t k = 0; k < root->n; k++) {
        const char *key = root->keys[k];
        const jval *v = &root->items[k];
        if (strlen(key) != root->keylens[k]) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: a key contains a NUL character", path, base + v->pos);
            return 0;
        }
        if (!strcmp(key, "__metadata__")) {
            if (v->type != J_OBJ) {
                seterr(err, errlen, "%s: safetensors header at byte %zu: \"__metadata__\" must be an object of strings",
                       path, base + v->pos);
                return 0;
            }
            f->mkey = calloc(v->n ? v->n : 1, sizeof *f->mkey);
            f->mval = calloc(v->n ? v->n : 1, sizeof *f->mval);
            if (!f->mkey || !f->mval) { seterr(err, errlen, "%s: out of memory", path); return 0; }
            for (size_t m = 0; m < v->n; m++) {
                const jval *mv = &v->items[m];
                if (mv->type != J_STR) {
                    seterr(err, errlen, "%s: safetensors header at byte %zu: metadata value of \"%.60s\" is not a string",
                           path, base + mv->pos, v->keys[m]);
                    return 0;
                }
                if (strlen(v->keys[m]) != v->keylens[m] || strlen(mv->s) != mv->slen) {
                    seterr(err, errlen, "%s: safetensors header at byte %zu: metadata holds a NUL character", path,
                           base + mv->pos);
                    return 0;
                }
                f->mkey[f->nmeta] = xstrdup(v->keys[m]);
                f->mval[f->nmeta] = xstrdup(mv->s);
                f->nmeta++;
                if (!f->mkey[f->nmeta - 1] || !f->mval[f->nmeta - 1]) { seterr(err, errlen, "%s: out of memory", path); return 0; }
            }
            continue;
        }
        if (!*key) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: empty tensor name", path, base + v->pos);
            return 0;
        }
        if (v->type != J_OBJ) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: entry of tensor \"%.60s\" is not an object", path,
                   base + v->pos, key);
            return 0;
        }
        const jval *dt = jget(v, "dtype"), *sh = jget(v, "shape"), *of = jget(v, "data_offsets");
        if (!dt || !sh || !of) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: tensor \"%.60s\" lacks \"%s\"", path, base + v->pos,
                   key, !dt ? "dtype" : !sh ? "shape" : "data_offsets");
            return 0;
        }
        st_rtensor *t = &f->t[f->n];
        int found = -1;
        if (dt->type == J_STR)
            for (int d = 0; d <= ST_I64; d++)
                if (!strcmp(dt->s, dtype_names[d])) found = d;
        if (found < 0) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: tensor \"%.60s\" has %s dtype %s%.16s%s "
                   "(supported: F32, F64, U8, I64)", path, base + dt->pos, key,
                   dt->type == J_STR ? "unsupported" : "a non-string", dt->type == J_STR ? "\"" : "",
                   dt->type == J_STR ? dt->s : "", dt->type == J_STR ? "\"" : "");
            return 0;
        }
        t->dtype = (st_dtype)found;
        if (sh->type != J_ARR || sh->n > ST_MAX_DIMS) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: shape of tensor \"%.60s\" must be an array of at "
                   "most %d integers", path, base + sh->pos, key, ST_MAX_DIMS);
            return 0;
        }
        t->ndims = (int)sh->n;
        for (size_t d = 0; d < sh->n; d++) {
            const jval *e = &sh->items[d];
            if (e->type != J_NUM || !e->is_int || e->i < 0) {
                seterr(err, errlen, "%s: safetensors header at byte %zu: shape of tensor \"%.60s\" holds a value that "
                       "is not a non-negative integer", path, base + e->pos, key);
                return 0;
            }
            t->shape[d] = e->i;
        }
        if (of->type != J_ARR || of->n != 2 || of->items[0].type != J_NUM || !of->items[0].is_int ||
            of->items[1].type != J_NUM || !of->items[1].is_int || of->items[0].i < 0 || of->items[1].i < 0) {
            seterr(err, errlen, "%s: safetensors header at byte %zu: data_offsets of tensor \"%.60s\" must be two "
                   "non-negative integers", path, base + of->pos, key);
            return 0;
        }
        uint64_t b = (uint64_t)of->items[0].i, e = (uint64_t)of->items[1].i;
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
        if (!(t->name = xstrdup(key))) { seterr(err, errlen, "%s: out of memory", path); return 0; }
        t->data = (const void *)(uintptr_t)b; /* offset for now */
        f->n++;
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
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", path);
        fclose(fp);
        return CLNAS_E_IO;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (fsize < 8 || fread(len8, 1, 8, fp) != 8) {
        seterr(err, errlen, "%s: truncated safetensors file: %llu bytes, shorter than the 8-byte header length", path,
               (unsigned long long)fsize);
        fclose(fp);
        return CLNAS_E_IO;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    if (hlen > fsize - 8) {
        seterr(err, errlen, "%s: truncated safetensors file: the header length is %llu bytes but only %llu bytes follow",
               path, (unsigned long long)hlen, (unsigned long long)(fsize - 8));
        fclose(fp);
        return CLNAS_E_IO;
    }
    if (hlen > ST_MAX_HEADER) {
        seterr(err, errlen, "%s: safetensors header of %llu bytes exceeds the limit of %llu", path,
               (unsigned long long)hlen, (unsigned long long)ST_MAX_HEADER);
        fclose(fp);
        return CLNAS_E_IO;
    }
    uint64_t datalen64 = fsize - 8 - hlen;
    if (datalen64 > (uint64_t)SIZE_MAX - 1) {
        seterr(err, errlen, "%s: file too large", path);
        fclose(fp);
        return CLNAS_E_IO;
    }
    char *hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        seterr(err, errlen, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        fclose(fp);
        return CLNAS_E_IO;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != (size_t)hlen) {
        seterr(err, errlen, "%s: read error in the safetensors header", path);
        free(hdr);
        fclose(fp);
        return CLNAS_E_IO;
    }
    hdr[hlen] = 0;

    jparser p = {hdr, (size_t)hlen, 0, 0, 0, 0, ""};
    jval root;
    memset(&root, 0, sizeof root);
    jws(&p);
    int ok = 1;
    if (p.pos < p.n && hdr[p.pos] != '{') {
        char b[32];
        ok = jfail(&p, p.pos, "expected '{' at the start of the header, found %s", describe(&p, b));
    }
    if (ok) ok = jvalue(&p, &root);
    if (ok) {
        jws(&p);
        if (p.pos != p.n) {
            char b[32];
            ok = jfail(&p, p.pos, "unexpected %s after the JSON object", describe(&p, b));
        }
    }
    if (!ok) {
        seterr(err, errlen, "%s: bad JSON in the safetensors header at byte offset %zu of the file (%zu of the header): %s",
               path, (size_t)8 + p.epos, p.epos, p.emsg);
        jfree(&root);
        free(hdr);
        fclose(fp);
        return CLNAS_E_IO;
    }
    free(hdr);

    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        seterr(err, errlen, "%s: out of memory", path);
        jfree(&root);
        fclose(fp);
        return CLNAS_E_IO;
    }
    if (!load_header(&root, f, datalen64, path, err, errlen)) {
        jfree(&root);
        st_close(f);
        fclose(fp);
        return CLNAS_E_IO;
    }
    jfree(&root);

    f->datalen = (size_t)datalen64;
    f->data = malloc(f->datalen ? f->datalen : 8);
    if (!f->data) {
        seterr(err, errlen, "%s: out of memory for %zu bytes of tensor data", path, f->datalen);
        st_close(f);
        fclose(fp);
        return CLNAS_E_IO;
    }
    if (f->datalen && fread(f->data, 1, f->datalen, fp) != f->datalen) {
        seterr(err, errlen, "%s: read error in the tensor data (file changed while reading?)", path);
        st_close(f);
        fclose(fp);
        return CLNAS_E_IO;
    }
    fclose(fp);
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
                st_close(f);
                return CLNAS_E_IO;
            }
            if (nb) memcpy(t->own, f->data + b, nb);
            t->data = t->own;
        } else {
            t->data = f->data + b;
        }
        if (!le) swap_elems((unsigned char *)(uintptr_t)t->data, nb / es, es);
    }
    *out = f;
    return CLNAS_OK;
}
