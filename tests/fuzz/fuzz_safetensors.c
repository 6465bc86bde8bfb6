/* fuzz_safetensors.c - the safetensors reader (header and data): a file either opens and every
 * tensor's bytes lie inside it (read here, so ASan sees any overrun), or it is refused with a
 * message. */
#include "fuzz_util.h"
#include "report/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".safetensors");
    st_file *f = NULL;
    char err[1024] = "";
    if (st_open(path, &f, err, sizeof err) != CLNAS_OK) {
        if (!err[0]) abort();
        return 0;
    }
    volatile unsigned sum = 0;
    for (int i = 0; i < st_count(f); i++) {
        st_dtype dt;
        int nd;
        int64_t sh[ST_MAX_DIMS];
        const unsigned char *p = st_get(f, st_name(f, i), &dt, &nd, sh);
        if (!p) abort();
        size_t n = 1;
        for (int d = 0; d < nd; d++) n *= (size_t)sh[d];
        size_t es = dt == ST_F64 || dt == ST_I64 ? 8 : dt == ST_U8 ? 1 : 4;
        for (size_t k = 0; k < n * es; k++) sum += p[k];
    }
    (void)st_meta(f, "arch");
    st_close(f);
    return 0;
}
