/* trace_darts.c - JSON-lines trace of a DARTS search (trace_darts.h): a sink that writes one
 * line per candidate and round, and the reader that resumes an interrupted search from it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report/json.h"
#include "report/trace_darts.h"

struct darts_trace_writer {
    FILE *f;
    int err;
    clnas_darts_search_sink sink;
};

static void put_line(darts_trace_writer *w, json_t *v, int bad)
{
    if (!w->err && (bad || !v)) w->err = ENOMEM;
    if (!w->err) {
        errno = 0;
        if (clnas_json_print(w->f, v) != 0 || fflush(w->f) != 0) w->err = errno ? errno : EIO;
    }
    json_decref(v);
}

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

static void on_begin(void *ud, const clnas_darts_search_opts *o)
{
    const clnas_score_opts *so = &o->score;
    json_t *j = json_object();
    int bad = json_object_set_new(j, "type", json_string("search"));
    bad |= json_object_set_new(j, "space", json_string("darts"));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(so->dataset)));
    bad |= json_object_set_new(j, "seed", json_integer((json_int_t)so->seed));
    bad |= json_object_set_new(j, "batch", json_integer(so->batch));
    bad |= json_object_set_new(j, "repeats", json_integer(so->repeats));
    bad |= json_object_set_new(j, "lr_batch", json_integer(so->lr_batch));
    bad |= json_object_set_new(j, "lr_batches", json_integer(so->lr_batches));
    bad |= json_object_set_new(j, "prune_number", json_integer(o->prune_number));
    bad |= json_object_set_new(j, "edge_ntk", json_string(o->edge_ntk_refresh ? "refresh" : "fixed"));
    put_line(ud, j, bad);
}

static void on_candidate(void *ud, int round, const char *phase, const clnas_candidate *c, int repeats)
{
    json_t *j = json_object();
    int bad = json_object_set_new(j, "type", json_string("candidate"));
    bad |= json_object_set_new(j, "round", json_integer(round));
    bad |= json_object_set_new(j, "phase", json_string(phase));
    edge_fields(j, c->edge, c->op, &bad);
    bad |= json_object_set_new(j, "dK", clnas_json_num(c->dk));
    bad |= json_object_set_new(j, "dR", clnas_json_num(c->dr));
    bad |= json_object_set_new(j, "kappa_cur", clnas_json_nums(c->kappa_cur, repeats));
    bad |= json_object_set_new(j, "kappa_cand", clnas_json_nums(c->kappa_cand, repeats));
    bad |= json_object_set_new(j, "R_cur", clnas_json_sizes(c->r_cur, repeats));
    bad |= json_object_set_new(j, "R_cand", clnas_json_sizes(c->r_cand, repeats));
    bad |= json_object_set_new(j, "kappa_undefined", json_integer(c->kappa_undefined));
    put_line(ud, j, bad);
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
    put_line(ud, j, bad);
}

clnas_status darts_trace_open(const char *path, darts_trace_writer **out, char *err, size_t errlen)
{
    *out = NULL;
    darts_trace_writer *w = calloc(1, sizeof *w);
    FILE *f = w ? fopen(path, "w") : NULL;
    if (!f) {
        snprintf(err, errlen, "cannot write %s: %s", path, w ? strerror(errno) : "out of memory");
        free(w);
        return CLNAS_E_IO;
    }
    w->f = f;
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
    int e = w->err;
    if (fclose(w->f) != 0 && !e) e = errno ? errno : EIO;
    free(w);
    if (e) {
        snprintf(err, errlen, "the trace could not be written completely: %s", strerror(e));
        return CLNAS_E_IO;
    }
    return CLNAS_OK;
}

/* ---- reading ---- */

void darts_trace_data_free(darts_trace_data *t)
{
    if (!t) return;
    free(t->cands);
    free(t->rounds);
    memset(t, 0, sizeof *t);
}

static int get_array(const json_t *o, const char *key, double *dv, size_t *sv, int *n)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > CLNAS_MAX_REPEATS) return 0;
    *n = (int)json_array_size(a);
    for (int i = 0; i < *n; i++) {
        json_t *v = json_array_get(a, (size_t)i);
        if (dv) dv[i] = json_is_number(v) ? json_number_value(v) : 1e5; /* null: an undefined kappa (1e5) */
        else if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
        else sv[i] = (size_t)json_integer_value(v);
    }
    return 1;
}

/* One candidate line into c; NULL or what is wrong. */
static const char *read_candidate(const json_t *j, clnas_candidate *c, int *round)
{
    memset(c, 0, sizeof *c);
    const char *cell = clnas_json_get_str(j, "cell", ""), *edge = clnas_json_get_str(j, "edge", "");
    int node, from, n1, n2, n3, n4;
    char tail;
    *round = (int)clnas_json_get_int(j, "round", -1);
    if (*round < 1) return "a candidate line without a round";
    if (strcmp(cell, "normal") && strcmp(cell, "reduce")) return "a candidate line without its cell (normal or reduce)";
    if (sscanf(edge, "%d<-%d%c", &node, &from, &tail) != 2 || clnas_darts_edge_index(node, from) < 0)
        return "a candidate line with an unknown edge";
    c->edge = clnas_darts_edge_index(node, from) + (cell[0] == 'r' ? CLNAS_DARTS_EDGES : 0);
    c->op = clnas_darts_op_parse(clnas_json_get_str(j, "op", ""));
    if (c->op < 0) return "a candidate line with an unknown op";
    c->dk = clnas_json_get_num(j, "dK", NAN);
    c->dr = clnas_json_get_num(j, "dR", NAN);
    c->kappa_undefined = (int)clnas_json_get_int(j, "kappa_undefined", 0);
    if (!(c->dk == c->dk) || !(c->dr == c->dr)) return "a candidate line without dK and dR";
    if (!get_array(j, "kappa_cur", c->kappa_cur, NULL, &n1) || !get_array(j, "kappa_cand", c->kappa_cand, NULL, &n2) ||
        !get_array(j, "R_cur", NULL, c->r_cur, &n3) || !get_array(j, "R_cand", NULL, c->r_cand, &n4) || n1 != n2 ||
        n2 != n3 || n3 != n4)
        return "a candidate line without its per-repeat kappa and R values";
    return NULL;
}

static int push(darts_trace_data *t, int *cap, const clnas_candidate *c, int round)
{
    if (t->n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        clnas_candidate *a = realloc(t->cands, (size_t)nc * sizeof *a);
        if (a) t->cands = a;
        int *r = a ? realloc(t->rounds, (size_t)nc * sizeof *r) : NULL;
        if (!r) return 0;
        t->rounds = r;
        *cap = nc;
    }
    t->cands[t->n] = *c;
    t->rounds[t->n++] = round;
    return 1;
}

/* One line (NUL-terminated); 0 ok, 1 malformed (message in err), 2 out of memory. */
static int take_line(darts_trace_data *t, int *cap, const char *line, const char *where, char *err, size_t errlen)
{
    json_t *j = NULL;
    if (clnas_json_parse(line, where, &j, err, errlen) != CLNAS_OK) return 1;
    const char *type = clnas_json_get_str(j, "type", "");
    int rc = 0;
    if (!strcmp(type, "search")) {
        t->has_header = 1;
        t->edge_ntk_refresh = !strcmp(clnas_json_get_str(j, "edge_ntk", "fixed"), "refresh");
        if (strcmp(clnas_json_get_str(j, "space", ""), "darts") != 0) {
            snprintf(err, errlen, "%s: the trace of a search in another space", where);
            rc = 1;
        }
    } else if (!strcmp(type, "candidate")) {
        clnas_candidate c;
        int round;
        const char *bad = read_candidate(j, &c, &round);
        if (bad) {
            snprintf(err, errlen, "%s: %s", where, bad);
            rc = 1;
        } else if (!push(t, cap, &c, round)) {
            rc = 2;
        }
    }
    json_decref(j);
    return rc;
}

clnas_status darts_trace_read(const char *path, darts_trace_data *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return CLNAS_E_IO;
    }
    char *line = NULL, *pending = NULL, where[4200];
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, ccap = 0, pend_rc = 0;
    clnas_status st = CLNAS_OK;
    char perr[4800] = "";
    while ((len = getline(&line, &cap, f)) >= 0 && st == CLNAS_OK) {
        lineno++;
        if (pending) { /* a malformed line that was not the last: an error */
            snprintf(err, errlen, "%s", perr);
            st = CLNAS_E_PARSE;
            break;
        }
        int complete = len > 0 && line[len - 1] == '\n';
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) continue;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        int rc = complete ? take_line(out, &ccap, line, where, perr, sizeof perr) : 1;
        if (rc == 2) st = CLNAS_E_NOMEM;
        else if (rc == 1) { pending = line; pend_rc = 1; }
    }
    if (st == CLNAS_OK && pend_rc) out->dropped = 1; /* the last line: what an interruption leaves */
    free(line);
    fclose(f);
    if (st != CLNAS_OK) {
        if (st == CLNAS_E_NOMEM) snprintf(err, errlen, "out of memory reading %s", path);
        darts_trace_data_free(out);
    }
    return st;
}
