/* csv.c - one CSV line splitter shared by the table readers (NB201 table, scores, published results). */
#include "internal.h"

int clnas_csv_split(char *line, char **fields, int maxf)
{
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        char *start = p, *w = p;
        if (*p == '"') {
            start = w = ++p;
            for (;;) {
                if (!*p) return -1;
                if (*p == '"') {
                    if (p[1] == '"') { *w++ = '"'; p += 2; continue; }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            while (*p == ' ' || *p == '\t') p++;
            if (*p && *p != ',') return -1;
        } else {
            while (*p && *p != ',') *w++ = *p++;
            while (w > start && (w[-1] == ' ' || w[-1] == '\t')) w--;
        }
        int more = *p == ',';
        *w = 0;
        if (n < maxf) fields[n] = start;
        n++;
        if (!more) break;
        p++;
    }
    return n;
}
