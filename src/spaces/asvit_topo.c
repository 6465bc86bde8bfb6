/* asvit_topo.c - As-ViT topology strings (asvit.h): the search space of the original's
 * cell_operations.py SEARCH_SPACE, the parser (errors name the field, its position and the
 * allowed values), the printer, the mapping to and from the 12 categorical choices, and the
 * network configuration (flags vs the string, stage geometry, fit checks). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clnas/asvit.h"

/* The choices in the original's order (KERNEL_CHOICE1..4, WINDOW_CHOICE1..3, FFN_EXP_CHOICE1..4,
 * HEAD_CHOICE): name, values (0-terminated). */
static const struct {
    const char *name;
    int v[6];
} choices[CLNAS_ASVIT_NCHOICES] = {
    {"K1", {4, 5, 6, 7, 8}}, {"K2", {2, 3, 4}}, {"K3", {2, 3, 4}}, {"K4", {2, 3, 4}},
    {"S1", {2, 4, 8}},       {"S2", {1, 2, 4}}, {"S3", {1, 2}},
    {"E1", {2, 3, 4, 5, 6}}, {"E2", {2, 3, 4, 5, 6}}, {"E3", {2, 3, 4, 5, 6}}, {"E4", {2, 3, 4, 5, 6}},
    {"H", {16, 32, 64}},
};

const char *clnas_asvit_choice_name(int i) { return i >= 0 && i < CLNAS_ASVIT_NCHOICES ? choices[i].name : NULL; }

int clnas_asvit_choice_count(int i)
{
    if (i < 0 || i >= CLNAS_ASVIT_NCHOICES) return 0;
    int n = 0;
    while (n < 6 && choices[i].v[n]) n++;
    return n;
}

int clnas_asvit_choice_value(int i, int k)
{
    return k >= 0 && k < clnas_asvit_choice_count(i) ? choices[i].v[k] : 0;
}

/* Where choice i lives in a topology. */
static int *choice_slot(clnas_asvit_topo *t, int i)
{
    if (i < 4) return &t->kernel[i];
    if (i < 7) return &t->split[i - 4];
    if (i < 11) return &t->expand[i - 7];
    return &t->heads;
}

void clnas_asvit_from_choices(const int a[CLNAS_ASVIT_NCHOICES], clnas_asvit_topo *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) *choice_slot(t, i) = clnas_asvit_choice_value(i, a[i]);
    t->split[3] = 1;
}

static int value_index(int i, int v)
{
    for (int k = 0; k < clnas_asvit_choice_count(i); k++)
        if (choices[i].v[k] == v) return k;
    return -1;
}

int clnas_asvit_to_choices(const clnas_asvit_topo *t, int a[CLNAS_ASVIT_NCHOICES])
{
    clnas_asvit_topo c = *t;
    int bad = 0;
    for (int i = 0; i < CLNAS_ASVIT_NCHOICES; i++) {
        a[i] = value_index(i, *choice_slot(&c, i));
        bad += a[i] < 0;
    }
    return bad;
}

/* "4, 5, 6, 7 or 8" */
static void allowed(int i, char *buf, size_t len)
{
    size_t o = 0;
    int n = clnas_asvit_choice_count(i);
    buf[0] = 0;
    for (int k = 0; k < n && o < len; k++)
        o += (size_t)snprintf(buf + o, len - o, "%s%d", k == 0 ? "" : k == n - 1 ? " or " : ", ", choices[i].v[k]);
}

typedef struct scanner {
    const char *s;
    size_t p;
    char *err;
    size_t errlen;
} scanner;

static clnas_status fail(scanner *sc, size_t pos, const char *fmt, const char *a, const char *b)
{
    if (sc->err && sc->errlen) {
        char what[256];
        snprintf(what, sizeof what, fmt, a, b);
        snprintf(sc->err, sc->errlen, "As-ViT topology \"%s\", position %zu: %s (format: K1,S1,E1|K2,S2,E2|K3,S3,E3|"
                 "K4,1,E4|H, optionally K,S,E,L per stage and H,D, e.g. 8,2,3|4,1,2|4,1,4|4,1,6|32)",
                 sc->s, pos + 1, what);
    }
    return CLNAS_E_PARSE;
}

/* Reads a positive decimal number for field `name`; *pos = where it started. */
static clnas_status number(scanner *sc, const char *name, int *v, size_t *pos)
{
    *pos = sc->p;
    if (!isdigit((unsigned char)sc->s[sc->p])) {
        char found[24];
        if (sc->s[sc->p]) snprintf(found, sizeof found, "\"%.8s\"", sc->s + sc->p);
        else snprintf(found, sizeof found, "the end of the string");
        return fail(sc, sc->p, "expected a number for %s, found %s", name, found);
    }
    errno = 0;
    char *end;
    long x = strtol(sc->s + sc->p, &end, 10);
    if (errno || x > 1000000) return fail(sc, sc->p, "%s%s is too large", name, "");
    sc->p = (size_t)(end - sc->s);
    *v = (int)x;
    return CLNAS_OK;
}

static clnas_status expect(scanner *sc, char c, const char *after)
{
    if (sc->s[sc->p] == c) { sc->p++; return CLNAS_OK; }
    char want[48], found[32];
    snprintf(want, sizeof want, "'%c' after %s", c, after);
    if (sc->s[sc->p]) snprintf(found, sizeof found, "\"%.8s\"", sc->s + sc->p);
    else snprintf(found, sizeof found, "the end of the string");
    return fail(sc, sc->p, "expected %s, found %s", want, found);
}

/* A field that must be one of choice ci's values. */
static clnas_status choice_field(scanner *sc, int ci, int *slot)
{
    size_t pos;
    clnas_status st = number(sc, choices[ci].name, slot, &pos);
    if (st != CLNAS_OK) return st;
    if (value_index(ci, *slot) >= 0) return CLNAS_OK;
    char buf[64], vals[64];
    snprintf(buf, sizeof buf, "%s = %d is outside the search space", choices[ci].name, *slot);
    allowed(ci, vals, sizeof vals);
    return fail(sc, pos, "%s; allowed: %s", buf, vals);
}

static clnas_status range_field(scanner *sc, const char *name, int lo, int hi, int *slot)
{
    size_t pos;
    clnas_status st = number(sc, name, slot, &pos);
    if (st != CLNAS_OK) return st;
    if (*slot >= lo && *slot <= hi) return CLNAS_OK;
    char buf[64], range[48];
    snprintf(buf, sizeof buf, "%s = %d", name, *slot);
    snprintf(range, sizeof range, "%d to %d", lo, hi);
    return fail(sc, pos, "%s is out of range; allowed: %s", buf, range);
}

/* Stage i (0-based): K,S,E[,L]. */
static clnas_status stage(scanner *sc, int i, clnas_asvit_topo *t, int *has_depth)
{
    char nm[8];
    clnas_status st = choice_field(sc, i, &t->kernel[i]);
    snprintf(nm, sizeof nm, "K%d", i + 1);
    if (st == CLNAS_OK) st = expect(sc, ',', nm);
    if (st != CLNAS_OK) return st;
    size_t pos = sc->p;
    if (i < 3) st = choice_field(sc, 4 + i, &t->split[i]);
    else if ((st = number(sc, "S4", &t->split[3], &pos)) == CLNAS_OK && t->split[3] != 1)
        return fail(sc, pos, "S4 must be 1 (the last stage attends globally), found %s%s", "", sc->s + pos);
    snprintf(nm, sizeof nm, "S%d", i + 1);
    if (st == CLNAS_OK) st = expect(sc, ',', nm);
    if (st == CLNAS_OK) st = choice_field(sc, 7 + i, &t->expand[i]);
    if (st != CLNAS_OK) return st;
    int has = sc->s[sc->p] == ',';
    if (i > 0 && has != *has_depth)
        return fail(sc, sc->p, "stage %s %s: give the depth L in every stage or in none",
                    i == 1 ? "2" : i == 2 ? "3" : "4", has ? "has a depth L that stage 1 lacks" : "lacks the depth L that stage 1 has");
    *has_depth = has;
    if (!has) return CLNAS_OK;
    sc->p++;
    snprintf(nm, sizeof nm, "L%d", i + 1);
    return range_field(sc, nm, 1, CLNAS_ASVIT_MAX_DEPTH, &t->depth[i]);
}

clnas_status clnas_asvit_parse(const char *s, clnas_asvit_topo *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    scanner sc = {s ? s : "", 0, err, errlen};
    int has_depth = 0;
    clnas_status st = CLNAS_OK;
    for (int i = 0; i < CLNAS_ASVIT_STAGES && st == CLNAS_OK; i++) {
        st = stage(&sc, i, out, &has_depth);
        if (st == CLNAS_OK) {
            char nm[24];
            snprintf(nm, sizeof nm, "stage %d", i + 1);
            st = expect(&sc, '|', nm);
        }
    }
    if (st == CLNAS_OK) st = choice_field(&sc, 11, &out->heads);
    if (st == CLNAS_OK && sc.s[sc.p] == ',') {
        sc.p++;
        st = range_field(&sc, "D", 1, CLNAS_ASVIT_MAX_DIM, &out->dim);
    }
    if (st == CLNAS_OK && sc.s[sc.p])
        st = fail(&sc, sc.p, "unexpected \"%s\" after %s", sc.s + sc.p, out->dim ? "H,D" : "H");
    if (st != CLNAS_OK) memset(out, 0, sizeof *out);
    return st;
}

size_t clnas_asvit_format(const clnas_asvit_topo *t, char *buf, size_t len)
{
    int lng = t->dim > 0;
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) lng |= t->depth[i] > 0;
    char tmp[256];
    size_t o = 0;
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) {
        o += (size_t)snprintf(tmp + o, sizeof tmp - o, "%d,%d,%d", t->kernel[i], t->split[i], t->expand[i]);
        if (lng) o += (size_t)snprintf(tmp + o, sizeof tmp - o, ",%d", t->depth[i] > 0 ? t->depth[i] : 1);
        o += (size_t)snprintf(tmp + o, sizeof tmp - o, "|");
    }
    o += (size_t)snprintf(tmp + o, sizeof tmp - o, "%d", t->heads);
    if (lng) o += (size_t)snprintf(tmp + o, sizeof tmp - o, ",%d", t->dim > 0 ? t->dim : 32);
    if (buf && len) snprintf(buf, len, "%s", tmp);
    return o;
}

/* ---- network configuration ---- */

void clnas_asvit_config_default(clnas_asvit_config *c)
{
    memset(c, 0, sizeof *c);
    c->input_hw = 224;
    c->dim = 32;
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) c->depth[i] = 1;
    c->classes = 1000;
    c->head = 1;
    c->norm = 1;
}

clnas_status clnas_asvit_config_apply(clnas_asvit_config *cfg, const clnas_asvit_topo *t, const int *given_depth,
                                      int given_dim, char *err, size_t errlen)
{
    if (t->depth[0] > 0) {
        for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) {
            if (given_depth && given_depth[i] != t->depth[i]) {
                if (err && errlen)
                    snprintf(err, errlen, "the topology gives stage %d depth L%d = %d but --depths says %d; "
                             "drop one of them or make them agree", i + 1, i + 1, t->depth[i], given_depth[i]);
                return CLNAS_E_INVALID_ARG;
            }
            cfg->depth[i] = t->depth[i];
        }
    } else if (given_depth) {
        for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) cfg->depth[i] = given_depth[i];
    }
    if (t->dim > 0) {
        if (given_dim > 0 && given_dim != t->dim) {
            if (err && errlen)
                snprintf(err, errlen, "the topology gives the embed dim D = %d but --D says %d; drop one of them "
                         "or make them agree", t->dim, given_dim);
            return CLNAS_E_INVALID_ARG;
        }
        cfg->dim = t->dim;
    } else if (given_dim > 0) {
        cfg->dim = given_dim;
    }
    return CLNAS_OK;
}

static int stage_dim(const clnas_asvit_config *cfg, int i)
{
    long d = (long)cfg->dim << i;
    return d > 1024 ? 1024 : (int)d;
}

void clnas_asvit_stage(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, int i, int *grid, int *dim,
                       int *heads, int *window)
{
    int g = cfg->input_hw / 4;
    for (int j = 0; j < i; j++) g /= 2;
    *grid = g;
    *dim = stage_dim(cfg, i);
    *heads = t->heads >> (CLNAS_ASVIT_STAGES - 1 - i);
    int w = t->split[i] > 0 ? g / t->split[i] : 0;
    *window = w >= g ? g : w; /* the original: a window covering the grid is the grid (global) */
}

const char *clnas_asvit_check(const clnas_asvit_topo *t, const clnas_asvit_config *cfg, char *why, size_t len)
{
    if (cfg->input_hw < 4 || cfg->input_hw > 4096) return "the input size must be in [4, 4096]";
    if (cfg->dim < 1 || cfg->dim > CLNAS_ASVIT_MAX_DIM) return "the embed dim D must be in [1, 4096]";
    if (cfg->classes < 1 || cfg->classes > 100000) return "classes must be in [1, 100000]";
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++)
        if (cfg->depth[i] < 1 || cfg->depth[i] > CLNAS_ASVIT_MAX_DEPTH) return "every stage depth must be in [1, 64]";
    for (int i = 0; i < CLNAS_ASVIT_STAGES; i++) {
        int g, d, h, w;
        clnas_asvit_stage(t, cfg, i, &g, &d, &h, &w);
        if (i < CLNAS_ASVIT_STAGES - 1 && (g < 2 || g % 2)) {
            snprintf(why, len, "input %d: stage %d has a %dx%d token grid, but patch merging needs an even grid >= 2 "
                     "(use an input size divisible by 32, e.g. 32, 64 or 224)", cfg->input_hw, i + 1, g, g);
            return why;
        }
        if (w < 1 || g % w) {
            snprintf(why, len, "input %d: S%d = %d gives a %d-token window that does not divide stage %d's %dx%d grid "
                     "(choose an S%d that divides %d, or another input size)", cfg->input_hw, i + 1, t->split[i], w,
                     i + 1, g, g, i + 1, g);
            return why;
        }
        if (h < 1 || d / h < 1) {
            snprintf(why, len, "H = %d gives stage %d %d heads for %d channels (at most one head per channel: raise D "
                     "or lower H)", t->heads, i + 1, h, d);
            return why;
        }
    }
    return NULL;
}
