/* dump.h - everything needed to check a score independently (clnas score --dump DIR), and
 * reading it back (clnas score --from DIR). Files in DIR:
 *   ntk_weights.safetensors, lr_weights.safetensors  F32 parameter tensors by module name
 *   inputs.safetensors   ntk_images F32 [K,B,3,hw,hw], lr_patches F32 [K,n,1,3,3];
 *                        metadata: space, arch, dataset, classes, seed, stream, batch, repeats,
 *                        lr_batch, lr_batches, init (no space: a dump of clnas 0.1, nb201)
 *   outputs.safetensors  theta F64 [K,B,B], eigenvalues F64 [K,B], g_row_norms F64 [K,B],
 *                        codes U8 [K,n,bits], kappa/lambda_min/lambda_max F64 [K], regions I64 [K]
 *   score.json           the result as `clnas score --json` prints it */
#ifndef CLNAS_DUMP_H
#define CLNAS_DUMP_H
#include <stdio.h>
#include <jansson.h>
#include "clnas/score.h"

/* Allocates the output arrays that a dump holds for these inputs (free with clnas_dump_outputs_free). */
clnas_status clnas_dump_outputs_alloc(const clnas_score_inputs *in, size_t lr_bits, clnas_score_outputs *out);
void clnas_dump_outputs_free(clnas_score_outputs *out);

/* Writes a dump of one score: `space` ("nb201", ...) and `arch` (its architecture in that space's
 * notation) are recorded as metadata; ntk_net and lr_net are the proxies the score ran on (their
 * parameter tensors name the weights). */
clnas_status clnas_dump_save(const char *dir, const char *space, const char *arch, const clnas_net *ntk_net,
                             const clnas_net *lr_net, const clnas_score_opts *opts, const clnas_score_inputs *in,
                             const clnas_score_outputs *out, const clnas_score_result *res, const json_t *json,
                             char *err, size_t errlen);
/* Reading back is two steps, because the weights can only be read for the networks the space
 * builds: first the space, the architecture text and opts (dataset, seed, stream, batch,
 * repeats, lr sizes, init), then, for the proxies built from them, the inputs. */
clnas_status clnas_dump_read_header(const char *dir, char *space, size_t space_len, char *arch, size_t arch_len,
                                   clnas_score_opts *opts, char *err, size_t errlen);
clnas_status clnas_dump_load(const char *dir, const clnas_net *ntk_net, const clnas_net *lr_net,
                             const clnas_score_opts *opts, clnas_score_inputs *in, char *err, size_t errlen);

/* The JSON object of a score result (what `clnas score --json` prints; NaN/inf as null, with a
 * status string); the caller json_decref()s it. NULL when out of memory. */
json_t *clnas_score_json(const char *arch, const clnas_score_opts *opts, const clnas_score_result *res,
                         const char *device, const char *data_source);
#endif
