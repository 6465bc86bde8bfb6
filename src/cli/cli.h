/* cli.h - the subcommands of the `clnas` program. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit status: 0 success, 1 failure
 * of the work, 2 bad usage. They print results on stdout and messages on stderr. */
#ifndef CLNAS_CLI_H
#define CLNAS_CLI_H
#include <stddef.h>

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

/* Shared helpers (src/cli/common.c). */
/* Returns the value of "--name VALUE" or "--name=VALUE" at argv[*i], advancing *i; NULL if argv[*i] is not that option. */
const char *clnas_cli_opt(int argc, char **argv, int *i, const char *name);
/* Parses an integer option value; prints an error naming the option and returns 0 on failure. */
int clnas_cli_int(const char *opt, const char *val, long lo, long hi, long *out);
/* Joins "clnas" and argv into one shell-like line (for figure metadata), quoting what needs it. */
void clnas_cli_command_line(int argc, char **argv, char *out, size_t len);
/* Median of v[0..n) (n >= 1); sorts v in place. For benchmark repeats. */
double clnas_cli_median(double *v, int n);
#endif
