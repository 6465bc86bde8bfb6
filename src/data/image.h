/* image.h - the image side of src/data (internal): PIL's antialiased bilinear resize (resize.c),
 * JPEG decoding through libjpeg-turbo's TurboJPEG API (jpeg.c, the only file that includes
 * turbojpeg.h), and the reader of ImageNet-style folders (imagefolder.c) that the record
 * files (records.c) and the in-memory folder reader of dataset.c share.
 *
 * Pixels here are 8-bit, channels interleaved (RGBRGB...), rows top to bottom, unless a
 * function says "planar" ([c][y][x], the layout of clnas's datasets). */
#ifndef CLNAS_DATA_IMAGE_H
#define CLNAS_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/data.h"

/* ---------------- resize.c ---------------- */

/* PIL's Image.resize((ow, oh), Image.BILINEAR) of an 8-bit image with `ch` (1..4) interleaved
 * channels, bit for bit: ImagingResample's separable two passes (horizontal, on the source rows
 * the vertical pass needs, into an 8-bit intermediate; then vertical), a triangle filter whose
 * support widens with the downscale factor (antialiasing), coefficients normalised per output
 * pixel and rounded to 22-bit fixed point, each pass rounded and clamped to 8 bits. A pass whose
 * size does not change is skipped, as in PIL. This is what torchvision's
 * transforms.Resize((oh, ow)) does to a PIL image.
 * src: w x h x ch (borrowed); dst: ow x oh x ch (caller's). CLNAS_E_INVALID_ARG for sizes < 1
 * or > 65535, CLNAS_E_NOMEM when the scratch rows cannot be allocated. */
clnas_status clnas_resize_bilinear_aa(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow, int oh);

/* ---------------- jpeg.c ---------------- */

typedef struct clnas_jpeg clnas_jpeg; /* one decoder; not shared between threads */

/* NULL when out of memory or when TurboJPEG cannot start. */
clnas_jpeg *clnas_jpeg_create(void);
void clnas_jpeg_destroy(clnas_jpeg *j); /* NULL is a no-op */

/* How clnas_jpeg_decode_rgb decodes. */
typedef enum clnas_jpeg_mode {
    CLNAS_JPEG_EXACT = 0,    /* full size: PIL's pixels exactly (see jpeg.c) */
    CLNAS_JPEG_DCT_SCALE = 1 /* libjpeg's DCT scaling down to >= 4x the target size (not PIL-exact) */
} clnas_jpeg_mode;

/* Decodes a JPEG held in memory to RGB as PIL's Image.open(f).convert("RGB") does: grayscale
 * replicated, CMYK/YCCK through PIL's Adobe-inverted CMYK and its cmyk->rgb conversion. With
 * CLNAS_JPEG_DCT_SCALE the image is decoded at the smallest of libjpeg's scales 1/2, 1/4, 1/8
 * that keeps it at least 4*tw x 4*th (tw, th: the size the caller resizes to next).
 * The pixels stay valid until the next call on j (borrowed; *w, *h: their size). On failure
 * returns CLNAS_E_IO with the reason in why (e.g. "not a JPEG (PNG data)", "truncated", the
 * libjpeg message). */
clnas_status clnas_jpeg_decode_rgb(clnas_jpeg *j, const uint8_t *buf, size_t len, clnas_jpeg_mode mode, int tw,
                                   int th, const uint8_t **rgb, int *w, int *h, char *why, size_t whylen);

/* The TurboJPEG version clnas was built against ("2.1.5"), for provenance. */
const char *clnas_jpeg_version(void);

/* ---------------- imagefolder.c ---------------- */

/* The files of an ImageNet-style folder in torchvision ImageFolder's order: classes are the
 * sorted names of root's sub-folders (symbolic links followed, hidden ones included, as
 * os.scandir + is_dir() sees them); within a class, the files found by a recursive walk
 * (os.walk(followlinks=True)) whose lower-cased name ends in one of ImageFolder's image
 * extensions, sorted by (folder path, file name). Names are compared bytewise (Python's str
 * order for UTF-8 names). per_class > 0 keeps the first per_class files of each class. */
typedef struct clnas_folder_list {
    int nclasses;
    char **classes;   /* [nclasses] folder names */
    long nfiles;
    char **paths;     /* [nfiles] full paths (into one arena) */
    int *labels;      /* [nfiles] class index */
    long empty_classes; /* class folders holding no image file */
    char *arena, *class_arena; /* what paths and classes point into */
} clnas_folder_list;

clnas_status clnas_folder_list_make(const char *root, long per_class, clnas_folder_list *out, char *err,
                                    size_t errlen);
void clnas_folder_list_free(clnas_folder_list *l);

/* Decoding a folder list to fixed-size images, in parallel, in the list's order. */
typedef struct clnas_folder_decode_opts {
    int size;             /* output side (32) */
    int threads;          /* 0: the online CPUs */
    clnas_jpeg_mode mode;
    /* Called in list order for every image decoded: label and planar [3][size][size] pixels
     * (borrowed for the call). Returns 0 to go on, or a status to stop with (its message in
     * the emitter's own error buffer). */
    clnas_status (*emit)(void *ud, int label, const uint8_t *planar);
    void *emit_ud;
    /* Optional: after each chunk of files, how many are done (decoded or skipped) of nfiles. */
    void (*progress)(void *ud, long done, long skipped, long total);
    void *progress_ud;
} clnas_folder_decode_opts;

#define CLNAS_SKIP_EXAMPLES 5
typedef struct clnas_folder_skips {
    long count;
    int nexamples;
    char examples[CLNAS_SKIP_EXAMPLES][640]; /* "path: reason" of the first few */
} clnas_folder_skips;

/* Decodes and resizes every file of l (exact PIL pipeline unless opts->mode says otherwise);
 * files that cannot be read or decoded are counted in skips (with the first few named), never
 * an error. Errors: CLNAS_E_NOMEM, CLNAS_E_INVALID_ARG (bad size), or what emit returned. */
clnas_status clnas_folder_decode(const clnas_folder_list *l, const clnas_folder_decode_opts *opts,
                                 clnas_folder_skips *skips, char *err, size_t errlen);

/* One line naming the skip count and the first few skipped files with their reasons; "" when
 * none were skipped. */
void clnas_folder_skips_format(const clnas_folder_skips *s, char *out, size_t len);

/* ---------------- records.c ---------------- */

/* The image-record file of `clnas data convert`: a text header of "key: value" lines that
 * ends with an empty line, then fixed-size records (label as uint16 little-endian, then the R,
 * G, B planes of size x size bytes). clnas_records_header is what the header says. */
typedef struct clnas_records_header {
    long header_bytes; /* where the first record starts */
    long images, skipped;
    int classes, size, channels, label_bytes;
    long record_bytes;
    char source[1024], filter[256], decode[256], version[64], date[64];
    char **class_names; /* [classes] or NULL when the header lists none; free with clnas_records_header_free */
} clnas_records_header;

/* Reads and checks the header of a record file (not the records). CLNAS_E_IO with a message
 * naming the file and the byte offset of what is wrong. */
clnas_status clnas_records_read_header(const char *path, clnas_records_header *h, char *err, size_t errlen);
void clnas_records_header_free(clnas_records_header *h);
/* Reads a whole record file whose images must be size x size: the header into h (free with
 * clnas_records_header_free), *n records into *labels ([n], malloc'd) and *pixels ([n][3][size]
 * [size], malloc'd). Every label is checked against the classes. CLNAS_E_IO with the file name
 * and byte offset of the first problem; nothing is left allocated then. */
clnas_status clnas_records_load(const char *path, int size, clnas_records_header *h, long *n, uint16_t **labels,
                                uint8_t **pixels, char *err, size_t errlen);

#endif
