/* lr.c - the number of linear regions (TENAS.md §2): the sign bit of every ReLU output of the
 * thin network, per sample, over batches in train-mode BN; R = the exact number of distinct
 * codes (sorting packed rows; the original's fp16 pairwise-Hamming trick can miscount). */
#include <stdlib.h>
#include <string.h>
#include "clnas/score.h"
#include "model/graph.h"

struct clnas_lr {
    clnas_ctx *ctx;
    const clnas_net *net;
    clnas_plan *plan;
    int batch;
    float *buf; /* one ReLU tensor for a batch */
};

clnas_status clnas_lr_create(clnas_ctx *ctx, const clnas_net *net, int batch, clnas_lr **out)
{
    *out = NULL;
    if (batch < 1) return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "linear-region batch must be >= 1 (got %d)", batch);
    clnas_lr *l = calloc(1, sizeof *l);
    if (!l) return CLNAS_E_NOMEM;
    l->ctx = ctx;
    l->net = net;
    l->batch = batch;
    size_t maxsz = 1;
    for (int i = 0; i < net->nlayers; i++)
        if (net->layers[i].kind == L_RELU && tensor_size(&net->tensors[net->layers[i].out]) > maxsz)
            maxsz = tensor_size(&net->tensors[net->layers[i].out]);
    l->buf = malloc(maxsz * (size_t)batch * sizeof(float));
    clnas_status st = l->buf ? clnas_plan_create(ctx, net, batch, 1, 0, &l->plan) : CLNAS_E_NOMEM;
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
    free(l->buf);
    free(l);
}

clnas_status clnas_lr_set_params(clnas_lr *l, const float *params) { return clnas_plan_set_params(l->plan, params); }

static _Thread_local size_t g_words;
static int cmp_rows(const void *a, const void *b) { return memcmp(a, b, g_words * sizeof(uint64_t)); }

size_t clnas_count_distinct_codes(const uint8_t *codes, int n, size_t bits)
{
    if (n <= 0) return 0;
    size_t words = (bits + 63) / 64;
    if (words == 0) return 1; /* no ReLU: every sample shares the one empty code */
    uint64_t *rows = calloc((size_t)n * words, sizeof(uint64_t));
    if (!rows) return 0;
    for (int s = 0; s < n; s++)
        for (size_t b = 0; b < bits; b++)
            if (codes[(size_t)s * bits + b]) rows[(size_t)s * words + b / 64] |= 1ULL << (b % 64);
    g_words = words;
    qsort(rows, (size_t)n, words * sizeof(uint64_t), cmp_rows);
    size_t distinct = 1;
    for (int s = 1; s < n; s++)
        if (memcmp(rows + (size_t)s * words, rows + (size_t)(s - 1) * words, words * sizeof(uint64_t)) != 0) distinct++;
    free(rows);
    return distinct;
}

clnas_status clnas_lr_count(clnas_lr *l, const float *inputs, int n, size_t *regions, uint8_t *codes_out)
{
    clnas_ctx *ctx = l->ctx;
    const clnas_net *net = l->net;
    if (n < 1 || n % l->batch)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "linear regions: %d samples is not a positive multiple of the batch %d",
                               n, l->batch);
    size_t bits = net->relu_bits;
    uint8_t *codes = codes_out ? codes_out : malloc((size_t)n * (bits ? bits : 1));
    if (!codes) return CLNAS_E_NOMEM;
    size_t insz = tensor_size(&net->tensors[0]);
    clnas_status st = CLNAS_OK;
    for (int b0 = 0; b0 < n && st == CLNAS_OK; b0 += l->batch) {
        st = clnas_plan_forward(l->plan, inputs + (size_t)b0 * insz);
        size_t pos = 0;
        for (int i = 0; i < net->nlayers && st == CLNAS_OK; i++) {
            const layer *ly = &net->layers[i];
            if (ly->kind != L_RELU) continue;
            size_t sz = tensor_size(&net->tensors[ly->out]);
            st = clnas_buf_read(ctx, l->plan->act, plan_act_off(l->plan, ly->out) * sizeof(float),
                                sz * (size_t)l->batch * sizeof(float), l->buf);
            for (int s = 0; s < l->batch && st == CLNAS_OK; s++) {
                uint8_t *row = codes + (size_t)(b0 + s) * bits + pos;
                const float *v = l->buf + (size_t)s * sz;
                for (size_t j = 0; j < sz; j++) row[j] = v[j] > 0.0f;
            }
            pos += sz;
        }
    }
    if (st == CLNAS_OK) {
        *regions = clnas_count_distinct_codes(codes, n, bits);
        if (*regions == 0) st = clnas_set_error(ctx, CLNAS_E_NOMEM, "out of host memory counting linear regions");
    }
    if (!codes_out) free(codes);
    return st;
}
