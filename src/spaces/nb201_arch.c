/* arch.c - NAS-Bench-201 arch-string parser and printer (standard and supernet forms). */
#include <stdio.h>
#include <string.h>
#include "core/fault.h"
#include "clnas/nb201.h"

static const char *const op_names[CLNAS_NB201_NOPS] = {"none", "skip_connect", "nor_conv_1x1",
                                                       "nor_conv_3x3", "avg_pool_3x3"};
static const int edge_to[CLNAS_NB201_EDGES] = {1, 2, 2, 3, 3, 3};
static const int edge_from[CLNAS_NB201_EDGES] = {0, 0, 1, 0, 1, 2};

const char *clnas_nb201_op_name(int op)
{
    return op >= 0 && op < CLNAS_NB201_NOPS ? op_names[op] : NULL;
}

void clnas_nb201_edge_nodes(int e, int *to, int *from)
{
    *to = edge_to[e];
    *from = edge_from[e];
}

static clnas_status fail(char *err, size_t errlen, const char *s, size_t pos, const char *what)
{
    if (err && errlen) {
        char cut[24], near[100];
        snprintf(cut, sizeof cut, "%.16s", s + pos);
        clnas_escape(cut, near, sizeof near); /* control characters of user input are shown escaped */
        snprintf(err, errlen, "malformed NAS-Bench-201 arch string at position %zu: expected %s, found %s%s%s "
                 "(format: |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with op one of none, skip_connect, "
                 "nor_conv_1x1, nor_conv_3x3, avg_pool_3x3)",
                 pos + 1, what, s[pos] ? "\"" : "", s[pos] ? near : "the end of the string", s[pos] ? "\"" : "");
    }
    return CLNAS_E_PARSE;
}

clnas_status clnas_nb201_parse(const char *s, clnas_nb201_arch *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!s) return fail(err, errlen, "", 0, "an arch string");
    if (strcmp(s, "supernet") == 0 || strcmp(s, "full") == 0) {
        unsigned char m = strcmp(s, "full") == 0 ? 0x1f : 0x1e;
        for (int e = 0; e < CLNAS_NB201_EDGES; e++) out->ops[e] = m;
        return CLNAS_OK;
    }
    size_t p = 0;
    int e = 0;
    for (int node = 1; node <= 3; node++) {
        if (node > 1) {
            if (s[p] != '+') return fail(err, errlen, s, p, "'+' between nodes");
            p++;
        }
        if (s[p] != '|') return fail(err, errlen, s, p, "'|'");
        p++;
        for (int j = 0; j < node; j++, e++) {
            unsigned char mask = 0;
            for (;;) {
                int found = -1;
                for (int o = 0; o < CLNAS_NB201_NOPS; o++) {
                    size_t n = strlen(op_names[o]);
                    if (strncmp(s + p, op_names[o], n) == 0 && (s[p + n] == '~' || s[p + n] == ',')) {
                        found = o;
                        p += n;
                        break;
                    }
                }
                if (found < 0) return fail(err, errlen, s, p, "an op name");
                if (mask & (1u << found)) return fail(err, errlen, s, p - strlen(op_names[found]), "each op at most once per edge");
                mask |= (unsigned char)(1u << found);
                if (s[p] == ',') { p++; continue; }
                break;
            }
            if (s[p] != '~') return fail(err, errlen, s, p, "'~'");
            p++;
            if (s[p] != (char)('0' + j)) {
                char want[48];
                snprintf(want, sizeof want, "source node '%d' (edge %d<-%d)", j, node, j);
                return fail(err, errlen, s, p, want);
            }
            p++;
            if (s[p] != '|') return fail(err, errlen, s, p, "'|'");
            p++;
            out->ops[e] = mask;
        }
    }
    if (s[p] != 0) return fail(err, errlen, s, p, "the end of the string");
    return CLNAS_OK;
}

size_t clnas_nb201_format(const clnas_nb201_arch *a, char *buf, size_t len)
{
    char tmp[512];
    size_t n = 0;
    int e = 0;
    for (int node = 1; node <= 3; node++) {
        if (node > 1) tmp[n++] = '+';
        tmp[n++] = '|';
        for (int j = 0; j < node; j++, e++) {
            int first = 1;
            if (a->ops[e] == 0) { /* an empty edge contributes zero, exactly like 'none' */
                n += (size_t)snprintf(tmp + n, sizeof tmp - n, "none");
                first = 0;
            }
            for (int o = 0; o < CLNAS_NB201_NOPS; o++)
                if (a->ops[e] & (1u << o)) {
                    n += (size_t)snprintf(tmp + n, sizeof tmp - n, "%s%s", first ? "" : ",", op_names[o]);
                    first = 0;
                }
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "~%d|", j);
        }
    }
    tmp[n] = 0;
    if (buf && len) snprintf(buf, len, "%s", tmp);
    return n;
}

int clnas_nb201_edge_count(const clnas_nb201_arch *a, int e)
{
    int c = 0;
    for (int o = 0; o < CLNAS_NB201_NOPS; o++) c += (a->ops[e] >> o) & 1;
    return c;
}

int clnas_nb201_is_single_path(const clnas_nb201_arch *a)
{
    for (int e = 0; e < CLNAS_NB201_EDGES; e++)
        if (clnas_nb201_edge_count(a, e) != 1) return 0;
    return 1;
}
