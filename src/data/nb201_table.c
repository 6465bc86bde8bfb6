/* nb201_table.c - the NAS-Bench-201 accuracy table: CSV loader, hash lookup by canonical
 * arch string, uniform sampling of rows. See include/clnas/bench201.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnas/bench201.h"
#include "clnas/data.h"
#include "core/rng.h"
#include "internal.h"

struct clnas_nb201_table {
    char *path;
    clnas_nb201_row *rows;
    int nrows;
    char *pool;     /* canonical arch strings, NUL-separated; rows[i].arch points in here */
    int *slots;     /* open-addressing hash map: row number or -1; capacity = nslots (power of 2) */
    size_t nslots;
};

const char *clnas_nb201_column_name(clnas_nb201_column c)
{
    switch (c) {
    case CLNAS_NB201_CIFAR10: return "cifar10_test";
    case CLNAS_NB201_CIFAR100: return "cifar100_test";
    case CLNAS_NB201_IMAGENET16: return "imagenet16_test";
    }
    return "?";
}

double clnas_nb201_row_acc(const clnas_nb201_row *r, clnas_nb201_column c)
{
    switch (c) {
    case CLNAS_NB201_CIFAR10: return r->cifar10;
    case CLNAS_NB201_CIFAR100: return r->cifar100;
    case CLNAS_NB201_IMAGENET16: return r->imagenet16;
    }
    return NAN;
}


static uint64_t hash_str(const char *s) { return clnas_fnv1a64(CLNAS_FNV_INIT, s, strlen(s)); }

static int lookup(const clnas_nb201_table *t, const char *canon)
{
    size_t mask = t->nslots - 1;
    for (size_t h = (size_t)hash_str(canon) & mask;; h = (h + 1) & mask) {
        int r = t->slots[h];
        if (r < 0) return -1;
        if (strcmp(t->rows[r].arch, canon) == 0) return r;
    }
}

void clnas_nb201_table_destroy(clnas_nb201_table *t)
{
    if (!t) return;
    free(t->path);
    free(t->rows);
    free(t->pool);
    free(t->slots);
    free(t);
}

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
static clnas_status slurp(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return CLNAS_E_IO;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) { fclose(f); snprintf(err, errlen, "%s: out of memory", path); return CLNAS_E_NOMEM; }
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1) break;
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return CLNAS_E_IO;
    }
    buf[len] = 0;
    *out = buf;
    return CLNAS_OK;
}

/* An accuracy field: empty -> NaN; otherwise a full number. Returns 0 when malformed. */
static int parse_acc(const char *s, double *out)
{
    if (!*s || !strcmp(s, "nan") || !strcmp(s, "NaN")) { *out = NAN; return 1; }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

#define MAXF 64

/* What the loader keeps while it reads the file. */
typedef struct loader {
    clnas_nb201_table *t;
    const char *path;
    size_t *offs, pool_len, pool_cap; /* row i's canonical arch string at pool + offs[i] */
    int cap;
    int col_arch, col_index, col_acc[3], ncols;
    char *err;
    size_t errlen;
} loader;

static clnas_status parse_fail(loader *L, int line_no, const char *fmt, const char *a, const char *b)
{
    char what[600];
    snprintf(what, sizeof what, fmt, a, b);
    snprintf(L->err, L->errlen, "%s:%d: %s", L->path, line_no, what);
    return CLNAS_E_PARSE;
}

static clnas_status parse_header(loader *L, char **f, int nf, int line_no)
{
    L->ncols = nf;
    for (int i = 0; i < nf; i++) {
        if (!strcmp(f[i], "arch")) L->col_arch = i;
        else if (!strcmp(f[i], "index")) L->col_index = i;
        else for (int c = 0; c < 3; c++)
            if (!strcmp(f[i], clnas_nb201_column_name((clnas_nb201_column)c))) L->col_acc[c] = i;
    }
    return L->col_arch < 0 ? parse_fail(L, line_no, "the header has no 'arch' column%s%s", "", "") : CLNAS_OK;
}

/* Appends one data row: index, accuracies, and the canonical arch string to the pool. */
static clnas_status parse_row(loader *L, char **f, int line_no)
{
    clnas_nb201_table *t = L->t;
    if (t->nrows == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 16384;
        clnas_nb201_row *nr = realloc(t->rows, (size_t)L->cap * sizeof *nr);
        size_t *no = realloc(L->offs, (size_t)L->cap * sizeof *no);
        if (nr) t->rows = nr;
        if (no) L->offs = no;
        if (!nr || !no) return CLNAS_E_NOMEM;
    }
    clnas_nb201_row *r = &t->rows[t->nrows];
    memset(r, 0, sizeof *r);
    r->line = line_no;
    r->index = t->nrows;
    if (L->col_index >= 0) {
        const char *v = f[L->col_index];
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (!*v || *end || errno || x < 0 || x > 0x7fffffffL)
            return parse_fail(L, line_no, "index \"%s\" is not a non-negative integer%s", v, "");
        r->index = (int)x;
    }
    double *acc[3] = {&r->cifar10, &r->cifar100, &r->imagenet16};
    for (int c = 0; c < 3; c++) {
        *acc[c] = NAN;
        if (L->col_acc[c] >= 0 && !parse_acc(f[L->col_acc[c]], acc[c]))
            return parse_fail(L, line_no, "%s \"%s\" is not a number", clnas_nb201_column_name((clnas_nb201_column)c),
                              f[L->col_acc[c]]);
    }
    clnas_nb201_arch a;
    char perr[512], canon[512];
    if (clnas_nb201_parse(f[L->col_arch], &a, perr, sizeof perr) != CLNAS_OK) return parse_fail(L, line_no, "%s%s", perr, "");
    size_t cl = clnas_nb201_format(&a, canon, sizeof canon);
    if (L->pool_len + cl + 1 > L->pool_cap) {
        size_t cap = L->pool_cap ? 2 * L->pool_cap : (size_t)1 << 21;
        while (L->pool_len + cl + 1 > cap) cap *= 2;
        char *np = realloc(t->pool, cap);
        if (!np) return CLNAS_E_NOMEM;
        t->pool = np;
        L->pool_cap = cap;
    }
    memcpy(t->pool + L->pool_len, canon, cl + 1);
    L->offs[t->nrows] = L->pool_len;
    L->pool_len += cl + 1;
    t->nrows++;
    return CLNAS_OK;
}

/* Reads every line of text (modified in place) into L->t. */
static clnas_status parse_lines(loader *L, char *text)
{
    int line_no = 0;
    char *p = text;
    while (*p) {
        char *line = p, *nl = strchr(p, '\n');
        if (nl) { *nl = 0; p = nl + 1; } else p += strlen(p);
        line_no++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (line_no == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB && (unsigned char)line[2] == 0xBF)
            line += 3; /* UTF-8 byte order mark */
        const char *q = line;
        while (*q == ' ' || *q == '\t') q++;
        if (!*q || *q == '#') continue;
        char *f[MAXF];
        int nf = clnas_csv_split(line, f, MAXF);
        if (nf < 0) return parse_fail(L, line_no, "unterminated quoted field%s%s", "", "");
        if (nf > MAXF) nf = MAXF;
        clnas_status st;
        if (L->ncols == 0) st = parse_header(L, f, nf, line_no);
        else if (nf != L->ncols) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%d", nf);
            snprintf(b, sizeof b, "%d", L->ncols);
            st = parse_fail(L, line_no, "%s fields, the header has %s", a, b);
        } else st = parse_row(L, f, line_no);
        if (st != CLNAS_OK) return st;
    }
    if (L->ncols == 0) return parse_fail(L, 1, "empty file (expected a header with an 'arch' column)%s%s", "", "");
    return CLNAS_OK;
}

/* The hash index over canonical strings; a repeated architecture is an error. */
static clnas_status build_index(loader *L)
{
    clnas_nb201_table *t = L->t;
    for (int i = 0; i < t->nrows; i++) t->rows[i].arch = t->pool + L->offs[i];
    t->nslots = 16;
    while (t->nslots < 2 * (size_t)t->nrows) t->nslots *= 2;
    if (!(t->slots = malloc(t->nslots * sizeof *t->slots))) return CLNAS_E_NOMEM;
    for (size_t i = 0; i < t->nslots; i++) t->slots[i] = -1;
    for (int i = 0; i < t->nrows; i++) {
        int prev = lookup(t, t->rows[i].arch);
        if (prev >= 0) {
            snprintf(L->err, L->errlen, "%s:%d: architecture %s already given on line %d", L->path, t->rows[i].line,
                     t->rows[i].arch, t->rows[prev].line);
            return CLNAS_E_PARSE;
        }
        size_t mask = t->nslots - 1, h = (size_t)hash_str(t->rows[i].arch) & mask;
        while (t->slots[h] >= 0) h = (h + 1) & mask;
        t->slots[h] = i;
    }
    return CLNAS_OK;
}

clnas_status clnas_nb201_table_load(const char *path, clnas_nb201_table **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    *out = NULL;
    char found[4096];
    if (!path || !*path) {
        if (clnas_data_path("nb201/nb201_accuracies.csv", found, sizeof found, err, errlen) != CLNAS_OK)
            return CLNAS_E_IO;
        path = found;
    }
    char *text = NULL;
    clnas_status st = slurp(path, &text, err, errlen);
    if (st != CLNAS_OK) return st;
    loader L = {.path = path, .col_arch = -1, .col_index = -1, .col_acc = {-1, -1, -1}, .err = err, .errlen = errlen};
    L.t = calloc(1, sizeof *L.t);
    if (!L.t || !(L.t->path = malloc(strlen(path) + 1))) st = CLNAS_E_NOMEM;
    else {
        strcpy(L.t->path, path);
        st = parse_lines(&L, text);
        if (st == CLNAS_OK) st = build_index(&L);
    }
    if (st == CLNAS_E_NOMEM) snprintf(err, errlen, "%s: out of memory", path);
    free(L.offs);
    free(text);
    if (st != CLNAS_OK) {
        clnas_nb201_table_destroy(L.t);
        return st;
    }
    *out = L.t;
    return CLNAS_OK;
}

const char *clnas_nb201_table_path(const clnas_nb201_table *t) { return t->path; }
int clnas_nb201_table_size(const clnas_nb201_table *t) { return t->nrows; }

const clnas_nb201_row *clnas_nb201_table_row(const clnas_nb201_table *t, int i)
{
    return i >= 0 && i < t->nrows ? &t->rows[i] : NULL;
}

int clnas_nb201_table_find_arch(const clnas_nb201_table *t, const clnas_nb201_arch *a)
{
    char canon[512];
    clnas_nb201_format(a, canon, sizeof canon);
    return lookup(t, canon);
}

clnas_status clnas_nb201_table_find(const clnas_nb201_table *t, const char *arch, int *row,
                                    char *err, size_t errlen)
{
    clnas_nb201_arch a;
    *row = -1;
    clnas_status st = clnas_nb201_parse(arch, &a, err, errlen);
    if (st != CLNAS_OK) return st;
    *row = clnas_nb201_table_find_arch(t, &a);
    return CLNAS_OK;
}

clnas_status clnas_nb201_table_sample(const clnas_nb201_table *t, int n, uint64_t seed, int *idx)
{
    if (n < 0 || n > t->nrows) return CLNAS_E_INVALID_ARG;
    int *perm = malloc((size_t)(t->nrows ? t->nrows : 1) * sizeof *perm);
    if (!perm) return CLNAS_E_NOMEM;
    for (int i = 0; i < t->nrows; i++) perm[i] = i;
    /* Partial Fisher-Yates: position i takes a uniform pick from the rows not yet drawn. */
    clnas_pcg32 r;
    clnas_pcg32_seed(&r, seed, 0x6e62323031ULL /* "nb201" */);
    for (int i = 0; i < n; i++) {
        int j = i + (int)clnas_pcg32_below(&r, (uint32_t)(t->nrows - i));
        int tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
        idx[i] = perm[i];
    }
    free(perm);
    return CLNAS_OK;
}
