/* plot.h - figures: cairo rasterises into an image surface (plot.c), libpng writes the
 * pixels with tEXt metadata (png_out.c, the only file that includes png.h).
 *
 * Pixel format passed between the two: cairo's CAIRO_FORMAT_ARGB32, i.e. one native-endian
 * uint32 per pixel 0xAARRGGBB with PREMULTIPLIED alpha, rows `stride` bytes apart (stride >=
 * 4*width, as cairo_format_stride_for_width gives). png_out.c does not depend on cairo.
 *
 * Without cairo at build time (CLNAS_HAVE_CAIRO undefined) the plot functions return
 * CLNAS_E_UNSUPPORTED with a message; PNG writing still works. */
#ifndef CLNAS_REPORT_PLOT_H
#define CLNAS_REPORT_PLOT_H

#include <stddef.h>
#include "clnas/stats.h"
#include "clnas/status.h"

/* One PNG text chunk; key 1..79 Latin-1 characters (PNG rule), value any UTF-8. Values that
 * are plain ASCII go into tEXt chunks, others into iTXt (UTF-8) chunks. Both borrowed. */
typedef struct clnas_png_text {
    const char *key;
    const char *value;
} clnas_png_text;

/* Writes an ARGB32 premultiplied image (format above) to path as an 8-bit PNG: RGB when
 * every pixel is opaque, otherwise RGBA with the alpha divided out. Adds the text chunks in
 * order and a pHYs chunk of 200 dpi (the size the figures are laid out for). On failure:
 * CLNAS_E_IO (cannot open/write) or CLNAS_E_PNG (libpng's message), message in err, and no
 * partial file is left behind. */
clnas_status clnas_png_write_argb32(const char *path, const unsigned char *pixels, int width,
                                    int height, int stride, const clnas_png_text *text, int ntext,
                                    char *err, size_t errlen);

/* A PNG read back as 8-bit RGBA (any PNG is converted), with its text chunks (tEXt, zTXt and
 * iTXt, in file order). For tests and checks; free with clnas_png_image_free. */
typedef struct clnas_png_image {
    int width, height;
    unsigned char *rgba;  /* [height][width][4] */
    int ntext;
    char **keys, **values;
    void *rows_tmp;       /* internal */
} clnas_png_image;

/* CLNAS_E_IO if the file cannot be opened, CLNAS_E_PNG for a malformed PNG (message in err);
 * *img is zeroed on failure. */
clnas_status clnas_png_read(const char *path, clnas_png_image *img, char *err, size_t errlen);
void clnas_png_image_free(clnas_png_image *img); /* NULL is a no-op */
/* The value of the first text chunk with this key, or NULL. Borrowed from img. */
const char *clnas_png_image_text(const clnas_png_image *img, const char *key);

/* Metadata recorded in every figure (all borrowed; NULL or "" is written as "n/a"). */
typedef struct clnas_plot_meta {
    const char *command;      /* the command line that made the figure */
    const char *device;       /* the OpenCL device the scores came from */
    const char *seed;         /* the seed(s) */
    const char *correlations; /* a one-line summary of the correlations (ASCII) */
    const char *title;        /* the figure title (also drawn on top) */
} clnas_plot_meta;

/* The 3-panel figure of `clnas stats --plot`: accuracy (y) against log10 kappa, against R and
 * against the combined rank (x). Entries with a NaN x or y are not drawn in that panel.
 * corr[] are the correlations of the PLOTTED quantities (so kappa's and the combined rank's
 * are normally negative), drawn in each panel's legend box. */
typedef struct clnas_plot_stats_data {
    int n;
    const double *log10_kappa; /* [n] */
    const double *R;           /* [n] */
    const double *combined;    /* [n], lower is better */
    const double *acc;         /* [n], test accuracy in % */
    const char *acc_label;     /* y axis label, e.g. "CIFAR-10 test accuracy (%)" */
    clnas_corr corr[3];        /* kappa, R, combined, as plotted */
} clnas_plot_stats_data;

/* Size of the stats figure in pixels. */
#define CLNAS_PLOT_STATS_W 2400
#define CLNAS_PLOT_STATS_H 900

clnas_status clnas_plot_stats(const char *path, const clnas_plot_stats_data *d,
                              const clnas_plot_meta *meta, char *err, size_t errlen);

/* One method in the search-cost figure. */
typedef struct clnas_cost_point {
    const char *label;  /* drawn next to the point */
    double cost_s;      /* search cost in GPU-seconds (> 0) */
    double cost_std;    /* NaN or 0: none */
    double acc;         /* CIFAR-10 test accuracy in % */
    double acc_std;     /* NaN or 0: no error bar */
    int kind;           /* 0 published, 1 published TE-NAS (highlighted), 2 clnas (measured here) */
} clnas_cost_point;

#define CLNAS_PLOT_COST_W 2000
#define CLNAS_PLOT_COST_H 1400

/* The TE-NAS comparison figure: accuracy against search cost (log x). note: one or more
 * lines ('\n'-separated) printed under the axes, e.g. the methods without a cost. A clnas point
 * (kind 2) without an accuracy (NaN: a search whose architecture was not trained) is drawn as a
 * dashed vertical line at its cost, labelled at the top. */
clnas_status clnas_plot_cost(const char *path, const clnas_cost_point *pts, int n, const char *note,
                             const clnas_plot_meta *meta, char *err, size_t errlen);
/* The same with another y-axis label and legend entry for the published points (NULL: the
 * NAS-Bench-201 wording of clnas_plot_cost), e.g. for the DARTS space. */
clnas_status clnas_plot_cost_labelled(const char *path, const clnas_cost_point *pts, int n, const char *note,
                                      const clnas_plot_meta *meta, const char *ylabel, const char *published,
                                      char *err, size_t errlen);

/* Frees cairo's process-wide caches (font faces and the fontconfig patterns they hold), so
 * that a leak checker sees a clean exit. Call it once when done with figures, from code that
 * knows no other cairo object is alive in the process (the clnas commands, the tests); never
 * from a library function, which cannot know that. No-op without cairo. */
void clnas_plot_release_caches(void);

#endif
