/* opts.h - one option table for every `clnas` command.
 *
 * Every long option any command takes is defined once in the registry (opts.c): its spelling, its
 * value's name, its kind, the range of an integer, and its help text. A command lists the options
 * it takes by name and binds each to a destination; cli_parse then parses, validates and reports
 * them the same way everywhere, and cli_help prints the command's help from the same table:
 * - spellings are exact: `--batch 8` or `--batch=8`; an abbreviation (`--bat`) is an unknown option,
 *   so no prefix of today's flags becomes part of the interface;
 * - an integer must be a whole number in its range, with nothing after it;
 * - an old spelling kept for a while (e.g. `--seeds N` for the seeds in flight) is accepted with a
 *   one-line deprecation message that names the new spelling;
 * - `--help` / `-h` print the help and make the command exit 0; a usage error prints one line that
 *   names the option and what was expected, and makes the command exit 2.
 * The options the spaces of the coming issues need are in the registry already (--space, --depth,
 * --layers, --depths), so their spellings do not collide. */
#ifndef CLNAS_CLI_OPTS_H
#define CLNAS_CLI_OPTS_H

#include <stdint.h>
#include <stdio.h>

typedef enum cli_kind {
    CLI_FLAG, /* no value; dest: int*, set to 1 */
    CLI_INT,  /* dest: int*; checked against [lo, hi] */
    CLI_U64,  /* dest: uint64_t*; checked against [lo, hi] */
    CLI_STR,  /* dest: const char** (points into argv); must not be empty */
    CLI_FN    /* the binding's parse function reads the value */
} cli_kind;

/* A parse function of a CLI_FN option: reads `val` into `ud`; on a bad value prints one line on
 * stderr ("clnas CMD: --name: ...") and returns 0. */
typedef int (*cli_parse_fn)(const char *cmd, const char *opt, const char *val, void *ud);

typedef struct cli_def cli_def; /* a registry entry (opts.c) */

typedef struct cli_opt {
    const cli_def *def;
    void *dest;
    cli_parse_fn fn;
    const char *help;  /* the command's own help text, or NULL for the registry's */
    long lo, hi;       /* the range in force (the registry's unless overridden) */
    int *given;        /* if not NULL: set to 1 when the option appears */
    int hidden;        /* deprecated spellings: accepted, not listed */
    int seen;          /* set by cli_parse when the option appears */
} cli_opt;

#define CLI_MAX_OPTS 48

typedef struct cli {
    const char *cmd;       /* "score" */
    const char *usage;     /* the usage line(s) and description printed above the options */
    const char *footer;    /* printed below the options (NULL: nothing) */
    cli_opt opts[CLI_MAX_OPTS];
    int n;
    int max_pos;           /* positional arguments allowed (default 0) */
    const char *pos_name;  /* what they are, for the error message */
    int bad;               /* a binding named an option the registry does not have */
} cli;

void cli_init(cli *c, const char *cmd, const char *usage, const char *footer);
/* Binds option `name` (without the dashes) to dest, with the registry's help and range. Returns the
 * binding, to adjust (help, range, given). */
cli_opt *cli_add(cli *c, const char *name, void *dest);
/* The same with the command's own help text. */
cli_opt *cli_add_help(cli *c, const char *name, void *dest, const char *help);
/* A CLI_FN option (or any option read by a function): fn(cmd, "--name", value, ud). */
cli_opt *cli_add_fn(cli *c, const char *name, cli_parse_fn fn, void *ud, const char *help);

/* Parses argv[1..argc) (argv[0] is the command's name). Positional arguments go to pos[] (at
 * most c->max_pos; more is a usage error). Returns CLI_OK, CLI_HELP (help printed on stdout: exit
 * 0) or CLI_USAGE (message printed: exit 2). */
enum { CLI_OK = 0, CLI_HELP = 1, CLI_USAGE = 2 };
int cli_parse(cli *c, int argc, char **argv, char **pos, int *npos);
/* 1 when option `name` appeared on the command line (after cli_parse). */
int cli_given(const cli *c, const char *name);
/* Prints the usage text, the option list and the footer. */
void cli_help(const cli *c, FILE *f);

/* Shared parsers (CLI_FN): a seed range "A-B" or a single seed "A" into int[2]. */
int cli_parse_seed_range(const char *cmd, const char *opt, const char *val, void *ud);
/* Checks an integer value (whole string, in range); prints the standard message on failure. */
int cli_int(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);

/* The registry's entries, for the test that checks every command's help lists what it takes. */
int cli_registry_size(void);
const char *cli_registry_name(int i);

#endif
