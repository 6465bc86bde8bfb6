/* trace.c - the JSON-lines trace of a TE-NAS search (trace.h): a clnas_search_sink that writes
 * one jansson object per line, and the reader that takes an interrupted trace back for a resume. */
#define _POSIX_C_SOURCE 200809L
#include "report/trace.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report/json.h"
#include "core/fault.h"
#include <unistd.h>

/* ---- writing ---- */

struct clnas_trace_writer {
    clnas_search_sink sink; /* ud points back at the writer */
    FILE *f;
    int owns;               /* the writer opened f and closes it */
    char *path;             /* for messages; NULL for a borrowed stream */
    int err;                /* errno of the first failure (ENOMEM when a line could not be built) */
    long good;              /* the file's length after the last line written whole */
    json_t *extra;          /* more settings for the search line (clnas_trace_writer_set_settings) */
};

static void edge_name(int e, char *buf, size_t n)
{
    int to, from;
    clnas_nb201_edge_nodes(e, &to, &from);
    snprintf(buf, n, "%d<-%d", to, from);
}

/* After the first write error of a file the writer owns: closes it and cuts it back to its last
 * whole line, so a resume finds no partial line (what stdio still held is dropped with it). */
static void cut_back(clnas_trace_writer *w)
{
    if (!w->owns || !w->f) return;
    fclose(w->f);
    w->f = NULL;
    if (truncate(w->path, w->good) != 0) { /* the error already kept says what went wrong */
    }
}

/* Writes v as one line and releases it. After the first failure nothing more is written, so a
 * trace never has a broken line followed by good ones. */
void clnas_trace_writer_put(clnas_trace_writer *w, json_t *v, int bad)
{
    if (!w->err && (bad || !v)) w->err = ENOMEM;
    if (!w->err) {
        errno = 0;
        if (clnas_json_print(w->f, v) != 0) {
            w->err = errno ? errno : EIO;
            cut_back(w);
        } else if (w->owns) {
            w->good = ftell(w->f);
        }
    }
    json_decref(v);
}

static void on_begin(void *ud, const clnas_search_opts *o)
{
    const clnas_score_opts *so = &o->score;
    json_t *j = json_object();
    int bad = json_object_set_new(j, "type", json_string("search"));
    bad |= json_object_set_new(j, "space", json_string("nb201"));
    bad |= json_object_set_new(j, "batches", json_string(clnas_search_batches_name(o->shared_batches)));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(so->dataset)));
    bad |= json_object_set_new(j, "seed", json_integer((json_int_t)so->seed));
    bad |= json_object_set_new(j, "batch", json_integer(so->batch));
    bad |= json_object_set_new(j, "repeats", json_integer(so->repeats));
    bad |= json_object_set_new(j, "lr_batch", json_integer(so->lr_batch));
    bad |= json_object_set_new(j, "lr_batches", json_integer(so->lr_batches));
    bad |= json_object_set_new(j, "prune_number", json_integer(o->prune_number));
    clnas_trace_writer *w = ud;
    if (w->extra) bad |= json_object_update_missing(j, w->extra);
    clnas_trace_writer_put(ud, j, bad);
}

json_t *clnas_trace_writer_settings(const clnas_trace_writer *w) { return w ? w->extra : NULL; }

int clnas_trace_put_candidate(json_t *j, const clnas_candidate *c, int repeats)
{
    int bad = json_object_set_new(j, "dK", clnas_json_num(c->dk));
    bad |= json_object_set_new(j, "dR", clnas_json_num(c->dr));
    bad |= json_object_set_new(j, "kappa_cur", clnas_json_nums(c->kappa_cur, repeats));
    bad |= json_object_set_new(j, "kappa_cand", clnas_json_nums(c->kappa_cand, repeats));
    bad |= json_object_set_new(j, "R_cur", clnas_json_sizes(c->r_cur, repeats));
    bad |= json_object_set_new(j, "R_cand", clnas_json_sizes(c->r_cand, repeats));
    bad |= json_object_set_new(j, "kappa_undefined", json_integer(c->kappa_undefined));
    bad |= json_object_set_new(j, "regions_undefined", json_integer(c->regions_undefined));
    if (!isnan(c->cost_s)) {
        json_t *cost = json_object();
        bad |= json_object_set_new(cost, "s", clnas_json_num(c->cost_s));
        bad |= json_object_set_new(cost, "kappa_evals", json_integer(c->cost_kappa_evals));
        bad |= json_object_set_new(cost, "regions_evals", json_integer(c->cost_regions_evals));
        bad |= json_object_set_new(cost, "kappa_gflop", clnas_json_num(c->cost_gflop));
        bad |= json_object_set_new(j, "cost", cost);
    }
    return bad;
}

static void on_candidate(void *ud, int round, const clnas_candidate *c, int repeats)
{
    char en[16];
    edge_name(c->edge, en, sizeof en);
    json_t *j = json_object();
    int bad = json_object_set_new(j, "type", json_string("candidate"));
    bad |= json_object_set_new(j, "round", json_integer(round));
    bad |= json_object_set_new(j, "edge", json_string(en));
    bad |= json_object_set_new(j, "op", json_string(clnas_nb201_op_name(c->op)));
    bad |= clnas_trace_put_candidate(j, c, repeats);
    clnas_trace_writer_put(ud, j, bad);
    clnas_stop_point("candidate");
}

static void on_round(void *ud, int round, const clnas_nb201_arch *before, const clnas_nb201_arch *after,
                     const clnas_candidate *c, int n)
{
    char a[512], b[512], en[16];
    clnas_nb201_format(before, a, sizeof a);
    clnas_nb201_format(after, b, sizeof b);
    json_t *j = json_object(), *list = json_array();
    int bad = json_object_set_new(j, "type", json_string("round"));
    bad |= json_object_set_new(j, "round", json_integer(round));
    bad |= json_object_set_new(j, "arch_before", json_string(a));
    bad |= json_object_set_new(j, "arch_after", json_string(b));
    for (int i = 0; i < n; i++) {
        edge_name(c[i].edge, en, sizeof en);
        json_t *x = json_object();
        bad |= json_object_set_new(x, "edge", json_string(en));
        bad |= json_object_set_new(x, "op", json_string(clnas_nb201_op_name(c[i].op)));
        bad |= json_object_set_new(x, "dK", clnas_json_num(c[i].dk));
        bad |= json_object_set_new(x, "dR", clnas_json_num(c[i].dr));
        bad |= json_object_set_new(x, "rank_K", json_integer(c[i].rank_k));
        bad |= json_object_set_new(x, "rank_R", json_integer(c[i].rank_r));
        bad |= json_object_set_new(x, "rank_sum", json_integer(c[i].rank_k + c[i].rank_r));
        bad |= json_object_set_new(x, "order", json_integer(c[i].order));
        bad |= json_object_set_new(x, "pruned", json_boolean(c[i].pruned));
        bad |= json_array_append_new(list, x);
    }
    bad |= json_object_set_new(j, "candidates", list);
    clnas_trace_writer_put(ud, j, bad);
}

static clnas_trace_writer *writer_new(FILE *f)
{
    clnas_trace_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->f = f;
    w->sink.ud = w;
    w->sink.begin = on_begin;
    w->sink.candidate = on_candidate;
    w->sink.round = on_round;
    return w;
}

clnas_status clnas_trace_writer_open(const char *path, clnas_trace_writer **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "w");
    if (!f) {
        if (err) snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return CLNAS_E_IO;
    }
    clnas_trace_writer *w = writer_new(f);
    if (w) w->path = strdup(path);
    if (!w || !w->path) {
        fclose(f);
        free(w);
        if (err) snprintf(err, errlen, "cannot write %s: out of host memory", path);
        return CLNAS_E_NOMEM;
    }
    w->owns = 1;
    *out = w;
    return CLNAS_OK;
}

clnas_trace_writer *clnas_trace_writer_stream(FILE *f) { return writer_new(f); }

void clnas_trace_writer_set_settings(clnas_trace_writer *w, json_t *settings)
{
    if (!w) return;
    json_decref(w->extra);
    w->extra = json_incref(settings);
}

const clnas_search_sink *clnas_trace_writer_sink(clnas_trace_writer *w) { return w ? &w->sink : NULL; }

clnas_status clnas_trace_writer_close(clnas_trace_writer *w, char *err, size_t errlen)
{
    if (!w) return CLNAS_OK;
    int e = w->err;
    if (w->owns && w->f && fclose(w->f) != 0 && !e) e = errno ? errno : EIO;
    if (e && err) snprintf(err, errlen, "cannot write %s: %s", w->path ? w->path : "the trace", strerror(e));
    free(w->path);
    json_decref(w->extra);
    free(w);
    return e ? CLNAS_E_IO : CLNAS_OK;
}

/* ---- reading back ---- */

void clnas_trace_data_free(clnas_trace_data *t)
{
    if (!t) return;
    free(t->cands);
    free(t->rounds);
    json_decref(t->header);
    memset(t, 0, sizeof *t);
}

/* A real member, or null (NaN); 0 when missing or of another type. */
static int get_real(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (v && json_is_null(v)) *out = NAN;
    else if (v && json_is_number(v)) *out = json_number_value(v);
    else return 0;
    return 1;
}

/* An array of up to CLNAS_MAX_REPEATS reals (null: NaN); returns its length, or -1. */
static int get_reals(const json_t *o, const char *key, double *v)
{
    const json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) > CLNAS_MAX_REPEATS) return -1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *x = json_array_get(a, i);
        if (json_is_null(x)) v[i] = NAN;
        else if (json_is_number(x)) v[i] = json_number_value(x);
        else return -1;
    }
    return (int)json_array_size(a);
}

/* An array of up to CLNAS_MAX_REPEATS non-negative integers; returns its length, or -1. */
static int get_counts(const json_t *o, const char *key, size_t *v)
{
    const json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) > CLNAS_MAX_REPEATS) return -1;
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *x = json_array_get(a, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0) return -1;
        v[i] = (size_t)json_integer_value(x);
    }
    return (int)json_array_size(a);
}

/* The edge index of "T<-F", or -1. */
static int parse_edge(const char *s)
{
    int to, from, t2, f2;
    char tail;
    if (!s || sscanf(s, "%d<-%d%c", &to, &from, &tail) != 2) return -1;
    for (int k = 0; k < CLNAS_NB201_EDGES; k++) {
        clnas_nb201_edge_nodes(k, &t2, &f2);
        if (t2 == to && f2 == from) return k;
    }
    return -1;
}

static int parse_op(const char *s)
{
    for (int k = 0; s && k < CLNAS_NB201_NOPS; k++)
        if (!strcmp(s, clnas_nb201_op_name(k))) return k;
    return -1;
}

/* A candidate's optional "cost" (traces of older clnas have none: NaN seconds). NULL, or what is
 * wrong with it. */
static const char *read_cost(const json_t *cost, clnas_candidate *c)
{
    c->cost_s = NAN;
    if (!cost) return NULL;
    double s = clnas_json_get_num(cost, "s", -1), g = clnas_json_get_num(cost, "kappa_gflop", -1);
    long long k = clnas_json_get_int(cost, "kappa_evals", -1), r = clnas_json_get_int(cost, "regions_evals", -1);
    if (!json_is_object(cost) || !(s >= 0) || !(g >= 0) || k < 0 || r < 0 || k > 1000000 || r > 1000000 || s > 1e9 || g > 1e12)
        return "\"cost\" must hold \"s\", \"kappa_evals\", \"regions_evals\" and \"kappa_gflop\" (non-negative)";
    c->cost_s = s;
    c->cost_gflop = g;
    c->cost_kappa_evals = (long)k;
    c->cost_regions_evals = (long)r;
    return NULL;
}

/* One candidate line; NULL, or what is wrong with it. */
static const char *read_candidate(const json_t *j, clnas_candidate *c, int *round)
{
    memset(c, 0, sizeof *c);
    const json_t *r = json_object_get(j, "round");
    if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > 1000) return "no round number \"round\"";
    *round = (int)json_integer_value(r);
    if ((c->edge = parse_edge(clnas_json_get_str(j, "edge", NULL))) < 0) return "no NB201 edge \"edge\" (\"T<-F\")";
    if ((c->op = parse_op(clnas_json_get_str(j, "op", NULL))) < 0) return "no NB201 op \"op\"";
    return clnas_trace_get_candidate(j, c);
}

const char *clnas_trace_get_candidate(const json_t *j, clnas_candidate *c)
{
    const json_t *u = json_object_get(j, "kappa_undefined");
    if (!get_real(j, "dK", &c->dk) || !get_real(j, "dR", &c->dr)) return "no number \"dK\" and \"dR\"";
    if (!json_is_integer(u) || json_integer_value(u) < 0 || json_integer_value(u) > 2 * CLNAS_MAX_REPEATS)
        return "no count \"kappa_undefined\"";
    c->kappa_undefined = (int)json_integer_value(u);
    const json_t *ru = json_object_get(j, "regions_undefined"); /* not in traces of older clnas */
    if (ru && (!json_is_integer(ru) || json_integer_value(ru) < 0 || json_integer_value(ru) > 2 * CLNAS_MAX_REPEATS))
        return "no count \"regions_undefined\"";
    c->regions_undefined = ru ? (int)json_integer_value(ru) : 0;
    int k1 = get_reals(j, "kappa_cur", c->kappa_cur), k2 = get_reals(j, "kappa_cand", c->kappa_cand);
    int k3 = get_counts(j, "R_cur", c->r_cur), k4 = get_counts(j, "R_cand", c->r_cand);
    if (k1 < 0 || k2 < 0) return "\"kappa_cur\" and \"kappa_cand\" must be lists of numbers (at most 64)";
    if (k3 < 0 || k4 < 0) return "\"R_cur\" and \"R_cand\" must be lists of counts (at most 64)";
    if (k2 != k1 || k3 != k1 || k4 != k1) return "the lists of kappa and R values differ in length";
    return read_cost(json_object_get(j, "cost"), c);
}

/* The mode named by a search line; NULL, or what is wrong with it. */
static const char *read_header(const json_t *j, int *shared)
{
    const char *b = clnas_json_get_str(j, "batches", NULL);
    if (b && !strcmp(b, "shared")) *shared = 1;
    else if (b && !strcmp(b, "per-candidate")) *shared = 0;
    else return "unknown batch mode \"batches\" (expected \"shared\" or \"per-candidate\")";
    return NULL;
}

int clnas_trace_push(clnas_trace_data *t, int *cap, const clnas_candidate *c, int round)
{
    if (t->n == *cap) {
        int nc = *cap ? 2 * *cap : 64;
        clnas_candidate *a = realloc(t->cands, (size_t)nc * sizeof *a);
        if (a) t->cands = a;
        int *b = realloc(t->rounds, (size_t)nc * sizeof *b);
        if (b) t->rounds = b;
        if (!a || !b) return 0;
        *cap = nc;
    }
    t->cands[t->n] = *c;
    t->rounds[t->n] = round;
    t->n++;
    return 1;
}

/* Reads the whole file (a trace is small: one line per candidate and round). */
static char *slurp(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err) snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(b, 2 * cap + 1);
        if (!nb) free(b);
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        if (err) snprintf(err, errlen, "cannot read %s: %s", path, bad ? "read error" : "out of host memory");
        return NULL;
    }
    b[n] = 0;
    *len = n;
    return b;
}

static int blank(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

/* One parsed line into t; NULL, or what is wrong with it (*nomem set when out of memory). */
typedef struct nb201_reading {
    clnas_trace_data *t;
    int cap;
} nb201_reading;

static const char *take_line(void *ud, const json_t *j, int first, int *nomem)
{
    clnas_trace_data *t = ((nb201_reading *)ud)->t;
    int *cap = &((nb201_reading *)ud)->cap;
    const char *type = clnas_json_get_str(j, "type", "");
    clnas_candidate c;
    int round = 0;
    const char *why = NULL;
    if (!strcmp(type, "candidate")) {
        why = read_candidate(j, &c, &round);
        if (!why && !clnas_trace_push(t, cap, &c, round)) *nomem = 1;
    } else if (!strcmp(type, "search") && first) {
        why = read_header(j, &t->shared_batches);
        t->has_header = !why;
        if (!why) t->header = json_incref((json_t *)j);
    }
    return why; /* round lines and other types: skipped */
}

clnas_status clnas_trace_read_lines(const char *path, clnas_trace_line_fn take, void *ud, int *dropped, char *err,
                                    size_t errlen)
{
    *dropped = 0;
    size_t len = 0;
    char *text = slurp(path, &len, err, errlen);
    if (!text) return CLNAS_E_IO;
    clnas_status st = CLNAS_OK;
    int line_no = 0, seen = 0;
    char *p = text, *end = text + len;
    while (p < end && st == CLNAS_OK) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end, *next = nl ? nl + 1 : end;
        line_no++;
        if (blank(p, stop)) {
            p = next;
            continue;
        }
        *stop = 0;
        json_error_t je;
        int whole = nl && strlen(p) == (size_t)(stop - p); /* ends with its newline, no NUL inside */
        json_t *j = whole ? json_loads(p, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (!json_is_object(j)) {
            if (blank(next, end)) { /* the last line: what an interrupted write leaves */
                *dropped = 1;
            } else {
                if (err && j) snprintf(err, errlen, "%s:%d: not a JSON object", path, line_no);
                else if (err && whole) snprintf(err, errlen, "%s:%d:%d: malformed JSON: %s", path, line_no, je.column, je.text);
                else if (err) snprintf(err, errlen, "%s:%d: a NUL byte in the line", path, line_no);
                st = CLNAS_E_PARSE;
            }
            json_decref(j);
            break;
        }
        int nomem = 0;
        const char *why = take(ud, j, seen++ == 0, &nomem);
        if (why) {
            if (err) snprintf(err, errlen, "%s:%d: %s line: %s", path, line_no, clnas_json_get_str(j, "type", ""), why);
            st = CLNAS_E_PARSE;
        } else if (nomem) {
            if (err) snprintf(err, errlen, "%s: out of host memory", path);
            st = CLNAS_E_NOMEM;
        }
        json_decref(j);
        p = next;
    }
    free(text);
    return st;
}

clnas_status clnas_trace_read(const char *path, clnas_trace_data *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    nb201_reading rd = {out, 0};
    clnas_status st = clnas_trace_read_lines(path, take_line, &rd, &out->dropped, err, errlen);
    if (st != CLNAS_OK) clnas_trace_data_free(out);
    return st;
}
