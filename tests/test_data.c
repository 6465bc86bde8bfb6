/* test_data.c - clnas/data.h: dataset kinds and constants, the bundled CIFAR-10 subset, the
 * readers' error messages (truncated, wrong label, missing, empty, wrong kind), folders,
 * CIFAR-100 and ImageNet16 record files, and both samplers checked against independent
 * computations in this file (augmentation candidates, patch windows found by brute force,
 * patch epochs on a synthetic set whose pixels encode the image number). Also runs
 * tools/imagenet16_convert.py --self-test and an end-to-end conversion with /usr/bin/python3
 * when it exists. Needs no OpenCL device. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clnas/data.h"
#include "internal.h"

#ifndef CLNAS_DATA_DIR
#error "CMake defines CLNAS_DATA_DIR as the source tree's data/"
#endif
#define BUNDLED CLNAS_DATA_DIR "/cifar10/train_10k.bin"
#define CONVERTER CLNAS_DATA_DIR "/../tools/imagenet16_convert.py"
#define PY "/usr/bin/python3"
#define REC10 3073
#define REC100 3074
#define REC16 769
/* Golden values of the documented draw order (seed 1, stream 0, the bundled set): the first
 * batch of 72 (augment 1) and the first 3000 patches, as FNV-1a-64 of the little-endian
 * floats. They were reproduced independently by a NumPy reimplementation of the order
 * documented in src/data/sampler.c (PCG32 in Python, float32 normalisation); any change to
 * the sampling algorithm changes them and must be deliberate. */
#define GOLD_I0 8737
#define GOLD_I1 5204
#define GOLD_ILAST 7625
#define GOLD_BATCH_HASH 0x59313ed784104b5bULL
#define GOLD_PATCH_HASH 0x4e22d4df9b71ce59ULL

/* ---- helpers ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    cr_assert(n >= 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
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

static char *tmpdir(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/clnas_test_data_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    return dir;
}

/* Removes a temp folder and the plain files and subfolders in it. */
static void rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) rmtree(p);
        else remove(p);
    }
    closedir(d);
    rmdir(dir);
}

static uint8_t *bundled_raw(size_t *len)
{
    uint8_t *b = slurp(BUNDLED, len);
    cr_assert_eq(*len, (size_t)10000 * REC10);
    return b;
}

static clnas_dataset *load_ok(clnas_dataset_kind k, const char *path)
{
    char err[1024];
    clnas_dataset *d = NULL;
    clnas_status st = clnas_dataset_load(k, path, &d, err, sizeof err);
    cr_assert_eq(st, CLNAS_OK, "load %s: %s", path ? path : "(bundled)", err);
    cr_assert_not_null(d);
    return d;
}

/* Expects CLNAS_E_IO and returns the message in err. */
static void load_fail(clnas_dataset_kind k, const char *path, char *err, size_t len)
{
    clnas_dataset *d = (clnas_dataset *)0x1;
    clnas_status st = clnas_dataset_load(k, path, &d, err, len);
    cr_assert_eq(st, CLNAS_E_IO, "load %s: expected CLNAS_E_IO, got %d", path ? path : "(null)", st);
    cr_assert_null(d);
    cr_assert(strlen(err) > 0);
    fprintf(stderr, "  message: %s\n", err);
}

/* The test's own normalisation constants and table (TENAS.md §6), float32 as torchvision. */
static const double MEAN255[3][3] = {{125.3, 123.0, 113.9}, {129.3, 124.1, 112.4}, {122.68, 116.66, 104.01}};
static const double STD255[3][3] = {{63.0, 62.1, 66.7}, {68.2, 65.4, 70.4}, {63.22, 61.26, 65.09}};
static float LUT[3][256];
static void make_lut(clnas_dataset_kind k)
{
    for (int c = 0; c < 3; c++) {
        float m = (float)(MEAN255[k][c] / 255.0), s = (float)(STD255[k][c] / 255.0);
        for (int v = 0; v < 256; v++) LUT[c][v] = ((float)v / 255.0f - m) / s;
    }
}
/* The byte whose normalised value in channel c is exactly x, or -1. */
static int unlut(int c, float x)
{
    for (int v = 0; v < 256; v++)
        if (LUT[c][v] == x) return v;
    return -1;
}

/* FNV-1a-64 of n floats as little-endian IEEE bytes (the same on every host). */
static uint64_t fnv_floats(const float *x, size_t n)
{
    uint64_t h = CLNAS_FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        h = clnas_fnv1a64(h, b, 4);
    }
    return h;
}

/* ---- kinds ---- */

Test(data, kinds_and_constants)
{
    clnas_dataset_kind k;
    cr_assert_eq(clnas_dataset_parse_kind("cifar10", &k), CLNAS_OK);
    cr_assert_eq(k, CLNAS_DS_CIFAR10);
    cr_assert_eq(clnas_dataset_parse_kind("cifar100", &k), CLNAS_OK);
    cr_assert_eq(k, CLNAS_DS_CIFAR100);
    cr_assert_eq(clnas_dataset_parse_kind("imagenet16", &k), CLNAS_OK);
    cr_assert_eq(k, CLNAS_DS_IMAGENET16);
    k = CLNAS_DS_CIFAR10;
    cr_assert_eq(clnas_dataset_parse_kind("ImageNet16-120", &k), CLNAS_OK);
    cr_assert_eq(k, CLNAS_DS_IMAGENET16);
    cr_assert_eq(clnas_dataset_parse_kind("mnist", &k), CLNAS_E_INVALID_ARG);
    cr_assert_eq(clnas_dataset_parse_kind("", &k), CLNAS_E_INVALID_ARG);
    cr_assert_eq(clnas_dataset_parse_kind("cifar1000", &k), CLNAS_E_INVALID_ARG);
    const int cls[3] = {10, 100, 120}, hw[3] = {32, 32, 16}, pad[3] = {4, 4, 2};
    const char *names[3] = {"cifar10", "cifar100", "imagenet16"};
    for (int i = 0; i < 3; i++) {
        clnas_dataset_kind ki = (clnas_dataset_kind)i;
        cr_assert_str_eq(clnas_dataset_name(ki), names[i]);
        cr_assert_eq(clnas_dataset_parse_kind(names[i], &k), CLNAS_OK);
        cr_assert_eq(k, ki);
        cr_assert_eq(clnas_dataset_classes(ki), cls[i]);
        cr_assert_eq(clnas_dataset_hw(ki), hw[i]);
        cr_assert_eq(clnas_dataset_pad(ki), pad[i]);
        float m[3], s[3];
        clnas_dataset_norm(ki, m, s);
        for (int c = 0; c < 3; c++) {
            cr_assert_eq(m[c], (float)(MEAN255[i][c] / 255.0), "%s mean[%d]", names[i], c);
            cr_assert_eq(s[c], (float)(STD255[i][c] / 255.0), "%s std[%d]", names[i], c);
        }
    }
    /* ImageNet-1k (TENAS.md §6): 1000 classes at 32x32, pad 4, its constants already in [0, 1] */
    static const char *const in_names[] = {"imagenet", "ImageNet", "imagenet-1k", "ImageNet1k"};
    for (int i = 0; i < 4; i++) {
        k = CLNAS_DS_CIFAR10;
        cr_assert_eq(clnas_dataset_parse_kind(in_names[i], &k), CLNAS_OK, "%s", in_names[i]);
        cr_assert_eq(k, CLNAS_DS_IMAGENET, "%s", in_names[i]);
    }
    cr_assert_str_eq(clnas_dataset_name(CLNAS_DS_IMAGENET), "imagenet");
    cr_assert_eq(clnas_dataset_classes(CLNAS_DS_IMAGENET), 1000);
    cr_assert_eq(clnas_dataset_hw(CLNAS_DS_IMAGENET), 32);
    cr_assert_eq(clnas_dataset_pad(CLNAS_DS_IMAGENET), 4);
    float m[3], sd[3];
    const double in_mean[3] = {0.485, 0.456, 0.406}, in_std[3] = {0.229, 0.224, 0.225};
    clnas_dataset_norm(CLNAS_DS_IMAGENET, m, sd);
    for (int c = 0; c < 3; c++) {
        cr_assert_eq(m[c], (float)in_mean[c], "imagenet mean[%d]", c);
        cr_assert_eq(sd[c], (float)in_std[c], "imagenet std[%d]", c);
    }
    cr_assert_eq(clnas_dataset_parse_kind("imagenet-22k", &k), CLNAS_E_INVALID_ARG);
    /* no ImageNet is bundled: the message says how to give one */
    char err[1024];
    load_fail(CLNAS_DS_IMAGENET, NULL, err, sizeof err);
    cr_expect(strstr(err, "clnas data convert") && strstr(err, "--data"), "%s", err);
}

/* ---- the bundled set ---- */

Test(data, bundled_cifar10)
{
    char p[4096];
    cr_assert_eq(clnas_data_path("cifar10/train_10k.bin", p, sizeof p, NULL, 0), CLNAS_OK);
    cr_assert(strstr(p, "train_10k.bin"));
    char why[600] = "";
    cr_assert_eq(clnas_data_path("cifar10/no_such_file.bin", p, sizeof p, why, sizeof why), CLNAS_E_IO);
    cr_expect(strstr(why, "cifar10/no_such_file.bin") && strstr(why, "CLNAS_DATA_DIR"), "%s", why);

    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    cr_assert_eq(clnas_dataset_size(d), 10000);
    cr_assert_eq(clnas_dataset_kind_of(d), CLNAS_DS_CIFAR10);
    cr_assert(strstr(clnas_dataset_source(d), "cifar10/train_10k.bin"), "source %s",
              clnas_dataset_source(d));
    /* a loaded set's own class count (the classifier width): the kind's for CIFAR */
    cr_assert_eq(clnas_dataset_num_classes(d), 10);
    cr_assert_eq(clnas_dataset_skipped(d), 0);
    cr_assert_str_eq(clnas_dataset_note(d), "");
    cr_assert_eq(clnas_dataset_num_classes(NULL), 0);
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    int count[10] = {0};
    for (int i = 0; i < 10000; i++) {
        int l = clnas_dataset_label(d, i);
        cr_assert(l >= 0 && l <= 9, "label %d of image %d", l, i);
        cr_assert_eq(l, raw[(size_t)i * REC10]);
        count[l]++;
        cr_assert_eq(memcmp(clnas_dataset_image(d, i), raw + (size_t)i * REC10 + 1, 3072), 0,
                     "pixels of image %d", i);
    }
    for (int c = 0; c < 10; c++) cr_assert_eq(count[c], 1000, "class %d has %d images", c, count[c]);
    cr_assert_null(clnas_dataset_image(d, 10000));
    cr_assert_null(clnas_dataset_image(d, -1));
    free(raw);
    clnas_dataset_destroy(d);
    clnas_dataset_destroy(NULL);
}

Test(data, data_dir_env_overrides)
{
    char *dir = tmpdir(), sub[256], f[300];
    snprintf(sub, sizeof sub, "%s/cifar10", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(f, sizeof f, "%s/train_10k.bin", sub);
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    spit(f, raw, 5 * REC10);
    cr_assert_eq(setenv("CLNAS_DATA_DIR", dir, 1), 0);
    char p[4096];
    cr_assert_eq(clnas_data_path("cifar10/train_10k.bin", p, sizeof p, NULL, 0), CLNAS_OK);
    cr_assert_str_eq(p, f);
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    cr_assert_eq(clnas_dataset_size(d), 5);
    cr_assert_str_eq(clnas_dataset_source(d), f);
    clnas_dataset_destroy(d);
    /* a data dir without the file falls through to the source tree's */
    remove(f);
    d = load_ok(CLNAS_DS_CIFAR10, NULL);
    cr_assert_eq(clnas_dataset_size(d), 10000);
    clnas_dataset_destroy(d);
    unsetenv("CLNAS_DATA_DIR");
    free(raw);
    rmtree(dir);
}

/* Normalised with the sampler (augment 0, B = N: every image once), per channel. */
Test(data, normalised_statistics_and_full_permutation)
{
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    clnas_sampler *s;
    cr_assert_eq(clnas_sampler_create(d, 1, 0, &s), CLNAS_OK);
    const int N = 10000;
    float *x = malloc((size_t)N * 3072 * sizeof(float));
    int *idx = malloc(N * sizeof(int));
    char *seen = calloc(N, 1);
    cr_assert(x && idx && seen);
    clnas_sampler_batch(s, N, 0, x, idx);
    for (int i = 0; i < N; i++) {
        cr_assert(idx[i] >= 0 && idx[i] < N);
        cr_assert_eq(seen[idx[i]], 0, "image %d drawn twice in a batch of N", idx[i]);
        seen[idx[i]] = 1;
    }
    for (int c = 0; c < 3; c++) {
        double sum = 0, sq = 0;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < 1024; k++) {
                double v = x[(size_t)i * 3072 + (size_t)c * 1024 + (size_t)k];
                sum += v;
                sq += v * v;
            }
        double cnt = (double)N * 1024, mean = sum / cnt, sd = sqrt(sq / cnt - mean * mean);
        fprintf(stderr, "  channel %d: mean %+.4f std %.4f\n", c, mean, sd);
        cr_assert(fabs(mean) < 0.05, "channel %d mean %g", c, mean);
        cr_assert(fabs(sd - 1.0) < 0.05, "channel %d std %g", c, sd);
    }
    free(x);
    free(idx);
    free(seen);
    clnas_sampler_destroy(s);
    clnas_dataset_destroy(d);
}

/* ---- errors ---- */

Test(data, truncated_file)
{
    char *dir = tmpdir(), f[300], err[1024];
    snprintf(f, sizeof f, "%s/short.bin", dir);
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    spit(f, raw, 10 * REC10 - 3);
    load_fail(CLNAS_DS_CIFAR10, f, err, sizeof err);
    cr_assert(strstr(err, f), "%s", err);
    cr_assert(strstr(err, "30727 bytes"), "%s", err);
    cr_assert(strstr(err, "offset 27657"), "%s", err); /* 9 whole records */

    /* the full file less one byte: the message of the documentation, verbatim */
    spit(f, raw, len - 1);
    load_fail(CLNAS_DS_CIFAR10, f, err, sizeof err);
    char want[512];
    snprintf(want, sizeof want,
             "%s: 30729999 bytes is not a whole number of 3073-byte CIFAR-10 records: the last "
             "record is truncated at offset 30726927",
             f);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "got: %s\nwant: %s", err, want);
    free(raw);
    rmtree(dir);
}

Test(data, wrong_label_suggests_cifar100)
{
    char *dir = tmpdir(), f[300], err[1024];
    snprintf(f, sizeof f, "%s/labels.bin", dir);
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    raw[17 * REC10] = 200;
    spit(f, raw, 20 * REC10);
    load_fail(CLNAS_DS_CIFAR10, f, err, sizeof err);
    cr_assert(strstr(err, f), "%s", err);
    cr_assert(strstr(err, "record 17 at byte offset 52241 has label 200, expected 0..9"), "%s", err);
    cr_assert(strstr(err, "--dataset cifar100"), "%s", err);
    free(raw);
    rmtree(dir);
}

Test(data, missing_empty_and_wrong_kind)
{
    char *dir = tmpdir(), f[300], err[1024];
    snprintf(f, sizeof f, "%s/nope.bin", dir);
    load_fail(CLNAS_DS_CIFAR10, f, err, sizeof err);
    cr_assert(strstr(err, f), "%s", err);
    cr_assert(strstr(err, strerror(ENOENT)), "%s", err);

    spit(f, "", 0);
    load_fail(CLNAS_DS_CIFAR10, f, err, sizeof err);
    cr_assert(strstr(err, f) && strstr(err, "empty"), "%s", err);

    /* a CIFAR-10 file read as CIFAR-100: the size does not fit, and the hint names cifar10 */
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    spit(f, raw, 50 * REC10);
    load_fail(CLNAS_DS_CIFAR100, f, err, sizeof err);
    cr_assert(strstr(err, f) && strstr(err, "3074-byte CIFAR-100"), "%s", err);
    cr_assert(strstr(err, "--dataset cifar10"), "%s", err);

    /* err may be NULL */
    clnas_dataset *d;
    cr_assert_eq(clnas_dataset_load(CLNAS_DS_CIFAR10, "/no/such/clnas/file", &d, NULL, 0), CLNAS_E_IO);
    free(raw);
    rmtree(dir);
}

Test(data, null_path_for_other_kinds)
{
    char err[1024];
    load_fail(CLNAS_DS_CIFAR100, NULL, err, sizeof err);
    cr_assert(strstr(err, "--data"), "%s", err);
    cr_assert(strstr(err, "CIFAR-10"), "%s", err);
    load_fail(CLNAS_DS_IMAGENET16, NULL, err, sizeof err);
    cr_assert(strstr(err, "--data"), "%s", err);
    cr_assert(strstr(err, "imagenet16_convert.py"), "%s", err);
}

/* ---- folders and other layouts ---- */

Test(data, cifar10_folder)
{
    char *dir = tmpdir(), f[300], err[1024];
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    load_fail(CLNAS_DS_CIFAR10, dir, err, sizeof err);
    cr_assert(strstr(err, dir) && strstr(err, "data_batch_1.bin"), "%s", err);

    snprintf(f, sizeof f, "%s/data_batch_1.bin", dir);
    spit(f, raw, 300 * REC10);
    snprintf(f, sizeof f, "%s/data_batch_2.bin", dir);
    spit(f, raw + 300 * REC10, 200 * REC10);
    snprintf(f, sizeof f, "%s/data_batch_4.bin", dir);
    spit(f, raw + 500 * REC10, 7 * REC10);
    snprintf(f, sizeof f, "%s/unrelated.bin", dir);
    spit(f, raw, 3);
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, dir);
    cr_assert_eq(clnas_dataset_size(d), 507);
    cr_assert_str_eq(clnas_dataset_source(d), dir);
    for (int i = 0; i < 507; i++) {
        cr_assert_eq(clnas_dataset_label(d, i), raw[(size_t)i * REC10]);
        cr_assert_eq(memcmp(clnas_dataset_image(d, i), raw + (size_t)i * REC10 + 1, 3072), 0, "image %d", i);
    }
    clnas_dataset_destroy(d);

    /* an error in the second file names that file */
    snprintf(f, sizeof f, "%s/data_batch_2.bin", dir);
    spit(f, raw, 2 * REC10 + 5);
    load_fail(CLNAS_DS_CIFAR10, dir, err, sizeof err);
    cr_assert(strstr(err, f) && strstr(err, "offset 6146"), "%s", err);
    free(raw);
    rmtree(dir);
}

Test(data, cifar100_fine_labels)
{
    char *dir = tmpdir(), f[300], err[1024];
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    const int n = 60;
    uint8_t *buf = malloc((size_t)n * REC100);
    cr_assert_not_null(buf);
    for (int i = 0; i < n; i++) {
        buf[(size_t)i * REC100] = (uint8_t)(i % 20);            /* coarse */
        buf[(size_t)i * REC100 + 1] = (uint8_t)((i * 37) % 100); /* fine */
        memcpy(buf + (size_t)i * REC100 + 2, raw + (size_t)i * REC10 + 1, 3072);
    }
    snprintf(f, sizeof f, "%s/train.bin", dir);
    spit(f, buf, (size_t)n * REC100);
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR100, f);
    cr_assert_eq(clnas_dataset_size(d), n);
    cr_assert_eq(clnas_dataset_kind_of(d), CLNAS_DS_CIFAR100);
    cr_assert_eq(clnas_dataset_num_classes(d), 100);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(clnas_dataset_label(d, i), (i * 37) % 100, "fine label of %d", i);
        cr_assert_eq(memcmp(clnas_dataset_image(d, i), raw + (size_t)i * REC10 + 1, 3072), 0);
    }
    clnas_dataset_destroy(d);
    d = load_ok(CLNAS_DS_CIFAR100, dir); /* the folder form finds train.bin */
    cr_assert_eq(clnas_dataset_size(d), n);
    clnas_dataset_destroy(d);

    buf[5 * REC100 + 1] = 100;
    spit(f, buf, (size_t)n * REC100);
    load_fail(CLNAS_DS_CIFAR100, f, err, sizeof err);
    cr_assert(strstr(err, "record 5 at byte offset 15370 has label 100, expected 0..99"), "%s", err);
    free(buf);
    free(raw);
    rmtree(dir);
}

static uint8_t *imagenet16_records(int n, const uint8_t *raw)
{
    uint8_t *buf = malloc((size_t)n * REC16);
    cr_assert_not_null(buf);
    for (int i = 0; i < n; i++) {
        buf[(size_t)i * REC16] = (uint8_t)((i * 7) % 120);
        /* a 16x16 corner of bundled image i, per plane */
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 16; y++)
                memcpy(buf + (size_t)i * REC16 + 1 + (size_t)c * 256 + (size_t)y * 16,
                       raw + (size_t)i * REC10 + 1 + (size_t)c * 1024 + (size_t)y * 32 + 8, 16);
    }
    return buf;
}

Test(data, imagenet16_records_and_folder)
{
    char *dir = tmpdir(), f[300], err[1024];
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    const int n = 40;
    uint8_t *buf = imagenet16_records(n, raw);
    snprintf(f, sizeof f, "%s/in16.bin", dir);
    spit(f, buf, (size_t)n * REC16);
    clnas_dataset *d = load_ok(CLNAS_DS_IMAGENET16, f);
    cr_assert_eq(clnas_dataset_size(d), n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(clnas_dataset_label(d, i), (i * 7) % 120);
        cr_assert_eq(memcmp(clnas_dataset_image(d, i), buf + (size_t)i * REC16 + 1, 768), 0);
    }
    clnas_dataset_destroy(d);
    remove(f);

    /* folder of train_N.bin in numeric order: 1, 2, 10 */
    snprintf(f, sizeof f, "%s/train_10.bin", dir);
    spit(f, buf + 30 * REC16, 10 * REC16);
    snprintf(f, sizeof f, "%s/train_2.bin", dir);
    spit(f, buf + 10 * REC16, 20 * REC16);
    snprintf(f, sizeof f, "%s/train_1.bin", dir);
    spit(f, buf, 10 * REC16);
    d = load_ok(CLNAS_DS_IMAGENET16, dir);
    cr_assert_eq(clnas_dataset_size(d), n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(memcmp(clnas_dataset_image(d, i), buf + (size_t)i * REC16 + 1, 768), 0,
                     "image %d out of order", i);
    clnas_dataset_destroy(d);

    /* a 1000-class label */
    buf[3 * REC16] = 130;
    snprintf(f, sizeof f, "%s/train_1.bin", dir);
    spit(f, buf, 10 * REC16);
    load_fail(CLNAS_DS_IMAGENET16, dir, err, sizeof err);
    cr_assert(strstr(err, f) && strstr(err, "record 3 at byte offset 2307 has label 130"), "%s", err);
    cr_assert(strstr(err, "imagenet16_convert.py"), "%s", err);
    free(buf);
    free(raw);
    rmtree(dir);
}

/* ---- NTK batches ---- */

Test(data, batch_determinism_and_golden)
{
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    const int B = 72;
    const size_t n = (size_t)B * 3072;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    int ia[72], ib[72];
    cr_assert(a && b);
    clnas_sampler *s1, *s2, *s3, *s4;
    cr_assert_eq(clnas_sampler_create(d, 42, 7, &s1), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 42, 7, &s2), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 43, 7, &s3), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 42, 8, &s4), CLNAS_OK);
    clnas_sampler_batch(s1, B, 1, a, ia);
    clnas_sampler_batch(s2, B, 1, b, ib);
    cr_assert_eq(memcmp(a, b, n * sizeof(float)), 0, "same seed, different batch");
    cr_assert_eq(memcmp(ia, ib, sizeof ia), 0);
    /* patches in between do not disturb the batch generator */
    float p[9 * 10];
    clnas_sampler_patches(s2, 10, p);
    clnas_sampler_batch(s1, B, 1, a, ia);
    clnas_sampler_batch(s2, B, 1, b, ib);
    cr_assert_eq(memcmp(a, b, n * sizeof(float)), 0, "patches disturbed the batches");
    clnas_sampler_batch(s3, B, 1, b, ib);
    cr_assert_neq(memcmp(a, b, n * sizeof(float)), 0, "different seed, same batch");
    clnas_sampler_batch(s4, B, 1, b, ib);
    cr_assert_neq(memcmp(a, b, n * sizeof(float)), 0, "different stream, same batch");

    /* golden: pins the documented order of draws (seed 1, stream 0, first batch) */
    clnas_sampler *g;
    cr_assert_eq(clnas_sampler_create(d, 1, 0, &g), CLNAS_OK);
    clnas_sampler_batch(g, B, 1, a, ia);
    uint64_t h = fnv_floats(a, n);
    fprintf(stderr, "  golden batch: idx %d %d %d ... %d, hash %016llx\n", ia[0], ia[1], ia[2],
            ia[B - 1], (unsigned long long)h);
    cr_assert_eq(ia[0], GOLD_I0);
    cr_assert_eq(ia[1], GOLD_I1);
    cr_assert_eq(ia[B - 1], GOLD_ILAST);
    cr_assert_eq(h, GOLD_BATCH_HASH);
    clnas_sampler_destroy(g);
    clnas_sampler_destroy(s1);
    clnas_sampler_destroy(s2);
    clnas_sampler_destroy(s3);
    clnas_sampler_destroy(s4);
    free(a);
    free(b);
    clnas_dataset_destroy(d);
}

Test(data, batch_distinct_indices)
{
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    clnas_sampler *s;
    cr_assert_eq(clnas_sampler_create(d, 5, 0, &s), CLNAS_OK);
    const int B = 72, R = 300;
    float *x = malloc((size_t)B * 3072 * sizeof(float));
    cr_assert_not_null(x);
    int idx[72], hits[10] = {0}, prev0 = -1, same_first = 0;
    for (int r = 0; r < R; r++) {
        clnas_sampler_batch(s, B, 0, x, idx);
        for (int i = 0; i < B; i++) {
            cr_assert(idx[i] >= 0 && idx[i] < 10000);
            for (int j = 0; j < i; j++) cr_assert_neq(idx[i], idx[j], "repeat in batch %d", r);
            hits[idx[i] / 1000]++;
        }
        if (idx[0] == prev0) same_first++;
        prev0 = idx[0];
    }
    cr_assert(same_first < 3, "batches are not fresh");
    /* each tenth of the index range gets ~2160 of the 21600 draws */
    for (int k = 0; k < 10; k++) cr_assert(hits[k] > 1900 && hits[k] < 2420, "bucket %d: %d", k, hits[k]);
    clnas_sampler_destroy(s);
    free(x);
    clnas_dataset_destroy(d);
}

/* Candidate output of image img for (flip, top, left), computed here independently. */
static void candidate(const uint8_t *img, int hw, int pad, int flip, int top, int left, float *o)
{
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < hw; y++)
            for (int x = 0; x < hw; x++) {
                /* the padded image has hw + 2 pad rows; the crop starts at (top, left) */
                int py = y + top, px = x + left; /* in padded coordinates */
                int v = 0;
                if (py >= pad && py < pad + hw && px >= pad && px < pad + hw) {
                    int fx = px - pad;
                    v = img[(size_t)c * hw * hw + (size_t)(py - pad) * hw + (size_t)(flip ? hw - 1 - fx : fx)];
                }
                o[(size_t)c * hw * hw + (size_t)y * hw + (size_t)x] = LUT[c][v];
            }
}

static void check_augmentation(clnas_dataset *d, int batches, int B, int check_hist)
{
    clnas_dataset_kind k = clnas_dataset_kind_of(d);
    make_lut(k);
    const int hw = clnas_dataset_hw(k), pad = clnas_dataset_pad(k), nofs = 2 * pad + 1;
    const size_t isz = 3 * (size_t)hw * hw;
    float *x = malloc((size_t)B * isz * sizeof(float)), *cand = malloc(isz * sizeof(float));
    int *idx = malloc((size_t)B * sizeof(int));
    cr_assert(x && cand && idx);
    clnas_sampler *s;
    cr_assert_eq(clnas_sampler_create(d, 11, 3, &s), CLNAS_OK);

    /* augment 0: plain normalisation of image idx */
    clnas_sampler_batch(s, B, 0, x, idx);
    for (int i = 0; i < B; i++) {
        candidate(clnas_dataset_image(d, idx[i]), hw, pad, 0, pad, pad, cand);
        cr_assert_eq(memcmp(x + (size_t)i * isz, cand, isz * sizeof(float)), 0, "augment 0, image %d", i);
    }

    /* augment 1: one of the 2 (2 pad + 1)^2 candidates, exactly */
    int flips = 0, unamb = 0, tops[9] = {0}, lefts[9] = {0}, padded = 0;
    for (int r = 0; r < batches; r++) {
        clnas_sampler_batch(s, B, 1, x, idx);
        for (int i = 0; i < B; i++) {
            const uint8_t *img = clnas_dataset_image(d, idx[i]);
            int matches = 0, mf = 0, mt = 0, ml = 0;
            for (int f = 0; f < 2; f++)
                for (int t = 0; t < nofs; t++)
                    for (int l = 0; l < nofs; l++) {
                        candidate(img, hw, pad, f, t, l, cand);
                        if (memcmp(x + (size_t)i * isz, cand, isz * sizeof(float)) == 0) {
                            if (!matches) mf = f, mt = t, ml = l;
                            matches++;
                        }
                    }
            cr_assert(matches > 0, "batch %d image %d (index %d) matches no flip/crop candidate", r, i, idx[i]);
            if (matches == 1) {
                unamb++;
                flips += mf;
                tops[mt]++;
                lefts[ml]++;
                if (mt != pad || ml != pad) padded++;
            }
        }
    }
    fprintf(stderr, "  %s: %d augmented images, %d unambiguous, flip rate %.3f, shifted %d\n",
            clnas_dataset_name(k), batches * B, unamb, unamb ? (double)flips / unamb : 0.0, padded);
    if (check_hist) {
        cr_assert(unamb > batches * B * 9 / 10);
        double fr = (double)flips / unamb;
        cr_assert(fr > 0.45 && fr < 0.55, "flip rate %g", fr);
        for (int t = 0; t < nofs; t++) {
            double e = (double)unamb / nofs;
            fprintf(stderr, "  offset %d: top %d left %d (expected %.0f)\n", t, tops[t], lefts[t], e);
            cr_assert(fabs(tops[t] - e) < 0.2 * e && fabs(lefts[t] - e) < 0.2 * e, "offset %d", t);
        }
    }
    clnas_sampler_destroy(s);
    free(x);
    free(cand);
    free(idx);
}

Test(data, batch_augmentation_matches_a_candidate)
{
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    check_augmentation(d, 50, 64, 1);
    clnas_dataset_destroy(d);
}

Test(data, batch_augmentation_imagenet16)
{
    char *dir = tmpdir(), f[300];
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    uint8_t *buf = imagenet16_records(500, raw);
    snprintf(f, sizeof f, "%s/train.bin", dir);
    spit(f, buf, 500 * (size_t)REC16);
    clnas_dataset *d = load_ok(CLNAS_DS_IMAGENET16, dir);
    check_augmentation(d, 40, 50, 1);
    clnas_dataset_destroy(d);
    free(buf);
    free(raw);
    rmtree(dir);
}

/* ---- LR patches ---- */

/* Finds (image, channel, top, left) whose normalised 3x3 window equals p exactly; returns
 * the number of images holding it (stops counting at 2), the first in *img. */
static int find_window(const clnas_dataset *d, const float *p, int *img, int *chan)
{
    const int hw = clnas_dataset_hw(clnas_dataset_kind_of(d)), N = clnas_dataset_size(d);
    int found = 0;
    for (int c = 0; c < 3; c++) {
        int v[9], ok = 1;
        for (int k = 0; k < 9; k++)
            if ((v[k] = unlut(c, p[k])) < 0) ok = 0;
        if (!ok) continue;
        for (int i = 0; i < N; i++) {
            const uint8_t *pl = clnas_dataset_image(d, i) + (size_t)c * hw * hw;
            int hit = 0;
            for (int t = 0; t + 3 <= hw && !hit; t++)
                for (int l = 0; l + 3 <= hw && !hit; l++) {
                    int m = 1;
                    for (int k = 0; k < 9 && m; k++)
                        m = pl[(t + k / 3) * hw + l + k % 3] == v[k];
                    hit = m;
                }
            if (hit) {
                if (!found) *img = i, *chan = c;
                if (++found >= 2) return found;
            }
        }
    }
    return found;
}

Test(data, patches_are_windows_of_images)
{
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    make_lut(CLNAS_DS_CIFAR10);
    clnas_sampler *s;
    cr_assert_eq(clnas_sampler_create(d, 3, 1, &s), CLNAS_OK);
    const int n = 3000;
    float *p = malloc((size_t)n * 9 * sizeof(float));
    cr_assert_not_null(p);
    clnas_sampler_patches(s, n, p);
    float lo = INFINITY, hi = -INFINITY, bound_lo = INFINITY, bound_hi = -INFINITY;
    for (int c = 0; c < 3; c++) {
        bound_lo = fminf(bound_lo, LUT[c][0]);
        bound_hi = fmaxf(bound_hi, LUT[c][255]);
    }
    double sum = 0;
    for (int i = 0; i < n * 9; i++) {
        cr_assert(isfinite(p[i]));
        lo = fminf(lo, p[i]);
        hi = fmaxf(hi, p[i]);
        sum += p[i];
        /* every value is the normalisation of some byte in some channel */
        cr_assert(unlut(0, p[i]) >= 0 || unlut(1, p[i]) >= 0 || unlut(2, p[i]) >= 0, "value %g", p[i]);
    }
    fprintf(stderr, "  patches: range [%.4f, %.4f] (bounds [%.4f, %.4f]), mean %.4f\n", lo, hi,
            bound_lo, bound_hi, sum / (n * 9.0));
    cr_assert(lo >= bound_lo && hi <= bound_hi);
    cr_assert(lo < -1.5 && hi > 1.5, "patches do not span the normalised range");
    cr_assert(fabs(sum / (n * 9.0)) < 0.1);
    for (int k = 0; k < 8; k++) {
        int img = -1, ch = -1, q = k * 377;
        int found = find_window(d, p + (size_t)q * 9, &img, &ch);
        cr_assert(found > 0, "patch %d is no 3x3 window of any channel of any image", q);
        fprintf(stderr, "  patch %d: image %d channel %d (%s)\n", q, img, ch, found > 1 ? "not unique" : "unique");
    }
    free(p);
    clnas_sampler_destroy(s);
    clnas_dataset_destroy(d);
}

Test(data, patches_continue_across_calls)
{
    clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, NULL);
    clnas_sampler *a, *b;
    cr_assert_eq(clnas_sampler_create(d, 9, 2, &a), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 9, 2, &b), CLNAS_OK);
    const int n = 12345; /* crosses the reshuffle after 10 batches of 1000 */
    float *one = malloc((size_t)n * 9 * sizeof(float)), *parts = malloc((size_t)n * 9 * sizeof(float));
    cr_assert(one && parts);
    clnas_sampler_patches(a, 500, one);
    clnas_sampler_patches(a, 500, one + 500 * 9);
    clnas_sampler_patches(b, 1000, parts);
    cr_assert_neq(memcmp(one, one + 500 * 9, 500 * 9 * sizeof(float)), 0, "two calls of 500 are equal");
    cr_assert_eq(memcmp(one, parts, 1000 * 9 * sizeof(float)), 0, "500 + 500 != 1000");

    clnas_sampler *c, *e;
    cr_assert_eq(clnas_sampler_create(d, 9, 2, &c), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 9, 2, &e), CLNAS_OK);
    clnas_sampler_patches(c, n, one);
    const int sizes[] = {1, 999, 1000, 2345, 3000, 1, 2654, 2345};
    int at = 0;
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        clnas_sampler_patches(e, sizes[k], parts + (size_t)at * 9);
        at += sizes[k];
    }
    cr_assert_eq(at, n);
    cr_assert_eq(memcmp(one, parts, (size_t)n * 9 * sizeof(float)), 0, "split calls differ from one call");

    /* determinism, seeds, streams, and a golden hash of the first 3000 (one LR evaluation) */
    clnas_sampler *g, *g2, *g3;
    cr_assert_eq(clnas_sampler_create(d, 1, 0, &g), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 2, 0, &g2), CLNAS_OK);
    cr_assert_eq(clnas_sampler_create(d, 1, 1, &g3), CLNAS_OK);
    clnas_sampler_patches(g, 3000, one);
    clnas_sampler_patches(g2, 3000, parts);
    cr_assert_neq(memcmp(one, parts, 3000 * 9 * sizeof(float)), 0);
    clnas_sampler_patches(g3, 3000, parts);
    cr_assert_neq(memcmp(one, parts, 3000 * 9 * sizeof(float)), 0);
    uint64_t h = fnv_floats(one, 3000 * 9);
    fprintf(stderr, "  golden patches hash %016llx, first value %.8g\n", (unsigned long long)h, one[0]);
    cr_assert_eq(h, GOLD_PATCH_HASH);
    clnas_sampler_destroy(g);
    clnas_sampler_destroy(g2);
    clnas_sampler_destroy(g3);
    clnas_sampler_destroy(a);
    clnas_sampler_destroy(b);
    clnas_sampler_destroy(c);
    clnas_sampler_destroy(e);
    free(one);
    free(parts);
    clnas_dataset_destroy(d);
}

/* A synthetic CIFAR-10 file of N images whose every 3x3 window tells the image number:
 * pixel (y, x) of all channels = 16 r + nibble_r(i) with r = 3 (y % 3) + x % 3, where
 * nibble_r(i) = (i >> 4 r) & 15 for r < 3 and 0 otherwise. */
static void write_coded(const char *path, int N)
{
    uint8_t *buf = malloc((size_t)N * REC10);
    cr_assert_not_null(buf);
    for (int i = 0; i < N; i++) {
        uint8_t *rec = buf + (size_t)i * REC10;
        rec[0] = (uint8_t)(i % 10);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    int r = 3 * (y % 3) + x % 3, nib = r < 3 ? (i >> (4 * r)) & 15 : 0;
                    rec[1 + c * 1024 + y * 32 + x] = (uint8_t)(16 * r + nib);
                }
    }
    spit(path, buf, (size_t)N * REC10);
    free(buf);
}

/* Decodes a patch of the coded set: image number, channel, and (top % 3, left % 3). */
static int decode(const float *p, int *chan, int *res)
{
    for (int c = 0; c < 3; c++) {
        int v[9], ok = 1;
        for (int k = 0; k < 9 && ok; k++) ok = (v[k] = unlut(c, p[k])) >= 0;
        if (!ok) continue;
        int i = 0;
        for (int k = 0; k < 9; k++) {
            int r = v[k] / 16;
            if (r < 3) i |= (v[k] & 15) << (4 * r);
        }
        *chan = c;
        *res = v[0] / 16;
        return i;
    }
    return -1;
}

Test(data, patch_epochs_drop_last)
{
    char *dir = tmpdir(), f[300];
    snprintf(f, sizeof f, "%s/coded.bin", dir);
    make_lut(CLNAS_DS_CIFAR10);
    const int sizes[2] = {2500, 1500};
    for (int t = 0; t < 2; t++) {
        const int N = sizes[t], P = 6000;
        write_coded(f, N);
        clnas_dataset *d = load_ok(CLNAS_DS_CIFAR10, f);
        clnas_sampler *s;
        cr_assert_eq(clnas_sampler_create(d, 77, 0, &s), CLNAS_OK);
        float *p = malloc((size_t)P * 9 * sizeof(float));
        int *img = malloc(P * sizeof(int));
        char *seen = calloc((size_t)N, 1);
        cr_assert(p && img && seen);
        clnas_sampler_patches(s, P, p);
        int chans[3] = {0}, res[9] = {0};
        for (int k = 0; k < P; k++) {
            int ch = -1, r = -1;
            img[k] = decode(p + (size_t)k * 9, &ch, &r);
            cr_assert(img[k] >= 0 && img[k] < N, "patch %d decodes to %d", k, img[k]);
            chans[ch]++;
            res[r]++;
        }
        /* epochs: N = 2500 -> batches {0,1} share an epoch, 2 is a new one (500 dropped);
         * N = 1500 -> every batch is a new epoch (500 dropped each time) */
        int per_epoch = N / 1000, epoch_start = 0;
        for (int b = 0; b < P / 1000; b++) {
            if (b % per_epoch == 0) {
                memset(seen, 0, (size_t)N);
                epoch_start = b;
            }
            for (int k = b * 1000; k < (b + 1) * 1000; k++) {
                cr_assert_eq(seen[img[k]], 0, "N %d: image %d twice in epoch starting at batch %d (patch %d)",
                             N, img[k], epoch_start, k);
                seen[img[k]] = 1;
            }
        }
        /* the 500 dropped images differ between epochs: over 6 epochs of N = 1500 nearly
         * every image is used */
        if (N == 1500) {
            memset(seen, 0, (size_t)N);
            int used = 0;
            for (int k = 0; k < P; k++)
                if (!seen[img[k]]) seen[img[k]] = 1, used++;
            cr_assert(used > 1490, "only %d of 1500 images used in 6 epochs", used);
        }
        fprintf(stderr, "  N %d: channels %d %d %d; window residues", N, chans[0], chans[1], chans[2]);
        for (int r = 0; r < 9; r++) fprintf(stderr, " %d", res[r]);
        fprintf(stderr, "\n");
        for (int c = 0; c < 3; c++) cr_assert(abs(chans[c] - P / 3) < P / 15, "channel %d: %d", c, chans[c]);
        for (int r = 0; r < 9; r++) cr_assert(abs(res[r] - P / 9) < P / 30, "residue %d: %d", r, res[r]);
        free(p);
        free(img);
        free(seen);
        clnas_sampler_destroy(s);
        clnas_dataset_destroy(d);
    }
    rmtree(dir);
}

Test(data, patches_imagenet16)
{
    char *dir = tmpdir(), f[300];
    size_t len;
    uint8_t *raw = bundled_raw(&len);
    uint8_t *buf = imagenet16_records(300, raw);
    snprintf(f, sizeof f, "%s/train.bin", dir);
    spit(f, buf, 300 * (size_t)REC16);
    clnas_dataset *d = load_ok(CLNAS_DS_IMAGENET16, f);
    make_lut(CLNAS_DS_IMAGENET16);
    clnas_sampler *s;
    cr_assert_eq(clnas_sampler_create(d, 4, 0, &s), CLNAS_OK);
    float p[50 * 9];
    clnas_sampler_patches(s, 50, p); /* N = 300 < 1000: batches of 300 */
    for (int k = 0; k < 50; k++) {
        int img, ch;
        cr_assert(find_window(d, p + k * 9, &img, &ch) > 0, "patch %d", k);
    }
    clnas_sampler_destroy(s);
    clnas_dataset_destroy(d);
    free(buf);
    free(raw);
    rmtree(dir);
}

/* ---- tools/imagenet16_convert.py ---- */

Test(data, imagenet16_convert_self_test)
{
    if (access(PY, X_OK) != 0) cr_assert_fail("%s not found: install python3 (Debian), which the converter tests run", PY);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s '%s' --self-test 1>&2", PY, CONVERTER);
    fflush(NULL);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

Test(data, imagenet16_convert_end_to_end)
{
    if (access(PY, X_OK) != 0) cr_assert_fail("%s not found: install python3 (Debian), which the converter tests run", PY);
    char *dir = tmpdir(), cmd[4096];
    /* three images with labels 3, 200, 120 as an official-style pickle, then the converter */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && mkdir src && %s -c \"import sys; sys.path.insert(0, '%s/../tools'); "
             "import imagenet16_convert as m; "
             "rows = [bytes((i * 5 + k) & 255 for k in range(768)) for i in range(3)]; "
             "open('src/train_data_batch_1', 'wb').write(m._numpy_like_pickle(rows, [3, 200, 120]))\" "
             "&& %s '%s' src out 1>&2",
             dir, PY, CLNAS_DATA_DIR, PY, CONVERTER);
    fflush(NULL);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    char out[300];
    snprintf(out, sizeof out, "%s/out", dir);
    clnas_dataset *d = load_ok(CLNAS_DS_IMAGENET16, out);
    cr_assert_eq(clnas_dataset_size(d), 2);
    cr_assert_eq(clnas_dataset_label(d, 0), 2);
    cr_assert_eq(clnas_dataset_label(d, 1), 119);
    const int src_of[2] = {0, 2};
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < 768; k++)
            cr_assert_eq(clnas_dataset_image(d, j)[k], (uint8_t)((src_of[j] * 5 + k) & 255));
    clnas_dataset_destroy(d);
    rmtree(dir);
}
