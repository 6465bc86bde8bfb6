/* fuzz_data.c - the training-data readers: a CIFAR binary file (1 label byte + 3x32x32 bytes per
 * record; CIFAR-100 has a coarse label byte more) or an image-record file (text header, then
 * records). The first byte picks the kind; the rest is the file. A file is either loaded (and a
 * batch drawn from it, which reads every byte of the chosen records) or refused with a message. */
#include "clnas/data.h"
#include "data/image.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const clnas_dataset_kind kinds[] = {CLNAS_DS_CIFAR10, CLNAS_DS_CIFAR100, CLNAS_DS_IMAGENET16, CLNAS_DS_IMAGENET};
    clnas_dataset_kind k = kinds[data[0] % 4];
    const char *path = fuzz_file(data + 1, size - 1, ".bin");
    char err[1024] = "";
    clnas_records_header h;
    if (clnas_records_read_header(path, &h, err, sizeof err) == CLNAS_OK) clnas_records_header_free(&h);
    else if (!err[0]) abort();
    clnas_dataset *d = NULL;
    err[0] = 0;
    if (clnas_dataset_load(k, path, &d, err, sizeof err) != CLNAS_OK) {
        if (!err[0]) abort();
        return 0;
    }
    clnas_sampler *s = NULL;
    if (clnas_sampler_create(d, 1, 2, &s) == CLNAS_OK) {
        int hw = clnas_dataset_hw(k);
        float *img = malloc((size_t)2 * 3 * hw * hw * sizeof *img), pat[2 * 9];
        if (!img) abort();
        clnas_sampler_batch(s, 2, 1, img, NULL);
        clnas_sampler_patches(s, 2, pat);
        free(img);
        clnas_sampler_destroy(s);
    }
    clnas_dataset_destroy(d);
    return 0;
}
