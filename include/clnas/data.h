/* clnas/data.h - image data for the TE-NAS scores: CIFAR-format readers, the training
 * augmentation of TE-NAS's NTK batches, and the 3x3 single-channel patch sampler of its
 * linear-region count (../shared/docs/TENAS.md §2.1, §6).
 *
 * File formats (all: pixel planes R, G, B, each row-major hw x hw, uint8):
 * - CIFAR-10 binary (data_batch_1..5.bin, or any file in that layout such as the bundled
 *   train_10k.bin): records of 1 label byte + 3*32*32 bytes;
 * - CIFAR-100 binary (train.bin): 2 label bytes (coarse, fine) + 3*32*32 bytes;
 * - ImageNet16-120 in clnas's record layout (made by tools/imagenet16_convert.py from the
 *   official pickles): 1 label byte + 3*16*16 bytes;
 * - ImageNet-1k (kind "imagenet"): an ImageNet-style training folder (one sub-folder of JPEG
 *   files per class, as torchvision's ImageFolder reads it), either converted once into an
 *   image-record file by clnas_imagefolder_convert (`clnas data convert`) or decoded on load.
 *   Images are resized to 32x32 exactly as TE-NAS's transforms.Resize((32, 32)) does (PIL's
 *   antialiased bilinear filter). An image-record file is a text header of "key: value" lines
 *   (first line "CLNAS-IMAGE-RECORDS 1"; provenance: source folder, images, skipped files,
 *   classes and their folder names, size, filter, decoder, clnas version, date) ending with
 *   an empty line, then records of a 2-byte little-endian label + 3*size*size bytes.
 *
 * Class count: clnas_dataset_classes(kind) is the kind's usual classifier width (1000 for
 * ImageNet-1k); a loaded data set knows its own, clnas_dataset_num_classes(d) (for ImageNet:
 * the number of class folders of the source), which is what a proxy's classifier must use. */
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
    CLNAS_DS_IMAGENET16 = 2,
    CLNAS_DS_IMAGENET = 3 /* ImageNet-1k resized to 32x32 (TE-NAS's DARTS ImageNet search) */
} clnas_dataset_kind;

/* "cifar10", "cifar100", "imagenet16" (also "ImageNet16-120"), "imagenet" (also "imagenet-1k").
 * CLNAS_E_INVALID_ARG otherwise. */
clnas_status clnas_dataset_parse_kind(const char *s, clnas_dataset_kind *out);
const char *clnas_dataset_name(clnas_dataset_kind k);  /* "cifar10", "cifar100", "imagenet16", "imagenet" */
/* The kind's usual class count: 10, 100, 120, 1000. A loaded data set's own count is
 * clnas_dataset_num_classes (an ImageNet-style folder may hold fewer classes). */
int clnas_dataset_classes(clnas_dataset_kind k);
int clnas_dataset_hw(clnas_dataset_kind k);            /* 32, 32, 16, 32 */
int clnas_dataset_pad(clnas_dataset_kind k);           /* crop padding: 4, 4, 2, 4 */
/* Per-channel mean and std in [0,1] units (TE-NAS's values /255; ImageNet's 0.485, 0.456,
 * 0.406 and 0.229, 0.224, 0.225 as they are). */
void clnas_dataset_norm(clnas_dataset_kind k, float mean[3], float std[3]);

typedef struct clnas_dataset clnas_dataset;

/* Loads a training set. path: a file in the kind's record layout, or a folder holding
 * data_batch_1.bin..data_batch_5.bin (CIFAR-10), train.bin (CIFAR-100) or train.bin /
 * train_*.bin (ImageNet16); for ImageNet an image-record file or an ImageNet-style folder
 * (decoded on load with all online CPUs; files that cannot be decoded are skipped, see
 * clnas_dataset_note). NULL means the bundled CIFAR-10 subset (for other kinds NULL is
 * an error that says the data must be given with --data). A missing file, a size that is not
 * a whole number of records, a malformed header or a label out of range is CLNAS_E_IO with a
 * message naming the file and the byte offset; a folder left with no image is CLNAS_E_IO
 * naming some of the skipped files. The caller destroys *out. */
clnas_status clnas_dataset_load(clnas_dataset_kind kind, const char *path, clnas_dataset **out,
                                char *err, size_t errlen);
void clnas_dataset_destroy(clnas_dataset *d); /* NULL is a no-op */
int clnas_dataset_size(const clnas_dataset *d);
clnas_dataset_kind clnas_dataset_kind_of(const clnas_dataset *d);
/* Image i as uint8 [3][hw][hw]; borrowed. */
const uint8_t *clnas_dataset_image(const clnas_dataset *d, int i);
int clnas_dataset_label(const clnas_dataset *d, int i);
/* Classes of this data set: the kind's count, or for ImageNet the number of class folders of
 * its source (also those that held no image). 0 for NULL. */
int clnas_dataset_num_classes(const clnas_dataset *d);
/* Files skipped because they could not be read or decoded: by this load (a folder) or when
 * the record file was made (its header says how many). */
long clnas_dataset_skipped(const clnas_dataset *d);
/* "" or one line for the user about this load: for a folder read directly, the skipped files
 * (count and the first few by name and reason). Borrowed; lives as long as d. */
const char *clnas_dataset_note(const clnas_dataset *d);
/* Where the data came from (file or folder, as given or as resolved for the bundled set). */
const char *clnas_dataset_source(const clnas_dataset *d);

/* ---- ImageNet-style folders: one conversion into an image-record file ---- */
typedef struct clnas_convert_opts {
    int size;          /* side of the stored images (default 32, what --dataset imagenet reads) */
    int threads;       /* decoder threads (default 0: the online CPUs) */
    long per_class;    /* 0 (default): every file; N: the first N files of each class (ImageFolder order) */
    int dct_scale;     /* 0 (default): full-size decode, PIL's pixels exactly; 1: libjpeg's DCT scaling
                        * to >= 4x the size (faster, NOT PIL-exact; recorded in the header) */
    /* Optional, called from the calling thread after every few hundred files. */
    void (*progress)(void *ud, long done, long skipped, long total);
    void *progress_ud;
} clnas_convert_opts;
void clnas_convert_opts_default(clnas_convert_opts *o);

typedef struct clnas_convert_result {
    long files;          /* image files found (ImageFolder's extensions), after per_class */
    long images;         /* records written */
    long skipped;        /* files that could not be read or decoded */
    int classes;         /* class folders */
    long empty_classes;  /* class folders without any image file */
    long long bytes;     /* size of the file written */
    double seconds;      /* wall time of listing, decoding and writing */
    char skipped_note[4096]; /* "" or the skip count and the first few skipped files with reasons */
} clnas_convert_result;

/* Converts the ImageNet-style folder `folder` into the image-record file `out` (written to
 * out.tmp.<pid> and renamed when complete, so an interrupted run leaves no partial `out`).
 * Files that cannot be read or decoded are skipped and counted (res->skipped_note names a
 * few); only a folder with no decodable image left is an error. Errors: CLNAS_E_IO (folder
 * unreadable, no class folders, nothing decodable, the output cannot be written: message
 * names the path), CLNAS_E_INVALID_ARG (size outside [1, 4096], threads < 0),
 * CLNAS_E_NOMEM. res may be NULL. */
clnas_status clnas_imagefolder_convert(const char *folder, const char *out, const clnas_convert_opts *opts,
                                       clnas_convert_result *res, char *err, size_t errlen);

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
