/* cmd_figure.c - `clnas figure cost`: the TE-NAS comparison figure, NB201 CIFAR-10 test
 * accuracy against search cost, with the published methods (data/published/
 * nb201_search_cost.csv) and clnas's own searches read from `clnas search` JSON traces.
 * Contains a small JSON reader (objects, arrays, strings, numbers, literals; depth-limited;
 * never trusts its input). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "clnas/data.h"
#include "report/plot.h"
#include "internal.h"

static void help(FILE *f)
{
    fprintf(f,
"usage: clnas figure cost [--trace SEARCH.json ...] [--out cost.png] [--published FILE.csv]\n"
"\n"
"Draws the TE-NAS comparison figure: NAS-Bench-201 CIFAR-10 test accuracy (%%, y) against search\n"
"cost in GPU-seconds (x, log scale), one labelled point per published method (TE-NAS paper,\n"
"data/published/nb201_search_cost.csv, with error bars where a std is published) and one point\n"
"per --trace file: a JSON object written by `clnas search`, from which \"wall_s\", \"device\" and\n"
"\"accuracy\".\"cifar10\" are read (or from each element of its \"runs\" list: the point is then the\n"
"mean, with error bars of one standard deviation over the runs). Methods without a published cost\n"
"(ResNet, the NB201 optimum) are listed in a note, not plotted.\n"
"\n"
"  --trace FILE       a search trace (repeat for several); without any, only published points\n"
"  --out FILE         output PNG (default cost.png)\n"
"  --published FILE   the published-results CSV (default: the bundled one)\n"
"  --title TEXT       figure title\n");
}

/* ---- a small JSON reader ---- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct jv {
    int type;
    double num;         /* J_NUM, J_BOOL (0/1) */
    char *str;          /* J_STR */
    struct jv *items;   /* J_ARR, J_OBJ: n values */
    char **keys;        /* J_OBJ: n keys */
    int n;
} jv;

typedef struct {
    const char *s, *start;
    char err[160];
    int depth;
} jparser;

static void jv_free(jv *v)
{
    if (!v) return;
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static int jfail(jparser *p, const char *what)
{
    if (!p->err[0]) {
        int line = 1, col = 1;
        for (const char *q = p->start; q < p->s; q++) {
            if (*q == '\n') { line++; col = 1; } else col++;
        }
        snprintf(p->err, sizeof p->err, "line %d, column %d: %s", line, col, what);
    }
    return 0;
}

static void jws(jparser *p)
{
    while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r') p->s++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static int jstring(jparser *p, char **out)
{
    if (*p->s != '"') return jfail(p, "expected a string");
    p->s++;
    size_t cap = 32, n = 0;
    char *b = malloc(cap);
    if (!b) return jfail(p, "out of memory");
    for (;;) {
        if (n + 8 > cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); return jfail(p, "out of memory"); }
            b = nb;
        }
        unsigned char c = (unsigned char)*p->s;
        if (!c) { free(b); return jfail(p, "unterminated string"); }
        if (c < 0x20) { free(b); return jfail(p, "control character in a string"); }
        p->s++;
        if (c == '"') break;
        if (c != '\\') { b[n++] = (char)c; continue; }
        char e = *p->s++;
        switch (e) {
        case '"': b[n++] = '"'; break;
        case '\\': b[n++] = '\\'; break;
        case '/': b[n++] = '/'; break;
        case 'b': b[n++] = '\b'; break;
        case 'f': b[n++] = '\f'; break;
        case 'n': b[n++] = '\n'; break;
        case 'r': b[n++] = '\r'; break;
        case 't': b[n++] = '\t'; break;
        case 'u': {
            unsigned u;
            if (!hex4(p->s, &u)) { free(b); return jfail(p, "bad \\u escape"); }
            p->s += 4;
            if (u >= 0xD800 && u < 0xDC00 && p->s[0] == '\\' && p->s[1] == 'u') {
                unsigned lo;
                if (hex4(p->s + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    p->s += 6;
                }
            }
            if (u >= 0xD800 && u < 0xE000) u = 0xFFFD; /* lone surrogate */
            if (u < 0x80) b[n++] = (char)u;
            else if (u < 0x800) { b[n++] = (char)(0xC0 | (u >> 6)); b[n++] = (char)(0x80 | (u & 0x3F)); }
            else if (u < 0x10000) {
                b[n++] = (char)(0xE0 | (u >> 12)); b[n++] = (char)(0x80 | ((u >> 6) & 0x3F));
                b[n++] = (char)(0x80 | (u & 0x3F));
            } else {
                b[n++] = (char)(0xF0 | (u >> 18)); b[n++] = (char)(0x80 | ((u >> 12) & 0x3F));
                b[n++] = (char)(0x80 | ((u >> 6) & 0x3F)); b[n++] = (char)(0x80 | (u & 0x3F));
            }
            break;
        }
        default: free(b); p->s--; return jfail(p, "bad escape in a string");
        }
    }
    b[n] = 0;
    *out = b;
    return 1;
}

static int jvalue(jparser *p, jv *v);

static int jpush(jparser *p, jv *v, char *key, jv *item)
{
    if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
        int cap = v->n ? 2 * v->n : 1;
        jv *ni = realloc(v->items, (size_t)cap * sizeof *ni);
        if (!ni) { free(key); jv_free(item); return jfail(p, "out of memory"); }
        v->items = ni;
        if (v->type == J_OBJ) {
            char **nk = realloc(v->keys, (size_t)cap * sizeof *nk);
            if (!nk) { free(key); jv_free(item); return jfail(p, "out of memory"); }
            v->keys = nk;
        }
    }
    v->items[v->n] = *item;
    if (v->type == J_OBJ) v->keys[v->n] = key;
    v->n++;
    return 1;
}

static int jvalue(jparser *p, jv *v)
{
    memset(v, 0, sizeof *v);
    jws(p);
    char c = *p->s;
    if (c == '{' || c == '[') {
        if (++p->depth > 64) return jfail(p, "nested too deeply");
        v->type = c == '{' ? J_OBJ : J_ARR;
        char close = c == '{' ? '}' : ']';
        p->s++;
        jws(p);
        if (*p->s == close) { p->s++; p->depth--; return 1; }
        for (;;) {
            char *key = NULL;
            jws(p);
            if (v->type == J_OBJ) {
                if (!jstring(p, &key)) return 0;
                jws(p);
                if (*p->s != ':') { free(key); return jfail(p, "expected ':'"); }
                p->s++;
            }
            jv item;
            if (!jvalue(p, &item)) { free(key); jv_free(&item); return 0; }
            if (!jpush(p, v, key, &item)) return 0;
            jws(p);
            if (*p->s == ',') { p->s++; continue; }
            if (*p->s == close) { p->s++; break; }
            return jfail(p, v->type == J_OBJ ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        p->depth--;
        return 1;
    }
    if (c == '"') { v->type = J_STR; return jstring(p, &v->str); }
    if (!strncmp(p->s, "true", 4)) { v->type = J_BOOL; v->num = 1; p->s += 4; return 1; }
    if (!strncmp(p->s, "false", 5)) { v->type = J_BOOL; p->s += 5; return 1; }
    if (!strncmp(p->s, "null", 4)) { v->type = J_NULL; p->s += 4; return 1; }
    if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        errno = 0;
        double d = strtod(p->s, &end);
        if (end == p->s) return jfail(p, "bad number");
        v->type = J_NUM;
        v->num = d;
        p->s = end;
        return 1;
    }
    return jfail(p, c ? "expected a value" : "unexpected end of input");
}

/* Parses text into *root; on failure returns 0 with a message in err. */
static int json_parse(const char *text, jv *root, char *err, size_t errlen)
{
    jparser p = {text, text, "", 0};
    if (!jvalue(&p, root)) {
        jv_free(root);
        snprintf(err, errlen, "%s", p.err);
        return 0;
    }
    jws(&p);
    if (*p.s) {
        jfail(&p, "text after the JSON value (a .jsonl trace? give search_seedS.json or search.json)");
        jv_free(root);
        snprintf(err, errlen, "%s", p.err);
        return 0;
    }
    return 1;
}

static const jv *jget(const jv *o, const char *key)
{
    if (!o || o->type != J_OBJ) return NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

static double jnum(const jv *v) { return v && v->type == J_NUM ? v->num : NAN; }

/* ---- input files ---- */

static char *slurp(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        if (cap > ((size_t)64 << 20)) { free(b); b = NULL; snprintf(err, errlen, "%s: larger than 64 MiB", path); fclose(f); return NULL; }
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) { snprintf(err, errlen, "%s: out of memory", path); return NULL; }
    if (bad) { free(b); snprintf(err, errlen, "%s: read error", path); return NULL; }
    b[n] = 0;
    if (strlen(b) != n) { free(b); snprintf(err, errlen, "%s: contains a NUL byte (not a JSON text file)", path); return NULL; }
    return b;
}

typedef struct {
    char label[160];
    char device[128];
    char seeds[128];
    double cost, cost_std, acc, acc_std;
    int runs;
} trace_point;

static void device_of(const jv *o, char *out, size_t len)
{
    const jv *d = jget(o, "device");
    if (d && d->type == J_OBJ) d = jget(d, "name");
    if (d && d->type == J_STR && *d->str && !*out) snprintf(out, len, "%s", d->str);
}

static void seed_of(const jv *o, char *out, size_t len)
{
    const jv *s = jget(o, "seed");
    if (s && s->type == J_NUM) {
        size_t n = strlen(out);
        if (n + 24 < len) snprintf(out + n, len - n, "%s%.0f", n ? "," : "", s->num);
    }
}

/* Reads one trace into *tp; 0 with a message on failure. */
static int read_trace(const char *path, trace_point *tp, char *err, size_t errlen)
{
    memset(tp, 0, sizeof *tp);
    char *text = slurp(path, err, errlen);
    if (!text) return 0;
    jv root;
    char jerr[200];
    if (!json_parse(text, &root, jerr, sizeof jerr)) {
        snprintf(err, errlen, "%s: malformed JSON: %s", path, jerr);
        free(text);
        return 0;
    }
    free(text);
    int ok = 0;
    if (root.type != J_OBJ) {
        snprintf(err, errlen, "%s: expected a JSON object (a `clnas search` trace)", path);
        goto done;
    }
    const jv *runs = jget(&root, "runs");
    const jv *list = &root;
    int nrun = 1;
    if (runs && runs->type == J_ARR) {
        if (runs->n == 0) {
            snprintf(err, errlen, "%s: \"runs\" is empty", path);
            goto done;
        }
        list = runs->items;
        nrun = runs->n;
    } else if (runs) {
        snprintf(err, errlen, "%s: \"runs\" is not a list", path);
        goto done;
    }
    double sw = 0, sw2 = 0, sa = 0, sa2 = 0;
    int nacc = 0;
    device_of(&root, tp->device, sizeof tp->device);
    seed_of(&root, tp->seeds, sizeof tp->seeds);
    const jv *ds = jget(&root, "dataset");
    for (int r = 0; r < nrun; r++) {
        const jv *o = &list[r];
        const char *where = runs ? "runs[] element" : "object";
        if (o->type != J_OBJ) {
            snprintf(err, errlen, "%s: runs[] element %d is not an object", path, r);
            goto done;
        }
        double w = jnum(jget(o, "wall_s")), a = jnum(jget(jget(o, "accuracy"), "cifar10"));
        if (!(w > 0) || !isfinite(w)) {
            snprintf(err, errlen, "%s: %s %d has no positive number \"wall_s\"", path, where, r);
            goto done;
        }
        sw += w; sw2 += w * w;
        if (isfinite(a)) { sa += a; sa2 += a * a; nacc++; } /* null: the found arch was not in the table */
        device_of(o, tp->device, sizeof tp->device);
        if (runs) seed_of(o, tp->seeds, sizeof tp->seeds);
        if (!ds) ds = jget(o, "dataset");
    }
    if (!nacc) {
        snprintf(err, errlen, "%s: no number \"accuracy\".\"cifar10\" in %s", path, runs ? "any run" : "the object");
        goto done;
    }
    tp->runs = nrun;
    tp->cost = sw / nrun;
    tp->acc = sa / nacc;
    /* spread over the runs with ddof 0, as `clnas search --seeds` reports it; a "mean" / "std"
     * object written by the search takes precedence */
    tp->cost_std = nrun > 1 ? sqrt(fmax(0, sw2 / nrun - tp->cost * tp->cost)) : NAN;
    tp->acc_std = nacc > 1 ? sqrt(fmax(0, sa2 / nacc - tp->acc * tp->acc)) : NAN;
    if (runs) {
        double m = jnum(jget(jget(&root, "mean"), "cifar10")), sd = jnum(jget(jget(&root, "std"), "cifar10"));
        if (isfinite(m)) tp->acc = m;
        if (isfinite(sd)) tp->acc_std = sd;
    }
    if (!*tp->device) snprintf(tp->device, sizeof tp->device, "unknown device");
    char dev[64];
    snprintf(dev, sizeof dev, "%.40s%s", tp->device, strlen(tp->device) > 40 ? "..." : "");
    if (ds && ds->type == J_STR && strcmp(ds->str, "cifar10") != 0)
        snprintf(tp->label, sizeof tp->label, "clnas (%s; searched on %.20s)", dev, ds->str);
    else
        snprintf(tp->label, sizeof tp->label, "clnas (%s)", dev);
    ok = 1;
done:
    jv_free(&root);
    return ok;
}

/* ---- the published table ---- */


static double csv_num(const char *s, int *ok)
{
    if (!*s) return NAN;
    char *end;
    double v = strtod(s, &end);
    if (*end) *ok = 0;
    return v;
}

typedef struct {
    char method[64];
    double acc, acc_std, cost;
} published;

/* Reads the published CSV; returns the row count, or -1 with a message. */
static int read_published(const char *path, published **out, char *err, size_t errlen)
{
    char *text = slurp(path, err, errlen);
    if (!text) return -1;
    published *rows = NULL;
    int n = 0, ncols = 0, cm = -1, ca = -1, cs = -1, cc = -1, line_no = 0;
    for (char *p = text, *nl; p && *p; p = nl) {
        nl = strchr(p, '\n');
        if (nl) *nl++ = 0;
        line_no++;
        size_t l = strlen(p);
        if (l && p[l - 1] == '\r') p[l - 1] = 0;
        if (!*p || *p == '#') continue;
        char *f[32];
        int nf = clnas_csv_split(p, f, 32);
        if (nf < 0 || nf > 32) {
            snprintf(err, errlen, "%s:%d: malformed CSV line", path, line_no);
            goto fail;
        }
        if (!ncols) {
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                if (!strcmp(f[i], "method")) cm = i;
                else if (!strcmp(f[i], "cifar10")) ca = i;
                else if (!strcmp(f[i], "cifar10_std")) cs = i;
                else if (!strcmp(f[i], "cost_gpu_s")) cc = i;
            }
            if (cm < 0 || ca < 0 || cc < 0) {
                snprintf(err, errlen, "%s:%d: the header needs the columns method, cifar10 and cost_gpu_s", path, line_no);
                goto fail;
            }
            continue;
        }
        if (nf != ncols) {
            snprintf(err, errlen, "%s:%d: %d fields, the header has %d", path, line_no, nf, ncols);
            goto fail;
        }
        published *nr = realloc(rows, (size_t)(n + 1) * sizeof *nr);
        if (!nr) { snprintf(err, errlen, "out of memory"); goto fail; }
        rows = nr;
        int ok = 1;
        snprintf(rows[n].method, sizeof rows[n].method, "%s", f[cm]);
        rows[n].acc = csv_num(f[ca], &ok);
        rows[n].acc_std = cs >= 0 ? csv_num(f[cs], &ok) : NAN;
        rows[n].cost = csv_num(f[cc], &ok);
        if (!ok || !isfinite(rows[n].acc)) {
            snprintf(err, errlen, "%s:%d: cifar10, cifar10_std and cost_gpu_s must be numbers (cifar10 is required)", path, line_no);
            goto fail;
        }
        n++;
    }
    free(text);
    *out = rows;
    return n;
fail:
    free(text);
    free(rows);
    return -1;
}


#define MAXTRACE 32

int clnas_cmd_figure(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "cost") != 0) {
        fprintf(stderr, "clnas figure: unknown figure \"%s\" (known: cost)\n", argv[1]);
        return 2;
    }
    const char *traces[MAXTRACE], *out = "cost.png", *pub_path = NULL, *title = NULL;
    int ntrace = 0;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { help(stdout); return 0; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--trace"))) {
            if (!*v) return 2;
            if (ntrace == MAXTRACE) { fprintf(stderr, "clnas figure: at most %d --trace files\n", MAXTRACE); return 2; }
            traces[ntrace++] = v;
        } else if ((v = clnas_cli_opt(argc, argv, &i, "--out"))) { if (!*v) return 2; out = v; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--published"))) { if (!*v) return 2; pub_path = v; }
        else if ((v = clnas_cli_opt(argc, argv, &i, "--title"))) title = v;
        else {
            fprintf(stderr, "clnas figure cost: unknown argument %s (see clnas figure --help)\n", argv[i]);
            return 2;
        }
    }
    char found[4096], err[8192];
    if (!pub_path) {
        if (clnas_data_path("published/nb201_search_cost.csv", found, sizeof found, err, sizeof err) != CLNAS_OK) {
            fprintf(stderr, "clnas figure: %s\n", err);
            return 1;
        }
        pub_path = found;
    }
    published *pub = NULL;
    int npub = read_published(pub_path, &pub, err, sizeof err);
    if (npub < 0) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    trace_point tp[MAXTRACE];
    for (int t = 0; t < ntrace; t++)
        if (!read_trace(traces[t], &tp[t], err, sizeof err)) {
            fprintf(stderr, "clnas figure: %s\n", err);
            free(pub);
            return 1;
        }

    clnas_cost_point pts[64 + MAXTRACE];
    int np = 0;
    char note[1024] = "";
    size_t nn = 0;
    for (int i = 0; i < npub && np < 64; i++) {
        if (!(pub[i].cost > 0)) {
            nn += (size_t)snprintf(note + nn, sizeof note - nn, "%s%s %.2f %%", nn ? ", " : "Not plotted (no search cost): ",
                                   pub[i].method, pub[i].acc);
            if (nn >= sizeof note) nn = sizeof note - 1;
            continue;
        }
        pts[np++] = (clnas_cost_point){pub[i].method, pub[i].cost, NAN, pub[i].acc, pub[i].acc_std,
                                       !strcmp(pub[i].method, "TE-NAS") ? 1 : 0};
    }
    for (int t = 0; t < ntrace; t++)
        pts[np++] = (clnas_cost_point){tp[t].label, tp[t].cost, tp[t].cost_std, tp[t].acc, tp[t].acc_std, 2};
    if (nn < sizeof note - 1)
        nn += (size_t)snprintf(note + nn, sizeof note - nn, "%sPublished: TE-NAS paper (Chen et al., ICLR 2021), NB201 table; "
                               "costs as published, on the authors' GPUs.", nn ? ".\n" : "");
    if (!ntrace && nn < sizeof note - 1)
        snprintf(note + nn, sizeof note - nn, "\nNo clnas search trace given (--trace): published points only.");

    /* stdout: what is plotted */
    printf("%-34s %10s %8s %14s %10s\n", "method", "cifar10 %", "std", "cost GPU-s", "std");
    for (int i = 0; i < np; i++) {
        char s1[16] = "-", s2[16] = "-";
        if (isfinite(pts[i].acc_std) && pts[i].acc_std > 0) snprintf(s1, sizeof s1, "%.2f", pts[i].acc_std);
        if (isfinite(pts[i].cost_std) && pts[i].cost_std > 0) snprintf(s2, sizeof s2, "%.3g", pts[i].cost_std);
        printf("%-34s %10.2f %8s %14.6g %10s\n", pts[i].label, pts[i].acc, s1, pts[i].cost_s, s2);
    }
    printf("\n%s\n", note);

    char cmd[4096], devs[512] = "", seeds[256] = "", summary[1024], ttl[256];
    clnas_cli_command_line(argc, argv, cmd, sizeof cmd);
    size_t nd = 0, ns = 0, nsum = 0;
    nsum += (size_t)snprintf(summary, sizeof summary, "cifar10 accuracy vs search cost:");
    for (int t = 0; t < ntrace; t++) {
        if (nd < sizeof devs) nd += (size_t)snprintf(devs + nd, sizeof devs - nd, "%s%s", t ? "; " : "", tp[t].device);
        if (*tp[t].seeds && ns < sizeof seeds) ns += (size_t)snprintf(seeds + ns, sizeof seeds - ns, "%s%s", ns ? "; " : "", tp[t].seeds);
        if (nsum < sizeof summary)
            nsum += (size_t)snprintf(summary + nsum, sizeof summary - nsum, " clnas[%s] %.2f+-%.2f%% at %.4g s (%d runs);",
                                     tp[t].device, tp[t].acc, isfinite(tp[t].acc_std) ? tp[t].acc_std : 0.0, tp[t].cost, tp[t].runs);
    }
    for (int i = 0; i < npub && nsum < sizeof summary; i++)
        if (!strcmp(pub[i].method, "TE-NAS"))
            nsum += (size_t)snprintf(summary + nsum, sizeof summary - nsum, " TE-NAS published %.2f%% at %.4g GPU-s",
                                     pub[i].acc, pub[i].cost);
    if (!ntrace) snprintf(devs, sizeof devs, "n/a (published numbers only)");
    snprintf(ttl, sizeof ttl, "%s", title ? title : "NAS-Bench-201 (CIFAR-10): test accuracy vs. search cost");
    clnas_plot_meta meta = {cmd, devs, *seeds ? seeds : "n/a", summary, ttl};
    clnas_status st = clnas_plot_cost(out, pts, np, note, &meta, err, sizeof err);
    clnas_plot_release_caches();
    free(pub);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas figure: %s\n", err);
        return 1;
    }
    printf("figure    %s\n", out);
    return 0;
}
