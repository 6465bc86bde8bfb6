/* cli.h - the subcommands of the `clnas` program. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status: 0 success, 1 failure
 * of the work, 2 bad usage. They print results on stdout and messages on stderr. */
#ifndef CLNAS_CLI_H
#define CLNAS_CLI_H
#include <stddef.h>
#include "cli/opts.h"
#include "clnas/score.h"

int clnas_cmd_devices(int argc, char **argv);
int clnas_cmd_net(int argc, char **argv);
int clnas_cmd_selftest(int argc, char **argv);
int clnas_cmd_score(int argc, char **argv);
int clnas_cmd_bench(int argc, char **argv);
int clnas_cmd_stats(int argc, char **argv);
int clnas_cmd_figure(int argc, char **argv);
int clnas_cmd_search(int argc, char **argv);
int clnas_cmd_rank(int argc, char **argv);
int clnas_cmd_tune(int argc, char **argv);
int clnas_cmd_data(int argc, char **argv);
/* the DARTS space's side of net and search (cmd_net_darts.c, cmd_search_darts.c; score handles it itself) */
int clnas_cmd_net_darts(int argc, char **argv);
int clnas_cmd_search_darts(int argc, char **argv);
int clnas_cmd_figure_darts(int argc, char **argv);
int clnas_cmd_bench_darts(int argc, char **argv);
/* 1 when argv asks for --space darts */
int cli_wants_darts(int argc, char **argv);
/* --genotype G or --alpha FILE|supernet into a supernet state; a label for it into label.
 * Returns 0, or the exit status after printing the error. */
struct clnas_darts_alpha;
int darts_cli_state(const char *cmd, const char *genotype, const char *alpha, struct clnas_darts_alpha *al, char *label,
                    size_t len);

/* ---- shared helpers (src/cli/common.c) ---- */
/* The options of every command that computes kappa and R, bound once (one spelling, range and
 * help everywhere): --dataset, --data, --batch, --repeat, --lr-batch, --lr-batches,
 * --seeds-in-flight, --device. data and device receive the paths/names given (or stay NULL). */
void cli_add_score_opts(cli *c, clnas_score_opts *o, const char **data, const char **device);
/* --space: the search spaces a command accepts; `space` receives the name ("nb201"). */
void cli_add_space(cli *c, const char **space);
/* Parsers for the shared enumerated values. */
int cli_parse_dataset(const char *cmd, const char *opt, const char *val, void *ud); /* clnas_dataset_kind* */
int cli_parse_init(const char *cmd, const char *opt, const char *val, void *ud);    /* clnas_init* */
/* `--seeds N` (a plain count) as the old spelling of --seeds-in-flight N: warns once, sets the int. */
int cli_parse_deprecated_seeds(const char *cmd, const char *opt, const char *val, void *ud);

/* `clnas bench --throughput` (src/cli/bench_throughput.c): the exit status. */
int cli_bench_throughput(const char *devices, const char *device, int n, int reps, int batch, int seeds, int json);

/* Joins "clnas" and argv into one shell-like line (for figure metadata), quoting what needs it. */
void clnas_cli_command_line(int argc, char **argv, char *out, size_t len);
#endif
