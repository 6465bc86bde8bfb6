/* jpeg.c - JPEG decoding through libjpeg-turbo's TurboJPEG API: the only file of clnas that
 * includes turbojpeg.h (as CLBlast stays in runtime/gemm.c).
 *
 * What "the same pixels as PIL" needs. TE-NAS reads ImageNet with torchvision's ImageFolder,
 * i.e. PIL's Image.open(f).convert("RGB"). PIL decodes JPEGs with libjpeg(-turbo) at its
 * defaults: the accurate integer IDCT (JDCT_ISLOW) and fancy (triangle) chroma upsampling,
 * at full size (ImageFolder never calls draft()). TurboJPEG's tjDecompress2 with
 * TJFLAG_ACCURATEDCT and without TJFLAG_FASTUPSAMPLE runs the same libjpeg code, so a full-size
 * decode gives PIL's pixels exactly (the tests check it against PIL). Colour:
 * - 1 component (grayscale): PIL opens it as "L", convert("RGB") replicates the value; libjpeg's
 *   gray->RGB conversion does exactly that;
 * - 3 components: RGB from libjpeg in both (YCbCr or Adobe RGB, libjpeg decides alike);
 * - 4 components (CMYK, or YCCK which libjpeg turns into CMYK): PIL always reads them as
 *   Adobe-inverted CMYK ("CMYK;I": value = 255 - stored) and converts to RGB with
 *   nk = 255 - K, R = clip(nk - (C * nk) / 255) with its MULDIV255 rounding (Convert.c
 *   cmyk2rgb); done below the same way, so CMYK files are matched, not skipped;
 * - other component counts or bit depths: PIL cannot open them either; skipped.
 * Damage: libjpeg warnings (e.g. extraneous bytes) are not failures for PIL, so the image is
 * kept, with libjpeg's recovered pixels, as in PIL. A file that ends early is an error for PIL
 * ("image file is truncated"), so the premature-end warning makes it a skipped file here.
 * PIL refuses images over 2 * 89,478,485 pixels (DecompressionBombError): skipped here too.
 *
 * DCT scaling (CLNAS_JPEG_DCT_SCALE, never the default). libjpeg can run a reduced IDCT and
 * decode at 1/2, 1/4 or 1/8 size for a fraction of the cost. The result is NOT what PIL's
 * pipeline gives, and no rule can make it provably so: a 1/k-scaled decode replaces every
 * k x k block by (roughly) a low-pass of it, while PIL's triangle filter weighs the pixels
 * inside a block unequally; the difference depends on the content inside each block and is
 * bounded only by about 255*k/s grey levels (s = the downscale factor of the resize), far over
 * one level for a sharp edge. So the exact mode decodes at full size, always, and the scaled
 * mode is an explicit opt-in, recorded in the record file's header, that keeps at least 4x the
 * target size (the measured deviation is in the README). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "data/image.h"

#ifndef CLNAS_TURBOJPEG_VERSION
#define CLNAS_TURBOJPEG_VERSION "unknown"
#endif

/* PIL's Image.MAX_IMAGE_PIXELS; over twice that, Image.open raises DecompressionBombError */
#define PIL_MAX_PIXELS 89478485LL

struct clnas_jpeg {
    tjhandle tj;
    uint8_t *raw;  /* decoder output (RGB or CMYK) */
    size_t raw_cap;
    uint8_t *rgb;  /* RGB after the CMYK conversion */
    size_t rgb_cap;
};

const char *clnas_jpeg_version(void) { return CLNAS_TURBOJPEG_VERSION; }

clnas_jpeg *clnas_jpeg_create(void)
{
    clnas_jpeg *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->tj = tjInitDecompress();
    if (!j->tj) {
        free(j);
        return NULL;
    }
    return j;
}

void clnas_jpeg_destroy(clnas_jpeg *j)
{
    if (!j) return;
    tjDestroy(j->tj);
    free(j->raw);
    free(j->rgb);
    free(j);
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 1;
    uint8_t *q = realloc(*p, need);
    if (!q) return 0;
    *p = q;
    *cap = need;
    return 1;
}

/* What a file that is not a JPEG holds, from its first bytes (ImageFolder also takes .png,
 * .bmp, ... and a few ImageNet "JPEGs" are other formats in disguise). */
static const char *not_jpeg_kind(const uint8_t *b, size_t n)
{
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return "PNG";
    if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6))) return "GIF";
    if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4)) return "WebP";
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4))) return "TIFF";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "BMP";
    if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '7') return "PNM";
    return NULL;
}

/* PIL's cmyk2rgb on Adobe-inverted CMYK; MULDIV255(a, b) = ((a*b + 128) >> 8 + a*b + 128) >> 8. */
static uint8_t muldiv255(int a, int b)
{
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, size_t npix)
{
    for (size_t i = 0; i < npix; i++, in += 4, out += 3) {
        int nk = in[3]; /* 255 - (255 - stored K) */
        for (int c = 0; c < 3; c++) {
            int v = nk - muldiv255(255 - in[c], nk);
            out[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* The largest 1/k (k = 2, 4, 8) of libjpeg's scaling factors that keeps w x h >= 4*tw x 4*th. */
static int dct_scale_pick(int w, int h, int tw, int th, int *sw, int *sh)
{
    int n = 0, best = 1;
    tjscalingfactor *f = tjGetScalingFactors(&n);
    *sw = w;
    *sh = h;
    for (int i = 0; f && i < n; i++) {
        if (f[i].num != 1 || (f[i].denom != 2 && f[i].denom != 4 && f[i].denom != 8) || f[i].denom <= best) continue;
        int x = TJSCALED(w, f[i]), y = TJSCALED(h, f[i]);
        if (x >= 4 * tw && y >= 4 * th) {
            best = f[i].denom;
            *sw = x;
            *sh = y;
        }
    }
    return best;
}

clnas_status clnas_jpeg_decode_rgb(clnas_jpeg *j, const uint8_t *buf, size_t len, clnas_jpeg_mode mode, int tw,
                                   int th, const uint8_t **rgb, int *w, int *h, char *why, size_t whylen)
{
    if (why && whylen) why[0] = 0;
    if (!j || !rgb || !w || !h) return CLNAS_E_INVALID_ARG;
    if (!buf || len == 0) {
        snprintf(why, whylen, "empty file (0 bytes)");
        return CLNAS_E_IO;
    }
    if (len < 2 || buf[0] != 0xFF || buf[1] != 0xD8) {
        const char *k = not_jpeg_kind(buf, len);
        if (k) snprintf(why, whylen, "not a JPEG (%s data); clnas reads JPEG files only", k);
        else snprintf(why, whylen, "not a JPEG (no start-of-image marker FF D8 at offset 0)");
        return CLNAS_E_IO;
    }
    if (len > (size_t)0x7fffffffUL) {
        snprintf(why, whylen, "file too large for the decoder (%zu bytes)", len);
        return CLNAS_E_IO;
    }
    int iw = 0, ih = 0, subsamp = 0, cs = 0;
    if (tjDecompressHeader3(j->tj, buf, (unsigned long)len, &iw, &ih, &subsamp, &cs) != 0) {
        snprintf(why, whylen, "corrupt JPEG header: %s", tjGetErrorStr2(j->tj));
        return CLNAS_E_IO;
    }
    if (iw < 1 || ih < 1 || (long long)iw * ih > 2 * PIL_MAX_PIXELS) {
        snprintf(why, whylen, "%dx%d pixels: over PIL's decompression-bomb limit", iw, ih);
        return CLNAS_E_IO;
    }
    int sw = iw, sh = ih;
    if (mode == CLNAS_JPEG_DCT_SCALE) dct_scale_pick(iw, ih, tw, th, &sw, &sh);
    const int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    const int pf = cmyk ? TJPF_CMYK : TJPF_RGB, bpp = cmyk ? 4 : 3;
    if (!grow(&j->raw, &j->raw_cap, (size_t)sw * (size_t)sh * (size_t)bpp)) {
        snprintf(why, whylen, "out of memory for %dx%d pixels", sw, sh);
        return CLNAS_E_NOMEM;
    }
    if (tjDecompress2(j->tj, buf, (unsigned long)len, j->raw, sw, 0, sh, pf, TJFLAG_ACCURATEDCT) != 0) {
        const char *msg = tjGetErrorStr2(j->tj);
        /* a warning leaves a decoded image: PIL keeps it, except when the file ended early */
        if (tjGetErrorCode(j->tj) != TJERR_WARNING || strstr(msg, "Premature end of JPEG file")) {
            if (strstr(msg, "Premature end of JPEG file")) snprintf(why, whylen, "truncated JPEG (%s)", msg);
            else snprintf(why, whylen, "corrupt JPEG: %s", msg);
            return CLNAS_E_IO;
        }
    }
    if (cmyk) {
        if (!grow(&j->rgb, &j->rgb_cap, (size_t)sw * (size_t)sh * 3)) {
            snprintf(why, whylen, "out of memory for %dx%d pixels", sw, sh);
            return CLNAS_E_NOMEM;
        }
        cmyk_to_rgb(j->raw, j->rgb, (size_t)sw * (size_t)sh);
        *rgb = j->rgb;
    } else {
        *rgb = j->raw;
    }
    *w = sw;
    *h = sh;
    return CLNAS_OK;
}
