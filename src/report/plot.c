/* plot.c - the figures of `clnas stats --plot` and `clnas figure cost`, drawn with cairo into
 * an ARGB32 image surface and written by png_out.c. Sizes are in pixels and laid out for
 * 200 dpi (a 2400 px wide figure is 12 in = a two-column paper width at full scale), so
 * fonts are 22-34 px (8-12 pt). Text uses cairo's toy font API with "DejaVu Sans" through
 * fontconfig, which has the Greek letters (kappa, tau, rho) the labels need. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/plot.h"

/* ---- the grid figure's layout (no cairo needed) ---- */

void clnas_plot_grid_layout(int npanels, int *cols, int *rows, int *width, int *height)
{
    int np = npanels < 1 ? 1 : npanels, c = np <= 4 ? np : np <= 9 ? 3 : 4, r = (np + c - 1) / c;
    if (cols) *cols = c;
    if (rows) *rows = r;
    if (width) *width = 2 * CLNAS_PLOT_GRID_SIDE + c * CLNAS_PLOT_GRID_CELL_W;
    if (height) *height = CLNAS_PLOT_GRID_TOP + r * CLNAS_PLOT_GRID_CELL_H + CLNAS_PLOT_GRID_SIDE;
}

void clnas_plot_grid_panel_box(int npanels, int k, double box[4])
{
    int c;
    clnas_plot_grid_layout(npanels, &c, NULL, NULL, NULL);
    double cx = CLNAS_PLOT_GRID_SIDE + (k % c) * CLNAS_PLOT_GRID_CELL_W, cy = CLNAS_PLOT_GRID_TOP + (k / c) * CLNAS_PLOT_GRID_CELL_H;
    box[0] = cx + 150;
    box[1] = cy + 70;
    box[2] = cx + CLNAS_PLOT_GRID_CELL_W - 30;
    box[3] = cy + CLNAS_PLOT_GRID_CELL_H - 110;
}

#ifndef CLNAS_HAVE_CAIRO

clnas_status clnas_plot_stats(const char *path, const clnas_plot_stats_data *d,
                              const clnas_plot_meta *meta, char *err, size_t errlen)
{
    (void)d; (void)meta;
    if (err && errlen) snprintf(err, errlen, "%s: figures need cairo, which this build of clnas lacks "
                                "(install libcairo2-dev, e.g. with tools/deps.sh, and rebuild)", path);
    return CLNAS_E_UNSUPPORTED;
}

clnas_status clnas_plot_cost(const char *path, const clnas_cost_point *pts, int n, const char *note,
                             const clnas_plot_meta *meta, char *err, size_t errlen)
{
    (void)pts; (void)n; (void)note; (void)meta;
    return clnas_plot_stats(path, NULL, NULL, err, errlen);
}

clnas_status clnas_plot_cost_labelled(const char *path, const clnas_cost_point *pts, int n, const char *note,
                                      const clnas_plot_meta *meta, const char *ylab, const char *publab,
                                      char *err, size_t errlen)
{
    (void)ylab; (void)publab;
    return clnas_plot_cost(path, pts, n, note, meta, err, errlen);
}

clnas_status clnas_plot_series(const char *path, const clnas_plot_series_data *d, const clnas_plot_meta *meta,
                               char *err, size_t errlen)
{
    (void)d; (void)meta;
    return clnas_plot_stats(path, NULL, NULL, err, errlen);
}

clnas_status clnas_plot_grid(const char *path, const clnas_plot_grid_data *d, const clnas_plot_meta *meta,
                             char *err, size_t errlen)
{
    (void)d; (void)meta;
    return clnas_plot_stats(path, NULL, NULL, err, errlen);
}

void clnas_plot_release_caches(void) {}

#else

#include <cairo.h>

void clnas_plot_release_caches(void)
{
    /* cairo keeps font faces (and through them fontconfig patterns) in process-wide caches;
     * this empties them. Safe only while no cairo object is alive. */
    cairo_debug_reset_static_data();
}

#define FONT "DejaVu Sans"
#define CLNAS_PI 3.14159265358979323846

typedef struct { double r, g, b; } rgb;
static const rgb C_BLUE = {0.122, 0.467, 0.706}, C_ORANGE = {1.000, 0.498, 0.055},
                 C_GREEN = {0.173, 0.627, 0.173}, C_RED = {0.839, 0.153, 0.157},
                 C_GREY = {0.35, 0.35, 0.40}, C_BLACK = {0, 0, 0};

/* ---- text ---- */

/* Draws UTF-8 text with its anchor at (x, y): ha 0 left / 0.5 centre / 1 right; va 0 top /
 * 0.5 middle / 1 bottom of the font's ascent+descent box. Returns the advance width. */
static double text(cairo_t *cr, double x, double y, const char *s, double size, int bold, double ha, double va)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_font_extents_t fe;
    cairo_text_extents(cr, s, &te);
    cairo_font_extents(cr, &fe);
    double h = fe.ascent + fe.descent;
    cairo_move_to(cr, x - ha * te.x_advance, y - va * h + fe.ascent);
    cairo_show_text(cr, s);
    return te.x_advance;
}

static double text_width(cairo_t *cr, const char *s, double size, int bold)
{
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t te;
    cairo_text_extents(cr, s, &te);
    return te.x_advance;
}

/* "10" with a raised exponent, anchored like text(); returns the total width. */
static double pow10_label(cairo_t *cr, double x, double y, int k, double size, double ha, double va, int draw)
{
    char e[16];
    snprintf(e, sizeof e, "%d", k);
    double w1 = text_width(cr, "10", size, 0), w2 = text_width(cr, e, size * 0.7, 0), w = w1 + w2 + 1;
    if (draw) {
        double x0 = x - ha * w;
        text(cr, x0, y, "10", size, 0, 0, va);
        text(cr, x0 + w1 + 1, y - size * 0.38, e, size * 0.7, 0, 0, va);
    }
    return w;
}

static void set_rgb(cairo_t *cr, rgb c, double a) { cairo_set_source_rgba(cr, c.r, c.g, c.b, a); }

/* ---- axes ---- */

typedef struct {
    double lo, hi;   /* data range (log10 of the value for a log axis) */
    double p0, p1;   /* pixel positions of lo and hi */
    int log10;       /* ticks at powers of 10, labelled 10^k */
} axis;

static double ax_map(const axis *a, double v) { return a->p0 + (v - a->lo) / (a->hi - a->lo) * (a->p1 - a->p0); }

/* A 1-2-2.5-5 step giving about `want` ticks over span. */
static double nice_step(double span, int want)
{
    double raw = span / (want > 1 ? want : 1), mag = pow(10, floor(log10(raw))), f = raw / mag;
    double s = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return s * mag;
}

static int step_decimals(double step)
{
    int d = 0;
    while (d < 6 && fabs(step * pow(10, d) - floor(step * pow(10, d) + 0.5)) > 1e-6) d++;
    return d;
}

/* Sets lo/hi from data min/max with padding; a degenerate range gets a unit width. */
static void ax_range(axis *a, double mn, double mx, double pad)
{
    if (!(mx > mn)) { mn -= 0.5; mx += 0.5; }
    double s = mx - mn;
    a->lo = mn - pad * s;
    a->hi = mx + pad * s;
}

/* The accuracy axis shared by a figure's panels: the range of the finite values of acc[n] (0-100
 * when there are none), padded by 4 %. */
static axis acc_axis(const double *acc, int n)
{
    double mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(acc[i])) {
            if (acc[i] < mn) mn = acc[i];
            if (acc[i] > mx) mx = acc[i];
        }
    if (!(mx >= mn)) { mn = 0; mx = 100; }
    axis ya = {0, 1, 0, 0, 0};
    ax_range(&ya, mn, mx, 0.04);
    return ya;
}

/* Gridlines, ticks and tick labels of a bottom (vertical == 0) or left axis. other0/other1:
 * the pixel extent of the plot across the axis (for gridlines); edge: where the axis line is. */
static void draw_axis(cairo_t *cr, const axis *a, int vertical, double other0, double other1, double edge, double fs)
{
    double ticks[64];
    int nt = 0, dec = 0;
    double minor[256];
    int nm = 0;
    if (a->log10) {
        for (int k = (int)ceil(a->lo - 1e-9); k <= (int)floor(a->hi + 1e-9) && nt < 64; k++) ticks[nt++] = k;
        int every = nt > 8 ? (nt + 7) / 8 : 1; /* thin out the labels on a very wide range */
        if (every > 1) {
            int m = 0;
            for (int i = 0; i < nt; i++)
                if ((int)ticks[i] % every == 0) ticks[m++] = ticks[i];
            nt = m;
        }
        for (int k = (int)floor(a->lo) - 1; k <= (int)ceil(a->hi) && every == 1; k++)
            for (int j = 2; j <= 9 && nm < 256; j++) {
                double v = k + log10((double)j);
                if (v > a->lo && v < a->hi) minor[nm++] = v;
            }
    }
    if (!a->log10 || nt < 2) {
        double step = nice_step(a->hi - a->lo, vertical ? 6 : 5);
        nt = 0;
        for (double v = ceil(a->lo / step - 1e-9) * step; v <= a->hi + 1e-9 * step && nt < 64; v += step)
            ticks[nt++] = fabs(v) < 1e-12 * step ? 0 : v;
        dec = step_decimals(step);
        if (a->log10) dec = -1; /* linear ticks in log space: label with the value itself */
    }
    /* gridlines */
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.90, 0.90, 0.90);
    for (int i = 0; i < nt; i++) {
        double p = ax_map(a, ticks[i]);
        if (vertical) { cairo_move_to(cr, other0, p); cairo_line_to(cr, other1, p); }
        else { cairo_move_to(cr, p, other0); cairo_line_to(cr, p, other1); }
    }
    cairo_stroke(cr);
    set_rgb(cr, C_BLACK, 1);
    cairo_set_line_width(cr, 1.5);
    for (int i = 0; i < nm; i++) {
        double p = ax_map(a, minor[i]);
        if (vertical) { cairo_move_to(cr, edge, p); cairo_line_to(cr, edge - 6, p); }
        else { cairo_move_to(cr, p, edge); cairo_line_to(cr, p, edge + 6); }
    }
    cairo_stroke(cr);
    cairo_set_line_width(cr, 2.0);
    for (int i = 0; i < nt; i++) {
        double p = ax_map(a, ticks[i]);
        if (vertical) { cairo_move_to(cr, edge, p); cairo_line_to(cr, edge - 11, p); }
        else { cairo_move_to(cr, p, edge); cairo_line_to(cr, p, edge + 11); }
    }
    cairo_stroke(cr);
    for (int i = 0; i < nt; i++) {
        double p = ax_map(a, ticks[i]);
        char s[48];
        if (a->log10 && dec == 0 && nt >= 2 && ticks[i] == floor(ticks[i]) && !(dec < 0)) {
            if (vertical) pow10_label(cr, edge - 16, p, (int)ticks[i], fs, 1, 0.5, 1);
            else pow10_label(cr, p, edge + 16, (int)ticks[i], fs, 0.5, 0, 1);
            continue;
        }
        if (dec < 0) snprintf(s, sizeof s, "%.3g", pow(10, ticks[i]));
        else snprintf(s, sizeof s, "%.*f", dec, ticks[i]);
        if (vertical) text(cr, edge - 16, p, s, fs, 0, 1, 0.5);
        else text(cr, p, edge + 14, s, fs, 0, 0.5, 0);
    }
}

/* Rotated y-axis label centred on (x, y). */
static void ylabel(cairo_t *cr, double x, double y, const char *s, double fs)
{
    cairo_save(cr);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, -CLNAS_PI / 2);
    text(cr, 0, 0, s, fs, 0, 0.5, 0.5);
    cairo_restore(cr);
}

static void frame(cairo_t *cr, double x0, double y0, double x1, double y1)
{
    set_rgb(cr, C_BLACK, 1);
    cairo_set_line_width(cr, 2.0);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_stroke(cr);
}

static void surface_fail(cairo_surface_t *s, const char *path, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: cairo: %s", path, cairo_status_to_string(cairo_surface_status(s)));
}

/* Writes the surface with the figure's metadata. */
static clnas_status finish(cairo_surface_t *surf, cairo_t *cr, const char *path, const clnas_plot_meta *m,
                           const char *default_corr, char *err, size_t errlen)
{
    cairo_destroy(cr);
    cairo_surface_flush(surf);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        surface_fail(surf, path, err, errlen);
        cairo_surface_destroy(surf);
        return CLNAS_E_PNG;
    }
    char software[64];
    snprintf(software, sizeof software, "clnas %s", clnas_version());
    clnas_png_text t[6] = {
        {"Software", software},
        {"Command", m ? m->command : NULL},
        {"Device", m ? m->device : NULL},
        {"Seed", m ? m->seed : NULL},
        {"Correlations", m && m->correlations && *m->correlations ? m->correlations : default_corr},
        {"Title", m ? m->title : NULL},
    };
    clnas_status st = clnas_png_write_argb32(path, cairo_image_surface_get_data(surf),
                                             cairo_image_surface_get_width(surf),
                                             cairo_image_surface_get_height(surf),
                                             cairo_image_surface_get_stride(surf), t, 6, err, errlen);
    cairo_surface_destroy(surf);
    return st;
}

static clnas_status begin(int w, int h, const char *path, cairo_surface_t **surf, cairo_t **cr, char *err, size_t errlen)
{
    *surf = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
    if (cairo_surface_status(*surf) != CAIRO_STATUS_SUCCESS) {
        surface_fail(*surf, path, err, errlen);
        cairo_surface_destroy(*surf);
        return CLNAS_E_PNG;
    }
    *cr = cairo_create(*surf);
    cairo_set_source_rgb(*cr, 1, 1, 1);
    cairo_paint(*cr);
    cairo_set_line_cap(*cr, CAIRO_LINE_CAP_BUTT);
    return CLNAS_OK;
}

/* ---- the stats figure ---- */

typedef struct {
    const char *title, *xlabel;
    const double *x, *y;
    int n, xlog10;
    rgb colour;
    clnas_corr corr;
    int compact;     /* tau and n are in the title: the box gives rho and the undefined only */
    double title_fs; /* 0: the default size */
} scatter;

/* "+0.123", "\u2212" 0.123 (a real minus sign), or "undefined". */
static void signed_num(char *b, size_t len, double v)
{
    if (isnan(v)) snprintf(b, len, "undefined");
    else if (v < 0) snprintf(b, len, "\xe2\x88\x92%.3f", -v);
    else snprintf(b, len, "+%.3f", v);
}

/* Draws one scatter panel with its plot area at (x0, y0)-(x1, y1). */
static void draw_scatter(cairo_t *cr, double x0, double y0, double x1, double y1, const scatter *s,
                         const char *ylab, const axis *yax_in)
{
    double fs_tick = 24, fs_lab = 27, fs_title = 29, fs_leg = 23;
    double mn = INFINITY, mx = -INFINITY;
    int shown = 0;
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->x[i]) && isfinite(s->y[i])) {
            if (s->x[i] < mn) mn = s->x[i];
            if (s->x[i] > mx) mx = s->x[i];
            shown++;
        }
    if (!shown) { mn = 0; mx = 1; }
    axis xa = {0, 1, x0, x1, s->xlog10};
    ax_range(&xa, mn, mx, 0.04);
    axis ya = *yax_in;
    ya.p0 = y1;
    ya.p1 = y0;

    draw_axis(cr, &ya, 1, x0, x1, x0, fs_tick);
    draw_axis(cr, &xa, 0, y0, y1, y1, fs_tick);

    /* markers: alpha and size fall with n so that 15,625 points still show density */
    double alpha = 24.0 / sqrt(shown > 0 ? shown : 1);
    alpha = alpha > 0.75 ? 0.75 : alpha < 0.10 ? 0.10 : alpha;
    double rad = shown > 3000 ? 3.2 : shown > 500 ? 4.5 : 6.5;
    cairo_save(cr);
    cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
    cairo_clip(cr);
    set_rgb(cr, s->colour, alpha);
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
        double px = ax_map(&xa, s->x[i]), py = ax_map(&ya, s->y[i]);
        /* one fill per marker: overlapping markers then add up their alpha and show density
         * (a single path would be filled once, nonzero winding, at one flat alpha) */
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, rad, 0, 2 * CLNAS_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
    frame(cr, x0, y0, x1, y1);

    text(cr, (x0 + x1) / 2, y1 + 58, s->xlabel, fs_lab, 0, 0.5, 0);
    if (ylab) ylabel(cr, x0 - 100, (y0 + y1) / 2, ylab, fs_lab);
    text(cr, (x0 + x1) / 2, y0 - 16, s->title, s->title_fs > 0 ? s->title_fs : fs_title, 1, 0.5, 1);

    /* legend box in the emptiest corner */
    char l1[96], l2[96], l3[96], l4[96];
    char v1[24], v2[24];
    signed_num(v1, sizeof v1, s->corr.tau);
    signed_num(v2, sizeof v2, s->corr.rho);
    snprintf(l1, sizeof l1, "Kendall \xcf\x84 = %s", v1);
    snprintf(l2, sizeof l2, "Spearman \xcf\x81 = %s", v2);
    snprintf(l3, sizeof l3, "n = %d", s->corr.n_used);
    snprintf(l4, sizeof l4, "%d undefined, excluded", s->corr.n_excluded);
    const char *all[4] = {l1, l2, l3, l4}, *lines[4];
    int nl = 0, nbold = s->compact ? 1 : 2;
    for (int i = s->compact ? 1 : 0; i < 4; i++)
        if (i != 2 || !s->compact) lines[nl++] = all[i];
    if (s->corr.n_excluded <= 0) nl--;
    double lw = 0;
    for (int i = 0; i < nl; i++) {
        double w = text_width(cr, lines[i], fs_leg, i < nbold);
        if (w > lw) lw = w;
    }
    double pad = 14, lh = fs_leg * 1.35, bw = lw + 2 * pad, bh = nl * lh + 2 * pad - (lh - fs_leg * 1.1);
    double cx[4] = {x0 + 12, x1 - 12 - bw, x0 + 12, x1 - 12 - bw}, cy[4] = {y1 - 12 - bh, y1 - 12 - bh, y0 + 12, y0 + 12};
    int best = 0, bestc = -1;
    for (int c = 0; c < 4; c++) {
        int cnt = 0;
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
            double px = ax_map(&xa, s->x[i]), py = ax_map(&ya, s->y[i]);
            if (px >= cx[c] - 8 && px <= cx[c] + bw + 8 && py >= cy[c] - 8 && py <= cy[c] + bh + 8) cnt++;
        }
        if (bestc < 0 || cnt < bestc) { bestc = cnt; best = c; }
    }
    cairo_rectangle(cr, cx[best], cy[best], bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.92);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    cairo_set_line_width(cr, 1.5);
    cairo_stroke(cr);
    set_rgb(cr, C_BLACK, 1);
    for (int i = 0; i < nl; i++)
        text(cr, cx[best] + pad, cy[best] + pad + i * lh, lines[i], fs_leg, i < nbold, 0, 0);
}

clnas_status clnas_plot_stats(const char *path, const clnas_plot_stats_data *d,
                              const clnas_plot_meta *meta, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    if (!path || !d || d->n < 0 || (d->n > 0 && (!d->log10_kappa || !d->R || !d->combined || !d->acc))) {
        snprintf(err, errlen, "plot: invalid arguments");
        return CLNAS_E_INVALID_ARG;
    }
    const int W = CLNAS_PLOT_STATS_W, H = CLNAS_PLOT_STATS_H;
    cairo_surface_t *surf;
    cairo_t *cr;
    clnas_status st = begin(W, H, path, &surf, &cr, err, errlen);
    if (st != CLNAS_OK) return st;

    /* shared accuracy axis across the panels, so they compare at a glance */
    axis ya = acc_axis(d->acc, d->n);

    scatter p[3] = {
        {"Trainability: NTK condition number", "\xce\xba (log scale; lower is better)", d->log10_kappa, d->acc, d->n, 1, C_BLUE, d->corr[0], 0, 0},
        {"Expressivity: linear regions", "R (higher is better)", d->R, d->acc, d->n, 0, C_ORANGE, d->corr[1], 0, 0},
        {"TE-NAS combined rank", "rank(\xce\xba) + rank(\xe2\x88\x92R)  (lower is better)", d->combined, d->acc, d->n, 0, C_GREEN, d->corr[2], 0, 0},
    };
    const char *ylab = d->acc_label ? d->acc_label : "test accuracy (%)";
    double top = 130, bottom = H - 120, left0 = 170, gap = 95, right = W - 40;
    double pw = (right - left0 - 2 * gap) / 3;
    for (int k = 0; k < 3; k++) {
        double x0 = left0 + k * (pw + gap);
        draw_scatter(cr, x0, top, x0 + pw, bottom, &p[k], k == 0 ? ylab : NULL, &ya); /* shared y axis */
    }
    set_rgb(cr, C_BLACK, 1);
    if (meta && meta->title && *meta->title) text(cr, W / 2.0, 22, meta->title, 34, 1, 0.5, 0);

    char corr[512];
    snprintf(corr, sizeof corr, "as plotted: tau(kappa)=%.4f rho(kappa)=%.4f tau(R)=%.4f rho(R)=%.4f "
             "tau(combined)=%.4f rho(combined)=%.4f n=%d",
             d->corr[0].tau, d->corr[0].rho, d->corr[1].tau, d->corr[1].rho, d->corr[2].tau, d->corr[2].rho,
             d->corr[2].n_used);
    return finish(surf, cr, path, meta, corr, err, errlen);
}

/* ---- the proxy-study grid ---- */

clnas_status clnas_plot_grid(const char *path, const clnas_plot_grid_data *d, const clnas_plot_meta *meta,
                             char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    if (!path || !d || d->n < 0 || d->npanels < 1 || d->npanels > CLNAS_PLOT_GRID_MAX || !d->panels ||
        (d->n > 0 && !d->acc)) {
        snprintf(err, errlen, "plot: invalid arguments");
        return CLNAS_E_INVALID_ARG;
    }
    for (int k = 0; k < d->npanels; k++)
        if (!d->panels[k].name || (d->n > 0 && !d->panels[k].x)) {
            snprintf(err, errlen, "plot: invalid arguments (panel %d)", k);
            return CLNAS_E_INVALID_ARG;
        }
    int W, H;
    clnas_plot_grid_layout(d->npanels, NULL, NULL, &W, &H);
    cairo_surface_t *surf;
    cairo_t *cr;
    clnas_status st = begin(W, H, path, &surf, &cr, err, errlen);
    if (st != CLNAS_OK) return st;

    axis ya = acc_axis(d->acc, d->n); /* one accuracy axis for every panel */
    const char *ylab = d->acc_label ? d->acc_label : "test accuracy (%)";
    int cols;
    clnas_plot_grid_layout(d->npanels, &cols, NULL, NULL, NULL);
    for (int k = 0; k < d->npanels; k++) {
        const clnas_plot_panel *p = &d->panels[k];
        char title[160], tau[24];
        signed_num(tau, sizeof tau, p->corr.tau);
        snprintf(title, sizeof title, "%.80s:  \xcf\x84 = %s,  n = %d", p->name, tau, p->corr.n_used);
        double b[4];
        clnas_plot_grid_panel_box(d->npanels, k, b);
        /* the title may use the whole cell's width, no more */
        double fs = 28, room = CLNAS_PLOT_GRID_CELL_W - 40;
        while (fs > 16 && text_width(cr, title, fs, 1) > room) fs -= 1;
        scatter sc = {title, p->xlabel ? p->xlabel : "rank (1 = lowest score)", p->x, d->acc, d->n, 0,
                      p->combined ? C_GREEN : C_BLUE, p->corr, 1, fs};
        draw_scatter(cr, b[0], b[1], b[2], b[3], &sc, k % cols == 0 ? ylab : NULL, &ya);
    }
    set_rgb(cr, C_BLACK, 1);
    if (meta && meta->title && *meta->title) text(cr, W / 2.0, 22, meta->title, 34, 1, 0.5, 0);
    return finish(surf, cr, path, meta, "n/a", err, errlen);
}

/* ---- the search-cost figure ---- */

typedef struct { double x0, y0, x1, y1; } box;
static int overlap(box a, box b) { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1; }

static void marker(cairo_t *cr, int kind, double x, double y)
{
    cairo_new_path(cr);
    if (kind == 2) { /* diamond */
        double r = 15;
        cairo_move_to(cr, x, y - r);
        cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + r);
        cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
        set_rgb(cr, C_RED, 0.9);
    } else if (kind == 1) { /* star-ish: a larger square */
        cairo_rectangle(cr, x - 11, y - 11, 22, 22);
        set_rgb(cr, C_ORANGE, 0.9);
    } else {
        cairo_arc(cr, x, y, 10, 0, 2 * CLNAS_PI);
        set_rgb(cr, C_BLUE, 0.85);
    }
    cairo_fill_preserve(cr);
    set_rgb(cr, C_BLACK, 1);
    cairo_set_line_width(cr, 1.6);
    cairo_stroke(cr);
}

clnas_status clnas_plot_cost(const char *path, const clnas_cost_point *pts, int n, const char *note,
                             const clnas_plot_meta *meta, char *err, size_t errlen)
{
    return clnas_plot_cost_labelled(path, pts, n, note, meta, NULL, NULL, err, errlen);
}

/* The cost figure's plot area and its two axes (x: log10 seconds, y: accuracy). */
typedef struct cost_frame {
    double x0, x1, y0, y1;
    axis xa, ya;
} cost_frame;

/* Data ranges of the points with a cost and an accuracy (error bars included) and of the
 * measured cost lines (kind 2 without accuracy); defaults when there is nothing to show. */
static void cost_ranges(const clnas_cost_point *pts, int n, double *xmn, double *xmx, double *ymn, double *ymx)
{
    *xmn = *ymn = INFINITY;
    *xmx = *ymx = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (pts[i].cost_s > 0 && !isfinite(pts[i].acc) && pts[i].kind == 2) { /* a cost line */
            if (log10(pts[i].cost_s) < *xmn) *xmn = log10(pts[i].cost_s);
            if (log10(pts[i].cost_s) > *xmx) *xmx = log10(pts[i].cost_s);
        }
        if (!(pts[i].cost_s > 0) || !isfinite(pts[i].acc)) continue;
        double c = pts[i].cost_s, s = isfinite(pts[i].cost_std) && pts[i].cost_std > 0 ? pts[i].cost_std : 0;
        double lo = log10(c - s > c / 10 ? c - s : c / 10), hi = log10(c + s);
        double e = isfinite(pts[i].acc_std) && pts[i].acc_std > 0 ? pts[i].acc_std : 0;
        if (lo < *xmn) *xmn = lo;
        if (hi > *xmx) *xmx = hi;
        if (pts[i].acc - e < *ymn) *ymn = pts[i].acc - e;
        if (pts[i].acc + e > *ymx) *ymx = pts[i].acc + e;
    }
    if (!(*xmx >= *xmn)) { *xmn = 0; *xmx = 5; }
    if (!(*ymx >= *ymn)) { *ymn = 50; *ymx = 100; }
}

/* Measured costs without an accuracy: dashed vertical lines, labelled at the top. */
static void cost_lines(cairo_t *cr, const clnas_cost_point *pts, int n, const cost_frame *f)
{
    for (int i = 0, row = 0; i < n; i++) {
        if (!(pts[i].cost_s > 0) || isfinite(pts[i].acc) || pts[i].kind != 2) continue;
        double px = ax_map(&f->xa, log10(pts[i].cost_s)), dash = 14;
        set_rgb(cr, C_RED, 0.9);
        cairo_set_line_width(cr, 3);
        cairo_set_dash(cr, &dash, 1, 0);
        cairo_move_to(cr, px, f->y0);
        cairo_line_to(cr, px, f->y1);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        const char *lab = pts[i].label ? pts[i].label : "";
        double w = text_width(cr, lab, 26, 1);
        text(cr, px + 12 + w > f->x1 - 6 ? px - 12 - w : px + 12, f->y0 + 30 + 34 * row++, lab, 26, 1, 0, 0.5);
    }
}

/* Error bars (accuracy std vertically, cost std horizontally). */
static void cost_error_bars(cairo_t *cr, const clnas_cost_point *pts, int n, const cost_frame *f)
{
    set_rgb(cr, C_BLACK, 0.8);
    cairo_set_line_width(cr, 2.2);
    for (int i = 0; i < n; i++) {
        if (!(pts[i].cost_s > 0) || !isfinite(pts[i].acc)) continue;
        double px = ax_map(&f->xa, log10(pts[i].cost_s)), py = ax_map(&f->ya, pts[i].acc);
        if (isfinite(pts[i].acc_std) && pts[i].acc_std > 0) {
            double a = ax_map(&f->ya, pts[i].acc - pts[i].acc_std), b = ax_map(&f->ya, pts[i].acc + pts[i].acc_std);
            cairo_move_to(cr, px, a); cairo_line_to(cr, px, b);
            cairo_move_to(cr, px - 9, a); cairo_line_to(cr, px + 9, a);
            cairo_move_to(cr, px - 9, b); cairo_line_to(cr, px + 9, b);
        }
        if (isfinite(pts[i].cost_std) && pts[i].cost_std > 0) {
            double c = pts[i].cost_s, s = pts[i].cost_std;
            double a = ax_map(&f->xa, log10(c - s > c / 10 ? c - s : c / 10)), b = ax_map(&f->xa, log10(c + s));
            cairo_move_to(cr, a, py); cairo_line_to(cr, b, py);
            cairo_move_to(cr, a, py - 9); cairo_line_to(cr, a, py + 9);
            cairo_move_to(cr, b, py - 9); cairo_line_to(cr, b, py + 9);
        }
    }
    cairo_stroke(cr);
}

/* Labels: greedy placement around each point, avoiding markers, other labels and the frame.
 * 0 when out of memory. */
static int cost_labels(cairo_t *cr, const clnas_cost_point *pts, int n, const cost_frame *f)
{
    box *taken = malloc((size_t)(2 * n + 8) * sizeof *taken);
    int ntaken = 0;
    if (!taken) return 0;
    for (int i = 0; i < n; i++) {
        if (!(pts[i].cost_s > 0) || !isfinite(pts[i].acc)) continue;
        double px = ax_map(&f->xa, log10(pts[i].cost_s)), py = ax_map(&f->ya, pts[i].acc);
        taken[ntaken++] = (box){px - 16, py - 16, px + 16, py + 16};
    }
    const double fs = 26;
    for (int i = 0; i < n; i++) {
        if (!(pts[i].cost_s > 0) || !isfinite(pts[i].acc)) continue;
        double px = ax_map(&f->xa, log10(pts[i].cost_s)), py = ax_map(&f->ya, pts[i].acc);
        const char *lab = pts[i].label ? pts[i].label : "";
        int bold = pts[i].kind != 0;
        double w = text_width(cr, lab, fs, bold), h = fs * 1.2;
        /* candidate anchors: (dx, dy) of the label box's left-top corner from the point */
        const double cand[][2] = {
            {22, -h / 2}, {-22 - w, -h / 2}, {22, -h - 10}, {22, 10}, {-22 - w, -h - 10}, {-22 - w, 10},
            {-w / 2, -h - 22}, {-w / 2, 22}, {22, -2 * h - 10}, {22, h + 10}, {-22 - w, -2 * h - 10},
            {-22 - w, h + 10}, {-w / 2, -2 * h - 26}, {-w / 2, h + 26}};
        int nc = (int)(sizeof cand / sizeof cand[0]), pick = -1;
        for (int c = 0; c < nc && pick < 0; c++) {
            box b = {px + cand[c][0], py + cand[c][1], px + cand[c][0] + w, py + cand[c][1] + h};
            if (b.x0 < f->x0 + 6 || b.x1 > f->x1 - 6 || b.y0 < f->y0 + 6 || b.y1 > f->y1 - 6) continue;
            int ok = 1;
            for (int t = 0; t < ntaken && ok; t++) ok = !overlap(b, taken[t]);
            if (ok) pick = c;
        }
        if (pick < 0) pick = 0;
        box b = {px + cand[pick][0], py + cand[pick][1], px + cand[pick][0] + w, py + cand[pick][1] + h};
        taken[ntaken++] = b;
        if (fabs(cand[pick][1] + h / 2) > h) { /* far from the point: a thin leader line */
            cairo_set_source_rgba(cr, 0.4, 0.4, 0.4, 0.8);
            cairo_set_line_width(cr, 1.2);
            double ly = cand[pick][1] < 0 ? b.y1 : b.y0;
            double lx = fmin(fmax(px, b.x0), b.x1);
            cairo_move_to(cr, px, py);
            cairo_line_to(cr, lx, ly);
            cairo_stroke(cr);
        }
        set_rgb(cr, pts[i].kind == 2 ? C_RED : C_BLACK, 1);
        text(cr, b.x0, b.y0 + h / 2, lab, fs, bold, 0, 0.5);
    }
    free(taken);
    return 1;
}

/* Legend (lower right: high cost, low accuracy is where nothing good lives), moved up while it
 * would cover a point. */
static void cost_legend(cairo_t *cr, const clnas_cost_point *pts, int n, const cost_frame *f, const char *publab)
{
    int have[3] = {0, 0, 0};
    for (int i = 0; i < n; i++)
        if (pts[i].kind >= 0 && pts[i].kind <= 2 && (isfinite(pts[i].acc) || pts[i].kind != 2)) have[pts[i].kind] = 1;
    const char *names[3] = {publab ? publab : "published (TE-NAS paper, NB201 table)", "TE-NAS, published", "clnas, measured here (mean \xc2\xb1 std)"};
    double lw = 0;
    int nl = 0;
    for (int k = 0; k < 3; k++)
        if (have[k]) { nl++; lw = fmax(lw, text_width(cr, names[k], 25, 0)); }
    if (!nl) return;
    double bw = lw + 80, lh = 42, bh = nl * lh + 20, bx = f->x1 - 16 - bw, by = f->y1 - 16 - bh;
    for (int tries = 0; tries < 12; tries++) {
        box lb = {bx, by, bx + bw, by + bh};
        int hit = 0;
        for (int i = 0; i < n && !hit; i++) {
            if (!(pts[i].cost_s > 0) || !isfinite(pts[i].acc)) continue;
            double px = ax_map(&f->xa, log10(pts[i].cost_s)), py = ax_map(&f->ya, pts[i].acc);
            hit = overlap(lb, (box){px - 40, py - 40, px + 40, py + 40});
        }
        if (!hit) break;
        by -= 60;
    }
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.92);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
    cairo_set_line_width(cr, 1.5);
    cairo_stroke(cr);
    int row = 0;
    for (int k = 0; k < 3; k++) {
        if (!have[k]) continue;
        double cy = by + 10 + lh * (row + 0.5);
        marker(cr, k, bx + 32, cy);
        set_rgb(cr, C_BLACK, 1);
        text(cr, bx + 62, cy, names[k], 25, 0, 0, 0.5);
        row++;
    }
}

/* Note lines under the axis label. */
static void cost_note(cairo_t *cr, const char *note, const cost_frame *f)
{
    if (!note || !*note) return;
    char *copy = malloc(strlen(note) + 1);
    if (!copy) return;
    strcpy(copy, note);
    double ty = f->y1 + 118;
    set_rgb(cr, C_GREY, 1);
    for (char *line = copy, *nx; line; line = nx) {
        nx = strchr(line, '\n');
        if (nx) *nx++ = 0;
        text(cr, f->x0 - 150, ty, line, 23, 0, 0, 0);
        ty += 36;
    }
    free(copy);
}

clnas_status clnas_plot_cost_labelled(const char *path, const clnas_cost_point *pts, int n, const char *note,
                                      const clnas_plot_meta *meta, const char *ylab, const char *publab,
                                      char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    if (!path || n < 0 || (n > 0 && !pts)) {
        snprintf(err, errlen, "plot: invalid arguments");
        return CLNAS_E_INVALID_ARG;
    }
    const int W = CLNAS_PLOT_COST_W, H = CLNAS_PLOT_COST_H;
    int nnote = 0;
    for (const char *q = note; q && *q; q++) nnote += *q == '\n';
    if (note && *note) nnote++;
    cairo_surface_t *surf;
    cairo_t *cr;
    clnas_status st = begin(W, H, path, &surf, &cr, err, errlen);
    if (st != CLNAS_OK) return st;

    cost_frame f = {190, W - 60, 120, H - 170 - 36.0 * nnote, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}};
    double xmn, xmx, ymn, ymx;
    cost_ranges(pts, n, &xmn, &xmx, &ymn, &ymx);
    /* whole decades plus room for the labels at the right */
    f.xa = (axis){floor(xmn - 0.15), ceil(xmx + 0.35), f.x0, f.x1, 1};
    f.ya = (axis){0, 1, f.y1, f.y0, 0};
    ax_range(&f.ya, ymn, ymx, 0.07);
    if (f.ya.hi > 100) f.ya.hi = 100;

    draw_axis(cr, &f.ya, 1, f.x0, f.x1, f.x0, 28);
    draw_axis(cr, &f.xa, 0, f.y0, f.y1, f.y1, 28);
    frame(cr, f.x0, f.y0, f.x1, f.y1);
    set_rgb(cr, C_BLACK, 1);
    text(cr, (f.x0 + f.x1) / 2, f.y1 + 64, "search cost in seconds, log scale (published: GPU-seconds; clnas: wall seconds on the device named)", 30, 0, 0.5, 0);
    ylabel(cr, f.x0 - 118, (f.y0 + f.y1) / 2, ylab ? ylab : "NAS-Bench-201 CIFAR-10 test accuracy (%)", 30);
    const char *title = meta && meta->title && *meta->title ? meta->title : "Search cost vs. accuracy on NAS-Bench-201";
    text(cr, W / 2.0, 30, title, 36, 1, 0.5, 0);

    cost_lines(cr, pts, n, &f);
    cost_error_bars(cr, pts, n, &f);
    if (!cost_labels(cr, pts, n, &f)) {
        cairo_destroy(cr);
        cairo_surface_destroy(surf);
        snprintf(err, errlen, "%s: out of memory", path);
        return CLNAS_E_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        if (!(pts[i].cost_s > 0) || !isfinite(pts[i].acc)) continue;
        marker(cr, pts[i].kind, ax_map(&f.xa, log10(pts[i].cost_s)), ax_map(&f.ya, pts[i].acc));
    }
    cost_legend(cr, pts, n, &f, publab);
    cost_note(cr, note, &f);
    return finish(surf, cr, path, meta, NULL, err, errlen);
}

/* ---- stacked line panels (the As-ViT search trace) ---- */

static void draw_series_panel(cairo_t *cr, double x0, double y0, double x1, double y1, const clnas_plot_series_data *d,
                              int k, int last)
{
    double mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < d->n; i++)
        if (isfinite(d->y[k][i])) { mn = fmin(mn, d->y[k][i]); mx = fmax(mx, d->y[k][i]); }
    if (!(mx >= mn)) { mn = 0; mx = 1; }
    axis xa = {0, 1, x0, x1, 0}, ya = {0, 1, y1, y0, 0};
    ax_range(&xa, d->x[0], d->x[d->n - 1], 0.02);
    ax_range(&ya, mn, mx, 0.06);
    draw_axis(cr, &xa, 0, y0, y1, y1, 24);
    draw_axis(cr, &ya, 1, x0, x1, x0, 24);
    static const rgb cols[4] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157}};
    set_rgb(cr, cols[k % 4], 1);
    cairo_set_line_width(cr, 2.5);
    int pen = 0;
    for (int i = 0; i < d->n; i++) {
        if (!isfinite(d->y[k][i])) { pen = 0; continue; }
        double px = ax_map(&xa, d->x[i]), py = ax_map(&ya, d->y[k][i]);
        if (pen) cairo_line_to(cr, px, py);
        else cairo_move_to(cr, px, py);
        pen = 1;
    }
    cairo_stroke(cr);
    for (int i = 0; i < d->n && d->n <= 200; i++)
        if (isfinite(d->y[k][i])) {
            cairo_arc(cr, ax_map(&xa, d->x[i]), ax_map(&ya, d->y[k][i]), 4.5, 0, 2 * CLNAS_PI);
            cairo_fill(cr);
        }
    frame(cr, x0, y0, x1, y1);
    set_rgb(cr, C_BLACK, 1);
    ylabel(cr, x0 - 150, (y0 + y1) / 2, d->ylabel[k], 27);
    if (last) text(cr, (x0 + x1) / 2, y1 + 60, d->xlabel, 27, 0, 0.5, 0);
}

clnas_status clnas_plot_series(const char *path, const clnas_plot_series_data *d, const clnas_plot_meta *meta,
                               char *err, size_t errlen)
{
    if (!d || d->n < 1 || d->npanels < 1 || d->npanels > 4) {
        snprintf(err, errlen, "%s: nothing to plot (need at least one point and 1 to 4 panels)", path);
        return CLNAS_E_INVALID_ARG;
    }
    const int W = 2000, ph = 420, gap = 80, top = 110, H = top + d->npanels * (ph + gap) + 100;
    cairo_surface_t *surf;
    cairo_t *cr;
    clnas_status st = begin(W, H, path, &surf, &cr, err, errlen);
    if (st != CLNAS_OK) return st;
    set_rgb(cr, C_BLACK, 1);
    if (meta && meta->title) text(cr, W / 2.0, 40, meta->title, 32, 1, 0.5, 0);
    for (int k = 0; k < d->npanels; k++) {
        double y0 = top + k * (ph + gap);
        draw_series_panel(cr, 230, y0, W - 60, y0 + ph, d, k, k == d->npanels - 1);
    }
    return finish(surf, cr, path, meta, NULL, err, errlen);
}

#endif /* CLNAS_HAVE_CAIRO */
