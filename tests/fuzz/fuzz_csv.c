/* fuzz_csv.c - CSV input: the line splitter every CSV reader uses (on each line of the input)
 * and the NB201 accuracy-table loader (a whole file). */
#include "clnas/bench201.h"
#include "core/util.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_string(data, size), *line = s, *fields[64];
    while (line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        int n = clnas_csv_split(line, fields, 64);
        for (int i = 0; i < n && i < 64; i++)
            if (!fields[i]) abort();
        line = nl ? nl + 1 : NULL;
    }
    free(s);
    const char *path = fuzz_file(data, size, ".csv");
    clnas_nb201_table *t = NULL;
    char err[1024] = "";
    if (clnas_nb201_table_load(path, &t, err, sizeof err) == CLNAS_OK) {
        for (int i = 0; i < clnas_nb201_table_size(t); i++) (void)clnas_nb201_table_row(t, i)->cifar10;
        clnas_nb201_table_destroy(t);
    } else if (!err[0]) {
        abort();
    }
    return 0;
}
