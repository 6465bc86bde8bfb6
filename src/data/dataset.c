/* dataset.c - the dataset kinds of clnas/data.h (names, sizes, normalisation constants of
 * ../shared/docs/TENAS.md §6), the bundled-data lookup, and the readers of the CIFAR-10,
 * CIFAR-100 and ImageNet16-120 record files (a single file or a folder of them), and of
 * ImageNet: an image-record file (records.c) or an ImageNet-style folder decoded on load
 * (imagefolder.c).
 *
 * A dataset is held in memory as two arrays: labels[n] and pixels[n][3][hw][hw] (uint8,
 * exactly the bytes of the records). Every malformed input is CLNAS_E_IO with a message
 * that names the file and, where there is one, the byte offset. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clnas/data.h"
#include "data/image.h"

struct clnas_dataset {
    clnas_dataset_kind kind;
    int n, hw;
    int classes;      /* the kind's, or an ImageNet source's class folders */
    long skipped;     /* files skipped by this load or when the record file was made */
    uint16_t *labels; /* [n] */
    uint8_t *pixels;  /* [n][3][hw][hw] */
    char *source;     /* file or folder as given, or the resolved bundled file */
    char *note;       /* "" or the message about skipped files */
};

/* ---- kinds ---- */

static const struct kind_info {
    const char *name;    /* clnas_dataset_name */
    const char *title;   /* in messages */
    int classes, hw, pad;
    int label_bytes;     /* bytes before the pixels; the label used is the last of them (CIFAR-style
                          * records; ImageNet's record files have their own header, records.c) */
    double mean[3], std[3], unit; /* mean/unit and std/unit are in [0, 1] units */
} KINDS[4] = {
    {"cifar10", "CIFAR-10", 10, 32, 4, 1, {125.3, 123.0, 113.9}, {63.0, 62.1, 66.7}, 255.0},
    {"cifar100", "CIFAR-100", 100, 32, 4, 2, {129.3, 124.1, 112.4}, {68.2, 65.4, 70.4}, 255.0},
    {"imagenet16", "ImageNet16-120", 120, 16, 2, 1, {122.68, 116.66, 104.01}, {63.22, 61.26, 65.09}, 255.0},
    {"imagenet", "ImageNet", 1000, 32, 4, 2, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, 1.0},
};
#define NKINDS 4
#define NRECORD_KINDS 3 /* the kinds read as plain CIFAR-style records */

static const struct kind_info *kinfo(clnas_dataset_kind k)
{
    if ((int)k < 0 || (int)k >= NKINDS) return NULL;
    return &KINDS[(int)k];
}

static int streq_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

clnas_status clnas_dataset_parse_kind(const char *s, clnas_dataset_kind *out)
{
    if (!s || !out) return CLNAS_E_INVALID_ARG;
    if (streq_nocase(s, "cifar10") || streq_nocase(s, "cifar-10")) *out = CLNAS_DS_CIFAR10;
    else if (streq_nocase(s, "cifar100") || streq_nocase(s, "cifar-100")) *out = CLNAS_DS_CIFAR100;
    else if (streq_nocase(s, "imagenet16") || streq_nocase(s, "imagenet16-120") ||
             streq_nocase(s, "imagenet16_120"))
        *out = CLNAS_DS_IMAGENET16;
    else if (streq_nocase(s, "imagenet") || streq_nocase(s, "imagenet-1k") || streq_nocase(s, "imagenet1k"))
        *out = CLNAS_DS_IMAGENET;
    else
        return CLNAS_E_INVALID_ARG;
    return CLNAS_OK;
}

const char *clnas_dataset_name(clnas_dataset_kind k)
{
    const struct kind_info *ki = kinfo(k);
    return ki ? ki->name : "unknown";
}

int clnas_dataset_classes(clnas_dataset_kind k)
{
    const struct kind_info *ki = kinfo(k);
    return ki ? ki->classes : 0;
}

int clnas_dataset_hw(clnas_dataset_kind k)
{
    const struct kind_info *ki = kinfo(k);
    return ki ? ki->hw : 0;
}

int clnas_dataset_pad(clnas_dataset_kind k)
{
    const struct kind_info *ki = kinfo(k);
    return ki ? ki->pad : 0;
}

void clnas_dataset_norm(clnas_dataset_kind k, float mean[3], float std[3])
{
    const struct kind_info *ki = kinfo(k);
    for (int c = 0; c < 3; c++) {
        /* like torchvision: Python doubles (x/255, or ImageNet's as they are) stored as float32 */
        mean[c] = ki ? (float)(ki->mean[c] / ki->unit) : 0.0f;
        std[c] = ki ? (float)(ki->std[c] / ki->unit) : 1.0f;
    }
}

/* ---- the bundled data ---- */

static int file_readable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int try_dir(const char *dir, const char *rel, char *out, size_t len)
{
    char buf[4096];
    if (!dir || !*dir) return 0;
    int k = snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    if (k < 0 || (size_t)k >= sizeof buf || !file_readable(buf)) return 0;
    if ((size_t)k >= len) return 0;
    memcpy(out, buf, (size_t)k + 1);
    return 1;
}

clnas_status clnas_data_path(const char *rel, char *out, size_t len, char *err, size_t errlen)
{
    if (!rel || !out || len == 0) {
        if (err && errlen) snprintf(err, errlen, "clnas_data_path: no file name or no room for the path");
        return CLNAS_E_INVALID_ARG;
    }
    const char *env = getenv("CLNAS_DATA_DIR");
    if (try_dir(env, rel, out, len)) return CLNAS_OK;
#ifdef CLNAS_DATA_DIR
    if (try_dir(CLNAS_DATA_DIR, rel, out, len)) return CLNAS_OK;
#endif
#ifdef CLNAS_INSTALL_DATA_DIR
    if (try_dir(CLNAS_INSTALL_DATA_DIR, rel, out, len)) return CLNAS_OK;
#endif
    if (err && errlen)
        snprintf(err, errlen, "%s not found in the bundled data: looked under $CLNAS_DATA_DIR (%s), the source tree's "
                 "data/ and the installed share/clnas; set CLNAS_DATA_DIR to the folder that holds it",
                 rel, env && *env ? env : "not set");
    return CLNAS_E_IO;
}

/* ---- reading ---- */

static clnas_status fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static clnas_status fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CLNAS_E_IO;
}

static size_t rec_bytes(const struct kind_info *ki)
{
    return (size_t)ki->label_bytes + 3u * (size_t)ki->hw * (size_t)ki->hw;
}

/* A hint for a file whose size does not fit `self`: the other kinds whose records it fits. */
static void size_hint(const struct kind_info *self, long long size, char *hint, size_t len)
{
    hint[0] = 0;
    for (int k = 0; k < NRECORD_KINDS; k++) {
        const struct kind_info *o = &KINDS[k];
        if (o == self || size % (long long)rec_bytes(o) != 0) continue;
        snprintf(hint, len, " (its size is a whole number of %zu-byte %s records: use --dataset %s?)",
                 rec_bytes(o), o->title, o->name);
        return;
    }
}

/* 1 when the file starts like a clnas image-record file (records.c). */
static int is_image_records(const char *path)
{
    char head[20] = "";
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int yes = fread(head, 1, 19, f) == 19 && !memcmp(head, "CLNAS-IMAGE-RECORDS", 19);
    fclose(f);
    return yes;
}

/* Appends the records of one file to d (grown as needed). */
static clnas_status read_file(clnas_dataset *d, const struct kind_info *ki, const char *path,
                              char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, errlen, "%s: cannot read %s data: %s", path, ki->title, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return fail(err, errlen, "%s: not a regular file", path);
    const size_t rb = rec_bytes(ki), img = rb - (size_t)ki->label_bytes;
    long long size = (long long)st.st_size;
    if (size == 0)
        return fail(err, errlen, "%s: empty file (0 bytes), expected %zu-byte %s records", path,
                    rb, ki->title);
    if (is_image_records(path))
        return fail(err, errlen, "%s: a clnas image-record file (ImageNet, made by clnas data convert), not %s "
                    "data: use --dataset imagenet", path, ki->title);
    if (size % (long long)rb != 0) {
        char hint[200];
        size_hint(ki, size, hint, sizeof hint);
        return fail(err, errlen,
                    "%s: %lld bytes is not a whole number of %zu-byte %s records: the last record "
                    "is truncated at offset %lld%s",
                    path, size, rb, ki->title, size / (long long)rb * (long long)rb, hint);
    }
    long long nrec = size / (long long)rb;
    if (nrec + d->n > 0x7fffffffLL)
        return fail(err, errlen, "%s: too many records (%lld)", path, nrec + d->n);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));

    size_t newn = (size_t)d->n + (size_t)nrec;
    uint8_t *px = realloc(d->pixels, newn * img);
    if (px) d->pixels = px;
    uint16_t *lb = realloc(d->labels, newn * sizeof *lb);
    if (lb) d->labels = lb;
    if (!px || !lb) {
        fclose(f);
        return fail(err, errlen, "%s: out of memory for %lld records", path, nrec);
    }

    enum { CHUNK = 1024 };
    uint8_t *buf = malloc(CHUNK * rb);
    if (!buf) {
        fclose(f);
        return fail(err, errlen, "%s: out of memory", path);
    }
    clnas_status st_ = CLNAS_OK;
    for (long long r0 = 0; r0 < nrec; r0 += CHUNK) {
        size_t cnt = (size_t)(nrec - r0 < CHUNK ? nrec - r0 : CHUNK);
        size_t got = fread(buf, rb, cnt, f);
        if (got != cnt) {
            st_ = fail(err, errlen, "%s: read failed at byte offset %lld: %s", path,
                       (r0 + (long long)got) * (long long)rb,
                       ferror(f) ? strerror(errno) : "unexpected end of file");
            break;
        }
        for (size_t i = 0; i < cnt; i++) {
            const uint8_t *rec = buf + i * rb;
            int label = rec[ki->label_bytes - 1];
            long long r = r0 + (long long)i;
            if (label >= ki->classes) {
                const char *hint =
                    ki == &KINDS[CLNAS_DS_CIFAR10]
                        ? ": is this a CIFAR-100 file? use --dataset cifar100"
                    : ki == &KINDS[CLNAS_DS_IMAGENET16]
                        ? ": is this the full 1000-class ImageNet16? tools/imagenet16_convert.py "
                          "keeps classes 1..120 and writes label-1"
                        : "";
                st_ = fail(err, errlen,
                           "%s: record %lld at byte offset %lld has label %d, expected 0..%d%s",
                           path, r, r * (long long)rb, label, ki->classes - 1, hint);
                break;
            }
            d->labels[(size_t)d->n + (size_t)r] = (uint16_t)label;
            memcpy(d->pixels + ((size_t)d->n + (size_t)r) * img, rec + ki->label_bytes, img);
        }
        if (st_ != CLNAS_OK) break;
    }
    free(buf);
    fclose(f);
    if (st_ == CLNAS_OK) d->n += (int)nrec;
    return st_;
}

/* Compares names with digit runs taken as numbers, so train_2 < train_10. */
static int natcmp(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            while (*a == '0') a++;
            while (*b == '0') b++;
            size_t la = 0, lb = 0;
            while (isdigit((unsigned char)a[la])) la++;
            while (isdigit((unsigned char)b[lb])) lb++;
            if (la != lb) return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c) return c;
            a += la;
            b += lb;
        } else {
            if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
            a++;
            b++;
        }
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int has_prefix_suffix(const char *s, const char *pre, const char *suf)
{
    size_t ls = strlen(s), lp = strlen(pre), lf = strlen(suf);
    return ls > lp + lf && strncmp(s, pre, lp) == 0 && strcmp(s + ls - lf, suf) == 0;
}

/* Appends a copy of str to the list; -1 when out of memory. */
static int push_name(char ***v, int *n, int *cap, const char *str)
{
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 8;
        char **nv = realloc(*v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = nc;
    }
    char *c = malloc(strlen(str) + 1);
    if (!c) return -1;
    strcpy(c, str);
    (*v)[(*n)++] = c;
    return 0;
}

static void free_names(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* A folder entry that is there but cannot be read as a file (a symbolic link whose target is
 * missing, a folder, a FIFO): 1 with the reason in err. Skipping it would silently train on less. */
static int entry_unusable(const char *p, char *err, size_t errlen)
{
    struct stat ls, st;
    if (lstat(p, &ls) != 0 || file_readable(p)) return 0;
    if (S_ISLNK(ls.st_mode) && stat(p, &st) != 0)
        fail(err, errlen, "%s is a symbolic link to a missing file (%s): restore its target or remove the link", p,
             strerror(errno));
    else
        fail(err, errlen, "%s is not a regular file: replace or remove it", p);
    return 1;
}

/* Sets *names (malloc'd list of malloc'd paths) to the files of the folder to read, in order. */
static clnas_status folder_files(const struct kind_info *ki, const char *dir, char ***names,
                                 int *count, char *err, size_t errlen)
{
    char path[4096];
    char **v = NULL;
    int n = 0, cap = 0;
    *names = NULL;
    *count = 0;
    if (ki == &KINDS[CLNAS_DS_CIFAR10]) {
        for (int b = 1; b <= 5; b++) {
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", dir, b);
            if (entry_unusable(path, err, errlen)) {
                free_names(v, n);
                return CLNAS_E_IO;
            }
            if (file_readable(path) && push_name(&v, &n, &cap, path)) goto oom;
        }
        if (n == 0)
            return fail(err, errlen,
                        "%s: folder holds none of data_batch_1.bin..data_batch_5.bin (the CIFAR-10 "
                        "binary training files)",
                        dir);
    } else {
        snprintf(path, sizeof path, "%s/train.bin", dir);
        if (file_readable(path)) {
            if (push_name(&v, &n, &cap, path)) goto oom;
        } else if (ki == &KINDS[CLNAS_DS_IMAGENET16]) {
            DIR *dd = opendir(dir);
            if (!dd) return fail(err, errlen, "%s: cannot open folder: %s", dir, strerror(errno));
            struct dirent *e;
            int oom = 0;
            while (!oom && (e = readdir(dd)) != NULL) {
                if (!has_prefix_suffix(e->d_name, "train_", ".bin")) continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                if (entry_unusable(path, err, errlen)) {
                    closedir(dd);
                    free_names(v, n);
                    return CLNAS_E_IO;
                }
                if (file_readable(path)) oom = push_name(&v, &n, &cap, path) != 0;
            }
            closedir(dd);
            if (oom) goto oom;
            if (n == 0)
                return fail(err, errlen,
                            "%s: folder holds neither train.bin nor train_*.bin (make them from "
                            "the official ImageNet16-120 pickles with tools/imagenet16_convert.py)",
                            dir);
            qsort(v, (size_t)n, sizeof *v, natcmp);
        } else {
            return fail(err, errlen,
                        "%s: folder holds no train.bin (the CIFAR-100 binary training file)", dir);
        }
    }
    *names = v;
    *count = n;
    return CLNAS_OK;
oom:
    free_names(v, n);
    return fail(err, errlen, "%s: out of memory", dir);
}

/* ---- ImageNet ---- */

static int set_note(clnas_dataset *d, const char *text)
{
    free(d->note);
    d->note = strdup(text);
    return d->note != NULL;
}

static clnas_status load_image_records(clnas_dataset *d, const char *path, char *err, size_t errlen)
{
    clnas_records_header h;
    long n = 0;
    uint16_t *labels = NULL;
    uint8_t *pixels = NULL;
    clnas_status st = clnas_records_load(path, d->hw, &h, &n, &labels, &pixels, err, errlen);
    if (st != CLNAS_OK) return st;
    d->n = (int)n;
    d->labels = labels;
    d->pixels = pixels;
    d->classes = h.classes;
    d->skipped = h.skipped;
    /* the skipped files were reported when the file was made; the count stays available */
    clnas_records_header_free(&h);
    return CLNAS_OK;
}

/* Appends one decoded image (folder reading): the arrays were sized for every file. */
static clnas_status emit_to_dataset(void *ud, int label, const uint8_t *planar)
{
    clnas_dataset *d = ud;
    const size_t img = 3u * (size_t)d->hw * (size_t)d->hw;
    d->labels[d->n] = (uint16_t)label;
    memcpy(d->pixels + (size_t)d->n * img, planar, img);
    d->n++;
    return CLNAS_OK;
}

static clnas_status load_imagefolder(clnas_dataset *d, const char *dir, char *err, size_t errlen)
{
    clnas_folder_list l;
    clnas_status st = clnas_folder_list_make(dir, 0, &l, err, errlen);
    if (st != CLNAS_OK) return st;
    const size_t img = 3u * (size_t)d->hw * (size_t)d->hw, nf = (size_t)(l.nfiles ? l.nfiles : 1);
    if (l.nfiles > 0x7fffffffL) st = fail(err, errlen, "%s: %ld image files; too many to hold in memory", dir, l.nfiles);
    d->classes = l.nclasses;
    d->labels = malloc(nf * sizeof *d->labels);
    d->pixels = malloc(nf * img);
    if (st == CLNAS_OK && (!d->labels || !d->pixels))
        st = fail(err, errlen, "%s: out of memory for %ld images (%.1f MB); convert the folder once with clnas data "
                  "convert instead", dir, l.nfiles, (double)nf * (double)img / 1e6);
    clnas_folder_skips sk;
    memset(&sk, 0, sizeof sk);
    if (st == CLNAS_OK) {
        clnas_folder_decode_opts o = {d->hw, 0, CLNAS_JPEG_EXACT, emit_to_dataset, d, NULL, NULL};
        st = clnas_folder_decode(&l, &o, &sk, err, errlen);
        if (st != CLNAS_OK && st != CLNAS_E_NOMEM) st = CLNAS_E_IO;
    }
    char note[4096];
    clnas_folder_skips_format(&sk, note, sizeof note);
    d->skipped = sk.count;
    if (st == CLNAS_OK && d->n == 0)
        st = fail(err, errlen, "%s: no image could be decoded (%ld image files in %d class folders)%s%s", dir,
                  l.nfiles, l.nclasses, note[0] ? "; " : "", note);
    if (st == CLNAS_OK && note[0] && !set_note(d, note)) st = fail(err, errlen, "out of memory");
    clnas_folder_list_free(&l);
    return st;
}

clnas_status clnas_dataset_load(clnas_dataset_kind kind, const char *path, clnas_dataset **out,
                                char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!out) return CLNAS_E_INVALID_ARG;
    *out = NULL;
    const struct kind_info *ki = kinfo(kind);
    if (!ki) {
        if (err && errlen) snprintf(err, errlen, "unknown dataset kind %d", (int)kind);
        return CLNAS_E_INVALID_ARG;
    }
    char bundled[4096];
    if (!path && kind == CLNAS_DS_IMAGENET)
        return fail(err, errlen,
                    "no ImageNet data: only a CIFAR-10 subset is bundled with clnas; give --data FILE, an "
                    "image-record file made once by `clnas data convert --imagefolder DIR --out FILE` (DIR: an "
                    "ImageNet-style training folder, one sub-folder of JPEGs per class), or --data DIR to decode a "
                    "small folder on every run");
    if (!path) {
        if (kind != CLNAS_DS_CIFAR10)
            return fail(err, errlen,
                        "no %s data: only a CIFAR-10 subset is bundled with clnas; give the %s "
                        "training data with --data PATH%s",
                        ki->title, ki->title,
                        kind == CLNAS_DS_IMAGENET16
                            ? " (a train.bin that tools/imagenet16_convert.py makes from the "
                              "official ImageNet16-120 pickles)"
                            : " (the CIFAR-100 binary version's train.bin, or its folder)");
        char why[600];
        if (clnas_data_path("cifar10/train_10k.bin", bundled, sizeof bundled, why, sizeof why) != CLNAS_OK)
            return fail(err, errlen, "the bundled CIFAR-10 subset is missing: %s (or give the data with --data PATH)", why);
        path = bundled;
    }

    clnas_dataset *d = calloc(1, sizeof *d);
    if (!d) return fail(err, errlen, "out of memory");
    d->kind = kind;
    d->hw = ki->hw;
    d->classes = ki->classes;
    d->source = malloc(strlen(path) + 1);
    if (!d->source) {
        free(d);
        return fail(err, errlen, "out of memory");
    }
    strcpy(d->source, path);

    clnas_status st;
    struct stat sb;
    if (kind == CLNAS_DS_IMAGENET) {
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) st = load_imagefolder(d, path, err, errlen);
        else st = load_image_records(d, path, err, errlen);
    } else if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char **names = NULL;
        int count = 0;
        st = folder_files(ki, path, &names, &count, err, errlen);
        for (int i = 0; i < count && st == CLNAS_OK; i++) st = read_file(d, ki, names[i], err, errlen);
        free_names(names, count);
    } else {
        st = read_file(d, ki, path, err, errlen);
    }
    if (st != CLNAS_OK) {
        clnas_dataset_destroy(d);
        return st;
    }
    *out = d;
    return CLNAS_OK;
}

void clnas_dataset_destroy(clnas_dataset *d)
{
    if (!d) return;
    free(d->pixels);
    free(d->labels);
    free(d->source);
    free(d->note);
    free(d);
}

int clnas_dataset_size(const clnas_dataset *d) { return d ? d->n : 0; }
clnas_dataset_kind clnas_dataset_kind_of(const clnas_dataset *d)
{
    return d ? d->kind : CLNAS_DS_CIFAR10;
}

const uint8_t *clnas_dataset_image(const clnas_dataset *d, int i)
{
    if (!d || i < 0 || i >= d->n) return NULL;
    return d->pixels + (size_t)i * 3u * (size_t)d->hw * (size_t)d->hw;
}

int clnas_dataset_label(const clnas_dataset *d, int i)
{
    if (!d || i < 0 || i >= d->n) return -1;
    return d->labels[i];
}

const char *clnas_dataset_source(const clnas_dataset *d) { return d ? d->source : NULL; }
int clnas_dataset_num_classes(const clnas_dataset *d) { return d ? d->classes : 0; }
long clnas_dataset_skipped(const clnas_dataset *d) { return d ? d->skipped : 0; }
const char *clnas_dataset_note(const clnas_dataset *d) { return d && d->note ? d->note : ""; }
