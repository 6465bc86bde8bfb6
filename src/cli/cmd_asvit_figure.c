/* cmd_asvit_figure.c - `clnas figure asvit`: the As-ViT search trace (kappa, L and the policy's
 * entropy per step, from `clnas search --space asvit --out FILE`) and the scaling path (full-size
 * parameters, kappa and L per grow step, from `clnas grow --space asvit --json > FILE`) as PNG
 * figures with the command line in their text chunks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "report/json.h"
#include "report/plot.h"

static const char USAGE[] =
"usage: clnas figure asvit --trace SEARCH.jsonl [--out asvit_search.png]\n"
"       clnas figure asvit --grow GROW.json [--out asvit_grow.png]\n"
"\n"
"Draws an As-ViT search trace (written by clnas search --space asvit --out FILE): kappa, the\n"
"length distortion L and the policy's entropy against the step; or a scaling path (the JSON of\n"
"clnas grow --space asvit --json): the full-size model's parameters, kappa and L per grow step.\n";

typedef struct series {
    int n, cap;
    double *x, *y[3];
} series;

static int push(series *s, double x, double a, double b, double c)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *p[4];
        for (int k = 0; k < 4; k++) {
            double **slot = k ? &s->y[k - 1] : &s->x;
            p[k] = realloc(*slot, (size_t)cap * sizeof(double));
            if (!p[k]) return 0;
            *slot = p[k];
        }
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[0][s->n] = a;
    s->y[1][s->n] = b;
    s->y[2][s->n] = c;
    s->n++;
    return 1;
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The step lines of a search trace. */
static int read_search(const char *path, series *s, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) { snprintf(err, errlen, "cannot open %s", path); return 0; }
    char line[16384], where[600];
    int ln = 0, ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        json_t *j = NULL;
        snprintf(where, sizeof where, "%s:%d", path, ++ln);
        if (clnas_json_parse(line, where, &j, err, errlen) != CLNAS_OK) { ok = 0; break; }
        if (json_object_get(j, "step"))
            ok = push(s, num(j, "step") + 1, num(j, "kappa"), num(j, "L"), num(j, "entropy"));
        json_decref(j);
    }
    fclose(f);
    if (ok && s->n == 0) { snprintf(err, errlen, "%s has no search steps (is it a clnas search --space asvit trace?)", path); ok = 0; }
    return ok;
}

static int read_grow(const char *path, series *s, char *err, size_t errlen)
{
    json_t *j = NULL;
    if (clnas_json_read_file(path, &j, err, errlen) != CLNAS_OK) return 0;
    const json_t *fam = json_object_get(j, "family");
    size_t i;
    const json_t *v;
    int ok = json_is_array(fam);
    json_array_foreach(fam, i, v) if (ok) ok = push(s, num(v, "step"), num(v, "params_M"), num(v, "kappa"), num(v, "L"));
    json_decref(j);
    if (ok && s->n == 0) { snprintf(err, errlen, "%s has no grow steps (is it the JSON of clnas grow --space asvit --json?)", path); ok = 0; }
    else if (!ok && !*err) snprintf(err, errlen, "%s: not the JSON of clnas grow --space asvit --json", path);
    return ok;
}

int clnas_cmd_figure_asvit(int argc, char **argv)
{
    const char *trace = NULL, *grow = NULL, *out = NULL, *title = NULL;
    cli c;
    cli_init(&c, "figure", USAGE, NULL);
    c.max_pos = 1;
    c.pos_name = "figure name (asvit)";
    cli_add_help(&c, "trace", &trace, "an As-ViT search trace (clnas search --space asvit --out FILE)");
    cli_add_help(&c, "grow", &grow, "the JSON of clnas grow --space asvit --json");
    cli_add(&c, "out", &out);
    cli_add(&c, "title", &title);
    char *pos[1];
    int npos = 0;
    int pr = cli_parse(&c, argc, argv, pos, &npos);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (!trace == !grow) {
        fprintf(stderr, "clnas figure asvit: give exactly one of --trace FILE or --grow FILE\n");
        return 2;
    }
    series s = {0};
    char err[1024] = "", cmd[4096];
    int ok = trace ? read_search(trace, &s, err, sizeof err) : read_grow(grow, &s, err, sizeof err);
    int rc = 1;
    if (ok) {
        if (!out) out = trace ? "asvit_search.png" : "asvit_grow.png";
        clnas_cli_command_line(argc, argv, cmd, sizeof cmd);
        clnas_plot_series_data d = {s.n, 3, s.x, {s.y[0], s.y[1], s.y[2], NULL}, {NULL, NULL, NULL, NULL}, NULL};
        if (trace) {
            d.ylabel[0] = "\xce\xba (NTK condition number)";
            d.ylabel[1] = "length distortion L";
            d.ylabel[2] = "policy entropy (nats)";
            d.xlabel = "search step";
        } else {
            d.ylabel[0] = "full-size params (M)";
            d.ylabel[1] = "\xce\xba of the chosen candidate";
            d.ylabel[2] = "L of the chosen candidate";
            d.xlabel = "grow step";
        }
        const char *ttl = title ? title : trace ? "As-ViT topology search (REINFORCE)" : "As-ViT scaling path";
        clnas_plot_meta meta = {cmd, "n/a (read from the file)", "n/a", "", ttl};
        if (clnas_plot_series(out, &d, &meta, err, sizeof err) == CLNAS_OK) rc = 0;
        clnas_plot_release_caches();
    }
    if (rc) fprintf(stderr, "clnas figure asvit: %s\n", err);
    else printf("figure    %s (%d steps)\n", out, s.n);
    free(s.x);
    for (int k = 0; k < 3; k++) free(s.y[k]);
    return rc;
}
