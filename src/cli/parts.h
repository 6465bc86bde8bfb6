/* parts.h - per-rank part files of a CSV written by several MPI ranks (cli/mpi.h).
 *
 * Rank r appends its rows to OUT.partR (with OUT's header line), flushed row by row. When the
 * whole study is done, rank 0 merges every part into OUT: the rows not yet in OUT, ordered by the
 * position of their key (the second field, quoted or not) in the study's list, so OUT holds the
 * rows in the order one process would have written them; then the parts are removed. An
 * interrupted job leaves the parts: a rerun (with any number of ranks, or none) counts their rows
 * as done and merges them at its end. */
#ifndef CLNAS_CLI_PARTS_H
#define CLNAS_CLI_PARTS_H
#include <stddef.h>

/* "OUT.partR" into buf. */
void cli_part_name(const char *out, int rank, char *buf, size_t len);
/* The part files of OUT that exist (malloc'd paths; free each and the array). 0 on failure. */
int cli_parts_list(const char *out, char ***paths, int *n);
/* Cuts a part file back to its last complete line (an interrupted write leaves a partial one).
 * A missing file is fine. 0 with the message printed on failure. */
int cli_part_trim(const char *cmd, const char *path);
/* Merges every part into out in the order of keys[0..nkeys) (see above; rows whose key is not in
 * keys, from another study written to the same file, follow in file order) and removes the parts.
 * 0 with the message printed on failure (the parts are kept then). */
int cli_parts_merge(const char *cmd, const char *out, char *const *keys, int nkeys);

#endif
