/* lr.c - the number of linear regions (TENAS.md §2): the sign bit of every ReLU output of the
 * thin network, per sample, over batches in train-mode BN; R = the exact number of distinct
 * codes (sorting packed rows; the original's fp16 pairwise-Hamming trick can miscount).
 *
 * The bits are packed on the device (relu_sign_pack, from each ReLU's input), one word-aligned
 * segment per ReLU layer, so a batch reads back batch x words 32-bit words instead of every
 * ReLU output as floats; a flag records any non-finite pre-activation, so an R computed from a
 * NaN can be reported as undefined. */
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "model/graph.h"

struct clnas_lr {
    clnas_ctx *ctx;
    const clnas_net *net;
    clnas_plan *plan;
    int batch;
    size_t words;      /* 32-bit words per sample: sum over ReLU layers of ceil(size / 32) */
    cl_mem codes;      /* batch x words */
    cl_mem flag;       /* one int: a non-finite pre-activation was seen */
};

static size_t code_words(const clnas_net *net)
{
    size_t w = 0;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == L_RELU) w += (tensor_size(&net->tensors[net->layers[i].in]) + 31) / 32;
    return w;
}

clnas_status clnas_lr_create(clnas_ctx *ctx, const clnas_net *net, int batch, clnas_lr **out)
{
    *out = NULL;
    if (batch < 1) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "linear-region batch must be >= 1 (got %d)", batch);
    clnas_lr *l = calloc(1, sizeof *l);
    if (!l) return clnas_set_error(ctx, CLNAS_E_NOMEM, "linear regions: out of host memory");
    l->ctx = ctx;
    l->net = net;
    l->batch = batch;
    l->words = code_words(net);
    clnas_status st = clnas_plan_create(ctx, net, batch, 1, 0, &l->plan);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, (l->words ? l->words : 1) * (size_t)batch * sizeof(uint32_t), &l->codes);
    if (st == CLNAS_OK) st = clnas_buf_alloc(ctx, sizeof(cl_int), &l->flag);
    if (st != CLNAS_OK) {
        clnas_lr_destroy(l);
        return st;
    }
    *out = l;
    return CLNAS_OK;
}

void clnas_lr_destroy(clnas_lr *l)
{
    if (!l) return;
    clnas_plan_destroy(l->plan);
    clnas_buf_free(l->codes);
    clnas_buf_free(l->flag);
    free(l);
}

clnas_status clnas_lr_set_params(clnas_lr *l, const float *params) { return clnas_plan_set_params(l->plan, params); }

static _Thread_local size_t g_bytes;
static int cmp_rows(const void *a, const void *b) { return memcmp(a, b, g_bytes); }

/* Distinct rows among n rows of `bytes` bytes (sorted in place). */
static size_t distinct_rows(void *rows, int n, size_t bytes)
{
    if (n <= 0) return 0;
    if (bytes == 0) return 1; /* no ReLU: every sample shares the one empty code */
    g_bytes = bytes;
    qsort(rows, (size_t)n, bytes, cmp_rows);
    size_t distinct = 1;
    const unsigned char *r = rows;
    for (int s = 1; s < n; s++)
        if (memcmp(r + (size_t)s * bytes, r + (size_t)(s - 1) * bytes, bytes) != 0) distinct++;
    return distinct;
}

clnas_status clnas_count_distinct_codes(const uint8_t *codes, int n, size_t bits, size_t *distinct)
{
    *distinct = 0;
    if (n <= 0) return CLNAS_OK;
    size_t words = (bits + 63) / 64;
    uint64_t *rows = calloc((size_t)n * (words ? words : 1), sizeof(uint64_t));
    if (!rows) return CLNAS_E_NOMEM;
    for (int s = 0; s < n; s++)
        for (size_t b = 0; b < bits; b++)
            if (codes[(size_t)s * bits + b]) rows[(size_t)s * words + b / 64] |= 1ULL << (b % 64);
    *distinct = distinct_rows(rows, n, words * sizeof(uint64_t));
    free(rows);
    return CLNAS_OK;
}

/* The packed rows of one batch back into 0/1 bytes in layer order (for dumps). */
static void unpack(const clnas_net *net, const uint32_t *rows, size_t words, int batch, uint8_t *codes)
{
    const size_t bits = net->relu_bits;
    for (int s = 0; s < batch; s++) {
        const uint32_t *row = rows + (size_t)s * words;
        uint8_t *dst = codes + (size_t)s * bits;
        size_t w0 = 0, pos = 0;
        for (int i = 0; i < net->nlayers; i++) {
            if (net->layers[i].kind != L_RELU) continue;
            size_t sz = tensor_size(&net->tensors[net->layers[i].in]);
            for (size_t j = 0; j < sz; j++) dst[pos + j] = (uint8_t)((row[w0 + j / 32] >> (j % 32)) & 1u);
            pos += sz;
            w0 += (sz + 31) / 32;
        }
    }
}

/* Runs one batch and appends its packed codes at rows (batch x words). */
static clnas_status batch_codes(clnas_lr *l, const float *inputs, uint32_t *rows)
{
    const clnas_net *net = l->net;
    clnas_status st = clnas_plan_forward(l->plan, inputs);
    size_t w0 = 0;
    for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
        const layer *ly = &net->layers[i];
        if (ly->kind != L_RELU) continue;
        size_t sz = tensor_size(&net->tensors[ly->in]);
        clnas_dt x = {l->plan->act, plan_act_off(l->plan, ly->in)}, out = {l->codes, w0}, flag = {l->flag, 0};
        /* a ReLU may read a channel slice of a concatenation: its samples are further apart */
        const size_t ld = (size_t)plan_stride_c(net, ly->in) * net->tensors[ly->in].h * net->tensors[ly->in].w;
        st = clnas_relu_sign_pack_ld(l->ctx, sz, l->batch, x, ld, out, l->words, flag);
        w0 += (sz + 31) / 32;
    }
    if (st == CLNAS_OK && l->words)
        st = clnas_buf_read(l->ctx, l->codes, 0, l->words * (size_t)l->batch * sizeof(uint32_t), rows);
    return st;
}

size_t clnas_lr_words(const clnas_lr *l) { return l->words; }

clnas_status clnas_lr_codes(clnas_lr *l, const float *inputs, uint32_t *rows, int *nonfinite)
{
    const cl_int zero = 0;
    cl_int flag = 0;
    clnas_status st = clnas_buf_write(l->ctx, l->flag, 0, sizeof zero, &zero);
    if (st == CLNAS_OK) st = batch_codes(l, inputs, rows);
    if (st == CLNAS_OK) st = clnas_buf_read(l->ctx, l->flag, 0, sizeof flag, &flag);
    if (st == CLNAS_OK && nonfinite) *nonfinite = flag != 0;
    return st;
}

clnas_status clnas_lr_count(clnas_lr *l, const float *inputs, int n, size_t *regions, int *nonfinite, uint8_t *codes_out)
{
    clnas_ctx *ctx = l->ctx;
    const clnas_net *net = l->net;
    if (n < 1 || n % l->batch)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "linear regions: %d samples is not a positive multiple of the batch %d",
                               n, l->batch);
    const size_t W = l->words, insz = tensor_size(&net->tensors[0]);
    uint32_t *rows = malloc((size_t)n * (W ? W : 1) * sizeof(uint32_t));
    if (!rows) return clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory for %d linear-region codes", n);
    const cl_int zero = 0;
    cl_int flag = 0;
    clnas_status st = clnas_buf_write(ctx, l->flag, 0, sizeof zero, &zero);
    for (int b0 = 0; b0 < n && st == CLNAS_OK; b0 += l->batch) {
        st = batch_codes(l, inputs + (size_t)b0 * insz, rows + (size_t)b0 * W);
        if (st == CLNAS_OK && codes_out) unpack(net, rows + (size_t)b0 * W, W, l->batch, codes_out + (size_t)b0 * net->relu_bits);
    }
    if (st == CLNAS_OK) st = clnas_buf_read(ctx, l->flag, 0, sizeof flag, &flag);
    if (st == CLNAS_OK) {
        *regions = distinct_rows(rows, n, W * sizeof(uint32_t));
        if (nonfinite) *nonfinite = flag != 0;
    }
    free(rows);
    return st;
}
