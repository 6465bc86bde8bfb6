/* sampler.c - the two samplers of clnas/data.h: TE-NAS's NTK batch (train augmentation) and
 * its linear-region patches (../shared/docs/TENAS.md §2.1, §6). Pure host code, seeded with
 * clnas's PCG32, so the same (seed, stream) gives the same floats on every machine.
 *
 * Generators. A sampler holds two independent PCG32 generators, so NTK batches and LR
 * patches do not disturb each other whatever order they are asked for in:
 *   batch:   clnas_pcg32_seed(seed, stream)
 *   patches: clnas_pcg32_seed(clnas_key_combine(seed, 0x7061746368 "patch"), stream)
 *
 * Pixel values. Every output value is lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c] in
 * float32 (torchvision's ToTensor then Normalize; mean/std from clnas_dataset_norm), where v
 * is the uint8 source pixel, or 0 for the zero padding of RandomCrop.
 *
 * Order of draws of clnas_sampler_batch(B, augment), all from the batch generator:
 *   1. the B indices: perm = identity 0..n-1; for i = 0..B-1:
 *        j = i + below(n - i); swap(perm[i], perm[j]); idx[i] = perm[i]
 *      (a partial Fisher-Yates: B distinct images, uniformly; if B > n the draw restarts
 *      from the identity every n images, so images repeat only then);
 *   2. only when augment is 1, for each image i = 0..B-1 in batch order:
 *        flip = below(2)            (1: mirror left-right, RandomHorizontalFlip(0.5))
 *        top  = below(2*pad + 1)    (RandomCrop(hw, padding=pad): row offset first,
 *        left = below(2*pad + 1)     then column offset, as torchvision's get_params)
 *      out[i][c][y][x] = F(c, y + top - pad, x + left - pad), F = the (flipped) image,
 *      0 outside it.
 *   below(k) is clnas_pcg32_below (unbiased rejection).
 *
 * Order of draws of clnas_sampler_patches(n), all from the patch generator. The state is
 * an order[] of the N images, a position in it, and the count of patches already given
 * from the current batch of P = min(1000, N) (TE-NAS: batch 1000, shuffle, drop_last):
 *   for each patch:
 *     if it starts a batch and fewer than P images remain in order[] (always true the first
 *     time): order = identity; for i = N-1 .. 1: j = below(i + 1); swap(order[i], order[j]);
 *     position = 0   (a fresh full Fisher-Yates shuffle; the unused tail is dropped)
 *     image = order[position++]
 *     top = below(hw - 2); left = below(hw - 2)   (RandomCrop(3))
 *     ch = below(3)                                (RandChannel(1))
 *     out[k][0][dy][dx] = lut[ch][image[ch][top + dy][left + dx]]
 *   The state carries over between calls: two calls of 500 give the same 1000 patches as
 *   one call of 1000. */
#include <stdlib.h>
#include <string.h>

#include "clnas/data.h"
#include "core/rng.h"

#define PATCH_BATCH 1000
#define PATCH_SALT 0x7061746368ULL /* "patch" */

struct clnas_sampler {
    const clnas_dataset *d;
    int n, hw, pad;
    float lut[3][256];
    clnas_pcg32 rb, rp; /* batch and patch generators */
    int *perm;          /* [n] scratch of the batch draw */
    int *order;         /* [n] current patch epoch order */
    int pos;            /* next position in order */
    int in_batch;       /* patches already given from the current batch */
    int pbatch;         /* min(PATCH_BATCH, n) */
};

clnas_status clnas_sampler_create(const clnas_dataset *d, uint64_t seed, uint64_t stream,
                                  clnas_sampler **out)
{
    if (!out) return CLNAS_E_INVALID_ARG;
    *out = NULL;
    if (!d || clnas_dataset_size(d) <= 0) return CLNAS_E_INVALID_ARG;
    clnas_sampler *s = calloc(1, sizeof *s);
    if (!s) return CLNAS_E_NOMEM;
    s->d = d;
    s->n = clnas_dataset_size(d);
    clnas_dataset_kind k = clnas_dataset_kind_of(d);
    s->hw = clnas_dataset_hw(k);
    s->pad = clnas_dataset_pad(k);
    s->perm = malloc((size_t)s->n * sizeof(int));
    s->order = malloc((size_t)s->n * sizeof(int));
    if (!s->perm || !s->order) {
        clnas_sampler_destroy(s);
        return CLNAS_E_NOMEM;
    }
    float mean[3], std[3];
    clnas_dataset_norm(k, mean, std);
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) s->lut[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
    clnas_pcg32_seed(&s->rb, seed, stream);
    clnas_pcg32_seed(&s->rp, clnas_key_combine(seed, PATCH_SALT), stream);
    s->pos = s->n; /* forces the first shuffle */
    s->in_batch = 0;
    s->pbatch = s->n < PATCH_BATCH ? s->n : PATCH_BATCH;
    *out = s;
    return CLNAS_OK;
}

void clnas_sampler_destroy(clnas_sampler *s)
{
    if (!s) return;
    free(s->perm);
    free(s->order);
    free(s);
}

void clnas_sampler_batch(clnas_sampler *s, int B, int augment, float *out, int *idx)
{
    if (!s || B <= 0 || !out) return;
    const int n = s->n, hw = s->hw, pad = s->pad;
    const size_t plane = (size_t)hw * (size_t)hw, isz = 3 * plane;
    int *chosen = idx ? idx : malloc((size_t)B * sizeof(int));
    if (!chosen) return; /* out of memory: nothing sensible to report through a void call */

    /* 1. the indices */
    for (int i = 0; i < B; i++) {
        int k = i % n;
        if (k == 0)
            for (int t = 0; t < n; t++) s->perm[t] = t;
        int j = k + (int)clnas_pcg32_below(&s->rb, (uint32_t)(n - k));
        int tmp = s->perm[k];
        s->perm[k] = s->perm[j];
        s->perm[j] = tmp;
        chosen[i] = s->perm[k];
    }

    /* 2. augmentation and normalisation, image by image */
    for (int i = 0; i < B; i++) {
        const uint8_t *img = clnas_dataset_image(s->d, chosen[i]);
        float *o = out + (size_t)i * isz;
        int flip = 0, top = pad, left = pad;
        if (augment) {
            flip = (int)clnas_pcg32_below(&s->rb, 2);
            top = (int)clnas_pcg32_below(&s->rb, (uint32_t)(2 * pad + 1));
            left = (int)clnas_pcg32_below(&s->rb, (uint32_t)(2 * pad + 1));
        }
        for (int c = 0; c < 3; c++) {
            const uint8_t *p = img + (size_t)c * plane;
            const float *lut = s->lut[c];
            for (int y = 0; y < hw; y++) {
                int sy = y + top - pad;
                float *orow = o + (size_t)c * plane + (size_t)y * (size_t)hw;
                if (sy < 0 || sy >= hw) {
                    for (int x = 0; x < hw; x++) orow[x] = lut[0];
                    continue;
                }
                const uint8_t *row = p + (size_t)sy * (size_t)hw;
                for (int x = 0; x < hw; x++) {
                    int sx = x + left - pad;
                    if (sx < 0 || sx >= hw) orow[x] = lut[0];
                    else orow[x] = lut[row[flip ? hw - 1 - sx : sx]];
                }
            }
        }
    }
    if (!idx) free(chosen);
}

void clnas_sampler_patches(clnas_sampler *s, int n, float *out)
{
    if (!s || n <= 0 || !out) return;
    const int N = s->n, hw = s->hw;
    const size_t plane = (size_t)hw * (size_t)hw;
    for (int k = 0; k < n; k++) {
        if (s->in_batch == 0 && N - s->pos < s->pbatch) {
            for (int t = 0; t < N; t++) s->order[t] = t;
            for (int i = N - 1; i >= 1; i--) {
                int j = (int)clnas_pcg32_below(&s->rp, (uint32_t)(i + 1));
                int tmp = s->order[i];
                s->order[i] = s->order[j];
                s->order[j] = tmp;
            }
            s->pos = 0;
        }
        const uint8_t *img = clnas_dataset_image(s->d, s->order[s->pos++]);
        s->in_batch = (s->in_batch + 1) % s->pbatch;
        int top = (int)clnas_pcg32_below(&s->rp, (uint32_t)(hw - 2));
        int left = (int)clnas_pcg32_below(&s->rp, (uint32_t)(hw - 2));
        int ch = (int)clnas_pcg32_below(&s->rp, 3);
        const uint8_t *p = img + (size_t)ch * plane;
        float *o = out + (size_t)k * 9;
        for (int dy = 0; dy < 3; dy++)
            for (int dx = 0; dx < 3; dx++)
                o[dy * 3 + dx] = s->lut[ch][p[(size_t)(top + dy) * (size_t)hw + (size_t)(left + dx)]];
    }
}
