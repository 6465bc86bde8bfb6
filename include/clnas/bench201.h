/* clnas/bench201.h - the NAS-Bench-201 ground-truth table: test accuracies of all 15,625
 * cells on CIFAR-10, CIFAR-100 and ImageNet16-120 (data/nb201/nb201_accuracies.csv; its
 * PROVENANCE.md says where the numbers come from).
 *
 * File format: CSV with a header line; columns found by name: `arch` (required), `index`,
 * `cifar10_test`, `cifar100_test`, `imagenet16_test` (each optional; a missing or empty
 * accuracy is NaN). Fields may be double-quoted (needed for supernet strings, which contain
 * commas). Lines starting with '#' and blank lines are skipped.
 *
 * Lookup is by architecture, not by spelling: every arch string (in the file and in a query)
 * is parsed with clnas_nb201_parse and printed back with clnas_nb201_format, and that
 * canonical string is the key of a hash map. So "|a,b~0|..." and "|b,a~0|..." are the same
 * entry, and a query that is not a valid arch string is an error, not a miss. */
#ifndef CLNAS_BENCH201_H
#define CLNAS_BENCH201_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/nb201.h"
#include "clnas/status.h"

#ifdef __cplusplus
extern "C" {
#endif
CLNAS_API_BEGIN

typedef struct clnas_nb201_table clnas_nb201_table;

/* One row. All pointers are borrowed from the table and valid until it is destroyed. */
typedef struct clnas_nb201_row {
    int index;          /* the `index` column, or the 0-based row number if there is none */
    const char *arch;   /* canonical arch string (clnas_nb201_format of the parsed string) */
    int line;           /* 1-based line number in the file */
    double cifar10;     /* test accuracy in % (NaN when the file has no value) */
    double cifar100;
    double imagenet16;
} clnas_nb201_row;

/* Which accuracy column: matches clnas_dataset_kind's numbering (0, 1, 2). */
typedef enum clnas_nb201_column {
    CLNAS_NB201_CIFAR10 = 0,
    CLNAS_NB201_CIFAR100 = 1,
    CLNAS_NB201_IMAGENET16 = 2
} clnas_nb201_column;

/* Column name as in the file header: "cifar10_test", "cifar100_test", "imagenet16_test". */
const char *clnas_nb201_column_name(clnas_nb201_column c);
/* Accuracy of a row in column c (NaN for an out-of-range c). */
double clnas_nb201_row_acc(const clnas_nb201_row *r, clnas_nb201_column c);

/* Loads a table. path NULL or "" -> the bundled file, found with
 * clnas_data_path("nb201/nb201_accuracies.csv"). Errors: CLNAS_E_IO for a file that cannot be
 * opened or read, CLNAS_E_PARSE for a malformed file (no `arch` column, a bad arch string, a
 * number that does not parse, a duplicate architecture) with a message "FILE:LINE: what" in
 * err. The caller destroys *out with clnas_nb201_table_destroy (*out is NULL on failure). */
clnas_status clnas_nb201_table_load(const char *path, clnas_nb201_table **out, char *err, size_t errlen);
void clnas_nb201_table_destroy(clnas_nb201_table *t); /* NULL is a no-op */

/* The file the table was read from (borrowed). */
const char *clnas_nb201_table_path(const clnas_nb201_table *t);
/* Number of rows. */
int clnas_nb201_table_size(const clnas_nb201_table *t);
/* Row i (0 <= i < size) in file order; NULL if out of range. Borrowed. */
const clnas_nb201_row *clnas_nb201_table_row(const clnas_nb201_table *t, int i);

/* Finds an architecture given as a string. *row = its row number (for clnas_nb201_table_row),
 * or -1 when the string is a valid arch that the table does not hold (CLNAS_OK either way).
 * A string that does not parse is CLNAS_E_PARSE with the parser's message in err. */
clnas_status clnas_nb201_table_find(const clnas_nb201_table *t, const char *arch, int *row,
                                    char *err, size_t errlen);
/* The same for a parsed architecture; returns the row number or -1. */
int clnas_nb201_table_find_arch(const clnas_nb201_table *t, const clnas_nb201_arch *a);

/* Draws n distinct row numbers uniformly without replacement (a partial Fisher-Yates shuffle
 * driven by clnas's PCG32 with this seed), in draw order, into idx[n]. Same table size and
 * seed -> the same rows on every platform. CLNAS_E_INVALID_ARG if n < 0 or n > size. */
clnas_status clnas_nb201_table_sample(const clnas_nb201_table *t, int n, uint64_t seed, int *idx);

CLNAS_API_END
#ifdef __cplusplus
}
#endif
#endif
