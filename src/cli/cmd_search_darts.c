/* cmd_search_darts.c - `clnas search --space darts`: TE-NAS's pruning search on the DARTS space. */
#include <stdio.h>
#include "cli/cli.h"

int clnas_cmd_search_darts(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "clnas search: --space darts is not implemented yet (clnas net and clnas score do the DARTS space)\n");
    return 1;
}
