/* parts.c - per-rank part files and their merge in list order (cli/parts.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli/parts.h"
#include "core/fault.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_part_name(const char *out, int rank, char *buf, size_t len) { snprintf(buf, len, "%s.part%d", out, rank); }

int cli_parts_list(const char *out, char ***paths, int *n)
{
    *paths = NULL;
    *n = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : out;
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    if (slash && slash == dir) snprintf(dir, sizeof dir, "/");
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s.part", base);
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT;
    size_t pl = strlen(prefix);
    int ok = 1;
    for (struct dirent *e; ok && (e = readdir(d));) {
        const char *rest = e->d_name + pl;
        if (strncmp(e->d_name, prefix, pl) != 0 || !*rest || strspn(rest, "0123456789") != strlen(rest)) continue;
        char **p = realloc(*paths, (size_t)(*n + 1) * sizeof *p);
        size_t need = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(need);
        if (!p || !path) {
            free(path);
            if (p) *paths = p;
            ok = 0;
            break;
        }
        *paths = p;
        snprintf(path, need, "%s/%s", dir, e->d_name);
        (*paths)[(*n)++] = path;
    }
    closedir(d);
    return ok;
}

int cli_part_trim(const char *cmd, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 1;
    long keep = 0, pos = 0;
    for (int c; (c = fgetc(f)) != EOF;) {
        pos++;
        if (c == '\n') keep = pos;
    }
    fclose(f);
    if (keep == pos) return 1;
    if (truncate(path, (off_t)keep) != 0) {
        fprintf(stderr, "clnas %s: cannot cut the partial last line of %s: %s\n", cmd, path, strerror(errno));
        return 0;
    }
    return 1;
}

/* A row and where its key stands in the study. */
typedef struct prow { int pos; char *line; } prow;
typedef struct keypos { const char *key; int pos; } keypos;

static int cmp_key(const void *a, const void *b) { return strcmp(((const keypos *)a)->key, ((const keypos *)b)->key); }
static int cmp_row(const void *a, const void *b) { return ((const prow *)a)->pos - ((const prow *)b)->pos; }

/* The key of a CSV row (second field, quoted or not) copied into buf; 0 when the line has none. */
static int row_key(const char *line, char *buf, size_t len)
{
    const char *a = strchr(line, ',');
    if (!a) return 0;
    a++;
    const char *end = *a == '"' ? strchr(++a, '"') : strpbrk(a, ",\n");
    if (!end || (size_t)(end - a) >= len) return 0;
    memcpy(buf, a, (size_t)(end - a));
    buf[end - a] = 0;
    return 1;
}

/* Reads the rows of one file (after its header) into rows[], with their positions; marks the keys
 * seen (seen[pos]) and drops rows already seen; rows of keys not in the study go last, in file order. header: the first line, kept
 * when *header is empty. 0 on failure (printed). */
static int read_rows(const char *cmd, const char *path, const keypos *kp, int nk, unsigned char *seen, prow **rows, int *n,
                     int *cap, int *extra, char *header, size_t hlen, int keep)
{
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT;
    char line[16384], key[4096];
    int lineno = 0, ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        if (++lineno == 1) {
            if (!header[0]) snprintf(header, hlen, "%s", line);
            continue;
        }
        if (!strchr(line, '\n') || !row_key(line, key, sizeof key)) continue;
        keypos want = {key, 0};
        const keypos *hit = bsearch(&want, kp, (size_t)nk, sizeof *kp, cmp_key);
        if (hit && seen[hit->pos]) continue;
        if (hit) seen[hit->pos] = 1;
        if (!keep) continue;
        /* a row of another study (another list in the same file): kept, after this study's rows */
        int pos = hit ? hit->pos : nk + (*extra)++;
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 256;
            prow *p = realloc(*rows, (size_t)*cap * sizeof *p);
            if (!p) { ok = 0; break; }
            *rows = p;
        }
        if (!((*rows)[*n].line = strdup(line))) ok = 0;
        else (*rows)[(*n)++].pos = pos;
    }
    fclose(f);
    if (!ok) fprintf(stderr, "clnas %s: out of host memory merging %s\n", cmd, path);
    return ok;
}

/* Appends rows (sorted) to out, with the header when out is new or empty; checked writes
 * (core/fault.h): on failure out is cut back to what it held before. */
static int append_rows(const char *cmd, const char *out, const char *header, prow *rows, int n)
{
    FILE *f = fopen(out, "a");
    if (!f) {
        fprintf(stderr, "clnas %s: cannot write %s: %s\n", cmd, out, strerror(errno));
        return 0;
    }
    fseek(f, 0, SEEK_END);
    long before = ftell(f);
    int ok = before >= 0;
    if (ok && before == 0) ok = fputs(header, f) >= 0;
    for (int i = 0; ok && i < n; i++) ok = fputs(rows[i].line, f) >= 0;
    if (ok && clnas_flush_checked(f) != 0) ok = 0;
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) ok = 0, e = errno;
    if (ok && clnas_fault_write()) ok = 0, e = errno;
    if (ok) return 1;
    fprintf(stderr, "clnas %s: writing %s failed: %s (the part files are kept)\n", cmd, out, strerror(e));
    if (before >= 0 && truncate(out, (off_t)before) != 0)
        fprintf(stderr, "clnas %s: cannot cut %s back to its rows before the merge: %s\n", cmd, out, strerror(errno));
    return 0;
}

int cli_parts_merge(const char *cmd, const char *out, char *const *keys, int nkeys)
{
    char **parts = NULL, header[16384] = "";
    int nparts = 0, n = 0, cap = 0, extra = 0, ok = cli_parts_list(out, &parts, &nparts);
    keypos *kp = malloc((size_t)(nkeys + 1) * sizeof *kp);
    unsigned char *seen = calloc((size_t)nkeys + 1, 1);
    prow *rows = NULL;
    ok = ok && kp && seen;
    for (int i = 0; ok && i < nkeys; i++) kp[i] = (keypos){keys[i], i};
    if (ok) qsort(kp, (size_t)nkeys, sizeof *kp, cmp_key);
    ok = ok && read_rows(cmd, out, kp, nkeys, seen, &rows, &n, &cap, &extra, header, sizeof header, 0);
    for (int i = 0; ok && i < nparts; i++) ok = read_rows(cmd, parts[i], kp, nkeys, seen, &rows, &n, &cap, &extra, header, sizeof header, 1);
    if (ok && n > 1) qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    if (ok && (n > 0 || header[0])) ok = append_rows(cmd, out, header, rows, n);
    for (int i = 0; ok && i < nparts; i++) remove(parts[i]);
    for (int i = 0; i < nparts; i++) free(parts[i]);
    for (int i = 0; i < n; i++) free(rows[i].line);
    free(parts), free(rows), free(kp), free(seen);
    if (!kp || !seen) fprintf(stderr, "clnas %s: out of host memory\n", cmd);
    return ok;
}
