/* trace.h - the trace of a TE-NAS search as JSON lines (`clnas search --out DIR` writes
 * DIR/trace_seedS.jsonl), written as the search goes and read back to resume an interrupted one.
 *
 * Lines, each one JSON object, keys in this order:
 *   {"type": "search", "space", "batches": "shared"|"per-candidate", "dataset", "seed", "batch",
 *    "repeats", "lr_batch", "lr_batches", "prune_number"}                         (the first line)
 *   {"type": "candidate", "round", "edge": "T<-F", "op", "dK", "dR", "kappa_cur": [K],
 *    "kappa_cand": [K], "R_cur": [K], "R_cand": [K], "kappa_undefined"}       (one per candidate)
 *   {"type": "round", "round", "arch_before", "arch_after", "candidates": [{"edge", "op", "dK",
 *    "dR", "rank_K", "rank_R", "rank_sum", "order", "pruned"}, ...]}            (one per round)
 * Reals have 17 significant digits (they read back bit for bit); a kappa that cannot be a number
 * is null (the search itself substitutes 1e5 for an undefined kappa, so none is written today).
 * Traces of older clnas versions have no first line (they were all written in the original
 * per-candidate mode) and kappa with 10 digits; both still read.
 *
 * The search (src/search/) knows nothing of JSON: it reports through clnas_search_sink
 * (clnas/search.h), and the writer here is such a sink. */
#ifndef CLNAS_REPORT_TRACE_H
#define CLNAS_REPORT_TRACE_H

#include <stdio.h>
#include "clnas/search.h"
#include "report/json.h"

/* ---- writing ---- */

typedef struct clnas_trace_writer clnas_trace_writer;

/* Creates (or truncates) the trace file at path. On failure CLNAS_E_IO with "cannot write PATH:
 * reason" in err. Caller frees with clnas_trace_writer_close. */
clnas_status clnas_trace_writer_open(const char *path, clnas_trace_writer **out, char *err, size_t errlen);
/* A writer on an open stream (borrowed: it must outlive the writer, and closing the writer does
 * not close it). NULL when out of memory. */
clnas_trace_writer *clnas_trace_writer_stream(FILE *f);
/* The sink to put into clnas_search_opts.trace (borrowed: valid while the writer is open). Each
 * line is written whole and flushed, so an interruption leaves at most one partial last line. A
 * write error does not stop the search (a trace is a record of it): the writer keeps the first
 * one, and clnas_trace_writer_close reports it. */
const clnas_search_sink *clnas_trace_writer_sink(clnas_trace_writer *w);
/* More settings for the search line (the data source, the device, the clnas version: what the
 * search options do not hold); keys the writer sets itself win. settings is referenced, not
 * copied. A write error closes the file and cuts it back to its last whole line. */
void clnas_trace_writer_set_settings(clnas_trace_writer *w, json_t *settings);
/* Closes the file (when the writer opened it) and frees the writer. CLNAS_E_IO with the path and
 * the reason in err when a line could not be written or the file not closed. NULL: no-op. */
clnas_status clnas_trace_writer_close(clnas_trace_writer *w, char *err, size_t errlen);

/* ---- reading back ---- */

/* What a trace holds, as far as resuming needs it. */
typedef struct clnas_trace_data {
    int has_header;          /* the first line is the search line (not in traces of older clnas) */
    int shared_batches;      /* the mode the trace was written in: 1 "shared", 0 "per-candidate"
                                and traces without the search line (the original mode only) */
    clnas_candidate *cands;  /* the n candidate lines, in file order (owned; clnas_trace_data_free) */
    int *rounds;             /* the round of each (owned) */
    int n;
    json_t *header;          /* the search line as read (owned; NULL without one): the settings
                                the candidates were computed with */
    int dropped;             /* 1 when the last line was left out because it is partial (no newline)
                                or not JSON: what an interrupted write leaves */
} clnas_trace_data;

/* Reads a trace. Candidate lines give edge, op, dK, dR, the per-repeat kappa and R values and
 * kappa_undefined; round lines and lines of other types are checked to be JSON objects and
 * skipped. A partial or malformed LAST line ends the list without an error and is counted in
 * `dropped`; any other malformed line, a candidate line without its fields or with an unknown
 * edge or op, or a search line with an unknown mode is CLNAS_E_PARSE with "PATH:LINE: what" in
 * err (PATH:LINE:COLUMN for JSON syntax). CLNAS_E_IO when the file cannot be opened (a missing
 * one too: a caller that resumes checks first whether there is a trace) or read, with the reason
 * in err; CLNAS_E_NOMEM. On failure *out is empty. */
clnas_status clnas_trace_read(const char *path, clnas_trace_data *out, char *err, size_t errlen);
/* Frees what clnas_trace_read allocated and empties *t. NULL-safe. */
void clnas_trace_data_free(clnas_trace_data *t);

/* ---- what the DARTS trace (trace_darts.c) shares with this one ---- */

/* Writes one line built by the caller as the search sink does (whole, flushed; after the first
 * failure nothing more) and releases it; bad: building the line failed (out of memory). */
void clnas_trace_writer_put(clnas_trace_writer *w, json_t *line, int bad);
/* The settings given with clnas_trace_writer_set_settings (borrowed), NULL when none. */
json_t *clnas_trace_writer_settings(const clnas_trace_writer *w);
/* Sets the members every candidate line has after its edge and op: "dK", "dR", "kappa_cur",
 * "kappa_cand", "R_cur", "R_cand" (repeats values each), "kappa_undefined", "regions_undefined"
 * and, when c->cost_s is not NaN, "cost". Nonzero when out of memory. */
int clnas_trace_put_candidate(json_t *line, const clnas_candidate *c, int repeats);
/* Reads those members back into c (edge and op are the caller's); "regions_undefined" and
 * "cost" are optional (traces of older clnas: 0 and NaN seconds). NULL, or what is wrong. */
const char *clnas_trace_get_candidate(const json_t *line, clnas_candidate *c);
/* Appends a candidate and its round to t (cap: the arrays' capacity); 0 when out of memory. */
int clnas_trace_push(clnas_trace_data *t, int *cap, const clnas_candidate *c, int round);
/* Reads a JSON-lines file line by line: take(ud, line, first, &nomem) for every whole line
 * (first: the first non-blank line) returns NULL or what is wrong with it (then CLNAS_E_PARSE
 * with "PATH:LINE: TYPE line: what"), and sets *nomem when out of memory. A partial or malformed
 * last line sets *dropped; errors as clnas_trace_read. */
typedef const char *(*clnas_trace_line_fn)(void *ud, const json_t *line, int first, int *nomem);
clnas_status clnas_trace_read_lines(const char *path, clnas_trace_line_fn take, void *ud, int *dropped, char *err,
                                    size_t errlen);

#endif
