/* cmd_proxies.h - the zero-cost proxies' side of clnas score / rank / stats (cmd_proxies.c). */
#ifndef CLNAS_CMD_PROXIES_H
#define CLNAS_CMD_PROXIES_H

/* 1 when a --metric on the command line names a zero-cost proxy or a word that is no metric
 * (not only ntk / lr, which the TE-NAS commands handle themselves). */
int clnas_proxies_wanted(int argc, char **argv);
int clnas_cmd_score_proxies(int argc, char **argv);
int clnas_cmd_rank_proxies(int argc, char **argv);
/* 1 when the CSV's header is a proxy study's (index,arch,<proxies>,cifar10_test,...). */
int clnas_proxies_is_study(const char *csv);
/* Prints tau-b and rho of every proxy column and of the ensemble against each accuracy column. */
int clnas_proxies_stats(const char *csv);
#endif
