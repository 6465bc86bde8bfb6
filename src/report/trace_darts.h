/* trace_darts.h - the trace of a DARTS search as JSON lines (`clnas search --space darts --out
 * DIR` writes DIR/trace_seedS.jsonl), written as the search goes and read back to resume.
 *
 * Lines (one JSON object each):
 *   {"type": "search", "space": "darts", "dataset", "seed", "batch", "repeats", "lr_batch",
 *    "lr_batches", "prune_number", "edge_ntk": "fixed"|"refresh"}                 (first line)
 *   {"type": "candidate", "round", "phase": "ops"|"edges", "cell": "normal"|"reduce",
 *    "edge": "I<-J", "op", "dK", "dR", "kappa_cur": [K], "kappa_cand": [K], "R_cur": [K],
 *    "R_cand": [K], "kappa_undefined"}
 *   {"type": "round", "round", "phase", "pruned": [{"cell", "edge", "op"}, ...],
 *    "alpha": {"normal": [14 x 8], "reduce": [14 x 8]}}   (the state after the round: the
 *    format clnas score --space darts --alpha reads)
 * Reals have 17 significant digits (they read back bit for bit). */
#ifndef CLNAS_REPORT_TRACE_DARTS_H
#define CLNAS_REPORT_TRACE_DARTS_H

#include <stdio.h>
#include "clnas/search_darts.h"

typedef struct darts_trace_writer darts_trace_writer;

/* Creates (truncates) path: a resumed search reports the candidates it takes over again, so the
 * new trace is whole. CLNAS_E_IO with the reason. */
clnas_status darts_trace_open(const char *path, darts_trace_writer **out, char *err, size_t errlen);
const clnas_darts_search_sink *darts_trace_sink(darts_trace_writer *w);
/* Closes and frees; CLNAS_E_IO when a line could not be written. NULL: no-op. */
clnas_status darts_trace_close(darts_trace_writer *w, char *err, size_t errlen);

typedef struct darts_trace_data {
    int has_header;
    int edge_ntk_refresh;   /* the header's edge_ntk mode */
    clnas_candidate *cands; /* candidate lines in file order (owned) */
    int *rounds;
    int n;
    int dropped;            /* a partial last line was left out */
} darts_trace_data;

/* Reads a trace; a partial or malformed LAST line is dropped (counted), any other bad line is
 * CLNAS_E_PARSE with "PATH:LINE: what". CLNAS_E_IO when it cannot be read. */
clnas_status darts_trace_read(const char *path, darts_trace_data *out, char *err, size_t errlen);
void darts_trace_data_free(darts_trace_data *t);

#endif
