/* resize.c - PIL's antialiased bilinear resize (Image.resize(size, Image.BILINEAR), which is what
 * torchvision's transforms.Resize((32, 32)) calls on the PIL images of TE-NAS's ImageNet
 * pipeline, ../shared/docs/TENAS.md §6), reproduced bit for bit.
 *
 * PIL (libImaging/Resample.c, ImagingResample) resizes in two separable passes:
 * - coefficients per output pixel: the triangle filter 1-|x| stretched by the downscale factor
 *   (support = max(1, in/out) source pixels on each side: that is the antialiasing), centred on
 *   (out + 0.5) * in/out, evaluated at source pixel centres, divided by their sum, then rounded
 *   to fixed point with 22 fraction bits;
 * - horizontal pass first, only over the source rows the vertical pass will read, into an
 *   8-bit image (each value rounded: + 2^21, >> 22, clamped to 0..255); then the vertical pass
 *   on that, rounded the same way. A pass whose size is unchanged is skipped.
 * Every step below keeps PIL's arithmetic: the same double expressions for the coefficients
 * (so the same roundings), 32-bit integer accumulation, and the same rounding of each pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"

#define PRECISION_BITS 22 /* PIL: 32 - 8 - 2 */

typedef struct coeffs {
    int ksize;    /* coefficients per output pixel (stride of k) */
    int *bounds;  /* [out][2]: first source index, count */
    int32_t *k;   /* [out][ksize], fixed point */
} coeffs;

static double triangle(double x)
{
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static void coeffs_free(coeffs *c)
{
    free(c->bounds);
    free(c->k);
}

/* PIL's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in) mapped onto out pixels. */
static int coeffs_make(int in, int out, coeffs *c)
{
    /* PIL's box is a float[4]; in1 - in0 is computed in float, exact for these sizes */
    const float in0 = 0.0f, in1 = (float)in;
    double scale = (double)(in1 - in0) / out, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc((size_t)out * 2 * sizeof(int));
    c->k = malloc((size_t)out * (size_t)c->ksize * sizeof(int32_t));
    double *w = malloc((size_t)c->ksize * sizeof(double));
    if (!c->bounds || !c->k || !w) {
        free(w);
        coeffs_free(c);
        return 0;
    }
    for (int xx = 0; xx < out; xx++) {
        double center = in0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = triangle((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)xx * (size_t)c->ksize;
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return 1;
}

/* PIL's clip8: the accumulator (with its +2^21 rounding term) >> 22, clamped to 0..255. */
static uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS; /* PIL shifts the signed int too (arithmetic on every compiler we target) */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* The horizontal pass over one row: ow outputs from the row `in` of ch interleaved channels. The
 * channels of a pixel are accumulated together (PIL does the same): the sums are integers, so the
 * order cannot change a result, and one sweep over contiguous bytes is ~3x faster than three. */
static void hpass_row(const uint8_t *in, uint8_t *o, int ch, int ow, const coeffs *c)
{
    for (int xx = 0; xx < ow; xx++) {
        const int n = c->bounds[2 * xx + 1];
        const int32_t *k = c->k + (size_t)xx * (size_t)c->ksize;
        const uint8_t *p = in + (size_t)c->bounds[2 * xx] * (size_t)ch;
        int32_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0, s3 = s0;
        if (ch == 3) {
            for (int x = 0; x < n; x++, p += 3) {
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                s2 += p[2] * k[x];
            }
        } else if (ch == 1) {
            for (int x = 0; x < n; x++) s0 += p[x] * k[x];
        } else {
            for (int x = 0; x < n; x++, p += ch) {
                s0 += p[0] * k[x];
                s1 += p[1] * k[x];
                if (ch > 2) s2 += p[2] * k[x];
                if (ch > 3) s3 += p[3] * k[x];
            }
        }
        const int32_t s[4] = {s0, s1, s2, s3};
        for (int q = 0; q < ch; q++) o[(size_t)xx * (size_t)ch + (size_t)q] = clip8(s[q]);
    }
}

clnas_status clnas_resize_bilinear_aa(const uint8_t *src, int w, int h, int ch, uint8_t *dst, int ow, int oh)
{
    if (!src || !dst || ch < 1 || ch > 4 || w < 1 || h < 1 || ow < 1 || oh < 1 || w > 65535 || h > 65535 ||
        ow > 65535 || oh > 65535)
        return CLNAS_E_INVALID_ARG;
    const int need_h = ow != w, need_v = oh != h;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)w * (size_t)h * (size_t)ch);
        return CLNAS_OK;
    }
    coeffs cv = {0, NULL, NULL}, ch_ = {0, NULL, NULL};
    uint8_t *tmp = NULL;
    clnas_status st = CLNAS_E_NOMEM;
    if (!coeffs_make(h, oh, &cv)) return CLNAS_E_NOMEM;
    /* the source rows the vertical pass reads */
    const int yfirst = cv.bounds[0], ylast = cv.bounds[2 * oh - 2] + cv.bounds[2 * oh - 1];
    const uint8_t *vin = src; /* the vertical pass's input: the source, or the horizontal pass's rows */
    int vin_w = w, vrow0 = 0;
    if (need_h) {
        if (!coeffs_make(w, ow, &ch_)) goto done;
        const int rows = ylast - yfirst;
        tmp = malloc((size_t)rows * (size_t)ow * (size_t)ch);
        if (!tmp) goto done;
        for (int y = 0; y < rows; y++)
            hpass_row(src + (size_t)(y + yfirst) * (size_t)w * (size_t)ch, tmp + (size_t)y * (size_t)ow * (size_t)ch,
                      ch, ow, &ch_);
        vin = tmp;
        vin_w = ow;
        vrow0 = yfirst; /* PIL shifts the vertical bounds by the first row used */
    }
    if (need_v) {
        for (int yy = 0; yy < oh; yy++) {
            const int ymin = cv.bounds[2 * yy] - vrow0, n = cv.bounds[2 * yy + 1];
            const int32_t *k = cv.k + (size_t)yy * (size_t)cv.ksize;
            uint8_t *o = dst + (size_t)yy * (size_t)vin_w * (size_t)ch;
            for (int xc = 0; xc < vin_w * ch; xc++) {
                int32_t ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < n; y++)
                    ss += (int32_t)vin[(size_t)(y + ymin) * (size_t)vin_w * (size_t)ch + (size_t)xc] * k[y];
                o[xc] = clip8(ss);
            }
        }
    } else {
        /* only the width changed: the horizontal pass ran over every row (yfirst 0, ylast h) */
        memcpy(dst, tmp, (size_t)oh * (size_t)ow * (size_t)ch);
    }
    st = CLNAS_OK;
done:
    free(tmp);
    coeffs_free(&cv);
    coeffs_free(&ch_);
    return st;
}
