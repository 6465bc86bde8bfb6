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

    clnas_nb201_table *t = calloc(1, sizeof *t);
    size_t *offs = NULL, pool_len = 0, pool_cap = 0;
    int cap = 0;
    if (!t || !(t->path = malloc(strlen(path) + 1))) goto nomem;
    strcpy(t->path, path);

    int col_arch = -1, col_index = -1, col_acc[3] = {-1, -1, -1}, ncols = 0, line_no = 0;
    char *p = text;
    while (*p) {
        char *line = p;
        char *nl = strchr(p, '\n');
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
        if (nf < 0) {
            snprintf(err, errlen, "%s:%d: unterminated quoted field", path, line_no);
            st = CLNAS_E_PARSE;
            goto fail;
        }
        if (nf > MAXF) nf = MAXF;
        if (ncols == 0) { /* the header */
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                if (!strcmp(f[i], "arch")) col_arch = i;
                else if (!strcmp(f[i], "index")) col_index = i;
                else for (int c = 0; c < 3; c++)
                    if (!strcmp(f[i], clnas_nb201_column_name((clnas_nb201_column)c))) col_acc[c] = i;
            }
            if (col_arch < 0) {
                snprintf(err, errlen, "%s:%d: the header has no 'arch' column", path, line_no);
                st = CLNAS_E_PARSE;
                goto fail;
            }
            continue;
        }
        if (nf != ncols) {
            snprintf(err, errlen, "%s:%d: %d fields, the header has %d", path, line_no, nf, ncols);
            st = CLNAS_E_PARSE;
            goto fail;
        }
        if (t->nrows == cap) {
            cap = cap ? 2 * cap : 16384;
            clnas_nb201_row *nr = realloc(t->rows, (size_t)cap * sizeof *nr);
            size_t *no = realloc(offs, (size_t)cap * sizeof *no);
            if (nr) t->rows = nr;
            if (no) offs = no;
            if (!nr || !no) goto nomem;
        }
        clnas_nb201_row *r = &t->rows[t->nrows];
        memset(r, 0, sizeof *r);
        r->line = line_no;
        r->index = t->nrows;
        if (col_index >= 0) {
            char *end;
            errno = 0;
            long v = strtol(f[col_index], &end, 10);
            if (!*f[col_index] || *end || errno || v < 0 || v > 0x7fffffffL) {
                snprintf(err, errlen, "%s:%d: index \"%s\" is not a non-negative integer", path, line_no, f[col_index]);
                st = CLNAS_E_PARSE;
                goto fail;
            }
            r->index = (int)v;
        }
        double *acc[3] = {&r->cifar10, &r->cifar100, &r->imagenet16};
        for (int c = 0; c < 3; c++) {
            *acc[c] = NAN;
            if (col_acc[c] >= 0 && !parse_acc(f[col_acc[c]], acc[c])) {
                snprintf(err, errlen, "%s:%d: %s \"%s\" is not a number", path, line_no,
                         clnas_nb201_column_name((clnas_nb201_column)c), f[col_acc[c]]);
                st = CLNAS_E_PARSE;
                goto fail;
            }
        }
        clnas_nb201_arch a;
        char perr[512];
        if (clnas_nb201_parse(f[col_arch], &a, perr, sizeof perr) != CLNAS_OK) {
            snprintf(err, errlen, "%s:%d: %s", path, line_no, perr);
            st = CLNAS_E_PARSE;
            goto fail;
        }
        char canon[512];
        size_t cl = clnas_nb201_format(&a, canon, sizeof canon);
        if (pool_len + cl + 1 > pool_cap) {
            pool_cap = pool_cap ? 2 * pool_cap : (size_t)1 << 21;
            while (pool_len + cl + 1 > pool_cap) pool_cap *= 2;
            char *np = realloc(t->pool, pool_cap);
            if (!np) goto nomem;
            t->pool = np;
        }
        memcpy(t->pool + pool_len, canon, cl + 1);
        offs[t->nrows] = pool_len;
        pool_len += cl + 1;
        t->nrows++;
    }
    if (ncols == 0) {
        snprintf(err, errlen, "%s:1: empty file (expected a header with an 'arch' column)", path);
        st = CLNAS_E_PARSE;
        goto fail;
    }
    for (int i = 0; i < t->nrows; i++) t->rows[i].arch = t->pool + offs[i];

    t->nslots = 16;
    while (t->nslots < 2 * (size_t)t->nrows) t->nslots *= 2;
    if (!(t->slots = malloc(t->nslots * sizeof *t->slots))) goto nomem;
    for (size_t i = 0; i < t->nslots; i++) t->slots[i] = -1;
    for (int i = 0; i < t->nrows; i++) {
        int prev = lookup(t, t->rows[i].arch);
        if (prev >= 0) {
            snprintf(err, errlen, "%s:%d: architecture %s already given on line %d", path, t->rows[i].line,
                     t->rows[i].arch, t->rows[prev].line);
            st = CLNAS_E_PARSE;
            goto fail;
        }
        size_t mask = t->nslots - 1, h = (size_t)hash_str(t->rows[i].arch) & mask;
        while (t->slots[h] >= 0) h = (h + 1) & mask;
        t->slots[h] = i;
    }
    free(offs);
    free(text);
    *out = t;
    return CLNAS_OK;

nomem:
    snprintf(err, errlen, "%s: out of memory", path);
    st = CLNAS_E_NOMEM;
fail:
    free(offs);
    free(text);
    clnas_nb201_table_destroy(t);
    return st;
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
