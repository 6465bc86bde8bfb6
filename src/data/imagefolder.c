/* imagefolder.c - ImageNet-style training folders (one sub-folder of images per class), read
 * in torchvision ImageFolder's order and decoded in parallel to fixed-size images with PIL's
 * pipeline: Image.open(f).convert("RGB") (jpeg.c) then Image.resize((s, s), BILINEAR)
 * (resize.c), as TE-NAS's transforms.Resize((32, 32)) does (TENAS.md §6).
 *
 * Order (torchvision.datasets.folder): find_classes = sorted(entry.name for entry in
 * os.scandir(root) if entry.is_dir()); make_dataset walks each class folder with
 * sorted(os.walk(class_dir, followlinks=True)) and sorted(fnames), keeping names whose lower
 * case ends in IMG_EXTENSIONS. Python sorts str by code point, which for UTF-8 names is the
 * bytewise order of strcmp. A symbolic-link loop (which os.walk would follow forever) is cut
 * at the first repeated folder.
 *
 * Skips: a file that cannot be read or decoded is counted and the first few are named; only
 * an empty result is an error (for the caller to raise). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image.h"

static const char *const IMG_EXT[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"};

static int has_image_ext(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof IMG_EXT / sizeof IMG_EXT[0]; i++) {
        size_t e = strlen(IMG_EXT[i]);
        if (n < e) continue;
        size_t k = 0;
        while (k < e && tolower((unsigned char)name[n - e + k]) == IMG_EXT[i][k]) k++;
        if (k == e) return 1;
    }
    return 0;
}

/* ---- a growable list of strings in one arena (offsets until the arena stops moving) ---- */

typedef struct strlist {
    char *arena;
    size_t used, cap;
    size_t *off;      /* [n] */
    int *rootlen;     /* [n] length of the folder part of a path (files only) */
    long n, ncap;
} strlist;

static int sl_push(strlist *l, const char *a, const char *b, int rootlen)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0, need = la + (b ? 1 + lb : 0) + 1;
    if (l->used + need > l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 1 << 16;
        while (nc < l->used + need) nc *= 2;
        char *na = realloc(l->arena, nc);
        if (!na) return 0;
        l->arena = na;
        l->cap = nc;
    }
    if (l->n == l->ncap) {
        long nc = l->ncap ? l->ncap * 2 : 256;
        size_t *no = realloc(l->off, (size_t)nc * sizeof *no);
        if (no) l->off = no;
        int *nr = realloc(l->rootlen, (size_t)nc * sizeof *nr);
        if (nr) l->rootlen = nr;
        if (!no || !nr) return 0;
        l->ncap = nc;
    }
    char *p = l->arena + l->used;
    memcpy(p, a, la);
    if (b) {
        p[la] = '/';
        memcpy(p + la + 1, b, lb);
    }
    p[need - 1] = 0;
    l->off[l->n] = l->used;
    l->rootlen[l->n] = rootlen;
    l->n++;
    l->used += need;
    return 1;
}

static void sl_free(strlist *l)
{
    free(l->arena);
    free(l->off);
    free(l->rootlen);
    memset(l, 0, sizeof *l);
}

static int is_dir(const char *path, struct stat *st)
{
    return stat(path, st) == 0 && S_ISDIR(st->st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* os.walk's sort key (root, fname) of file i: folder part first (a shorter prefix first), then name. */
typedef struct file_key {
    const char *path;
    int rootlen;
} file_key;

static int cmp_file(const void *pa, const void *pb)
{
    const file_key *a = pa, *b = pb;
    int la = a->rootlen, lb = b->rootlen, m = la < lb ? la : lb;
    int c = memcmp(a->path, b->path, (size_t)m);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a->path + la + 1, b->path + lb + 1);
}

typedef struct walk_ctx {
    strlist *files;
    dev_t dev[64];
    ino_t ino[64];
    int depth;
    char *err;
    size_t errlen;
} walk_ctx;

/* Appends the image files under dir (recursively, following links) to w->files. 0 on failure
 * (message in w->err). */
static int walk(walk_ctx *w, const char *dir, const struct stat *dst)
{
    for (int i = 0; i < w->depth; i++)
        if (w->dev[i] == dst->st_dev && w->ino[i] == dst->st_ino)
            return 1; /* a link back to a folder being walked: os.walk would never end */
    if (w->depth == 64) {
        snprintf(w->err, w->errlen, "%s: folders nested more than 64 deep", dir);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) return 1; /* os.walk ignores folders it cannot list (onerror=None) */
    w->dev[w->depth] = dst->st_dev;
    w->ino[w->depth] = dst->st_ino;
    w->depth++;
    char **subs = NULL;
    int nsub = 0, capsub = 0, ok = 1;
    char path[4096];
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        int k = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (k < 0 || (size_t)k >= sizeof path) {
            snprintf(w->err, w->errlen, "%s/%s: path too long", dir, e->d_name);
            ok = 0;
            break;
        }
        struct stat st;
        if (is_dir(path, &st)) {
            if (nsub == capsub) {
                int nc = capsub ? capsub * 2 : 8;
                char **ns = realloc(subs, (size_t)nc * sizeof *ns);
                if (!ns) { ok = 0; break; }
                subs = ns;
                capsub = nc;
            }
            if (!(subs[nsub] = strdup(e->d_name))) { ok = 0; break; }
            nsub++;
        } else if (has_image_ext(e->d_name)) {
            if (!sl_push(w->files, dir, e->d_name, (int)strlen(dir))) ok = 0;
        }
    }
    closedir(d);
    if (!ok && !w->err[0]) snprintf(w->err, w->errlen, "%s: out of memory listing the folder", dir);
    for (int i = 0; ok && i < nsub; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
        struct stat st;
        if (is_dir(path, &st)) ok = walk(w, path, &st);
    }
    for (int i = 0; i < nsub; i++) free(subs[i]);
    free(subs);
    w->depth--;
    return ok;
}

void clnas_folder_list_free(clnas_folder_list *l)
{
    if (!l) return;
    free(l->classes);
    free(l->paths);
    free(l->labels);
    free(l->arena);
    free(l->class_arena);
    memset(l, 0, sizeof *l);
}

/* The sorted class folder names of root into cls (an arena of names). */
static clnas_status list_classes(const char *root, strlist *cls, char *err, size_t errlen)
{
    DIR *d = opendir(root);
    if (!d) {
        snprintf(err, errlen, "%s: cannot open the image folder: %s", root, strerror(errno));
        return CLNAS_E_IO;
    }
    struct dirent *e;
    char path[4096];
    int ok = 1;
    while (ok && (e = readdir(d)) != NULL) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        if (is_dir(path, &st)) ok = sl_push(cls, e->d_name, NULL, 0);
    }
    closedir(d);
    if (!ok) {
        snprintf(err, errlen, "%s: out of memory listing the folder", root);
        return CLNAS_E_NOMEM;
    }
    return CLNAS_OK;
}

clnas_status clnas_folder_list_make(const char *root, long per_class, clnas_folder_list *out, char *err,
                                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    strlist cls = {0}, files = {0};
    file_key *keys = NULL;
    char **cnames = NULL;
    clnas_status st = list_classes(root, &cls, err, errlen);
    if (st != CLNAS_OK) goto done;
    if (cls.n == 0) {
        snprintf(err, errlen, "%s: no class sub-folders; an ImageNet-style training folder holds one sub-folder of "
                 "JPEG files per class (e.g. train/n01440764/n01440764_10026.JPEG); an image-record file made by "
                 "clnas data convert is given as the file itself", root);
        st = CLNAS_E_IO;
        goto done;
    }
    if (cls.n > 65535) {
        snprintf(err, errlen, "%s: %ld class folders; clnas's records hold at most 65535 classes", root, cls.n);
        st = CLNAS_E_IO;
        goto done;
    }
    cnames = malloc((size_t)cls.n * sizeof *cnames);
    if (!cnames) goto oom;
    for (long i = 0; i < cls.n; i++) cnames[i] = cls.arena + cls.off[i];
    qsort(cnames, (size_t)cls.n, sizeof *cnames, cmp_str);
    /* files class by class: sorted within the class, then cut to per_class */
    long *first = calloc((size_t)cls.n + 1, sizeof *first);
    if (!first) goto oom;
    char dir[4096];
    for (long c = 0; c < cls.n; c++) {
        long n0 = files.n;
        snprintf(dir, sizeof dir, "%s/%s", root, cnames[c]);
        struct stat sb;
        walk_ctx w = {&files, {0}, {0}, 0, err, errlen};
        err[0] = 0;
        if (!is_dir(dir, &sb) || !walk(&w, dir, &sb)) {
            if (!err[0]) snprintf(err, errlen, "%s: cannot list the class folder", dir);
            free(first);
            st = CLNAS_E_IO;
            goto done;
        }
        first[c] = n0;
        if (files.n == n0) out->empty_classes++;
    }
    first[cls.n] = files.n;
    keys = malloc((size_t)(files.n ? files.n : 1) * sizeof *keys);
    out->paths = malloc((size_t)(files.n ? files.n : 1) * sizeof *out->paths);
    out->labels = malloc((size_t)(files.n ? files.n : 1) * sizeof *out->labels);
    out->classes = malloc((size_t)cls.n * sizeof *out->classes);
    if (!keys || !out->paths || !out->labels || !out->classes) {
        free(first);
        goto oom;
    }
    /* the arenas stop moving here: turn offsets into pointers */
    long n = 0;
    for (long c = 0; c < cls.n; c++) {
        long k = 0;
        for (long i = first[c]; i < first[c + 1]; i++, k++) {
            keys[k].path = files.arena + files.off[i];
            keys[k].rootlen = files.rootlen[i];
        }
        qsort(keys, (size_t)k, sizeof *keys, cmp_file);
        if (per_class > 0 && k > per_class) k = per_class;
        for (long i = 0; i < k; i++, n++) {
            out->paths[n] = (char *)keys[i].path;
            out->labels[n] = (int)c;
        }
    }
    free(first);
    for (long c = 0; c < cls.n; c++) out->classes[c] = cnames[c];
    out->nfiles = n;
    out->nclasses = (int)cls.n;
    st = CLNAS_OK;
    goto done;
oom:
    snprintf(err, errlen, "%s: out of memory listing the folder", root);
    st = CLNAS_E_NOMEM;
done:
    free(keys);
    free(cnames);
    if (st == CLNAS_OK) {
        /* the list keeps both arenas: paths and class names point into them */
        out->arena = files.arena;
        out->class_arena = cls.arena;
        files.arena = cls.arena = NULL;
    } else {
        clnas_folder_list_free(out);
    }
    sl_free(&files);
    sl_free(&cls);
    return st;
}

/* ---- decoding ---- */

#define CHUNK 256 /* files decoded between two emits (and two progress reports) */

typedef struct worker {
    clnas_jpeg *jpeg;
    uint8_t *file;   /* the file's bytes */
    size_t file_cap;
    uint8_t *small;  /* the resized image, interleaved */
    /* per chunk */
    const clnas_folder_list *l;
    const clnas_folder_decode_opts *o;
    long base, count;
    int index, nthreads;
    uint8_t *out;        /* [CHUNK][3][size][size] */
    clnas_status *st;    /* [CHUNK] */
    char (*why)[512];    /* [CHUNK] */
} worker;

/* Reads a whole file into w->file; 0 with the reason in why. */
static int read_all(worker *w, const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return 0;
    }
    size_t n = 0;
    for (;;) {
        if (n == w->file_cap) {
            size_t nc = w->file_cap ? w->file_cap * 2 : 1 << 20;
            uint8_t *nb = realloc(w->file, nc);
            if (!nb) {
                fclose(f);
                snprintf(why, whylen, "out of memory reading the file");
                return 0;
            }
            w->file = nb;
            w->file_cap = nc;
        }
        size_t got = fread(w->file + n, 1, w->file_cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    int e = errno;
    fclose(f);
    if (bad) {
        snprintf(why, whylen, "read error: %s", strerror(e));
        return 0;
    }
    *len = n;
    return 1;
}

/* Decodes, converts and resizes file i of the chunk into its slot (planar). */
static void decode_one(worker *w, long i)
{
    const int s = w->o->size;
    const size_t plane = (size_t)s * (size_t)s;
    char *why = w->why[i];
    size_t len = 0;
    const uint8_t *rgb;
    int iw, ih;
    w->st[i] = CLNAS_E_IO;
    if (!read_all(w, w->l->paths[w->base + i], &len, why, sizeof w->why[i])) return;
    clnas_status st = clnas_jpeg_decode_rgb(w->jpeg, w->file, len, w->o->mode, s, s, &rgb, &iw, &ih, why,
                                            sizeof w->why[i]);
    if (st == CLNAS_OK) st = clnas_resize_bilinear_aa(rgb, iw, ih, 3, w->small, s, s);
    if (st != CLNAS_OK) {
        w->st[i] = st;
        if (st == CLNAS_E_NOMEM && !why[0]) snprintf(why, sizeof w->why[i], "out of memory");
        return;
    }
    uint8_t *o = w->out + (size_t)i * 3 * plane;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) o[(size_t)c * plane + p] = w->small[p * 3 + (size_t)c];
    w->st[i] = CLNAS_OK;
}

static void *work(void *arg)
{
    worker *w = arg;
    /* slots interleaved across threads: neighbouring files (similar sizes) spread evenly */
    for (long i = w->index; i < w->count; i += w->nthreads) decode_one(w, i);
    return NULL;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

void clnas_folder_skips_format(const clnas_folder_skips *s, char *out, size_t len)
{
    if (!out || !len) return;
    out[0] = 0;
    if (!s || s->count == 0) return;
    size_t k = (size_t)snprintf(out, len, "%ld file%s skipped (unreadable or not a decodable JPEG)%s", s->count,
                                s->count == 1 ? "" : "s", s->nexamples ? ": " : "");
    for (int i = 0; i < s->nexamples && k < len; i++)
        k += (size_t)snprintf(out + k, len - k, "%s%s", i ? "; " : "", s->examples[i]);
    if (s->count > s->nexamples && k < len) snprintf(out + k, len - k, "; ...");
}

clnas_status clnas_folder_decode(const clnas_folder_list *l, const clnas_folder_decode_opts *o,
                                 clnas_folder_skips *skips, char *err, size_t errlen)
{
    memset(skips, 0, sizeof *skips);
    if (!l || !o || !o->emit || o->size < 1 || o->size > 4096) {
        snprintf(err, errlen, "image size must be in [1, 4096]");
        return CLNAS_E_INVALID_ARG;
    }
    const int nt = o->threads > 0 ? (o->threads > 64 ? 64 : o->threads) : online_cpus();
    const size_t img = 3 * (size_t)o->size * (size_t)o->size;
    worker *ws = calloc((size_t)nt, sizeof *ws);
    uint8_t *out = malloc(CHUNK * img);
    clnas_status *sts = malloc(CHUNK * sizeof *sts);
    char (*why)[512] = malloc(CHUNK * sizeof *why);
    pthread_t *tids = malloc((size_t)nt * sizeof *tids);
    clnas_status st = CLNAS_OK;
    if (!ws || !out || !sts || !why || !tids) goto oom;
    for (int t = 0; t < nt; t++) {
        ws[t].jpeg = clnas_jpeg_create();
        ws[t].small = malloc(img);
        if (!ws[t].jpeg || !ws[t].small) goto oom;
        ws[t].l = l;
        ws[t].o = o;
        ws[t].index = t;
        ws[t].nthreads = nt;
        ws[t].out = out;
        ws[t].st = sts;
        ws[t].why = why;
    }
    for (long base = 0; base < l->nfiles && st == CLNAS_OK; base += CHUNK) {
        long count = l->nfiles - base < CHUNK ? l->nfiles - base : CHUNK;
        int started = 0;
        for (int t = 0; t < nt; t++) {
            ws[t].base = base;
            ws[t].count = count;
        }
        /* threads beyond the first; the calling thread is worker 0 */
        for (int t = 1; t < nt && t < count; t++, started++)
            if (pthread_create(&tids[t], NULL, work, &ws[t]) != 0) break;
        work(&ws[0]);
        for (int t = 1; t <= started; t++) pthread_join(tids[t], NULL);
        for (int t = started + 1; t < nt && t < count; t++) work(&ws[t]); /* threads that did not start */
        for (long i = 0; i < count && st == CLNAS_OK; i++) {
            if (sts[i] == CLNAS_OK) {
                st = o->emit(o->emit_ud, l->labels[base + i], out + (size_t)i * img); /* message: the emitter's */
            } else if (sts[i] == CLNAS_E_NOMEM) {
                snprintf(err, errlen, "%s: %s", l->paths[base + i], why[i]);
                st = CLNAS_E_NOMEM;
            } else {
                if (skips->nexamples < CLNAS_SKIP_EXAMPLES)
                    snprintf(skips->examples[skips->nexamples++], sizeof skips->examples[0], "%s: %s",
                             l->paths[base + i], why[i]);
                skips->count++;
            }
        }
        if (o->progress && st == CLNAS_OK) o->progress(o->progress_ud, base + count, skips->count, l->nfiles);
    }
    goto done;
oom:
    snprintf(err, errlen, "out of memory preparing %d decoder thread(s)", nt);
    st = CLNAS_E_NOMEM;
done:
    for (int t = 0; ws && t < nt; t++) {
        clnas_jpeg_destroy(ws[t].jpeg);
        free(ws[t].file);
        free(ws[t].small);
    }
    free(ws);
    free(out);
    free(sts);
    free(why);
    free(tids);
    return st;
}
