/* clnas/data.h - image data for the TE-NAS scores: CIFAR-format readers, the training
 * augmentation of TE-NAS's NTK batches, and the 3x3 single-channel patch sampler of its
 * linear-region count (../shared/docs/TENAS.md §2.1, §6).
 *
 * File formats (all: pixel planes R, G, B, each row-major hw x hw, uint8):
 * - CIFAR-10 binary (data_batch_1..5.bin, or any file in that layout such as the bundled
 *   train_10k.bin): records of 1 label byte + 3*32*32 bytes;
 * - CIFAR-100 binary (train.bin): 2 label bytes (coarse, fine) + 3*32*32 bytes;
 * - ImageNet16-120 in clnas's record layout (made by tools/imagenet16_convert.py from the
 *   official pickles): 1 label byte + 3*16*16 bytes. */
#ifndef CLNAS_DATA_H
#define CLNAS_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

typedef enum clnas_dataset_kind {
    CLNAS_DS_CIFAR10 = 0,
    CLNAS_DS_CIFAR100 = 1,
    CLNAS_DS_IMAGENET16 = 2
} clnas_dataset_kind;

/* "cifar10", "cifar100", "imagenet16" (also accepts "ImageNet16-120"). CLNAS_E_INVALID_ARG otherwise. */
clnas_status clnas_dataset_parse_kind(const char *s, clnas_dataset_kind *out);
const char *clnas_dataset_name(clnas_dataset_kind k);  /* "cifar10", "cifar100", "imagenet16" */
int clnas_dataset_classes(clnas_dataset_kind k);       /* 10, 100, 120 */
int clnas_dataset_hw(clnas_dataset_kind k);            /* 32, 32, 16 */
int clnas_dataset_pad(clnas_dataset_kind k);           /* crop padding: 4, 4, 2 */
/* Per-channel mean and std in [0,1] units (TE-NAS's values /255). */
void clnas_dataset_norm(clnas_dataset_kind k, float mean[3], float std[3]);

typedef struct clnas_dataset clnas_dataset;

/* Loads a training set. path: a file in the kind's record layout, or a folder holding
 * data_batch_1.bin..data_batch_5.bin (CIFAR-10), train.bin (CIFAR-100) or train.bin /
 * train_*.bin (ImageNet16); NULL means the bundled CIFAR-10 subset (for other kinds NULL is
 * an error that says the data must be given with --data). A missing file, a size that is not
 * a whole number of records, or a label out of range is CLNAS_E_IO with a message naming the
 * file and the byte offset. The caller destroys *out. */
clnas_status clnas_dataset_load(clnas_dataset_kind kind, const char *path, clnas_dataset **out,
                                char *err, size_t errlen);
void clnas_dataset_destroy(clnas_dataset *d); /* NULL is a no-op */
int clnas_dataset_size(const clnas_dataset *d);
clnas_dataset_kind clnas_dataset_kind_of(const clnas_dataset *d);
/* Image i as uint8 [3][hw][hw]; borrowed. */
const uint8_t *clnas_dataset_image(const clnas_dataset *d, int i);
int clnas_dataset_label(const clnas_dataset *d, int i);
/* Where the data came from (file or folder, as given or as resolved for the bundled set). */
const char *clnas_dataset_source(const clnas_dataset *d);

/* Resolves a file under the bundled data folder: $CLNAS_DATA_DIR, then the source tree's
 * data/, then the installed share/clnas. CLNAS_OK with the path in out, or CLNAS_E_IO with a
 * message in err that says where it looked. */
clnas_status clnas_data_path(const char *rel, char *out, size_t len, char *err, size_t errlen);

/* ---- samplers, seeded with clnas's own generator (same seed -> same images everywhere) ---- */
typedef struct clnas_sampler clnas_sampler;
/* The dataset is borrowed and must outlive the sampler. */
clnas_status clnas_sampler_create(const clnas_dataset *d, uint64_t seed, uint64_t stream,
                                  clnas_sampler **out);
void clnas_sampler_destroy(clnas_sampler *s);

/* One NTK batch, like TE-NAS's next(iter(train_loader)): B distinct images drawn uniformly
 * (a fresh shuffle per call), each with the training augmentation when augment is 1 (random
 * horizontal flip p=0.5, then a random hw x hw crop of the image zero-padded by pad), then
 * ToTensor (/255) and normalisation. out: float [B][3][hw][hw]. Indices of the chosen images
 * go to idx[B] if not NULL. */
void clnas_sampler_batch(clnas_sampler *s, int B, int augment, float *out, int *idx);

/* n linear-region patches, like TE-NAS's persistent loader over RandomCrop(3) + ToTensor +
 * Normalize + RandChannel(1): images in the order of a shuffle that continues across calls
 * (reshuffled when exhausted; a partial last batch of 1000 is dropped, as drop_last does),
 * one uniform 3x3 window and one uniform channel each. out: float [n][1][3][3]. */
void clnas_sampler_patches(clnas_sampler *s, int n, float *out);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
