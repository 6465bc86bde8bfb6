/* png_out.c - writes ARGB32 pixels to a PNG file with text chunks through libpng's classic
 * API (the simplified png_image API cannot write tEXt). This is the only file that includes
 * png.h; libpng's setjmp error handling stays inside clnas_png_write_argb32. */
#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "report/plot.h"

struct png_err {
    char msg[256];
};

static void on_error(png_structp png, png_const_charp msg)
{
    struct png_err *e = png_get_error_ptr(png);
    if (e) snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (e.g. about text) are not failures */
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

/* The libpng part: opens, writes, closes; on failure removes the file. Kept apart so that
 * nothing the setjmp branch reads is modified after setjmp (C11 7.13.2.1). */
static clnas_status write_file(const char *path, int opaque, int width, int height, png_bytep *rows,
                               png_text *chunks, int ntext, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open for writing", path);
        return CLNAS_E_IO;
    }
    struct png_err perr = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &perr, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(png ? &png : NULL, NULL);
        fclose(f);
        remove(path);
        snprintf(err, errlen, "%s: libpng could not be initialised", path);
        return CLNAS_E_PNG;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(path);
        snprintf(err, errlen, "%s: libpng: %s", path, perr.msg[0] ? perr.msg : "error");
        return CLNAS_E_PNG;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 opaque ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_pHYs(png, info, 7874, 7874, PNG_RESOLUTION_METER); /* 200 dpi */
    if (ntext) png_set_text(png, info, chunks, ntext);
    png_set_compression_level(png, 6);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    bad |= clnas_fault_write(); /* the CLNAS_FAIL_WRITE testing hook */
    if (bad) {
        int e = errno;
        remove(path);
        snprintf(err, errlen, "%s: write error (%s)", path, e ? strerror(e) : "unknown");
        return CLNAS_E_IO;
    }
    return CLNAS_OK;
}

clnas_status clnas_png_write_argb32(const char *path, const unsigned char *pixels, int width,
                                    int height, int stride, const clnas_png_text *text, int ntext,
                                    char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    if (!path || !pixels || width <= 0 || height <= 0 || stride < 4 * width || ntext < 0 || (ntext && !text)) {
        snprintf(err, errlen, "png: invalid arguments");
        return CLNAS_E_INVALID_ARG;
    }

    /* Convert first (no libpng involved yet): premultiplied native-endian ARGB -> RGB(A). */
    int opaque = 1;
    for (int y = 0; y < height && opaque; y++) {
        const uint32_t *row = (const uint32_t *)(const void *)(pixels + (size_t)y * (size_t)stride);
        for (int x = 0; x < width; x++)
            if ((row[x] >> 24) != 0xff) { opaque = 0; break; }
    }
    int channels = opaque ? 3 : 4;
    size_t rowbytes = (size_t)width * (size_t)channels;
    unsigned char *buf = malloc(rowbytes * (size_t)height);
    png_bytep *rows = malloc((size_t)height * sizeof *rows);
    png_text *chunks = calloc((size_t)(ntext ? ntext : 1), sizeof *chunks);
    if (!buf || !rows || !chunks) {
        free(buf); free(rows); free(chunks);
        snprintf(err, errlen, "%s: out of memory", path);
        return CLNAS_E_NOMEM;
    }
    for (int y = 0; y < height; y++) {
        const uint32_t *src = (const uint32_t *)(const void *)(pixels + (size_t)y * (size_t)stride);
        unsigned char *dst = buf + (size_t)y * rowbytes;
        rows[y] = dst;
        for (int x = 0; x < width; x++) {
            uint32_t p = src[x];
            unsigned a = p >> 24, r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
            if (a != 0xff && a != 0) { /* un-premultiply, rounding */
                r = (r * 255 + a / 2) / a;
                g = (g * 255 + a / 2) / a;
                b = (b * 255 + a / 2) / a;
                if (r > 255) r = 255;
                if (g > 255) g = 255;
                if (b > 255) b = 255;
            }
            *dst++ = (unsigned char)r;
            *dst++ = (unsigned char)g;
            *dst++ = (unsigned char)b;
            if (channels == 4) *dst++ = (unsigned char)a;
        }
    }
    for (int i = 0; i < ntext; i++) {
        const char *v = text[i].value && *text[i].value ? text[i].value : "n/a";
        chunks[i].key = (png_charp)(uintptr_t)text[i].key;
        chunks[i].text = (png_charp)(uintptr_t)v;
        chunks[i].text_length = strlen(v);
#ifdef PNG_iTXt_SUPPORTED
        chunks[i].compression = is_ascii(v) ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        chunks[i].lang = NULL;
        chunks[i].lang_key = NULL;
#else
        chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
        (void)is_ascii;
#endif
    }

    clnas_status st = write_file(path, opaque, width, height, rows, chunks, ntext, err, errlen);
    free(buf); free(rows); free(chunks);
    return st;
}

/* ---- reading back (for tests and checks) ---- */

void clnas_png_image_free(clnas_png_image *img)
{
    if (!img) return;
    free(img->rgba);
    for (int i = 0; i < img->ntext; i++) {
        free(img->keys[i]);
        free(img->values[i]);
    }
    free(img->keys);
    free(img->values);
    memset(img, 0, sizeof *img);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* The libpng part of reading; img is filled only on success. */
static clnas_status read_file(FILE *f, const char *path, clnas_png_image *img, char *err, size_t errlen)
{
    struct png_err perr = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &perr, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_infop end = png ? png_create_info_struct(png) : NULL;
    if (!png || !info || !end) {
        png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, end ? &end : NULL);
        snprintf(err, errlen, "%s: libpng could not be initialised", path);
        return CLNAS_E_PNG;
    }
    /* Buffers are owned by img (zeroed by the caller), so the error branch frees them there. */
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, &end);
        snprintf(err, errlen, "%s: libpng: %s", path, perr.msg[0] ? perr.msg : "error");
        return CLNAS_E_PNG;
    }
    png_init_io(png, f);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w == 0 || h == 0 || w > 1u << 15 || h > 1u << 15) png_error(png, "image size out of range");
    /* normalise everything to 8-bit RGBA */
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4) png_error(png, "unexpected row size");
    img->rgba = malloc((size_t)w * h * 4);
    png_bytep *rows = img->rgba ? malloc(h * sizeof *rows) : NULL;
    if (!rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = img->rgba + (size_t)y * w * 4;
    img->rows_tmp = rows;
    png_read_image(png, rows);
    png_read_end(png, end);
    img->width = (int)w;
    img->height = (int)h;
    png_infop src[2] = {info, end};
    for (int k = 0; k < 2; k++) {
        png_textp t = NULL;
        int nt = png_get_text(png, src[k], &t, NULL);
        for (int i = 0; i < nt; i++) {
            char **nk = realloc(img->keys, (size_t)(img->ntext + 1) * sizeof *nk);
            if (nk) img->keys = nk;
            char **nv = realloc(img->values, (size_t)(img->ntext + 1) * sizeof *nv);
            if (nv) img->values = nv;
            if (!nk || !nv) png_error(png, "out of memory");
            size_t len = t[i].compression > 0 ? t[i].itxt_length : t[i].text_length;
            img->keys[img->ntext] = dup_n(t[i].key, strlen(t[i].key));
            img->values[img->ntext] = dup_n(t[i].text ? t[i].text : "", t[i].text ? len : 0);
            img->ntext++;
            if (!img->keys[img->ntext - 1] || !img->values[img->ntext - 1]) png_error(png, "out of memory");
        }
    }
    png_destroy_read_struct(&png, &info, &end);
    return CLNAS_OK;
}

clnas_status clnas_png_read(const char *path, clnas_png_image *img, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    memset(img, 0, sizeof *img);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return CLNAS_E_IO;
    }
    clnas_status st = read_file(f, path, img, err, errlen);
    fclose(f);
    free(img->rows_tmp);
    img->rows_tmp = NULL;
    if (st != CLNAS_OK) clnas_png_image_free(img);
    return st;
}

const char *clnas_png_image_text(const clnas_png_image *img, const char *key)
{
    for (int i = 0; i < img->ntext; i++)
        if (!strcmp(img->keys[i], key)) return img->values[i];
    return NULL;
}
