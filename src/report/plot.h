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

/* The grid figure of `clnas stats --plot` on a zero-cost proxy study: one scatter panel per
 * score (each proxy column, the ensemble, aggregates), test accuracy (y, shared by all panels)
 * against the score's rank among the architectures where it is defined (x; rank 1 = the lowest
 * score, so a good score rises to the right). Panels are laid out row by row (see
 * clnas_plot_grid_layout); each title names the score with its Kendall tau-b and n, a box in the
 * emptiest corner gives Spearman rho and the undefined entries left out. */
typedef struct clnas_plot_panel {
    const char *name;      /* "synflow", "ensemble", ... (drawn in the title) */
    const char *xlabel;    /* x axis label */
    const double *x;       /* [n] the rank (or any monotone value) of the score; NaN = undefined, not drawn */
    clnas_corr corr;       /* of x against acc, as printed by stats */
    int combined;          /* 1: a combination of proxies (drawn in a second colour) */
} clnas_plot_panel;

typedef struct clnas_plot_grid_data {
    int n, npanels;                 /* architectures; panels (1..CLNAS_PLOT_GRID_MAX) */
    const clnas_plot_panel *panels; /* [npanels] */
    const double *acc;              /* [n], test accuracy in %; NaN = not drawn */
    const char *acc_label;          /* y axis label */
} clnas_plot_grid_data;

#define CLNAS_PLOT_GRID_MAX 32
/* One panel's cell in pixels, and the figure's margins around the grid. */
#define CLNAS_PLOT_GRID_CELL_W 720
#define CLNAS_PLOT_GRID_CELL_H 640
#define CLNAS_PLOT_GRID_TOP 90
#define CLNAS_PLOT_GRID_SIDE 20

/* The layout of npanels panels: columns (npanels <= 4: all in one row; <= 9: 3; else 4), rows,
 * and the figure's width and height in pixels. Any pointer may be NULL. */
void clnas_plot_grid_layout(int npanels, int *cols, int *rows, int *width, int *height);
/* The plot area of panel k (0-based, row by row) in pixels: x0, y0 (top left), x1, y1. */
void clnas_plot_grid_panel_box(int npanels, int k, double box[4]);

clnas_status clnas_plot_grid(const char *path, const clnas_plot_grid_data *d, const clnas_plot_meta *meta,
                             char *err, size_t errlen);

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

/* Stacked line panels sharing one x axis (the As-ViT search trace: kappa, L and the policy's
 * entropy against the step). Non-finite values are gaps. */
typedef struct clnas_plot_series_data {
    int n, npanels;          /* points; panels (1..4) */
    const double *x;         /* [n], ascending */
    const double *y[4];      /* [npanels][n] */
    const char *ylabel[4];
    const char *xlabel;
} clnas_plot_series_data;

clnas_status clnas_plot_series(const char *path, const clnas_plot_series_data *d, const clnas_plot_meta *meta,
                               char *err, size_t errlen);

/* Frees cairo's process-wide caches (font faces and the fontconfig patterns they hold), so
 * that a leak checker sees a clean exit. Call it once when done with figures, from code that
 * knows no other cairo object is alive in the process (the clnas commands, the tests); never
 * from a library function, which cannot know that. No-op without cairo. */
void clnas_plot_release_caches(void);

#endif
