/* cmd_proxies.h - the zero-cost proxies' side of clnas score / rank / stats (cmd_proxies.c). */
#ifndef CLNAS_CMD_PROXIES_H
#define CLNAS_CMD_PROXIES_H

/* 1 when a --metric on the command line names a zero-cost proxy or a word that is no metric
 * (not only ntk / lr, which the TE-NAS commands handle themselves). */
int clnas_proxies_wanted(int argc, char **argv);
int clnas_cmd_score_proxies(int argc, char **argv);
int clnas_cmd_rank_proxies(int argc, char **argv);
/* `clnas search --strategy sample`: N random architectures scored by proxies, the best kept. */
int clnas_cmd_search_sample(int argc, char **argv);
/* 1 when the CSV's header is a proxy study's (index,arch,<proxies>,cifar10_test,...). */
int clnas_proxies_is_study(const char *csv);
/* Prints tau-b and rho of every proxy column and of the ensemble against each accuracy column. */
int clnas_proxies_stats(const char *csv);

/* What `clnas stats` asks of a proxy study besides the table (all borrowed). */
typedef struct px_stats_opts {
    const char *plot;      /* --plot FILE.png, or NULL */
    const char *title;     /* --title, or NULL for the default */
    int json;              /* --json: one JSON object instead of the table */
    int ds;                /* the figure's accuracy column: 0 cifar10, 1 cifar100, 2 imagenet16 */
    int argc;              /* the command line, recorded in the figure */
    char **argv;
    int row_lo, row_hi;    /* --rows A-B: only the data rows A..B (1-based, file order); 0 0: all */
    const char *ensemble;  /* --ensemble LIST: the ensemble's members (NULL: the fixed five) */
    int choose;            /* --choose-ensemble: rank every subset of the columns (or of --ensemble) */
    int nfiles;            /* > 1: files[0..nfiles) are studies of one sample, joined on their index column */
    const char *const *files;
} px_stats_opts;
/* clnas_proxies_stats with options (NULL: the table only); returns the exit status. */
int clnas_proxies_stats_opts(const char *csv, const px_stats_opts *o);

/* One score of a study as stats reports it (stats_proxies.c). */
typedef struct px_study_col {
    const char *name;      /* "synflow", "ensemble", "az_nas" */
    const char *kind;      /* "proxy", "ensemble" or "aggregate" (JSON) */
    const char *note;      /* NULL, or a line that explains a combination */
    const double *x;       /* [n] higher = predicted better; NaN = undefined */
    double secs;           /* seconds summed over the rows; < 0: not timed */
} px_study_col;
/* Correlates each column with the three accuracies (acc[k][n], NaN = undefined) and prints the
 * table or the JSON object, and draws the figure when o->plot is set. Returns the exit status. */
int clnas_proxies_report(const char *csv, int n, const px_study_col *cols, int ncols, const double *const acc[3],
                         const px_stats_opts *o);
#endif
