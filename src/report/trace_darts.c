/* trace_darts.c - JSON-lines trace of a DARTS search (trace_darts.h): a sink that writes one
 * line per candidate and round, and the reader that resumes an interrupted search from it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/util.h"
#include "core/fault.h"
#include "report/json.h"
#include "report/settings.h"
#include "report/trace_darts.h"

struct darts_trace_writer {
    clnas_trace_writer *w; /* the NB201 trace's writer: the file, whole lines, the first error */
    clnas_darts_search_sink sink;
};

static json_t *edge_fields(json_t *j, int edge, int op, int *bad)
{
    int node, from;
    char en[16];
    clnas_darts_edge_nodes(edge % CLNAS_DARTS_EDGES, &node, &from);
    snprintf(en, sizeof en, "%d<-%d", node, from);
    *bad |= json_object_set_new(j, "cell", json_string(edge < CLNAS_DARTS_EDGES ? "normal" : "reduce"));
    *bad |= json_object_set_new(j, "edge", json_string(en));
    *bad |= json_object_set_new(j, "op", json_string(clnas_darts_op_name(op)));
    return j;
}

/* "supernet", or a fingerprint of another start state */
static void start_id(const clnas_darts_search_opts *o, char *buf, size_t len)
{
    if (!o->start) {
        snprintf(buf, len, "supernet");
        return;
    }
    snprintf(buf, len, "alpha-%016llx", (unsigned long long)clnas_fnv1a64(CLNAS_FNV_INIT, o->start, sizeof *o->start));
}

/* The search's own settings, in the search line's order. */
static int own_settings(json_t *j, const clnas_darts_search_opts *o)
{
    const clnas_score_opts *so = &o->score;
    char st[40];
    start_id(o, st, sizeof st);
    int bad = json_object_set_new(j, "space", json_string("darts"));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(so->dataset)));
    bad |= json_object_set_new(j, "seed", json_integer((json_int_t)so->seed));
    bad |= json_object_set_new(j, "batch", json_integer(so->batch));
    bad |= json_object_set_new(j, "repeats", json_integer(so->repeats));
    bad |= json_object_set_new(j, "lr_batch", json_integer(so->lr_batch));
    bad |= json_object_set_new(j, "lr_batches", json_integer(so->lr_batches));
    bad |= json_object_set_new(j, "prune_number", json_integer(o->prune_number));
    bad |= json_object_set_new(j, "edge_ntk", json_string(o->edge_ntk_refresh ? "refresh" : "fixed"));
    bad |= json_object_set_new(j, "start", json_string(st));
    return bad;
}

json_t *darts_trace_settings(const clnas_darts_search_opts *o, const char *data, const char *device)
{
    json_t *j = clnas_settings_new("darts", &o->score, data, device);
    if (j && own_settings(j, o)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static void on_begin(void *ud, const clnas_darts_search_opts *o)
{
    darts_trace_writer *w = ud;
    json_t *j = json_object(), *extra = clnas_trace_writer_settings(w->w);
    int bad = json_object_set_new(j, "type", json_string("search"));
    bad |= own_settings(j, o);
    if (extra) bad |= json_object_update_missing(j, extra);
    clnas_trace_writer_put(w->w, j, bad);
}

static void on_candidate(void *ud, int round, const char *phase, const clnas_candidate *c, int repeats)
{
    darts_trace_writer *w = ud;
    json_t *j = json_object();
    int bad = json_object_set_new(j, "type", json_string("candidate"));
    bad |= json_object_set_new(j, "round", json_integer(round));
    bad |= json_object_set_new(j, "phase", json_string(phase));
    edge_fields(j, c->edge, c->op, &bad);
    bad |= clnas_trace_put_candidate(j, c, repeats);
    clnas_trace_writer_put(w->w, j, bad);
    clnas_stop_point("candidate");
}

static void on_round(void *ud, int round, const char *phase, const clnas_darts_alpha *before, const clnas_darts_alpha *after,
                     const clnas_candidate *c, int n)
{
    (void)before;
    json_t *j = json_object(), *pr = json_array();
    int bad = json_object_set_new(j, "type", json_string("round"));
    bad |= json_object_set_new(j, "round", json_integer(round));
    bad |= json_object_set_new(j, "phase", json_string(phase));
    for (int i = 0; i < n; i++)
        if (c[i].pruned) bad |= json_array_append_new(pr, edge_fields(json_object(), c[i].edge, c[i].op, &bad));
    bad |= json_object_set_new(j, "pruned", pr);
    char *s = clnas_darts_alpha_to_json(after);
    json_t *a = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    bad |= !a || json_object_set_new(j, "alpha", a);
    clnas_trace_writer_put(((darts_trace_writer *)ud)->w, j, bad);
}

clnas_status darts_trace_open(const char *path, const json_t *settings, darts_trace_writer **out, char *err, size_t errlen)
{
    *out = NULL;
    darts_trace_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "cannot write %s: out of host memory", path);
        return CLNAS_E_NOMEM;
    }
    clnas_status st = clnas_trace_writer_open(path, &w->w, err, errlen);
    if (st != CLNAS_OK) {
        free(w);
        return st;
    }
    clnas_trace_writer_set_settings(w->w, (json_t *)settings);
    w->sink.ud = w;
    w->sink.begin = on_begin;
    w->sink.candidate = on_candidate;
    w->sink.round = on_round;
    *out = w;
    return CLNAS_OK;
}

const clnas_darts_search_sink *darts_trace_sink(darts_trace_writer *w) { return w ? &w->sink : NULL; }

clnas_status darts_trace_close(darts_trace_writer *w, char *err, size_t errlen)
{
    if (!w) return CLNAS_OK;
    clnas_status st = clnas_trace_writer_close(w->w, err, errlen);
    free(w);
    return st;
}

/* ---- reading ---- */

/* One candidate line into c; NULL or what is wrong. */
static const char *read_candidate(const json_t *j, clnas_candidate *c, int *round)
{
    memset(c, 0, sizeof *c);
    const char *cell = clnas_json_get_str(j, "cell", ""), *edge = clnas_json_get_str(j, "edge", "");
    int node, from;
    char tail;
    *round = (int)clnas_json_get_int(j, "round", -1);
    if (*round < 1) return "a candidate line without a round";
    if (strcmp(cell, "normal") && strcmp(cell, "reduce")) return "a candidate line without its cell (normal or reduce)";
    if (sscanf(edge, "%d<-%d%c", &node, &from, &tail) != 2 || clnas_darts_edge_index(node, from) < 0)
        return "a candidate line with an unknown edge";
    int e = clnas_darts_edge_index(node, from) + (cell[0] == 'r' ? CLNAS_DARTS_EDGES : 0);
    int op = clnas_darts_op_parse(clnas_json_get_str(j, "op", ""));
    if (op < 0) return "a candidate line with an unknown op";
    const char *why = clnas_trace_get_candidate(j, c);
    if (why) return why;
    if (isnan(c->dk) || isnan(c->dr)) return "a candidate line without numbers dK and dR";
    c->edge = e;
    c->op = op;
    return NULL;
}

typedef struct darts_reading {
    clnas_trace_data *t;
    int cap;
} darts_reading;

static const char *take_line(void *ud, const json_t *j, int first, int *nomem)
{
    darts_reading *rd = ud;
    const char *type = clnas_json_get_str(j, "type", "");
    if (!strcmp(type, "search") && first) {
        if (strcmp(clnas_json_get_str(j, "space", ""), "darts") != 0) return "the trace of a search in another space";
        rd->t->has_header = 1;
        rd->t->header = json_incref((json_t *)j);
    } else if (!strcmp(type, "candidate")) {
        clnas_candidate c;
        int round;
        const char *why = read_candidate(j, &c, &round);
        if (why) return why;
        if (!clnas_trace_push(rd->t, &rd->cap, &c, round)) *nomem = 1;
    }
    return NULL; /* round lines: skipped */
}

clnas_status darts_trace_read(const char *path, clnas_trace_data *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    darts_reading rd = {out, 0};
    clnas_status st = clnas_trace_read_lines(path, take_line, &rd, &out->dropped, err, errlen);
    if (st != CLNAS_OK) clnas_trace_data_free(out);
    return st;
}
