/* records.c - clnas's image-record files (`clnas data convert`): writing one from an
 * ImageNet-style folder, and reading it back as every later run does.
 *
 * Layout (data.h has the user's view):
 *   CLNAS-IMAGE-RECORDS 1\n
 *   key: value\n ...          provenance and geometry, one per line, in any order
 *   class: NAME\n ...         the class folders in label order (optional for a reader)
 *   \n                        the empty line that ends the header
 *   images x record_bytes     label (uint16 little-endian) + R, G, B planes of size x size
 * The header is text so that `head -c 2000 FILE` shows where the data came from. Its counts
 * (images, skipped) are written zero-padded to a fixed width, so the writer can rewrite the
 * header in place once the folder has been decoded; records go straight to the file.
 *
 * A reader checks everything before trusting it: the magic line, every header line's form,
 * the geometry (record_bytes = label_bytes + channels * size^2), the file size against the
 * counts (naming the byte offset where the data stops or runs on), and every label. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "data/image.h"

#define MAGIC "CLNAS-IMAGE-RECORDS"
#define VERSION 1
#define MAX_HEADER (16L << 20) /* 65535 class names fit many times over */
#define LABEL_BYTES 2

#ifndef CLNAS_VERSION_STRING
#define CLNAS_VERSION_STRING "unknown"
#endif

static clnas_status fail(char *err, size_t errlen, clnas_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static clnas_status fail(char *err, size_t errlen, clnas_status st, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* ---------------- header ---------------- */

void clnas_records_header_free(clnas_records_header *h)
{
    if (!h) return;
    if (h->class_names)
        for (int i = 0; i < h->classes; i++) free(h->class_names[i]);
    free(h->class_names);
    h->class_names = NULL;
}

/* A header value: control characters (a newline in a folder name) become '?'. */
static void put_value(FILE *f, const char *key, const char *v)
{
    fprintf(f, "%s: ", key);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
    fputc('\n', f);
}

static void utc_now(char *out, size_t len)
{
    /* SOURCE_DATE_EPOCH (reproducible builds' convention) fixes the date of a conversion */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    time_t t = sde && *sde ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
    struct tm tm;
    if (gmtime_r(&t, &tm)) strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else snprintf(out, len, "unknown");
}

/* Writes the whole header at the start of f; the counts are fixed-width so a rewrite with the
 * final counts has the same length. Returns the header's length, or -1 on a write error. */
static long write_header(FILE *f, const clnas_records_header *h, long per_class)
{
    if (fseek(f, 0, SEEK_SET) != 0) return -1;
    fprintf(f, "%s %d\n", MAGIC, VERSION);
    fprintf(f, "format: a text header ending with an empty line, then `images` records of record_bytes bytes: "
               "the class label (uint16, little-endian), then the R, G and B planes of size x size bytes, rows "
               "top to bottom\n");
    put_value(f, "source", h->source);
    fprintf(f, "images: %012ld\n", h->images);
    fprintf(f, "skipped: %012ld\n", h->skipped);
    fprintf(f, "classes: %d\n", h->classes);
    fprintf(f, "size: %d\n", h->size);
    fprintf(f, "channels: %d\n", h->channels);
    fprintf(f, "label_bytes: %d\n", h->label_bytes);
    fprintf(f, "record_bytes: %ld\n", h->record_bytes);
    put_value(f, "filter", h->filter);
    put_value(f, "decode", h->decode);
    if (per_class > 0) fprintf(f, "per_class: %ld\n", per_class);
    else fprintf(f, "per_class: all\n");
    put_value(f, "clnas", h->version);
    put_value(f, "date", h->date);
    for (int i = 0; i < h->classes; i++) put_value(f, "class", h->class_names[i]);
    fputc('\n', f);
    if (ferror(f)) return -1;
    long n = ftell(f);
    return n;
}

/* Strict non-negative decimal (leading zeros allowed) into *v; 0 if malformed or > max. */
static int parse_num(const char *s, long max, long *v)
{
    if (!*s) return 0;
    long x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        if (x > (max - (*s - '0')) / 10) return 0;
        x = x * 10 + (*s - '0');
    }
    *v = x;
    return 1;
}

/* Reads up to the empty line that ends the header into a malloc'd buffer (*len bytes, with the
 * final "\n\n"). */
static clnas_status slurp_header(FILE *f, const char *path, char **buf, long *len, char *err, size_t errlen)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    if (!b) return fail(err, errlen, CLNAS_E_NOMEM, "%s: out of memory reading the header", path);
    for (;;) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        b[n] = 0;
        /* the end: the first "\n\n" */
        char *e = NULL;
        for (size_t i = 1; i < n; i++)
            if (b[i] == '\n' && b[i - 1] == '\n') {
                e = b + i;
                break;
            }
        if (e) {
            *len = (long)(e - b) + 1;
            *buf = b;
            return CLNAS_OK;
        }
        if (got == 0 || n >= (size_t)MAX_HEADER) {
            free(b);
            return fail(err, errlen, CLNAS_E_IO,
                        "%s: the header has no end (no empty line in its first %zu bytes): a truncated or "
                        "damaged clnas image-record file",
                        path, n);
        }
        if (n == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                return fail(err, errlen, CLNAS_E_NOMEM, "%s: out of memory reading the header", path);
            }
            b = nb;
            cap *= 2;
        }
    }
}

/* Stores one "key: value" line (at byte offset off) into h. */
static clnas_status header_line(clnas_records_header *h, const char *path, long off, const char *key,
                                const char *val, int *nclass_names, unsigned *seen, char *err, size_t errlen)
{
    static const char *const num_keys[] = {"images", "skipped", "classes", "size", "channels", "label_bytes",
                                           "record_bytes"};
    static const long num_max[] = {LONG_MAX, LONG_MAX, 65535, 4096, 4, 8, LONG_MAX};
    for (int k = 0; k < 7; k++) {
        if (strcmp(key, num_keys[k])) continue;
        if (*seen & (1u << k)) /* a second "classes:" would outgrow the class-name list (found by fuzz_data) */
            return fail(err, errlen, CLNAS_E_IO, "%s: header line at byte offset %ld: a second \"%s\" line", path, off, key);
        long v;
        if (!parse_num(val, num_max[k], &v))
            return fail(err, errlen, CLNAS_E_IO,
                        "%s: header line at byte offset %ld: %s \"%s\" is not a whole number in [0, %ld]", path,
                        off, key, val, num_max[k]);
        switch (k) {
        case 0: h->images = v; break;
        case 1: h->skipped = v; break;
        case 2: h->classes = (int)v; break;
        case 3: h->size = (int)v; break;
        case 4: h->channels = (int)v; break;
        case 5: h->label_bytes = (int)v; break;
        default: h->record_bytes = v; break;
        }
        *seen |= 1u << k;
        return CLNAS_OK;
    }
    struct { const char *key; char *dst; size_t len; } strs[] = {
        {"source", h->source, sizeof h->source}, {"filter", h->filter, sizeof h->filter},
        {"decode", h->decode, sizeof h->decode}, {"clnas", h->version, sizeof h->version},
        {"date", h->date, sizeof h->date}};
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if (!strcmp(key, strs[k].key)) {
            snprintf(strs[k].dst, strs[k].len, "%s", val);
            return CLNAS_OK;
        }
    if (!strcmp(key, "class")) {
        if (!(*seen & (1u << 2)))
            return fail(err, errlen, CLNAS_E_IO, "%s: header line at byte offset %ld: class names before the "
                        "classes line", path, off);
        if (*nclass_names >= h->classes)
            return fail(err, errlen, CLNAS_E_IO, "%s: header line at byte offset %ld: more class names than the "
                        "%d classes the header declares", path, off, h->classes);
        if (!h->class_names && !(h->class_names = calloc((size_t)h->classes, sizeof(char *))))
            return fail(err, errlen, CLNAS_E_NOMEM, "%s: out of memory", path);
        if (!(h->class_names[*nclass_names] = strdup(val))) return fail(err, errlen, CLNAS_E_NOMEM, "%s: out of memory", path);
        (*nclass_names)++;
    }
    return CLNAS_OK; /* other keys (format, per_class, later additions) are informational */
}

/* Parses the header text buf[0..len) into h. */
static clnas_status parse_header(const char *path, char *buf, long len, clnas_records_header *h, char *err,
                                 size_t errlen)
{
    char *line = buf, *end = buf + len - 1; /* end: the final empty line's '\n' */
    const char *nul = memchr(buf, 0, (size_t)len);
    if (nul) /* a text header: a NUL would also end the line search below early (found by fuzz_data) */
        return fail(err, errlen, CLNAS_E_IO, "%s: a NUL byte at byte offset %ld of the header", path, (long)(nul - buf));
    char *nl = strchr(line, '\n');
    if (!nl) return fail(err, errlen, CLNAS_E_IO, "%s: the header's first line has no end", path);
    *nl = 0;
    char magic[64];
    int ver = 0;
    if (sscanf(line, "%63s %d", magic, &ver) != 2 || strcmp(magic, MAGIC) != 0)
        return fail(err, errlen, CLNAS_E_IO, "%s: not a clnas image-record file (expected \"%s %d\" at byte offset 0)",
                    path, MAGIC, VERSION);
    if (ver != VERSION)
        return fail(err, errlen, CLNAS_E_IO, "%s: image-record format version %d; this clnas reads version %d", path,
                    ver, VERSION);
    unsigned seen = 0;
    int nnames = 0;
    clnas_status st;
    for (line = nl + 1; line < end; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) return fail(err, errlen, CLNAS_E_IO, "%s: header line at byte offset %ld has no end", path, (long)(line - buf));
        *nl = 0;
        long off = (long)(line - buf);
        char *colon = strstr(line, ": ");
        if (!colon || colon == line)
            return fail(err, errlen, CLNAS_E_IO, "%s: header line at byte offset %ld is \"%.80s\"; expected "
                        "\"key: value\"", path, off, line);
        *colon = 0;
        if ((st = header_line(h, path, off, line, colon + 2, &nnames, &seen, err, errlen)) != CLNAS_OK) return st;
    }
    static const char *const need[] = {"images", "skipped", "classes", "size", "channels", "label_bytes",
                                       "record_bytes"};
    for (int k = 0; k < 7; k++)
        if (!(seen & (1u << k)))
            return fail(err, errlen, CLNAS_E_IO, "%s: the header (bytes 0..%ld) has no \"%s:\" line", path, len,
                        need[k]);
    if (h->channels != 3 || h->label_bytes != LABEL_BYTES || h->size < 1 || h->classes < 1)
        return fail(err, errlen, CLNAS_E_IO, "%s: header says %d channels, %d label bytes, size %d, %d classes; "
                    "expected 3 channels, %d label bytes, size >= 1, classes >= 1", path, h->channels,
                    h->label_bytes, h->size, h->classes, LABEL_BYTES);
    long want = h->label_bytes + (long)h->channels * h->size * h->size;
    if (h->record_bytes != want)
        return fail(err, errlen, CLNAS_E_IO, "%s: header says record_bytes %ld; %d label bytes + %d x %d x %d "
                    "pixels make %ld", path, h->record_bytes, h->label_bytes, h->channels, h->size, h->size, want);
    if (nnames != 0 && nnames != h->classes)
        return fail(err, errlen, CLNAS_E_IO, "%s: the header names %d classes but declares %d", path, nnames,
                    h->classes);
    h->header_bytes = len;
    return CLNAS_OK;
}

static clnas_status open_header(const char *path, FILE **fp, clnas_records_header *h, long long *fsize, char *err,
                                size_t errlen)
{
    memset(h, 0, sizeof *h);
    struct stat sb;
    if (stat(path, &sb) != 0) return fail(err, errlen, CLNAS_E_IO, "%s: cannot read: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return fail(err, errlen, CLNAS_E_IO, "%s: not a regular file", path);
    if (sb.st_size == 0) return fail(err, errlen, CLNAS_E_IO, "%s: empty file (0 bytes)", path);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, CLNAS_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL, head[sizeof MAGIC] = "";
    long len = 0;
    clnas_status st = CLNAS_OK;
    size_t got = fread(head, 1, sizeof MAGIC - 1, f);
    if (got != sizeof MAGIC - 1 || memcmp(head, MAGIC, sizeof MAGIC - 1) != 0) {
        long long sz = (long long)sb.st_size;
        st = fail(err, errlen, CLNAS_E_IO,
                  "%s: not a clnas image-record file (expected \"%s %d\" at byte offset 0)%s; make one from an "
                  "ImageNet-style folder with: clnas data convert --imagefolder DIR --out FILE",
                  path, MAGIC, VERSION,
                  sz % 3073 == 0 ? " (its size is a whole number of 3073-byte CIFAR-10 records: --dataset cifar10?)"
                  : sz % 769 == 0 ? " (its size is a whole number of 769-byte ImageNet16-120 records: --dataset "
                                    "imagenet16?)"
                                  : "");
    }
    if (st == CLNAS_OK && fseek(f, 0, SEEK_SET) != 0)
        st = fail(err, errlen, CLNAS_E_IO, "%s: cannot seek: %s", path, strerror(errno));
    if (st == CLNAS_OK) st = slurp_header(f, path, &buf, &len, err, errlen);
    if (st == CLNAS_OK) st = parse_header(path, buf, len, h, err, errlen);
    free(buf);
    if (st != CLNAS_OK) {
        fclose(f);
        clnas_records_header_free(h);
        return st;
    }
    *fp = f;
    *fsize = (long long)sb.st_size;
    return CLNAS_OK;
}

/* The file's size against the header's counts. */
static clnas_status check_size(const char *path, const clnas_records_header *h, long long fsize, char *err,
                               size_t errlen)
{
    long long want = (long long)h->header_bytes + (long long)h->images * h->record_bytes;
    if (fsize == want) return CLNAS_OK;
    if (fsize < want) {
        long long whole = (fsize - h->header_bytes) / h->record_bytes;
        return fail(err, errlen, CLNAS_E_IO,
                    "%s: truncated: the header says %ld records of %ld bytes from byte offset %ld (%lld bytes in "
                    "all) but the file has %lld bytes; record %lld at byte offset %lld is %s",
                    path, h->images, h->record_bytes, h->header_bytes, want, fsize, whole,
                    (long long)h->header_bytes + whole * h->record_bytes,
                    (fsize - h->header_bytes) % h->record_bytes ? "cut short" : "missing");
    }
    return fail(err, errlen, CLNAS_E_IO,
                "%s: %lld bytes after the last of the %ld records the header declares (it ends at byte offset %lld, "
                "the file has %lld bytes)",
                path, fsize - want, h->images, want, fsize);
}

clnas_status clnas_records_read_header(const char *path, clnas_records_header *h, char *err, size_t errlen)
{
    FILE *f = NULL;
    long long fsize = 0;
    clnas_status st = open_header(path, &f, h, &fsize, err, errlen);
    if (st != CLNAS_OK) return st;
    fclose(f);
    st = check_size(path, h, fsize, err, errlen);
    if (st != CLNAS_OK) clnas_records_header_free(h);
    return st;
}

clnas_status clnas_records_load(const char *path, int size, clnas_records_header *h, long *n, uint16_t **labels,
                                uint8_t **pixels, char *err, size_t errlen)
{
    *n = 0;
    *labels = NULL;
    *pixels = NULL;
    FILE *f = NULL;
    long long fsize = 0;
    clnas_status st = open_header(path, &f, h, &fsize, err, errlen);
    if (st != CLNAS_OK) return st;
    if (h->size != size)
        st = fail(err, errlen, CLNAS_E_IO, "%s: holds %dx%d images; this data set takes %dx%d (convert the folder "
                  "again with --size %d)", path, h->size, h->size, size, size, size);
    if (st == CLNAS_OK) st = check_size(path, h, fsize, err, errlen);
    if (st == CLNAS_OK && h->images == 0)
        st = fail(err, errlen, CLNAS_E_IO, "%s: holds no images (%ld files were skipped when it was made from %s)",
                  path, h->skipped, h->source);
    if (st == CLNAS_OK && h->images > INT_MAX)
        st = fail(err, errlen, CLNAS_E_IO, "%s: %ld images; clnas holds at most %d in memory", path, h->images, INT_MAX);
    const size_t img = (size_t)h->record_bytes - LABEL_BYTES;
    if (st == CLNAS_OK) {
        *labels = malloc((size_t)h->images * sizeof **labels);
        *pixels = malloc((size_t)h->images * img);
        if (!*labels || !*pixels)
            st = fail(err, errlen, CLNAS_E_NOMEM, "%s: out of memory for %ld images (%.1f MB)", path, h->images,
                      (double)h->images * (double)img / 1e6);
    }
    if (st == CLNAS_OK && fseek(f, h->header_bytes, SEEK_SET) != 0)
        st = fail(err, errlen, CLNAS_E_IO, "%s: cannot seek to byte offset %ld: %s", path, h->header_bytes,
                  strerror(errno));
    uint8_t *rec = st == CLNAS_OK ? malloc((size_t)h->record_bytes) : NULL;
    if (st == CLNAS_OK && !rec) st = fail(err, errlen, CLNAS_E_NOMEM, "%s: out of memory", path);
    for (long r = 0; st == CLNAS_OK && r < h->images; r++) {
        long long off = (long long)h->header_bytes + (long long)r * h->record_bytes;
        if (fread(rec, 1, (size_t)h->record_bytes, f) != (size_t)h->record_bytes) {
            st = fail(err, errlen, CLNAS_E_IO, "%s: read failed at record %ld, byte offset %lld: %s", path, r, off,
                      ferror(f) ? strerror(errno) : "unexpected end of file");
            break;
        }
        int label = rec[0] | rec[1] << 8;
        if (label >= h->classes) {
            st = fail(err, errlen, CLNAS_E_IO, "%s: record %ld at byte offset %lld has label %d, expected 0..%d (the "
                      "header declares %d classes)", path, r, off, label, h->classes - 1, h->classes);
            break;
        }
        (*labels)[r] = (uint16_t)label;
        memcpy(*pixels + (size_t)r * img, rec + LABEL_BYTES, img);
    }
    free(rec);
    fclose(f);
    if (st != CLNAS_OK) {
        free(*labels);
        free(*pixels);
        *labels = NULL;
        *pixels = NULL;
        clnas_records_header_free(h);
        return st;
    }
    *n = h->images;
    return CLNAS_OK;
}

/* ---------------- writing: clnas_imagefolder_convert ---------------- */

void clnas_convert_opts_default(clnas_convert_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = 32;
}

typedef struct writer {
    FILE *f;
    const char *tmp;
    long images;
    uint8_t *rec;
    size_t rec_bytes;
    char err[512];
} writer;

static clnas_status emit_record(void *ud, int label, const uint8_t *planar)
{
    writer *w = ud;
    w->rec[0] = (uint8_t)(label & 0xff);
    w->rec[1] = (uint8_t)(label >> 8);
    memcpy(w->rec + LABEL_BYTES, planar, w->rec_bytes - LABEL_BYTES);
    if (fwrite(w->rec, 1, w->rec_bytes, w->f) != w->rec_bytes) {
        snprintf(w->err, sizeof w->err, "%s: write failed after %ld records: %s", w->tmp, w->images, strerror(errno));
        return CLNAS_E_IO;
    }
    w->images++;
    return CLNAS_OK;
}

/* Fills the provenance of a conversion into h (the class names are borrowed from l). */
static void describe(clnas_records_header *h, const char *folder, const clnas_folder_list *l, const clnas_convert_opts *o)
{
    memset(h, 0, sizeof *h);
    char *abs = realpath(folder, NULL);
    snprintf(h->source, sizeof h->source, "%s", abs ? abs : folder);
    free(abs);
    h->classes = l->nclasses;
    h->size = o->size;
    h->channels = 3;
    h->label_bytes = LABEL_BYTES;
    h->record_bytes = LABEL_BYTES + 3L * o->size * o->size;
    snprintf(h->filter, sizeof h->filter, "PIL Image.resize((%d, %d), Image.BILINEAR), antialiased (torchvision "
             "transforms.Resize((%d, %d)) on a PIL image), after Image.convert(\"RGB\")", o->size, o->size, o->size,
             o->size);
    if (o->dct_scale)
        snprintf(h->decode, sizeof h->decode, "libjpeg-turbo %s (TurboJPEG), DCT-scaled to >= 4x the size: NOT "
                 "PIL's pixels", clnas_jpeg_version());
    else
        snprintf(h->decode, sizeof h->decode, "libjpeg-turbo %s (TurboJPEG), full size, accurate IDCT, fancy "
                 "upsampling: PIL's pixels", clnas_jpeg_version());
    snprintf(h->version, sizeof h->version, "%s", CLNAS_VERSION_STRING);
    utc_now(h->date, sizeof h->date);
    h->class_names = l->classes;
}

static clnas_status write_all(const char *folder, const char *out, const clnas_folder_list *l,
                              const clnas_convert_opts *o, clnas_convert_result *res, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid()) >= (int)sizeof tmp)
        return fail(err, errlen, CLNAS_E_IO, "%s: path too long", out);
    clnas_records_header h;
    describe(&h, folder, l, o);
    writer w = {NULL, tmp, 0, NULL, (size_t)h.record_bytes, ""};
    w.f = fopen(tmp, "wb");
    if (!w.f) return fail(err, errlen, CLNAS_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    clnas_status st = CLNAS_OK;
    long hb = write_header(w.f, &h, o->per_class);
    w.rec = malloc(w.rec_bytes);
    if (hb < 0) st = fail(err, errlen, CLNAS_E_IO, "%s: cannot write the header: %s", tmp, strerror(errno));
    else if (!w.rec) st = fail(err, errlen, CLNAS_E_NOMEM, "out of memory");
    clnas_folder_skips sk;
    memset(&sk, 0, sizeof sk);
    if (st == CLNAS_OK) {
        clnas_folder_decode_opts d = {o->size, o->threads, o->dct_scale ? CLNAS_JPEG_DCT_SCALE : CLNAS_JPEG_EXACT,
                                      emit_record, &w, o->progress, o->progress_ud};
        st = clnas_folder_decode(l, &d, &sk, err, errlen);
        if (st != CLNAS_OK && w.err[0]) snprintf(err, errlen, "%s", w.err);
    }
    clnas_folder_skips_format(&sk, res->skipped_note, sizeof res->skipped_note);
    res->skipped = sk.count;
    res->images = w.images;
    if (st == CLNAS_OK && w.images == 0)
        st = fail(err, errlen, CLNAS_E_IO, "%s: no image could be decoded, nothing to write; %s", folder,
                  res->skipped_note[0] ? res->skipped_note : "the class folders hold no image files");
    if (st == CLNAS_OK) {
        h.images = w.images;
        h.skipped = sk.count;
        if (write_header(w.f, &h, o->per_class) != hb || fflush(w.f) != 0)
            st = fail(err, errlen, CLNAS_E_IO, "%s: cannot rewrite the header: %s", tmp, strerror(errno));
    }
    res->bytes = hb + (long long)w.images * (long long)w.rec_bytes;
    free(w.rec);
    if (fclose(w.f) != 0 && st == CLNAS_OK) st = fail(err, errlen, CLNAS_E_IO, "%s: %s", tmp, strerror(errno));
    if (st == CLNAS_OK && rename(tmp, out) != 0)
        st = fail(err, errlen, CLNAS_E_IO, "cannot rename %s to %s: %s", tmp, out, strerror(errno));
    if (st != CLNAS_OK) remove(tmp);
    return st;
}

clnas_status clnas_imagefolder_convert(const char *folder, const char *out, const clnas_convert_opts *opts,
                                       clnas_convert_result *res, char *err, size_t errlen)
{
    clnas_convert_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    if (err && errlen) err[0] = 0;
    clnas_convert_opts o;
    if (opts) o = *opts;
    else clnas_convert_opts_default(&o);
    if (!folder || !out) return fail(err, errlen, CLNAS_E_INVALID_ARG, "no folder or no output file");
    if (o.size < 1 || o.size > 4096 || o.threads < 0 || o.per_class < 0)
        return fail(err, errlen, CLNAS_E_INVALID_ARG, "size must be in [1, 4096], threads and per_class >= 0");
    double t0 = clnas_now();
    clnas_folder_list l;
    clnas_status st = clnas_folder_list_make(folder, o.per_class, &l, err, errlen);
    if (st != CLNAS_OK) return st;
    res->files = l.nfiles;
    res->classes = l.nclasses;
    res->empty_classes = l.empty_classes;
    st = write_all(folder, out, &l, &o, res, err, errlen);
    clnas_folder_list_free(&l);
    res->seconds = clnas_now() - t0;
    return st;
}
