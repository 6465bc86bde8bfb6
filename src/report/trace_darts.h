/* trace_darts.h - the trace of a DARTS search as JSON lines (`clnas search --space darts --out
 * DIR` writes DIR/trace_seedS.jsonl), written as the search goes and read back to resume. The
 * file handling, the candidate fields and the line reader are the NB201 trace's (trace.h).
 *
 * Lines (one JSON object each):
 *   {"type": "search", "space": "darts", "dataset", "seed", "batch", "repeats", "lr_batch",
 *    "lr_batches", "prune_number", "edge_ntk": "fixed"|"refresh", "start": "supernet"|"alpha-HASH",
 *    "data", "device", "version"}                                                 (first line;
 *    traces of older clnas lack the last three: a resume warns that they cannot be checked)
 *   {"type": "candidate", "round", "phase": "ops"|"edges", "cell": "normal"|"reduce",
 *    "edge": "I<-J", "op", "dK", "dR", "kappa_cur": [K], "kappa_cand": [K], "R_cur": [K],
 *    "R_cand": [K], "kappa_undefined", "regions_undefined", "cost": {"s", "kappa_evals",
 *    "regions_evals", "kappa_gflop"}}   (regions_undefined and cost: not in traces of older
 *    clnas; cost as the NB201 trace's: seconds since the previous candidate finished, the
 *    evaluations and kappa GFLOP done for this one)
 *   {"type": "round", "round", "phase", "pruned": [{"cell", "edge", "op"}, ...],
 *    "alpha": {"normal": [14 x 8], "reduce": [14 x 8]}}   (the state after the round: the
 *    format clnas score --space darts --alpha reads)
 * Reals have 17 significant digits (they read back bit for bit). */
#ifndef CLNAS_REPORT_TRACE_DARTS_H
#define CLNAS_REPORT_TRACE_DARTS_H

#include <stdio.h>
#include "clnas/search_darts.h"
#include "report/trace.h"

typedef struct darts_trace_writer darts_trace_writer;

/* Creates (truncates) path: a resumed search reports the candidates it takes over again, so the
 * new trace is whole. settings (darts_trace_settings; referenced, may be NULL) go into the search
 * line. CLNAS_E_IO with the reason. */
clnas_status darts_trace_open(const char *path, const json_t *settings, darts_trace_writer **out, char *err, size_t errlen);
const clnas_darts_search_sink *darts_trace_sink(darts_trace_writer *w);
/* Closes and frees; CLNAS_E_IO when a line could not be written. NULL: no-op. */
clnas_status darts_trace_close(darts_trace_writer *w, char *err, size_t errlen);

/* Reads a trace into the NB201 trace's structure (header: the search line; shared_batches 0);
 * a partial or malformed LAST line is dropped (counted), any other bad line is CLNAS_E_PARSE with
 * "PATH:LINE: TYPE line: what", a search line of another space too. CLNAS_E_IO when it cannot be
 * read. Free with clnas_trace_data_free. */
clnas_status darts_trace_read(const char *path, clnas_trace_data *out, char *err, size_t errlen);
/* Every setting that changes a number of the search o (settings.h: space, dataset, data, seed,
 * batch, repeats, lr sizes, device, version, then prune_number, edge_ntk and start), as its
 * trace's search line records them and a resume compares them. NULL when out of memory. */
json_t *darts_trace_settings(const clnas_darts_search_opts *o, const char *data, const char *device);

#endif
