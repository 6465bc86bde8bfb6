/* score_multi.h - the repeats of one score over a device pool (`clnas score --devices`). */
#ifndef CLNAS_CLI_SCORE_MULTI_H
#define CLNAS_CLI_SCORE_MULTI_H
#include <stddef.h>
#include "clnas/score.h"
#include "runtime/pool.h"

/* clnas_score_run with repeat r computed on whichever device of the pool is free (one device:
 * clnas_score_run itself). Identical devices give the numbers of one device. The reason of a
 * failure is in err. */
clnas_status cli_score_run_pool(clnas_pool *pool, const clnas_net *nn, const clnas_net *ln, const clnas_score_opts *o,
                                const clnas_score_inputs *in, clnas_score_result *res, clnas_score_outputs *out,
                                char *err, size_t errlen);
#endif
