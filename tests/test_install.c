/* test_install.c - runs tools/install_check.sh on this build tree: `cmake --install` into a
 * temporary prefix, every public header compiles alone, and a program built with the installed
 * clnas.pc calls clnas_devices_list and runs. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

Test(install, pkg_config_consumer_builds_and_runs, .timeout = 600)
{
    /* CLNAS_DATA_DIR is <source>/data; CLNAS_BIN is <build>/clnas. */
    char src[2048], build[2048], cmd[4600];
    snprintf(src, sizeof src, "%s", CLNAS_DATA_DIR);
    char *slash = strrchr(src, '/');
    cr_assert_not_null(slash);
    *slash = 0;
    snprintf(build, sizeof build, "%s", CLNAS_BIN);
    slash = strrchr(build, '/');
    cr_assert_not_null(slash);
    *slash = 0;
    snprintf(cmd, sizeof cmd, "'%s/tools/install_check.sh' '%s' 2>&1", src, build);
    fflush(NULL);
    int rc = system(cmd);
    cr_assert(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "%s failed (status %d); its output is above", cmd,
              rc);
}
