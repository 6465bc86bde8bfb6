/* opts.c - the option registry of every `clnas` command and the one parser that reads them
 * (see opts.h). */
#include "cli/opts.h"
#include "core/fault.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cli_def {
    const char *name;  /* without the dashes */
    const char *arg;   /* the value's name in the help; NULL for a flag */
    cli_kind kind;
    long lo, hi;       /* CLI_INT / CLI_U64 */
    const char *help;  /* the common meaning; a command may word it for itself */
};

/* Every long option of every command, once. Keep it sorted by name. */
static const cli_def REGISTRY[] = {
    {"all", NULL, CLI_FLAG, 0, 0, "every architecture of the space"},
    {"alpha", "FILE", CLI_STR, 0, 0, "a DARTS supernet state: JSON {\"normal\": 14 rows of 8 alphas, \"reduce\": ...}, or 'supernet'"},
    {"arch", "STR", CLI_STR, 0, 0, "the architecture, in the space's notation (NB201: an arch string, see clnas net --help)"},
    {"archs", "FILE", CLI_STR, 0, 0, "one architecture per line ('#' comments and blank lines skipped)"},
    {"batch", "B", CLI_INT, 2, 100000, "NTK batch (default 72)"},
    {"budget", "S", CLI_INT, 0, 86400, "no new measurement starts after S seconds"},
    {"C", "N", CLI_INT, 1, 4096, "channels of the first stage"},
    {"D", "N", CLI_INT, 1, 4096, "embed dim of an As-ViT network's first stage"},
    {"choose-ensemble", NULL, CLI_FLAG, 0, 0, "rank the rank-sum ensemble of every subset of the proxy columns (or of --ensemble) by mean tau-b"},
    {"classes", "K", CLI_INT, 1, 100000, "classifier outputs"},
    {"data", "PATH", CLI_STR, 0, 0, "training data file or folder (default: the bundled CIFAR-10 subset; see README)"},
    {"dataset", "NAME", CLI_FN, 0, 0, "cifar10 (default), cifar100, imagenet16 or imagenet: normalisation, classes, image size"},
    {"dct-scale", NULL, CLI_FLAG, 0, 0, "decode large JPEGs at 1/2..1/8 size with libjpeg's DCT scaling (faster; not PIL's pixels)"},
    {"depth", "D", CLI_INT, -1, 1000, "keep only the first D cells/blocks of the skeleton (TE-NAS's truncation; -1 all)"},
    {"depths", "LIST", CLI_STR, 0, 0, "blocks per stage of an As-ViT network, e.g. 1,1,1,1"},
    {"device", "D", CLI_STR, 0, 0, "device index or name part (see clnas devices; env CLNAS_DEVICE)"},
    {"devices", "LIST", CLI_STR, 0, 0, "several devices: all, local-rank (MPI: by node-local rank) or a list of indices / "
                                       "name parts, e.g. 0,2; one worker per device, results as on one device"},
    {"dump", "DIR", CLI_STR, 0, 0, "also write everything the score is computed from and its intermediate results to DIR"},
    {"ensemble", "LIST", CLI_STR, 0, 0, "the ensemble's members: proxy columns of the study, or az_nas (AZ-NAS's aggregate)"},
    {"edge-ntk-refresh", NULL, CLI_FLAG, 0, 0, "DARTS edge pruning: rebuild the current NTK network after each node (TE-NAS keeps it fixed)"},
    {"fp64", NULL, CLI_FLAG, 0, 0, "compute the Gram matrix in double (on the device if it has cl_khr_fp64, else on the host)"},
    {"from", "DIR", CLI_STR, 0, 0, "recompute from a dump: exactly its weights, images and patches"},
    {"genotype", "G", CLI_STR, 0, 0, "a DARTS genotype: Genotype(normal=[...], ...) as DARTS prints it, or DARTS_V1, DARTS_V2, PC_DARTS"},
    {"grow", "FILE", CLI_STR, 0, 0, "the JSON of clnas grow --space asvit --json"},
    {"imagefolder", "DIR", CLI_STR, 0, 0, "an ImageNet-style folder: one sub-folder of JPEG files per class"},
    {"in-channels", "N", CLI_INT, 1, 4096, "input channels"},
    {"init", "NAME", CLI_FN, 0, 0, "pytorch (default, TE-NAS's effective init), kaiming_fan_in, kaiming_fan_out"},
    {"input", "S", CLI_INT, 1, 4096, "input height and width"},
    {"json", NULL, CLI_FLAG, 0, 0, "print one JSON object instead of text"},
    {"kernel-batch", "B", CLI_INT, 2, 1024, "batch of the kappas the kernel variants are timed on"},
    {"kernels-only", NULL, CLI_FLAG, 0, 0, "time only the kernel variants"},
    {"layers", "N", CLI_INT, 1, 1000, "cells of a DARTS evaluation network"},
    {"ld-reverse", NULL, CLI_FLAG, 0, 0, "length distortion by reverse passes (one per output feature) instead of JVPs"},
    {"lr-batch", "N", CLI_INT, 1, 1000000, "linear-region batch (default 1000; BN statistics are per batch)"},
    {"lr-batches", "N", CLI_INT, 1, 1000, "linear-region batches per repeat (default 3)"},
    {"max-params", "M", CLI_INT, 1, 100000, "parameter limit in millions"},
    {"metric", "LIST", CLI_FN, 0, 0, "the scores to compute"},
    {"N", "N", CLI_INT, 1, 64, "cells per stage"},
    {"no-augment", NULL, CLI_FLAG, 0, 0, "resize whole images: no random-resized crop, no flip"},
    {"no-full", NULL, CLI_FLAG, 0, 0, "skip the full-size network"},
    {"no-kernels", NULL, CLI_FLAG, 0, 0, "do not time the kernel variants"},
    {"no-seeds", NULL, CLI_FLAG, 0, 0, "do not measure the seeds in flight"},
    {"no-stem", NULL, CLI_FLAG, 0, 0, "feed the input straight into the first cell"},
    {"out", "PATH", CLI_STR, 0, 0, "where the results go"},
    {"per-class", "N", CLI_INT, 0, 100000000, "only the first N files of each class (ImageFolder order; 0: all)"},
    {"plot", "FILE", CLI_STR, 0, 0, "also draw the score-vs-accuracy figure (PNG)"},
    {"proxy", "NAME", CLI_FN, 0, 0, "ntk or lr: TE-NAS's proxy networks"},
    {"published", "FILE", CLI_STR, 0, 0, "the published-results CSV (default: the bundled one)"},
    {"quick", NULL, CLI_FLAG, 0, 0, "a shorter run"},
    {"quiet", NULL, CLI_FLAG, 0, 0, "no progress on stderr (progress is shown only on a terminal anyway)"},
    {"reference", NULL, CLI_FLAG, 0, 0, "compute on the double-precision host reference, not the device (small networks)"},
    {"repeat", "K", CLI_INT, 1, 64, "repeats (default 3)"},
    {"rounds", "R", CLI_INT, 1, 100, "alternations of the compared measurements"},
    {"reset", NULL, CLI_FLAG, 0, 0, "delete the stored result"},
    {"sample", "N", CLI_INT, 1, 1000000, "N architectures drawn uniformly without replacement (--seed)"},
    {"scaling", NULL, CLI_FLAG, 0, 0, "time kappa over batch sizes and network sizes"},
    {"scaling-max-batch", "M", CLI_INT, 2, 1000000, "skip batches above M"},
    {"seed", "S", CLI_U64, 0, 2147483647L, "seed of weights and data (default 0); same seed and device -> same numbers"},
    {"rows", "A-B", CLI_FN, 0, 0, "only the data rows A..B of the file (1-based, in file order)"},
    {"seed-counts", "LIST", CLI_FN, 0, 0, "seeds-in-flight counts to time, e.g. 2,4,8"},
    {"seeds", "A-B", CLI_FN, 0, 0, "a range of random seeds: one run per seed A..B"},
    {"seeds-in-flight", "N", CLI_INT, 1, 100000, "NTK backward seeds run together (default: fit the device's budget; env CLNAS_SEEDS)"},
    {"shapes", NULL, CLI_FLAG, 0, 0, "time every convolution shape of the proxies"},
    {"shared-batches", NULL, CLI_FLAG, 0, 0, "share each round's batches across candidates (a departure from TE-NAS)"},
    {"size", "S", CLI_INT, 1, 4096, "side of the stored images in pixels (default 32, what --dataset imagenet reads)"},
    {"space", "NAME", CLI_FN, 0, 0, "search space: nb201 (default), darts or asvit"},
    {"steps", "N", CLI_INT, 1, 1000000, "search steps"},
    {"stop-params", "M", CLI_INT, 1, 100000, "stop at this many million parameters"},
    {"strategy", "NAME", CLI_STR, 0, 0, "search strategy: sample (score random architectures, keep the best)"},
    {"table", "FILE", CLI_STR, 0, 0, "NB201 accuracy table (default: the bundled data/nb201/nb201_accuracies.csv)"},
    {"threads", "N", CLI_INT, 1, 64, "decoder threads (default: the online CPUs)"},
    {"throughput", NULL, CLI_FLAG, 0, 0, "architectures scored per second by each device alone and all together"},
    {"title", "TEXT", CLI_STR, 0, 0, "figure title"},
    {"topology", "T", CLI_STR, 0, 0, "an As-ViT topology (the same as --arch)"},
    {"torch", NULL, CLI_FLAG, 0, 0, "also time the same computations in PyTorch"},
    {"torch-script", "FILE", CLI_STR, 0, 0, "the tools/bench_torch.py to run"},
    {"trace", "FILE", CLI_STR, 0, 0, "a search result file (repeat for several)"},
};
#define NREG ((int)(sizeof REGISTRY / sizeof REGISTRY[0]))

int cli_registry_size(void) { return NREG; }
const char *cli_registry_name(int i) { return i >= 0 && i < NREG ? REGISTRY[i].name : NULL; }

static const cli_def *find_def(const char *name)
{
    for (int i = 0; i < NREG; i++)
        if (!strcmp(REGISTRY[i].name, name)) return &REGISTRY[i];
    return NULL;
}

void cli_init(cli *c, const char *cmd, const char *usage, const char *footer)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->usage = usage;
    c->footer = footer;
}

cli_opt *cli_add_help(cli *c, const char *name, void *dest, const char *help)
{
    static cli_opt dummy;
    const cli_def *d = find_def(name);
    if (!d || c->n >= CLI_MAX_OPTS) {
        fprintf(stderr, "clnas %s: internal error: option --%s is %s\n", c->cmd, name,
                d ? "one too many for the table" : "not in the registry");
        c->bad = 1;
        memset(&dummy, 0, sizeof dummy);
        return &dummy;
    }
    cli_opt *o = &c->opts[c->n++];
    memset(o, 0, sizeof *o);
    o->def = d;
    o->dest = dest;
    o->help = help;
    o->lo = d->lo;
    o->hi = d->hi;
    return o;
}

cli_opt *cli_add(cli *c, const char *name, void *dest) { return cli_add_help(c, name, dest, NULL); }

cli_opt *cli_add_fn(cli *c, const char *name, cli_parse_fn fn, void *ud, const char *help)
{
    cli_opt *o = cli_add_help(c, name, ud, help);
    o->fn = fn;
    return o;
}

int cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || errno || *end || v < lo || v > hi) {
        char e[256];
        fprintf(stderr, "clnas %s: %s expects an integer in [%ld, %ld], got \"%s\"\n", cmd, opt, lo, hi,
                clnas_escape(val, e, sizeof e));
        return 0;
    }
    *out = v;
    return 1;
}

int cli_parse_seed_range(const char *cmd, const char *opt, const char *val, void *ud)
{
    int *r = ud;
    long a, b;
    const char *dash = strchr(val, '-');
    char first[32];
    if (!dash) {
        if (!cli_int(cmd, opt, val, 0, 2147483647L, &a)) return 0;
        r[0] = r[1] = (int)a;
        return 1;
    }
    if (dash == val || (size_t)(dash - val) >= sizeof first) {
        char e[256];
        fprintf(stderr, "clnas %s: %s expects A-B, e.g. 0-9 (got \"%s\")\n", cmd, opt, clnas_escape(val, e, sizeof e));
        return 0;
    }
    memcpy(first, val, (size_t)(dash - val));
    first[dash - val] = 0;
    if (!cli_int(cmd, opt, first, 0, 2147483647L, &a) || !cli_int(cmd, opt, dash + 1, a, 2147483647L, &b)) return 0;
    r[0] = (int)a;
    r[1] = (int)b;
    return 1;
}

static const cli_opt *find_opt(const cli *c, const char *name, size_t len)
{
    for (int i = 0; i < c->n; i++)
        if (strlen(c->opts[i].def->name) == len && !strncmp(c->opts[i].def->name, name, len)) return &c->opts[i];
    return NULL;
}

static int set_value(const cli *c, const cli_opt *o, const char *opt, const char *val)
{
    const cli_def *d = o->def;
    long v;
    if (o->fn) return o->fn(c->cmd, opt, val, o->dest);
    switch (d->kind) {
    case CLI_INT:
        if (!cli_int(c->cmd, opt, val, o->lo, o->hi, &v)) return 0;
        *(int *)o->dest = (int)v;
        return 1;
    case CLI_U64:
        if (!cli_int(c->cmd, opt, val, o->lo, o->hi, &v)) return 0;
        *(uint64_t *)o->dest = (uint64_t)v;
        return 1;
    case CLI_STR:
        if (!*val) {
            fprintf(stderr, "clnas %s: %s needs a non-empty value\n", c->cmd, opt);
            return 0;
        }
        *(const char **)o->dest = val;
        return 1;
    case CLI_FLAG:
    case CLI_FN:
        break;
    }
    fprintf(stderr, "clnas %s: internal error: %s has no parser\n", c->cmd, opt);
    return 0;
}

int cli_parse(cli *c, int argc, char **argv, char **pos, int *npos)
{
    if (npos) *npos = 0;
    if (c->bad) return CLI_USAGE;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char ea[256]; /* the argument as messages show it: control characters escaped */
        clnas_escape(a, ea, sizeof ea);
        if (!only_pos && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            cli_help(c, stdout);
            return CLI_HELP;
        }
        if (!only_pos && !strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (!npos || *npos >= c->max_pos) {
                if (c->max_pos)
                    fprintf(stderr, "clnas %s: unexpected argument \"%s\" (it takes %d %s; see clnas %s --help)\n", c->cmd, ea,
                            c->max_pos, c->pos_name ? c->pos_name : "argument(s)", c->cmd);
                else
                    fprintf(stderr, "clnas %s: unexpected argument \"%s\" (options start with --; see clnas %s --help)\n",
                            c->cmd, ea, c->cmd);
                return CLI_USAGE;
            }
            pos[(*npos)++] = argv[i];
            continue;
        }
        if (a[1] != '-') {
            fprintf(stderr, "clnas %s: unknown option \"%s\" (long options only, e.g. --batch 8; see clnas %s --help)\n",
                    c->cmd, ea, c->cmd);
            return CLI_USAGE;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = (cli_opt *)find_opt(c, name, len);
        if (!o) {
            char raw[128], en[256];
            snprintf(raw, sizeof raw, "%.*s", (int)(len < sizeof raw ? len : sizeof raw - 1), name);
            fprintf(stderr, "clnas %s: unknown option \"--%s\" (see clnas %s --help)\n", c->cmd, clnas_escape(raw, en, sizeof en),
                    c->cmd);
            return CLI_USAGE;
        }
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", o->def->name);
        if (o->given) *o->given = 1;
        o->seen = 1;
        if (o->def->kind == CLI_FLAG && !o->fn) {
            if (eq) {
                fprintf(stderr, "clnas %s: %s takes no value (got \"%s\")\n", c->cmd, opt, ea);
                return CLI_USAGE;
            }
            *(int *)o->dest = 1;
            continue;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else {
            fprintf(stderr, "clnas %s: %s needs a value (%s)\n", c->cmd, opt, o->def->arg ? o->def->arg : "");
            return CLI_USAGE;
        }
        if (!set_value(c, o, opt, val)) return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_given(const cli *c, const char *name)
{
    const cli_opt *o = find_opt(c, name, strlen(name));
    return o && o->seen;
}

void cli_help(const cli *c, FILE *f)
{
    fputs(c->usage, f);
    if (c->n) fputs("\noptions:\n", f);
    for (int i = 0; i < c->n; i++) {
        const cli_opt *o = &c->opts[i];
        if (o->hidden) continue;
        char head[64];
        snprintf(head, sizeof head, "  --%s%s%s", o->def->name, o->def->arg ? " " : "", o->def->arg ? o->def->arg : "");
        const char *h = o->help ? o->help : o->def->help;
        size_t hl = strlen(head);
        if (hl > 22) fprintf(f, "%s\n%24s", head, "");
        else fprintf(f, "%-24s", head);
        /* continuation lines of the help text line up under its first line */
        for (const char *p = h; *p; p++) {
            fputc(*p, f);
            if (*p == '\n' && p[1]) fprintf(f, "%24s", "");
        }
        fputc('\n', f);
    }
    if (c->footer) {
        fputc('\n', f);
        fputs(c->footer, f);
    }
}
