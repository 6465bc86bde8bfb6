/* test_jpeg.c - ImageNet data: the JPEG decoder (src/data/jpeg.c), PIL's resize (resize.c), the
 * ImageFolder reader (imagefolder.c), image-record files (records.c), `clnas data` and a score
 * on converted ImageNet-style data, end to end.
 *
 * No ImageNet is downloaded: tests/jpeg_fixture.py builds a small labelled folder of JPEGs from
 * the bundled CIFAR-10 images (several sizes and aspect ratios, 4:2:0 / 4:2:2 / 4:4:4,
 * progressive, grayscale, CMYK, a recoverable libjpeg warning, a nested folder, truncated /
 * empty / garbage / PNG files) and writes the oracle: the order torchvision's ImageFolder gives
 * and what PIL makes of every file (Image.open(f).convert("RGB").resize((32, 32), BILINEAR),
 * what transforms.Resize((32, 32)) calls). The oracle shares no code with clnas. PIL comes from
 * /usr/bin/python3 (python3-pil, installed by tools/deps.sh); without it the tests fail and say so.
 * The score at the end needs an OpenCL device (PoCL in CI). */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clnas/data.h"
#include "data/image.h"
#include "report/safetensors.h"
#include "util/testutil.h"

#ifndef CLNAS_BIN
#error "CMake defines CLNAS_BIN as the path of the clnas executable"
#endif
#define BUNDLED CLNAS_DATA_DIR "/cifar10/train_10k.bin"
#define FIXTURE_PY CLNAS_DATA_DIR "/../tests/jpeg_fixture.py"
#define PY "/usr/bin/python3"
#define ENV_DIR "CLNAS_TEST_JPEG_FIXTURE"
#define REC 3074
#define SP "'|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'"

/* ---------------- the fixture (built once per run of this binary) ---------------- */

static char g_dir[256];

static void build_fixture(char *dir, size_t len)
{
    tu_mkdtemp(dir, len, "clnas_test_jpeg");
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s -c 'import PIL, numpy' 2>&1", PY);
    int rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "the JPEG tests need %s with PIL and NumPy (Debian: python3-pil, python3-numpy; "
                 "tools/deps.sh installs them): %s", PY, out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' '%s' 2>&1", PY, FIXTURE_PY, BUNDLED, dir);
    rc = tu_run(cmd, &out);
    cr_assert_eq(rc, 0, "%s failed (%d): %s", cmd, rc, out ? out : "");
    free(out);
}

/* Built once in the runner before the tests (they inherit the folder through the environment);
 * a test run on its own builds its own. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    if (getenv(ENV_DIR)) return;
    char dir[256] = "/tmp/clnas_test_jpeg_XXXXXX";
    if (!mkdtemp(dir)) return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' '%s' >/dev/null 2>&1", PY, FIXTURE_PY, BUNDLED, dir);
    if (system(cmd) == 0) setenv(ENV_DIR, dir, 1);
    else tu_rmrf(dir);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *d = getenv(ENV_DIR);
    if (d && strstr(d, "clnas_test_jpeg")) tu_rmrf(d);
}

static const char *fixture(void)
{
    if (g_dir[0]) return g_dir;
    const char *d = getenv(ENV_DIR);
    if (d) snprintf(g_dir, sizeof g_dir, "%s", d);
    else build_fixture(g_dir, sizeof g_dir);
    return g_dir;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    if (len) cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* The oracle's ImageFolder order: order.txt lines "label\tstatus\tpath". */
typedef struct sample {
    int label, ok; /* ok: a JPEG that PIL decodes */
    char status[16], path[512];
} sample;

static sample *read_order(int *n, int *nok)
{
    char p[512];
    snprintf(p, sizeof p, "%s/order.txt", fixture());
    size_t len;
    char *t = (char *)slurp(p, &len);
    int cap = 0;
    for (size_t i = 0; i < len; i++) cap += t[i] == '\n';
    sample *s = calloc((size_t)cap, sizeof *s);
    *n = *nok = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        sample *e = &s[(*n)++];
        cr_assert_eq(sscanf(line, "%d\t%15s\t%511[^\n]", &e->label, e->status, e->path), 3, "order.txt: %s", line);
        e->ok = !strcmp(e->status, "ok");
        *nok += e->ok;
    }
    free(t);
    return s;
}

static int read_classes(char names[][64], int max)
{
    char p[512];
    snprintf(p, sizeof p, "%s/classes.txt", fixture());
    size_t len;
    char *t = (char *)slurp(p, &len);
    int n = 0;
    for (char *line = strtok(t, "\n"); line && n < max; line = strtok(NULL, "\n")) snprintf(names[n++], 64, "%s", line);
    free(t);
    return n;
}

/* PIL's 32x32 result of the k-th "ok" sample, RGB interleaved. */
static const uint8_t *pil32(int k)
{
    static uint8_t *all;
    static size_t len;
    if (!all) {
        char p[512];
        snprintf(p, sizeof p, "%s/pil32.bin", fixture());
        all = slurp(p, &len);
    }
    cr_assert((size_t)(k + 1) * 3072 <= len, "pil32.bin holds %zu images, asked for %d", len / 3072, k);
    return all + (size_t)k * 3072;
}

/* Largest |ours - PIL| over an image, ours planar [3][32][32], PIL interleaved; *ndiff values differ. */
static int maxdiff_planar(const uint8_t *planar, const uint8_t *rgb, int *ndiff)
{
    int m = 0;
    *ndiff = 0;
    for (int p = 0; p < 1024; p++)
        for (int c = 0; c < 3; c++) {
            int d = abs((int)planar[c * 1024 + p] - (int)rgb[p * 3 + c]);
            if (d) ++*ndiff;
            if (d > m) m = d;
        }
    return m;
}

static int run_clnas(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", CLNAS_BIN, args);
    return tu_run(cmd, out);
}

/* Converts the fixture's folder with `extra` options into dir/name; returns the output path. */
static const char *convert(const char *extra, const char *name, char **out)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/%s", fixture(), name);
    char args[2048];
    snprintf(args, sizeof args, "data convert --imagefolder '%s/tree' --out '%s' %s 2>&1", fixture(), path, extra);
    int rc = run_clnas(args, out);
    cr_assert_eq(rc, 0, "clnas %s exited %d:\n%s", args, rc, *out ? *out : "");
    return path;
}

/* ---------------- PIL's resize, bit for bit ---------------- */

Test(jpeg, resize_is_pils_bit_for_bit)
{
    char p[512];
    size_t ls, lr, lc;
    snprintf(p, sizeof p, "%s/resize_src.bin", fixture());
    uint8_t *src = slurp(p, &ls);
    snprintf(p, sizeof p, "%s/resize_ref.bin", fixture());
    uint8_t *ref = slurp(p, &lr);
    snprintf(p, sizeof p, "%s/resize_cases.txt", fixture());
    char *cases = (char *)slurp(p, &lc);
    int n = 0, up = 0, down = 0;
    for (char *line = strtok(cases, "\n"); line; line = strtok(NULL, "\n"), n++) {
        int w, h, ch, ow, oh;
        long so, ro;
        char name[64];
        cr_assert_eq(sscanf(line, "%d %d %d %d %d %ld %ld %63s", &w, &h, &ch, &ow, &oh, &so, &ro, name), 8, "%s", line);
        size_t nout = (size_t)ow * oh * ch;
        cr_assert((size_t)so + (size_t)w * h * ch <= ls && (size_t)ro + nout <= lr);
        uint8_t *dst = malloc(nout);
        cr_assert_eq(clnas_resize_bilinear_aa(src + so, w, h, ch, dst, ow, oh), CLNAS_OK, "%s", name);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < nout; i++)
            if (dst[i] != ref[(size_t)ro + i] && !bad++) first = i;
        cr_assert_eq(bad, 0, "%s -> %dx%d: %zu of %zu values differ from PIL's, first at %zu (%d vs PIL %d)", name, ow,
                     oh, bad, nout, first, dst[first], ref[(size_t)ro + first]);
        up += ow > w || oh > h;
        down += ow < w || oh < h;
        free(dst);
    }
    cr_assert(n > 200 && up > 20 && down > 100, "%d cases (%d upscaling, %d downscaling)", n, up, down);
    fprintf(stderr, "  resize: %d cases (%d with upscaling, %d with downscaling), all identical to PIL\n", n, up, down);
    /* bad arguments are refused, not run */
    uint8_t px[12] = {0}, o[12];
    cr_assert_eq(clnas_resize_bilinear_aa(px, 0, 2, 3, o, 1, 1), CLNAS_E_INVALID_ARG);
    cr_assert_eq(clnas_resize_bilinear_aa(px, 2, 2, 5, o, 1, 1), CLNAS_E_INVALID_ARG);
    cr_assert_eq(clnas_resize_bilinear_aa(NULL, 2, 2, 3, o, 1, 1), CLNAS_E_INVALID_ARG);
    free(src);
    free(ref);
    free(cases);
}

/* ---------------- decoding: every file of the folder against PIL ---------------- */

Test(jpeg, decode_matches_pil)
{
    int n, nok;
    sample *s = read_order(&n, &nok);
    clnas_jpeg *j = clnas_jpeg_create();
    cr_assert_not_null(j);
    int k = 0, worst = 0, total_diff = 0, gray = 0, cmyk = 0, warn = 0;
    uint8_t small[3072], planar[3072];
    for (int i = 0; i < n; i++) {
        size_t len;
        uint8_t *b = slurp(s[i].path, &len);
        const uint8_t *rgb;
        int w, h;
        char why[512];
        clnas_status st = clnas_jpeg_decode_rgb(j, b, len, CLNAS_JPEG_EXACT, 32, 32, &rgb, &w, &h, why, sizeof why);
        if (!s[i].ok) {
            /* PIL fails on these too, or (PNG) they are not JPEG data */
            cr_assert_eq(st, CLNAS_E_IO, "%s (%s) should be refused", s[i].path, s[i].status);
            cr_assert(why[0], "%s: no reason given", s[i].path);
            if (strstr(s[i].path, "bad_zero")) cr_expect(strstr(why, "empty"), "%s", why);
            if (strstr(s[i].path, "bad_png")) cr_expect(strstr(why, "PNG"), "%s", why);
            if (strstr(s[i].path, "bad_trunc")) cr_expect(strstr(why, "truncated"), "%s", why);
            free(b);
            continue;
        }
        cr_assert_eq(st, CLNAS_OK, "%s: %s", s[i].path, why);
        cr_assert_eq(clnas_resize_bilinear_aa(rgb, w, h, 3, small, 32, 32), CLNAS_OK);
        for (int p = 0; p < 1024; p++)
            for (int c = 0; c < 3; c++) planar[c * 1024 + p] = small[p * 3 + c];
        int nd, m = maxdiff_planar(planar, pil32(k++), &nd);
        cr_assert(m <= 1, "%s (%dx%d): %d values differ from PIL's, by up to %d grey levels (tolerance 1)", s[i].path, w,
                  h, nd, m);
        worst = m > worst ? m : worst;
        total_diff += nd;
        gray += strstr(s[i].path, "img5") != NULL;
        cmyk += strstr(s[i].path, "img6") != NULL;
        warn += strstr(s[i].path, "warn") != NULL;
        free(b);
    }
    cr_assert_eq(k, nok);
    cr_assert(gray >= 5 && cmyk >= 5 && warn >= 5, "the folder lacks grayscale/CMYK/warning JPEGs");
    fprintf(stderr, "  decode: %d JPEGs (%d grayscale, %d CMYK, %d with a libjpeg warning) vs PIL: max diff %d, %d "
            "values differ; %d files refused as PIL refuses them\n", nok, gray, cmyk, warn, worst, total_diff, n - nok);
    /* full size always in the exact mode; the DCT-scaled mode keeps >= 4x the target */
    const char *big = NULL;
    for (int i = 0; i < n && !big; i++)
        if (s[i].ok && strstr(s[i].path, "img2.jpeg")) big = s[i].path;
    cr_assert_not_null(big);
    size_t len;
    uint8_t *b = slurp(big, &len);
    const uint8_t *rgb;
    int w, h;
    char why[256];
    cr_assert_eq(clnas_jpeg_decode_rgb(j, b, len, CLNAS_JPEG_EXACT, 32, 32, &rgb, &w, &h, why, sizeof why), CLNAS_OK);
    cr_assert(w == 500 && h == 375, "%dx%d", w, h);
    cr_assert_eq(clnas_jpeg_decode_rgb(j, b, len, CLNAS_JPEG_DCT_SCALE, 32, 32, &rgb, &w, &h, why, sizeof why), CLNAS_OK);
    cr_assert(w == 250 && h == 188, "DCT-scaled 500x375 for 32x32: %dx%d, expected 1/2 = 250x188", w, h);
    cr_assert_eq(clnas_jpeg_decode_rgb(j, b, len, CLNAS_JPEG_DCT_SCALE, 16, 16, &rgb, &w, &h, why, sizeof why), CLNAS_OK);
    cr_assert(w == 125 && h == 94, "DCT-scaled 500x375 for 16x16: %dx%d, expected 1/4 = 125x94", w, h);
    cr_assert_eq(clnas_jpeg_decode_rgb(j, b, 0, CLNAS_JPEG_EXACT, 32, 32, &rgb, &w, &h, why, sizeof why), CLNAS_E_IO);
    free(b);
    clnas_jpeg_destroy(j);
    clnas_jpeg_destroy(NULL);
    free(s);
}

/* ---------------- the folder: order, classes, skips ---------------- */

Test(jpeg, folder_in_imagefolder_order)
{
    int n, nok;
    sample *s = read_order(&n, &nok);
    char names[16][64];
    int nc = read_classes(names, 16);
    char root[512], err[1024];
    snprintf(root, sizeof root, "%s/tree", fixture());
    clnas_folder_list l;
    cr_assert_eq(clnas_folder_list_make(root, 0, &l, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(l.nclasses, nc);
    for (int c = 0; c < nc; c++) cr_assert_str_eq(l.classes[c], names[c], "class %d", c);
    cr_assert_str_eq(l.classes[0], "Zebra_empty", "bytewise order: 'Z' sorts before 'a'");
    cr_assert_eq(l.empty_classes, 1);
    cr_assert_eq(l.nfiles, n, "files: clnas %ld, ImageFolder %d", l.nfiles, n);
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(l.paths[i], s[i].path, "file %d", i);
        cr_assert_eq(l.labels[i], s[i].label, "label of %s", s[i].path);
    }
    clnas_folder_list_free(&l);
    /* per_class keeps the first files of each class */
    cr_assert_eq(clnas_folder_list_make(root, 2, &l, err, sizeof err), CLNAS_OK, "%s", err);
    int k = 0, in_class = 0;
    for (int i = 0; i < n; i++) {
        in_class = i && s[i].label == s[i - 1].label ? in_class + 1 : 0;
        if (in_class < 2) {
            cr_assert_str_eq(l.paths[k], s[i].path);
            k++;
        }
    }
    cr_assert_eq(l.nfiles, k);
    clnas_folder_list_free(&l);
    /* a symbolic link back into its own class folder is not followed round and round */
    char loop[600], tgt[600];
    snprintf(loop, sizeof loop, "%s/loop", fixture());
    snprintf(tgt, sizeof tgt, "%s/loop/c", fixture());
    cr_assert(mkdir(loop, 0755) == 0 && mkdir(tgt, 0755) == 0);
    snprintf(tgt, sizeof tgt, "%s/loop/c/a.jpg", fixture());
    spit(tgt, "x", 1);
    snprintf(tgt, sizeof tgt, "%s/loop/c/again", fixture());
    cr_assert_eq(symlink(".", tgt), 0, "symlink: %s", strerror(errno));
    cr_assert_eq(clnas_folder_list_make(loop, 0, &l, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(l.nfiles, 1);
    clnas_folder_list_free(&l);
    /* not a folder of class folders */
    cr_assert_eq(clnas_folder_list_make("/no/such/clnas/dir", 0, &l, err, sizeof err), CLNAS_E_IO);
    cr_expect(strstr(err, "/no/such/clnas/dir"), "%s", err);
    char flat[512];
    snprintf(flat, sizeof flat, "%s/tree/cat", fixture());
    cr_assert_eq(clnas_folder_list_make(flat, 0, &l, err, sizeof err), CLNAS_E_IO);
    cr_expect(strstr(err, "no class sub-folders"), "%s", err);
    free(s);
}

Test(jpeg, folder_read_directly)
{
    int n, nok;
    sample *s = read_order(&n, &nok);
    char root[512], err[2048];
    snprintf(root, sizeof root, "%s/tree", fixture());
    clnas_dataset *d = NULL;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, root, &d, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_dataset_kind_of(d), CLNAS_DS_IMAGENET);
    cr_assert_eq(clnas_dataset_size(d), nok);
    cr_assert_eq(clnas_dataset_num_classes(d), 6, "class folders, the empty one included");
    cr_assert_eq(clnas_dataset_skipped(d), n - nok);
    const char *note = clnas_dataset_note(d);
    cr_assert(strstr(note, "4 files skipped") && strstr(note, "bad_trunc.JPEG") && strstr(note, "bad_png.JPEG"), "%s",
              note);
    int k = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i].ok) continue;
        cr_assert_eq(clnas_dataset_label(d, k), s[i].label, "label of %s", s[i].path);
        int nd, m = maxdiff_planar(clnas_dataset_image(d, k), pil32(k), &nd);
        cr_assert(m <= 1, "%s: up to %d grey levels from PIL's", s[i].path, m);
        worst = m > worst ? m : worst;
        k++;
    }
    fprintf(stderr, "  folder: %d images, %ld skipped, max diff from PIL %d\n", k, clnas_dataset_skipped(d), worst);
    clnas_dataset_destroy(d);
    /* nothing decodable left: an error that names what was skipped */
    char bad[512];
    snprintf(bad, sizeof bad, "%s/bad", fixture());
    d = (clnas_dataset *)0x1;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, bad, &d, err, sizeof err), CLNAS_E_IO);
    cr_assert_null(d);
    cr_expect(strstr(err, "no image could be decoded") && strstr(err, "x.JPEG") && strstr(err, "y.jpg"), "%s", err);
    free(s);
}

/* ---------------- clnas data convert, and reading the file back ---------------- */

Test(jpeg, convert_and_read_back)
{
    int n, nok;
    sample *s = read_order(&n, &nok);
    char *out = NULL;
    const char *file = convert("", "all.bin", &out);
    /* the skip message names the files; no progress bar when stderr is not a terminal */
    cr_expect(strstr(out, "4 files skipped") && strstr(out, "bad_zero.JPEG") && strstr(out, "empty file"), "%s", out);
    cr_expect(!strchr(out, '\r'), "progress printed although stderr is not a terminal:\n%s", out);
    cr_expect(strstr(out, "--dataset imagenet --data"), "%s", out);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s", file);
    /* the header: provenance in text, then the records */
    size_t len;
    uint8_t *raw = slurp(path, &len);
    const char *hdr = (const char *)raw, *end = strstr(hdr, "\n\n");
    cr_assert_not_null(end);
    size_t hb = (size_t)(end - hdr) + 2;
    cr_assert_eq(len, hb + (size_t)nok * REC, "file size %zu, header %zu + %d records", len, hb, nok);
    char want[700];
    snprintf(want, sizeof want, "images: %012d\n", nok);
    cr_expect(strstr(hdr, "CLNAS-IMAGE-RECORDS 1\n") == hdr, "magic");
    cr_expect(strstr(hdr, want) && strstr(hdr, "skipped: 000000000004\n") && strstr(hdr, "classes: 6\n") &&
              strstr(hdr, "size: 32\n") && strstr(hdr, "record_bytes: 3074\n") && strstr(hdr, "class: Zebra_empty\n") &&
              strstr(hdr, "BILINEAR") && strstr(hdr, "libjpeg-turbo") && strstr(hdr, "clnas: ") &&
              strstr(hdr, "date: 20") && strstr(hdr, "/tree\n"), "header:\n%.*s", (int)hb, hdr);
    /* labels are 2 bytes: record 0 is the first image of class 1 (class 0 is empty) */
    cr_assert_eq(raw[hb] | raw[hb + 1] << 8, 1);
    /* read back like the CIFAR files: the same as reading the folder directly */
    char err[2048], root[512];
    clnas_dataset *f = NULL, *d = NULL;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, path, &f, err, sizeof err), CLNAS_OK, "%s", err);
    snprintf(root, sizeof root, "%s/tree", fixture());
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, root, &d, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_dataset_size(f), nok);
    cr_assert_eq(clnas_dataset_num_classes(f), 6);
    cr_assert_eq(clnas_dataset_skipped(f), 4);
    cr_assert_str_eq(clnas_dataset_source(f), path);
    for (int i = 0; i < nok; i++) {
        cr_assert_eq(clnas_dataset_label(f, i), clnas_dataset_label(d, i));
        cr_assert_eq(memcmp(clnas_dataset_image(f, i), clnas_dataset_image(d, i), 3072), 0, "image %d", i);
    }
    clnas_dataset_destroy(d);
    /* `data info` reads the header and checks the size */
    char args[1024];
    snprintf(args, sizeof args, "data info '%s' --json 2>&1", path);
    cr_assert_eq(run_clnas(args, &out), 0, "%s", out);
    snprintf(want, sizeof want, "\"images\": %d", nok);
    cr_expect(strstr(out, want) && strstr(out, "\"classes\": 6") && strstr(out, "\"skipped\": 4") &&
              strstr(out, "\"Zebra_empty\""), "%s", out);
    free(out);
    /* no temporary file is left next to the output */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.tmp\\.' || true", fixture());
    tu_run(cmd, &out);
    cr_expect_eq(atoi(out), 0, "temporary files left in %s", fixture());
    free(out);
    /* --per-class 2 --threads 1: the first two files of every class, the same pixels */
    const char *sub = convert("--per-class 2 --threads 1 --quiet", "two.bin", &out);
    free(out);
    clnas_dataset *t = NULL;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, sub, &t, err, sizeof err), CLNAS_OK, "%s", err);
    int k = 0, kf = 0, in_class = 0;
    for (int i = 0; i < n; i++) {
        in_class = i && s[i].label == s[i - 1].label ? in_class + 1 : 0;
        if (in_class < 2 && s[i].ok) {
            cr_assert_eq(clnas_dataset_label(t, k), s[i].label);
            cr_assert_eq(memcmp(clnas_dataset_image(t, k), clnas_dataset_image(f, kf), 3072), 0, "%s", s[i].path);
            k++;
        }
        kf += s[i].ok;
    }
    cr_assert_eq(clnas_dataset_size(t), k);
    cr_assert_eq(clnas_dataset_skipped(t), 2, "bad_trunc (airplane) and bad_garbage (bird) are second in their class");
    clnas_dataset_destroy(t);
    clnas_dataset_destroy(f);
    free(raw);
    free(s);
}

/* The opt-in DCT-scaled decode: recorded as not PIL's pixels; how far it is, measured. */
Test(jpeg, dct_scale_is_labelled_and_measured)
{
    char *out = NULL;
    const char *exact = convert("--quiet", "exact.bin", &out);
    free(out);
    char e[600];
    snprintf(e, sizeof e, "%s", exact);
    const char *fast = convert("--quiet --dct-scale --json", "fast.bin", &out);
    cr_expect(strstr(out, "\"dct_scale\": true"), "%s", out);
    free(out);
    size_t len;
    uint8_t *raw = slurp(fast, &len);
    cr_expect(strstr((char *)raw, "NOT PIL's pixels"), "the header must say the pixels are not PIL's");
    free(raw);
    char err[1024];
    clnas_dataset *a = NULL, *b = NULL;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, e, &a, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, fast, &b, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(clnas_dataset_size(a), clnas_dataset_size(b));
    int worst = 0, changed = 0;
    double sum = 0;
    for (int i = 0; i < clnas_dataset_size(a); i++) {
        const uint8_t *x = clnas_dataset_image(a, i), *y = clnas_dataset_image(b, i);
        int m = 0;
        for (int p = 0; p < 3072; p++) {
            int dd = abs(x[p] - y[p]);
            sum += dd;
            m = dd > m ? dd : m;
        }
        worst = m > worst ? m : worst;
        changed += m > 0;
    }
    /* only images of at least 4 x 32 = 128 pixels a side are scaled; they differ, the others do not */
    cr_assert(changed > 0 && changed < clnas_dataset_size(a), "%d of %d images changed", changed, clnas_dataset_size(a));
    fprintf(stderr, "  --dct-scale: %d of %d images differ from PIL's, by up to %d grey levels (mean %.3f over all "
            "values)\n", changed, clnas_dataset_size(a), worst, sum / (3072.0 * clnas_dataset_size(a)));
    clnas_dataset_destroy(a);
    clnas_dataset_destroy(b);
}

/* ---------------- malformed record files ---------------- */

static void expect_load_error(const char *path, clnas_dataset_kind k, const char *must1, const char *must2)
{
    char err[2048] = "";
    clnas_dataset *d = (clnas_dataset *)0x1;
    cr_assert_eq(clnas_dataset_load(k, path, &d, err, sizeof err), CLNAS_E_IO, "%s should be refused", path);
    cr_assert_null(d);
    cr_expect(strstr(err, path), "the message should name the file: %s", err);
    cr_expect(!must1 || strstr(err, must1), "expected \"%s\" in: %s", must1, err);
    cr_expect(!must2 || strstr(err, must2), "expected \"%s\" in: %s", must2, err);
    fprintf(stderr, "  message: %s\n", err);
}

Test(jpeg, malformed_record_files)
{
    char *out = NULL, good[600];
    snprintf(good, sizeof good, "%s", convert("--quiet", "m.bin", &out));
    free(out);
    size_t len;
    uint8_t *raw = slurp(good, &len);
    size_t hb = (size_t)(strstr((char *)raw, "\n\n") - (char *)raw) + 2;
    char p[600], off[64];
    snprintf(p, sizeof p, "%s/bad.bin", fixture());
    /* cut inside the third record */
    spit(p, raw, hb + 2 * REC + 100);
    snprintf(off, sizeof off, "byte offset %zu", hb + 2 * REC);
    expect_load_error(p, CLNAS_DS_IMAGENET, "truncated", off);
    /* cut at a record boundary */
    spit(p, raw, hb + 5 * REC);
    snprintf(off, sizeof off, "byte offset %zu", hb + 5 * REC);
    expect_load_error(p, CLNAS_DS_IMAGENET, "missing", off);
    /* bytes after the last record */
    uint8_t *more = malloc(len + 7);
    memcpy(more, raw, len);
    memset(more + len, 0, 7);
    spit(p, more, len + 7);
    expect_load_error(p, CLNAS_DS_IMAGENET, "7 bytes after the last", NULL);
    free(more);
    /* a label out of range in record 3 */
    uint8_t *lab = malloc(len);
    memcpy(lab, raw, len);
    lab[hb + 3 * REC] = 6;
    lab[hb + 3 * REC + 1] = 0;
    spit(p, lab, len);
    snprintf(off, sizeof off, "record 3 at byte offset %zu has label 6", hb + 3 * REC);
    expect_load_error(p, CLNAS_DS_IMAGENET, off, "0..5");
    /* only the header */
    spit(p, raw, hb - 1);
    expect_load_error(p, CLNAS_DS_IMAGENET, "no end", NULL);
    /* header lines */
    char *text = malloc(len + 64);
    memcpy(text, raw, len);
    char *sz = strstr(text, "size: 32\n");
    cr_assert_not_null(sz);
    memcpy(sz, "size= 32\n", 9);
    spit(p, text, len);
    snprintf(off, sizeof off, "byte offset %ld", (long)(sz - text));
    expect_load_error(p, CLNAS_DS_IMAGENET, off, "key: value");
    memcpy(sz, "size: 3x\n", 9);
    spit(p, text, len);
    expect_load_error(p, CLNAS_DS_IMAGENET, "not a whole number", NULL);
    memcpy(sz, "sizz: 32\n", 9);
    spit(p, text, len);
    expect_load_error(p, CLNAS_DS_IMAGENET, "no \"size:\" line", NULL);
    memcpy(sz, "size: 16\n", 9);
    spit(p, text, len);
    expect_load_error(p, CLNAS_DS_IMAGENET, "record_bytes 3074", NULL);
    memcpy(text, "CLNAS-IMAGE-RECORDS 2", 21);
    memcpy(sz, "size: 32\n", 9);
    spit(p, text, len);
    expect_load_error(p, CLNAS_DS_IMAGENET, "version 2", NULL);
    free(text);
    /* a 16x16 conversion is not --dataset imagenet data */
    const char *small = convert("--quiet --size 16", "s16.bin", &out);
    free(out);
    expect_load_error(small, CLNAS_DS_IMAGENET, "16x16", "--size 32");
    /* the wrong kind either way round */
    expect_load_error(BUNDLED, CLNAS_DS_IMAGENET, "not a clnas image-record file", "--dataset cifar10");
    expect_load_error(good, CLNAS_DS_CIFAR10, "--dataset imagenet", NULL);
    spit(p, "", 0);
    expect_load_error(p, CLNAS_DS_IMAGENET, "empty", NULL);
    /* `data info` refuses a damaged file too, naming it */
    spit(p, raw, hb + REC / 2);
    char args[1024];
    snprintf(args, sizeof args, "data info '%s' 2>&1", p);
    cr_expect_eq(run_clnas(args, &out), 1, "%s", out);
    cr_expect(strstr(out, p) && strstr(out, "truncated"), "%s", out);
    free(out);
    free(lab);
    free(raw);
}

/* ---------------- the command ---------------- */

Test(jpeg, data_command_usage)
{
    char *out = NULL;
    cr_assert_eq(run_clnas("data --help 2>&1", &out), 0, "%s", out);
    const char *must[] = {"convert", "info", "--imagefolder", "--out", "--size", "--threads", "--per-class",
                          "--dct-scale", "--dataset imagenet --data", "skipped", "ImageFolder", "bilinear"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) cr_expect(strstr(out, must[i]), "help lacks %s", must[i]);
    free(out);
    cr_assert_eq(run_clnas("data convert --help 2>&1", &out), 0);
    free(out);
    cr_assert_eq(run_clnas("--help 2>&1", &out), 0);
    cr_expect(strstr(out, "data "), "clnas --help does not list data:\n%s", out);
    free(out);
    cr_expect_eq(run_clnas("data 2>&1", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run_clnas("data shuffle 2>&1", &out), 2, "%s", out);
    free(out);
    cr_expect_eq(run_clnas("data convert --out /tmp/x.bin 2>&1", &out), 2, "%s", out);
    cr_expect(strstr(out, "--imagefolder"), "%s", out);
    free(out);
    cr_expect_eq(run_clnas("data convert --imagefolder /tmp --out /tmp/x.bin --size 0 2>&1", &out), 2, "%s", out);
    free(out);
    /* nothing decodable: exit 1, the files named, no output file */
    char args[1024], o[600];
    snprintf(o, sizeof o, "%s/none.bin", fixture());
    snprintf(args, sizeof args, "data convert --imagefolder '%s/bad' --out '%s' 2>&1", fixture(), o);
    cr_expect_eq(run_clnas(args, &out), 1, "%s", out);
    cr_expect(strstr(out, "no image could be decoded") && strstr(out, "x.JPEG"), "%s", out);
    free(out);
    struct stat st;
    cr_expect(stat(o, &st) != 0, "%s was written although nothing could be decoded", o);
    snprintf(args, sizeof args, "data convert --imagefolder /no/such/clnas/dir --out '%s' 2>&1", o);
    cr_expect_eq(run_clnas(args, &out), 1, "%s", out);
    cr_expect(strstr(out, "/no/such/clnas/dir"), "%s", out);
    free(out);
}

/* ---------------- a score on converted ImageNet-style data, end to end ---------------- */

Test(jpeg, score_on_imagenet_data)
{
    char *out = NULL;
    const char *file = convert("--quiet", "score.bin", &out);
    free(out);
    char f[600], dump[600], args[2048];
    snprintf(f, sizeof f, "%s", file);
    snprintf(dump, sizeof dump, "%s/dump", fixture());
    snprintf(args, sizeof args, "score --arch " SP " --dataset imagenet --data '%s' --batch 8 --repeat 1 --lr-batch "
             "100 --lr-batches 1 --json --dump '%s' 2>/dev/null", f, dump);
    int rc = run_clnas(args, &out);
    cr_assert_eq(rc, 0, "clnas %s exited %d:\n%s", args, rc, out);
    cr_expect(strstr(out, "\"dataset\": \"imagenet\""), "%s", out);
    char *kap = strstr(out, "\"kappa_mean\": ");
    cr_assert_not_null(kap, "%s", out);
    double kappa = strtod(kap + 14, NULL);
    cr_expect(isfinite(kappa) && kappa >= 1, "kappa %g", kappa);
    /* the NTK proxy's classifier has one output per class folder (6), its inputs are 32x32 */
    char p[700], err[512];
    snprintf(p, sizeof p, "%s/ntk_weights.safetensors", dump);
    st_file *w = NULL;
    cr_assert_eq(st_open(p, &w, err, sizeof err), CLNAS_OK, "%s", err);
    st_dtype dt;
    int nd;
    int64_t sh[ST_MAX_DIMS];
    cr_assert_not_null(st_get(w, "classifier.weight", &dt, &nd, sh));
    cr_assert(nd == 2 && sh[0] == 6, "classifier.weight is [%lld, ...], expected 6 outputs", (long long)sh[0]);
    st_close(w);
    snprintf(p, sizeof p, "%s/inputs.safetensors", dump);
    st_file *in = NULL;
    cr_assert_eq(st_open(p, &in, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_str_eq(st_meta(in, "classes"), "6");
    cr_expect_str_eq(st_meta(in, "dataset"), "imagenet");
    const float *img = st_get(in, "ntk_images", &dt, &nd, sh);
    cr_assert(img && nd == 5 && sh[1] == 8 && sh[2] == 3 && sh[3] == 32 && sh[4] == 32, "ntk_images shape");
    /* every value is ((v / 255) - mean_c) / std_c with ImageNet's constants, for some byte v */
    const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
    for (int i = 0; i < 8 * 3 * 1024; i++) {
        int c = (i / 1024) % 3, found = 0;
        for (int v = 0; v < 256 && !found; v++)
            found = img[i] == ((float)v / 255.0f - (float)mean[c]) / (float)sd[c];
        cr_assert(found, "ntk_images[%d] = %.9g is no ImageNet-normalised byte of channel %d", i, img[i], c);
    }
    st_close(in);
    free(out);
    /* the folder read directly gives the same images, so the same kappa */
    snprintf(args, sizeof args, "score --arch " SP " --dataset imagenet --data '%s/tree' --batch 8 --repeat 1 "
             "--lr-batch 100 --lr-batches 1 --json 2>/dev/null", fixture());
    cr_assert_eq(run_clnas(args, &out), 0, "%s", out);
    kap = strstr(out, "\"kappa_mean\": ");
    cr_assert_not_null(kap, "%s", out);
    cr_expect_eq(strtod(kap + 14, NULL), kappa, "folder read directly: kappa %s vs %g from the file", kap + 14, kappa);
    free(out);
    /* the dump recomputes exactly (the proxies rebuilt with its 6 classes) */
    snprintf(args, sizeof args, "score --from '%s' --json 2>&1", dump);
    cr_assert_eq(run_clnas(args, &out), 0, "%s", out);
    kap = strstr(out, "\"kappa_mean\": ");
    cr_assert_not_null(kap, "%s", out);
    cr_expect_eq(strtod(kap + 14, NULL), kappa, "--from: kappa %s vs %g", kap + 14, kappa);
    free(out);
}

/* The samplers on ImageNet data: TE-NAS's NTK batch and LR patches with ImageNet's constants. */
Test(jpeg, samplers_on_imagenet_data)
{
    char root[512], err[1024];
    snprintf(root, sizeof root, "%s/tree", fixture());
    clnas_dataset *d = NULL;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_IMAGENET, root, &d, err, sizeof err), CLNAS_OK, "%s", err);
    const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) lut[c][v] = ((float)v / 255.0f - (float)mean[c]) / (float)sd[c];
    clnas_sampler *s = NULL;
    cr_assert_eq(clnas_sampler_create(d, 3, 0, &s), CLNAS_OK);
    enum { B = 12 };
    float *x = malloc(sizeof(float) * B * 3072);
    int idx[B];
    clnas_sampler_batch(s, B, 0, x, idx); /* no augmentation: the images themselves, normalised */
    for (int i = 0; i < B; i++) {
        const uint8_t *img = clnas_dataset_image(d, idx[i]);
        for (int p = 0; p < 3072; p++)
            cr_assert_eq(x[(size_t)i * 3072 + (size_t)p], lut[p / 1024][img[p]], "image %d value %d", idx[i], p);
    }
    /* with augmentation: a flip and a shift within the pad of 4, zeros (normalised) outside */
    clnas_sampler_batch(s, B, 1, x, idx);
    for (int i = 0; i < B; i++) {
        const uint8_t *img = clnas_dataset_image(d, idx[i]);
        int found = 0;
        for (int flip = 0; flip < 2 && !found; flip++)
            for (int dy = -4; dy <= 4 && !found; dy++)
                for (int dx = -4; dx <= 4 && !found; dx++) {
                    int ok = 1;
                    for (int c = 0; c < 3 && ok; c++)
                        for (int y = 0; y < 32 && ok; y++)
                            for (int xx = 0; xx < 32 && ok; xx++) {
                                int sy = y + dy, sx = xx + dx;
                                int v = sy < 0 || sy > 31 || sx < 0 || sx > 31 ? 0 : img[c * 1024 + sy * 32 + (flip ? 31 - sx : sx)];
                                ok = x[(size_t)i * 3072 + (size_t)(c * 1024 + y * 32 + xx)] == lut[c][v];
                            }
                    found = ok;
                }
        cr_assert(found, "augmented image %d is no flip/crop of image %d", i, idx[i]);
    }
    /* patches: 1x3x3 windows of one channel, ImageNet-normalised */
    float p[100 * 9];
    clnas_sampler_patches(s, 100, p);
    for (int i = 0; i < 100 * 9; i++) {
        int found = 0;
        for (int c = 0; c < 3 && !found; c++)
            for (int v = 0; v < 256 && !found; v++) found = p[i] == lut[c][v];
        cr_assert(found, "patch value %d = %g", i, p[i]);
    }
    free(x);
    clnas_sampler_destroy(s);
    clnas_dataset_destroy(d);
}
