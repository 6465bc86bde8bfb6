/* main.c - the `clnas` command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "cli/mpi.h"
#include "clnas/context.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} cmds[] = {
    {"devices", clnas_cmd_devices, "list OpenCL platforms and devices (index, type, memory, fp64)"},
    {"net", clnas_cmd_net, "print a NAS-Bench-201 network layer by layer with shapes and parameter counts"},
    {"search", clnas_cmd_search, "TE-NAS pruning search on NAS-Bench-201; prints the found cell and its benchmark accuracy"},
    {"rank", clnas_cmd_rank, "score many NB201 architectures as one paired study into a CSV (resumable), with correlations"},
    {"score", clnas_cmd_score, "TE-NAS scores of one NB201 architecture: NTK condition number and linear regions"},
    {"bench", clnas_cmd_bench, "time one kappa and one R stage by stage next to the SGEMM rate; --shapes: per-conv-shape rates; --scaling: batch and network size"},
    {"selftest", clnas_cmd_selftest, "run a network forward and backward on the device and check it against the host reference"},
    {"stats", clnas_cmd_stats, "Kendall tau / Spearman rho of kappa, R and the TE-NAS combined rank against NB201 accuracy; --plot"},
    {"figure", clnas_cmd_figure, "figures: `figure cost` = NB201 accuracy vs. search cost, published methods and clnas traces"},
    {"data", clnas_cmd_data, "ImageNet: convert an ImageNet-style JPEG folder once into 32x32 records (`data convert`), `data info`"},
    {"grow", clnas_cmd_grow, "As-ViT scaling: grow a topology's depth and width by kappa and length distortion (--space asvit)"},
    {"tune", clnas_cmd_tune, "tune CLBlast's GEMM and the NTK seeds in flight for one device; stored per device, applied on every run"},
};

/* Called by the library whenever a context is opened (clnas_set_ctx_created_hook): says, once per
 * process and on stderr, that a device runs CLBlast's generic GEMM parameters or that its tuning
 * file was passed over. The library itself never prints. */
static void tuning_hint(clnas_ctx *ctx)
{
    static int said_note, said_hint;
    const char *note = clnas_ctx_tuning_note(ctx);
    const clnas_device_info *d = clnas_ctx_device(ctx);
    if (note[0] && !said_note) {
        said_note = 1;
        fprintf(stderr, "clnas: warning: %s\n", note);
    }
    if (strcmp(clnas_ctx_tuning_source(ctx), "none") == 0 && !said_hint) {
        said_hint = 1;
        fprintf(stderr, "clnas: device %d (%s) is not tuned for GEMM: run `clnas tune --device %d` (a few minutes, "
                        "once; CLNAS_TUNE=off hides this)\n", d->index, d->name, d->index);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "clnas - training-free neural architecture search (TE-NAS) on any OpenCL device\n\n"
               "usage: clnas <command> [options]     (clnas <command> --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\nDevice choice (every command that computes): --device N (index from `clnas devices`) or\n"
               "--device NAME (part of a device name), or the CLNAS_DEVICE environment variable;\n"
               "default: the first GPU, else the first device.\n"
               "Compiled OpenCL programs are cached in $CLNAS_CACHE_DIR/cl (default ~/.cache/clnas/cl;\n"
               "CLNAS_CACHE_DIR=off disables the cache); `clnas tune` stores per-device GEMM tuning in\n"
               "$CLNAS_CACHE_DIR/tune, applied on every run (CLNAS_TUNE=off disables it).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("clnas %s\n", clnas_version());
        return 0;
    }
    /* `devices` shows every device's tuning itself; `tune` opens its device untuned on purpose */
    if (strcmp(argv[1], "devices") != 0 && strcmp(argv[1], "tune") != 0) clnas_set_ctx_created_hook(tuning_hint);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            /* MPI starts only under mpirun/srun (cli/mpi.h); a plain call stays a plain process */
            int rc = cli_mpi_init(&argc, &argv);
            return rc ? rc : cli_mpi_finalize(cmds[i].fn(argc - 1, argv + 1));
        }
    fprintf(stderr, "clnas: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
