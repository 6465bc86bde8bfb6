/* test_safetensors.c - the safetensors writer and reader (src/report/safetensors.h):
 * round trips of every dtype and shape (scalars, empty tensors) with metadata; files written
 * byte by byte here as an independent writer would (compact and pretty JSON, escapes,
 * unpadded headers, misaligned offsets); hostile input (truncation, oversized header
 * lengths, malformed JSON, offsets out of range, shape/offset mismatches, random corruption)
 * must fail with CLNAS_E_IO and a useful message, never crash; and, when /usr/bin/python3
 * exists, a file we write must list the same with tools/verify_torch.py's own reader. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "report/safetensors.h"

#ifndef CLNAS_DATA_DIR
#error "CMake defines CLNAS_DATA_DIR"
#endif
#define VERIFY_PY CLNAS_DATA_DIR "/../tools/verify_torch.py"

/* ---- helpers ---- */
static char g_dir[256];

static void mkdir_tmp(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/clnas_st_XXXXXX", t && *t ? t : "/tmp");
    cr_assert_not_null(mkdtemp(g_dir), "mkdtemp(%s) failed", g_dir);
}

static void rm_tmp(void)
{
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(g_dir);
}

TestSuite(safetensors, .init = mkdir_tmp, .fini = rm_tmp);

static const char *tpath(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)sz + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* A safetensors file from a header string (length prefix computed, or forced) and data. */
static void write_st_len(const char *path, uint64_t hlen, const char *header, const void *data, size_t dlen)
{
    size_t H = strlen(header);
    unsigned char *b = malloc(8 + H + dlen + 1);
    cr_assert_not_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, header, H);
    if (dlen) memcpy(b + 8 + H, data, dlen);
    write_bytes(path, b, 8 + H + dlen);
    free(b);
}
static void write_st(const char *path, const char *header, const void *data, size_t dlen)
{
    write_st_len(path, strlen(header), header, data, dlen);
}

/* Expects st_open to fail with CLNAS_E_IO, the path and `what` in the message. */
static void expect_bad(const char *path, const char *what, const char *label)
{
    st_file *f = (st_file *)(uintptr_t)1;
    char err[512] = "";
    clnas_status st = st_open(path, &f, err, sizeof err);
    cr_expect_eq(st, CLNAS_E_IO, "%s: st_open returned %d, want CLNAS_E_IO (msg: %s)", label, st, err);
    cr_expect_null(f, "%s: *out must be NULL on failure", label);
    cr_expect(strstr(err, path) != NULL, "%s: message does not name the path: %s", label, err);
    if (what) cr_expect(strstr(err, what) != NULL, "%s: message lacks \"%s\": %s", label, what, err);
    if (st == CLNAS_OK) st_close(f);
}

static int aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* ---- round trip ---- */
Test(safetensors, round_trip_all_dtypes_shapes_and_metadata)
{
    float f32[2 * 3] = {1.5f, -2.25f, 3e-30f, INFINITY, -0.0f, 7};
    double f64[5] = {3.141592653589793, -1e300, 4.9e-324, 0, 1.0 / 3};
    uint8_t u8[2 * 2 * 3];
    for (int i = 0; i < 12; i++) u8[i] = (uint8_t)(i * 21);
    int64_t i64_scalar = -1234567890123LL;
    int64_t i64v[3] = {INT64_MIN, 0, INT64_MAX};
    float empty_dummy = 0;
    int64_t s23[2] = {2, 3}, s5[1] = {5}, s223[3] = {2, 2, 3}, s3[1] = {3}, s05[2] = {0, 5};
    int64_t s8[8] = {1, 1, 1, 1, 1, 1, 2, 3};

    st_writer *w = st_writer_new();
    cr_assert_not_null(w);
    cr_assert_eq(st_writer_add(w, "u8.first", ST_U8, 3, s223, u8), CLNAS_OK); /* 12 bytes: misaligns what follows */
    cr_assert_eq(st_writer_add(w, "cells.0.edges.1<-0.nor_conv_3x3.conv.weight", ST_F32, 2, s23, f32), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "f64", ST_F64, 1, s5, f64), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "scalar", ST_I64, 0, NULL, &i64_scalar), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "i64", ST_I64, 1, s3, i64v), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "empty", ST_F32, 2, s05, &empty_dummy), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "eight_dims", ST_F32, 8, s8, f32), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "quote\"back\\slash\ttab", ST_U8, 1, s3, u8), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "arch", "|skip_connect,nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|"), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "tricky", "a\"b\\c\nd\x01 \xc3\xa9"), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "empty", ""), CLNAS_OK);
    char err[512] = "";
    const char *path = tpath("rt.safetensors");
    cr_assert_eq(st_writer_save(w, path, err, sizeof err), CLNAS_OK, "%s", err);
    st_writer_free(w);

    /* header length: a multiple of 8, so the data section starts 8-aligned in the file */
    size_t n;
    unsigned char *raw = read_bytes(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | raw[i];
    cr_expect_eq(hlen % 8, 0, "header length %llu is not padded to 8", (unsigned long long)hlen);
    cr_expect_eq(n, 8 + hlen + 12 + 24 + 40 + 8 + 24 + 0 + 24 + 3);
    free(raw);

    st_file *f = NULL;
    cr_assert_eq(st_open(path, &f, err, sizeof err), CLNAS_OK, "%s", err);
    cr_assert_eq(st_count(f), 8);
    const char *order[8] = {"u8.first", "cells.0.edges.1<-0.nor_conv_3x3.conv.weight", "f64", "scalar", "i64", "empty",
                            "eight_dims", "quote\"back\\slash\ttab"};
    for (int i = 0; i < 8; i++) cr_expect_str_eq(st_name(f, i), order[i]);
    cr_expect_null(st_name(f, 8));
    cr_expect_null(st_name(f, -1));

    st_dtype dt;
    int nd;
    int64_t sh[ST_MAX_DIMS];
    const float *pf = st_get(f, "cells.0.edges.1<-0.nor_conv_3x3.conv.weight", &dt, &nd, sh);
    cr_assert_not_null(pf);
    cr_expect_eq(dt, ST_F32);
    cr_expect_eq(nd, 2);
    cr_expect(sh[0] == 2 && sh[1] == 3 && sh[2] == 0);
    cr_expect(aligned(pf, 4));
    cr_expect_eq(memcmp(pf, f32, sizeof f32), 0, "F32 data differs");
    const double *pd = st_get(f, "f64", &dt, &nd, sh);
    cr_assert_not_null(pd);
    cr_expect(dt == ST_F64 && nd == 1 && sh[0] == 5 && aligned(pd, 8));
    cr_expect_eq(memcmp(pd, f64, sizeof f64), 0, "F64 data differs");
    const int64_t *ps = st_get(f, "scalar", &dt, &nd, sh);
    cr_assert_not_null(ps);
    cr_expect(dt == ST_I64 && nd == 0 && aligned(ps, 8));
    cr_expect_eq(*ps, i64_scalar);
    const int64_t *pi = st_get(f, "i64", &dt, &nd, sh);
    cr_assert_not_null(pi);
    cr_expect(pi[0] == INT64_MIN && pi[1] == 0 && pi[2] == INT64_MAX && aligned(pi, 8));
    const uint8_t *pu = st_get(f, "u8.first", &dt, &nd, sh);
    cr_assert_not_null(pu);
    cr_expect(dt == ST_U8 && nd == 3 && sh[0] == 2 && sh[1] == 2 && sh[2] == 3);
    cr_expect_eq(memcmp(pu, u8, sizeof u8), 0);
    cr_expect_not_null(st_get(f, "empty", &dt, &nd, sh), "an empty tensor is present (non-NULL)");
    cr_expect(nd == 2 && sh[0] == 0 && sh[1] == 5);
    cr_expect_not_null(st_get(f, "eight_dims", &dt, &nd, sh));
    cr_expect(nd == 8 && sh[6] == 2 && sh[7] == 3);
    cr_expect_not_null(st_get(f, "quote\"back\\slash\ttab", NULL, NULL, NULL));
    cr_expect_null(st_get(f, "absent", &dt, &nd, sh));
    cr_expect_null(st_get(f, "__metadata__", &dt, &nd, sh));
    cr_expect_str_eq(st_meta(f, "arch"), "|skip_connect,nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|");
    cr_expect_str_eq(st_meta(f, "tricky"), "a\"b\\c\nd\x01 \xc3\xa9");
    cr_expect_str_eq(st_meta(f, "empty"), "");
    cr_expect_null(st_meta(f, "nope"));
    st_close(f);
    st_close(NULL);

    /* the atomic write leaves nothing else behind */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int others = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "rt.safetensors")) others++;
    closedir(d);
    cr_expect_eq(others, 0, "temporary files left in %s", g_dir);
}

Test(safetensors, empty_file_and_overwrite)
{
    char err[512] = "";
    const char *path = tpath("empty.safetensors");
    st_writer *w = st_writer_new();
    cr_assert_eq(st_writer_save(w, path, err, sizeof err), CLNAS_OK, "%s", err);
    st_writer_free(w);
    st_file *f;
    cr_assert_eq(st_open(path, &f, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(st_count(f), 0);
    cr_expect_null(st_meta(f, "x"));
    st_close(f);
    /* overwrite the same path with content */
    w = st_writer_new();
    double v = 2.5;
    cr_assert_eq(st_writer_add(w, "v", ST_F64, 0, NULL, &v), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "k", "old"), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "k", "new"), CLNAS_OK); /* a repeated key replaces the value */
    cr_assert_eq(st_writer_save(w, path, err, sizeof err), CLNAS_OK, "%s", err);
    st_writer_free(w);
    cr_assert_eq(st_open(path, &f, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(st_count(f), 1);
    cr_expect_eq(*(const double *)st_get(f, "v", NULL, NULL, NULL), 2.5);
    cr_expect_str_eq(st_meta(f, "k"), "new");
    st_close(f);
}

Test(safetensors, writer_rejects_bad_arguments)
{
    st_writer *w = st_writer_new();
    float x[4] = {0};
    int64_t s[2] = {2, 2}, neg[1] = {-1}, huge[2] = {INT64_MAX, INT64_MAX}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    cr_expect_eq(st_writer_add(w, "a", ST_F32, 2, s, x), CLNAS_OK);
    cr_expect_eq(st_writer_add(w, "a", ST_F32, 2, s, x), CLNAS_E_INVALID_ARG, "duplicate name");
    cr_expect_eq(st_writer_add(w, "", ST_F32, 2, s, x), CLNAS_E_INVALID_ARG, "empty name");
    cr_expect_eq(st_writer_add(w, NULL, ST_F32, 2, s, x), CLNAS_E_INVALID_ARG, "NULL name");
    cr_expect_eq(st_writer_add(w, "__metadata__", ST_F32, 2, s, x), CLNAS_E_INVALID_ARG, "reserved name");
    cr_expect_eq(st_writer_add(w, "n", ST_F32, 1, neg, x), CLNAS_E_INVALID_ARG, "negative dim");
    cr_expect_eq(st_writer_add(w, "h", ST_F32, 2, huge, x), CLNAS_E_INVALID_ARG, "size overflow");
    cr_expect_eq(st_writer_add(w, "d", ST_F32, 9, s9, x), CLNAS_E_INVALID_ARG, "too many dims");
    cr_expect_eq(st_writer_add(w, "d", ST_F32, -1, s, x), CLNAS_E_INVALID_ARG, "negative ndims");
    cr_expect_eq(st_writer_add(w, "t", (st_dtype)7, 2, s, x), CLNAS_E_INVALID_ARG, "bad dtype");
    cr_expect_eq(st_writer_add(w, "z", ST_F32, 2, s, NULL), CLNAS_E_INVALID_ARG, "NULL data");
    cr_expect_eq(st_writer_meta(w, NULL, "v"), CLNAS_E_INVALID_ARG);
    cr_expect_eq(st_writer_meta(w, "k", NULL), CLNAS_E_INVALID_ARG);
    char err[512] = "";
    const char *bad = "/nonexistent-dir-clnas/x.safetensors";
    cr_expect_eq(st_writer_save(w, bad, err, sizeof err), CLNAS_E_IO);
    cr_expect(strstr(err, bad) != NULL, "message must name the path: %s", err);
    st_writer_free(w);
    st_writer_free(NULL);
}

/* ---- files from an independent writer ---- */
Test(safetensors, reads_python_style_files)
{
    /* As Hugging Face's writer does: compact JSON, __metadata__ first, tensors sorted by
     * dtype alignment, header padded with spaces to a multiple of 8. */
    double d[2] = {1.25, -8};
    float fl[3] = {0.5f, 1.5f, 2.5f};
    unsigned char data[28];
    memcpy(data, d, 16);
    memcpy(data + 16, fl, 12);
    char hdr[512];
    snprintf(hdr, sizeof hdr, "%s",
             "{\"__metadata__\":{\"format\":\"pt\",\"arch\":\"|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
             "|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|\"},\"b\":{\"dtype\":\"F64\",\"shape\":[2],"
             "\"data_offsets\":[0,16]},\"a\":{\"dtype\":\"F32\",\"shape\":[3,1],\"data_offsets\":[16,28]}}");
    while (strlen(hdr) % 8) strcat(hdr, " ");
    const char *path = tpath("py.safetensors");
    write_st(path, hdr, data, sizeof data);
    char err[512] = "";
    st_file *f;
    cr_assert_eq(st_open(path, &f, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_eq(st_count(f), 2);
    cr_expect_str_eq(st_name(f, 0), "b");
    cr_expect_str_eq(st_meta(f, "format"), "pt");
    st_dtype dt;
    int nd;
    int64_t sh[ST_MAX_DIMS];
    const double *pb = st_get(f, "b", &dt, &nd, sh);
    cr_assert_not_null(pb);
    cr_expect(dt == ST_F64 && nd == 1 && sh[0] == 2 && pb[0] == 1.25 && pb[1] == -8);
    const float *pa = st_get(f, "a", &dt, &nd, sh);
    cr_assert_not_null(pa);
    cr_expect(dt == ST_F32 && nd == 2 && sh[0] == 3 && sh[1] == 1 && pa[2] == 2.5f && aligned(pa, 4));
    st_close(f);
}

Test(safetensors, reads_pretty_json_escapes_and_misaligned_data)
{
    /* unpadded header of odd length (data section misaligned in the file), pretty JSON with
     * every kind of whitespace, \u escapes (incl. a surrogate pair) in names, an unknown
     * extra field, a U8 tensor of 3 bytes before an F64 at offset 3 (misaligned offset) */
    const char *hdr = "\r\n{ \"__metadata__\" : { \"k\\u00e9y\" : \"v\\/\\\"\\\\\\b\\f\\n\\r\\t\\ud83d\\ude00\" } ,\n"
                      "\t\"bytes\": {\"dtype\": \"U8\", \"shape\": [ 3 ], \"data_offsets\": [0, 3]},\n"
                      "  \"w\\u0065ight\\u00e9\" : {\"shape\":[1,2], \"dtype\":\"F64\", \"data_offsets\":[3,19],"
                      " \"extra\": [true, false, null, {\"x\": -1.5e3}]}\n}\n ";
    cr_assert(strlen(hdr) % 8 != 0 && (8 + strlen(hdr)) % 8 != 0, "test setup: header length must misalign");
    unsigned char data[19] = {7, 8, 9};
    double v[2] = {-3.5, 6.25};
    memcpy(data + 3, v, 16);
    const char *path = tpath("pretty.safetensors");
    write_st(path, hdr, data, sizeof data);
    char err[512] = "";
    st_file *f;
    cr_assert_eq(st_open(path, &f, err, sizeof err), CLNAS_OK, "%s", err);
    cr_expect_str_eq(st_meta(f, "k\xc3\xa9y"), "v/\"\\\b\f\n\r\t\xf0\x9f\x98\x80");
    const uint8_t *b = st_get(f, "bytes", NULL, NULL, NULL);
    cr_assert_not_null(b);
    cr_expect(b[0] == 7 && b[1] == 8 && b[2] == 9);
    st_dtype dt;
    int nd;
    int64_t sh[ST_MAX_DIMS];
    const double *w = st_get(f, "weight\xc3\xa9", &dt, &nd, sh);
    cr_assert_not_null(w, "\\u escapes in names are decoded to UTF-8");
    cr_expect(aligned(w, 8), "F64 data at a misaligned file offset must still be returned aligned");
    cr_expect(dt == ST_F64 && nd == 2 && sh[0] == 1 && sh[1] == 2 && w[0] == -3.5 && w[1] == 6.25);
    st_close(f);
}

/* ---- hostile input ---- */
static const char *good_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

Test(safetensors, truncated_files_and_bad_lengths)
{
    float a[2] = {1, 2};
    const char *p = tpath("t.safetensors");
    write_bytes(p, "", 0);
    expect_bad(p, "truncated", "empty file");
    write_bytes(p, "\x10\0\0", 3);
    expect_bad(p, "truncated", "3-byte file");
    write_st_len(p, 1000, good_hdr, a, sizeof a);
    expect_bad(p, "header length", "header length larger than the file");
    write_st_len(p, UINT64_MAX, good_hdr, a, sizeof a);
    expect_bad(p, "header length", "header length 2^64-1");
    write_st_len(p, (uint64_t)1 << 63, good_hdr, a, sizeof a);
    expect_bad(p, "header length", "header length 2^63");
    write_st_len(p, 0, good_hdr, a, sizeof a);
    expect_bad(p, NULL, "header length 0");
    write_st(p, good_hdr, a, 4);
    expect_bad(p, "outside the data section", "data cut short");
    /* every prefix of a valid file fails cleanly */
    st_writer *w = st_writer_new();
    int64_t s[1] = {2};
    cr_assert_eq(st_writer_add(w, "a", ST_F32, 1, s, a), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "m", "v"), CLNAS_OK);
    char err[512];
    const char *full = tpath("full.safetensors");
    cr_assert_eq(st_writer_save(w, full, err, sizeof err), CLNAS_OK, "%s", err);
    st_writer_free(w);
    size_t n;
    unsigned char *raw = read_bytes(full, &n);
    for (size_t k = 0; k < n; k++) {
        write_bytes(p, raw, k);
        char label[64];
        snprintf(label, sizeof label, "prefix of %zu/%zu bytes", k, n);
        expect_bad(p, NULL, label);
    }
    free(raw);
}

Test(safetensors, malformed_json_names_the_offset)
{
    /* the JSON syntax is jansson's to check: its messages, with the position in the file */
    static const struct { const char *hdr, *what; } cases[] = {
        {"{", "byte offset"},
        {"{\"a\":}", "byte offset 14"},
        {"[1,2]", "expected a JSON object"},
        {"\"str\"", "'[' or '{' expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", "end of file expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", "string or '}' expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}", "unexpected token"},
        {"{\"a\" {}}", "':' expected"},
        {"{\"a\":{\"dtype\":\"F32\" \"shape\":[2]}}", "'}' expected"},
        {"{\"abc", "premature end of input"},
        {"{\"a\\q\":1}", "invalid escape"},
        {"{\"a\\u12G4\":1}", "invalid escape"},
        {"{\"a\\u12", "invalid escape"},
        {"{\"\\ud800\":1}", "invalid Unicode"},
        {"{\"\\ud800\\u0041\":1}", "invalid Unicode"},
        {"{\"\\udc00\":1}", "invalid Unicode"},
        {"{\"a\tb\":1}", "control character"},
        {"{\"a\":01}", "invalid token"},
        {"{\"a\":-}", "invalid token"},
        {"{\"a\":1.}", "invalid token"},
        {"{\"a\":1e}", "invalid token"},
        {"{\"a\":tru}", "invalid token"},
        {"{\"a\":nul}", "invalid token"},
        {"{\"a\":1,\"a\":2}", "duplicate object key"},
        {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", "duplicate object key"},
        {"{\"a\":\"\xff\x01\"}", "byte offset"},
        {"  ", "byte offset"},
    };
    const char *p = tpath("j.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(p, cases[i].hdr, NULL, 0);
        char label[160];
        snprintf(label, sizeof label, "case %zu (%s)", i, cases[i].hdr);
        expect_bad(p, cases[i].what, label);
    }
    /* deep nesting is refused, not a stack overflow */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    cr_assert_not_null(deep);
    strcpy(deep, "{\"a\":");
    size_t o = strlen(deep);
    for (size_t i = 0; i < depth; i++) deep[o++] = '[';
    for (size_t i = 0; i < depth; i++) deep[o++] = ']';
    deep[o++] = '}';
    deep[o] = 0;
    write_st(p, deep, NULL, 0);
    expect_bad(p, "maximum parsing depth", "100000 nested arrays");
    free(deep);
}

Test(safetensors, bad_tensor_entries)
{
    static const struct { const char *hdr, *what; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", "outside the data section"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", "outside the data section"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "outside the data section"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", "too big integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-4,4]}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0,8\"}}", "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12 bytes"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", "needs 16 bytes"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,8]}}", "needs 1 bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", "needs more than"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", "non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", "too big integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", "at most 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", "shape"},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}", "unsupported dtype"},
        {"{\"a\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "lacks \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "lacks \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "lacks \"data_offsets\""},
        {"{\"a\":[1,2]}", "not an object"},
        {"{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "empty tensor name"},
        {"{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "NUL"},
        {"{\"__metadata__\":{\"k\":1}}", "not a string"},
        {"{\"__metadata__\":[\"k\"]}", "__metadata__"},
        {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", "NUL"},
        /* the tensors must cover the 8-byte data section exactly once */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "gap at the end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "leave a gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "overlap"},
    };
    float a[2] = {1, 2};
    const char *p = tpath("e.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(p, cases[i].hdr, a, sizeof a);
        char label[200];
        snprintf(label, sizeof label, "case %zu (%s)", i, cases[i].hdr);
        expect_bad(p, cases[i].what, label);
    }
    expect_bad(tpath("does-not-exist.safetensors"), "cannot open", "missing file");
    expect_bad(g_dir, "not a regular file", "a directory");
}

/* Random corruption of a valid file: every outcome is a clean success or CLNAS_E_IO. */
Test(safetensors, random_corruption_never_crashes)
{
    st_writer *w = st_writer_new();
    float x[6] = {1, 2, 3, 4, 5, 6};
    double y[3] = {1, 2, 3};
    int64_t s23[2] = {2, 3}, s3[1] = {3};
    cr_assert_eq(st_writer_add(w, "x", ST_F32, 2, s23, x), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "y", ST_F64, 1, s3, y), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "arch", "|nor_conv_3x3~0|+|none~0|skip_connect~1|"), CLNAS_OK);
    char err[512];
    const char *full = tpath("c.safetensors"), *p = tpath("c2.safetensors");
    cr_assert_eq(st_writer_save(w, full, err, sizeof err), CLNAS_OK, "%s", err);
    st_writer_free(w);
    size_t n;
    unsigned char *raw = read_bytes(full, &n);
    unsigned char *buf = malloc(n);
    cr_assert_not_null(buf);
    static const char junk[] = "{}[]\",:\\u0123456789-eE.tfn \x00\x7f\xff";
    uint64_t r = 0x9E3779B97F4A7C15ULL;
    int opened = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, raw, n);
        int flips = 1 + it % 4;
        for (int k = 0; k < flips; k++) {
            r ^= r << 13; r ^= r >> 7; r ^= r << 17;
            size_t pos = (size_t)(r % (n > 64 ? 8 + (n - 8) / 2 : n)); /* mostly the header */
            buf[pos] = (unsigned char)junk[(r >> 32) % (sizeof junk - 1)];
        }
        write_bytes(p, buf, n);
        st_file *f = NULL;
        err[0] = 0;
        clnas_status st = st_open(p, &f, err, sizeof err);
        if (st == CLNAS_OK) {
            opened++;
            for (int i = 0; i < st_count(f); i++) {
                st_dtype dt;
                int nd;
                int64_t sh[ST_MAX_DIMS];
                cr_assert_not_null(st_get(f, st_name(f, i), &dt, &nd, sh));
                cr_assert(nd >= 0 && nd <= ST_MAX_DIMS);
            }
            st_close(f);
        } else {
            cr_assert_eq(st, CLNAS_E_IO, "iteration %d: status %d", it, st);
            cr_assert(err[0] != 0, "iteration %d: no message", it);
            cr_assert_null(f);
        }
    }
    cr_log_info("random corruption: %d of 3000 variants still opened", opened);
    free(buf);
    free(raw);
}

/* ---- the Python reader of tools/verify_torch.py agrees with what we write ---- */
Test(safetensors, python_reader_lists_our_file)
{
    if (access("/usr/bin/python3", X_OK) != 0) cr_assert_fail("/usr/bin/python3 is not installed: apt-get install python3 (tools/deps.sh installs python3-torch, which brings it)");
    float f32[6] = {0.5f, -1.25f, 2, 3, 4, 5.5f};
    double f64[1] = {-7.75};
    uint8_t u8[4] = {0, 1, 1, 0};
    int64_t i64[2] = {-3, 1000000000000LL};
    int64_t s[3] = {1, 2, 3}, s4[2] = {2, 2}, s2[1] = {2};
    st_writer *w = st_writer_new();
    cr_assert_eq(st_writer_add(w, "cells.0.edges.2<-1.nor_conv_1x1.conv.weight", ST_F32, 3, s, f32), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "kappa", ST_F64, 0, NULL, f64), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "codes", ST_U8, 2, s4, u8), CLNAS_OK);
    cr_assert_eq(st_writer_add(w, "regions", ST_I64, 1, s2, i64), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "arch", "|skip_connect,nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|"), CLNAS_OK);
    cr_assert_eq(st_writer_meta(w, "lr_batch", "1000"), CLNAS_OK);
    char err[512];
    const char *path = tpath("py_check.safetensors");
    cr_assert_eq(st_writer_save(w, path, err, sizeof err), CLNAS_OK, "%s", err);
    st_writer_free(w);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --read-safetensors '%s' 2>&1", VERIFY_PY, path);
    fflush(NULL);
    FILE *pp = popen(cmd, "r");
    cr_assert_not_null(pp);
    char out[8192];
    size_t len = fread(out, 1, sizeof out - 1, pp);
    out[len] = 0;
    int rc = pclose(pp);
    cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s failed:\n%s", cmd, out);
    static const char *const want[] = {
        "tensor\tcells.0.edges.2<-1.nor_conv_1x1.conv.weight\tF32\t[1,2,3]\tsum=13.75\n",
        "tensor\tkappa\tF64\t[]\tsum=-7.75\n",
        "tensor\tcodes\tU8\t[2,2]\tsum=2\n",
        "tensor\tregions\tI64\t[2]\tsum=999999999997\n",
        "meta\tarch\t|skip_connect,nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|\n",
        "meta\tlr_batch\t1000\n",
    };
    const char *at = out;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *hit = strstr(at, want[i]);
        cr_expect_not_null(hit, "python reader output lacks (in order) \"%s\":\n%s", want[i], out);
        if (hit) at = hit + strlen(want[i]);
    }
    /* and the Python reader rejects a file we consider broken */
    write_st_len(path, 5000, good_hdr, f32, 8);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --read-safetensors '%s' >/dev/null 2>&1", VERIFY_PY, path);
    rc = system(cmd);
    cr_expect(WIFEXITED(rc) && WEXITSTATUS(rc) != 0, "python reader accepted a truncated file");
}
