/* fuzz_arch.c - the NAS-Bench-201 architecture-string parser: any bytes give either an
 * architecture that formats and parses back to itself, or an error message. */
#include "clnas/nb201.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_string(data, size), err[512], back[512];
    clnas_nb201_arch a, b;
    if (clnas_nb201_parse(s, &a, err, sizeof err) == CLNAS_OK) {
        clnas_nb201_format(&a, back, sizeof back);
        if (clnas_nb201_parse(back, &b, err, sizeof err) != CLNAS_OK || memcmp(&a, &b, sizeof a) != 0) abort();
    } else if (!err[0]) {
        abort(); /* an error without a message */
    }
    free(s);
    return 0;
}
