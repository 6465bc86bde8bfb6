/* cmd_data.c - `clnas data`: training data that needs preparing. `data convert` turns an
 * ImageNet-style folder of JPEGs into an image-record file once (clnas_imagefolder_convert);
 * `data info` prints a record file's provenance header and checks its size. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "clnas/data.h"
#include "core/util.h"
#include "data/image.h"
#include "report/json.h"

static const char USAGE[] =
"usage: clnas data convert --imagefolder DIR --out FILE [--size 32] [--threads N] [--per-class N]\n"
"                          [--dct-scale] [--quiet] [--json]\n"
"       clnas data info FILE [--json]\n"
"\n"
"ImageNet for TE-NAS (--dataset imagenet). TE-NAS searches ImageNet on 32x32 images: its pipeline\n"
"reads the training folder with torchvision's ImageFolder, PIL's Image.open(f).convert(\"RGB\"),\n"
"then transforms.Resize((32, 32)) - PIL's antialiased bilinear filter - and ImageNet's mean and\n"
"std. clnas reproduces that pipeline exactly: JPEGs decoded by libjpeg-turbo as PIL decodes them\n"
"(grayscale and CMYK files converted to RGB as PIL converts them), resized by a bit-exact port of\n"
"PIL's resampler, classes = the sorted class folder names, files in ImageFolder's order.\n"
"\n"
"Two ways to read a folder DIR (one sub-folder of JPEG files per class, e.g. the ILSVRC2012\n"
"train/ folder with its 1000 n0xxxxxxx sub-folders):\n"
"  convert once:  clnas data convert --imagefolder DIR --out imagenet32.bin\n"
"                 then every run: --dataset imagenet --data imagenet32.bin (read like the CIFAR\n"
"                 files: 3,074 bytes per image, about 3.9 GB for the 1.28 M training images)\n"
"  directly:      --dataset imagenet --data DIR decodes the whole folder on every run; fine for\n"
"                 a few thousand images, too slow for ImageNet itself.\n"
"\n"
"The record file starts with a text header that says where it came from: source folder, image\n"
"and class counts, class names, size, filter, decoder, skipped files, clnas version and date\n"
"(`clnas data info FILE` prints it, so does `head -c 1000 FILE`). Then one record per image:\n"
"the class label (2 bytes, little-endian: up to 65535 classes) and the R, G, B planes.\n"
"\n"
"Files that cannot be read or decoded (corrupt, truncated, empty, not JPEG data) are skipped:\n"
"the count and the first few names with the reason are printed, and the count is stored in the\n"
"header. Only a folder with nothing decodable left is an error. The classifier of the scored\n"
"networks is as wide as the number of class folders (1000 for ImageNet).\n";

static const char FOOTER[] =
"--dct-scale decodes large JPEGs at 1/2, 1/4 or 1/8 size with libjpeg's DCT scaling (keeping at\n"
"least 4x the output size): faster, but NOT the original's pixels (measured: several grey levels\n"
"off on detailed images); the header records it. The default decodes every image at full size.\n"
"Progress goes to stderr, only on a terminal (--quiet: none).\n";

typedef struct convert_args {
    const char *folder, *out;
    clnas_convert_opts o;
    int quiet, json, dct, per_class;
    double t0;
} convert_args;

static void progress(void *ud, long done, long skipped, long total)
{
    convert_args *a = ud;
    double el = clnas_now() - a->t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    char left[32];
    if (eta < 120) snprintf(left, sizeof left, "%.0f s", eta);
    else snprintf(left, sizeof left, "%.0f min", eta / 60);
    fprintf(stderr, "\rclnas data convert: %ld / %ld files (%.1f %%), %ld skipped, %.0f files/s, %s left   ", done,
            total, total ? 100.0 * (double)done / (double)total : 100.0, skipped, rate, left);
    fflush(stderr);
}

static int print_convert_json(const convert_args *a, const clnas_convert_result *r)
{
    json_t *j = json_object();
    int bad = !j;
    if (j) {
        bad |= json_object_set_new(j, "out", clnas_json_str(a->out));
        bad |= json_object_set_new(j, "source", clnas_json_str(a->folder));
        bad |= json_object_set_new(j, "files", json_integer(r->files));
        bad |= json_object_set_new(j, "images", json_integer(r->images));
        bad |= json_object_set_new(j, "skipped", json_integer(r->skipped));
        bad |= json_object_set_new(j, "skipped_note", clnas_json_str(r->skipped_note));
        bad |= json_object_set_new(j, "classes", json_integer(r->classes));
        bad |= json_object_set_new(j, "empty_classes", json_integer(r->empty_classes));
        bad |= json_object_set_new(j, "size", json_integer(a->o.size));
        bad |= json_object_set_new(j, "dct_scale", json_boolean(a->o.dct_scale));
        bad |= json_object_set_new(j, "bytes", json_integer(r->bytes));
        bad |= json_object_set_new(j, "seconds", clnas_json_num(r->seconds));
    }
    if (bad || clnas_json_print(stdout, j) != 0) {
        fprintf(stderr, "clnas data convert: cannot write the JSON result\n");
        json_decref(j);
        return 1;
    }
    json_decref(j);
    return 0;
}

static int cmd_convert(int argc, char **argv)
{
    convert_args a;
    memset(&a, 0, sizeof a);
    clnas_convert_opts_default(&a.o);
    cli c;
    cli_init(&c, "data convert", USAGE, FOOTER);
    cli_add_help(&c, "imagefolder", &a.folder, "the ImageNet-style folder: one sub-folder of JPEG files per class");
    cli_add_help(&c, "out", &a.out, "the image-record file to write (written to FILE.tmp.PID, then renamed)");
    cli_add(&c, "size", &a.o.size);
    cli_add(&c, "threads", &a.o.threads);
    cli_add(&c, "per-class", &a.per_class);
    cli_add(&c, "dct-scale", &a.dct);
    cli_add(&c, "quiet", &a.quiet);
    cli_add(&c, "json", &a.json);
    int pr = cli_parse(&c, argc, argv, NULL, NULL);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (!a.folder || !a.out) {
        fprintf(stderr, "clnas data convert: --imagefolder DIR and --out FILE are required (see clnas data --help)\n");
        return 2;
    }
    a.o.dct_scale = a.dct;
    a.o.per_class = a.per_class;
    int show = !a.quiet && isatty(2);
    if (show) {
        a.o.progress = progress;
        a.o.progress_ud = &a;
    }
    a.t0 = clnas_now();
    if (show) fprintf(stderr, "clnas data convert: listing %s ...", a.folder); /* ImageNet: 1.28 M files */
    clnas_convert_result r;
    char err[4096] = "";
    clnas_status st = clnas_imagefolder_convert(a.folder, a.out, &a.o, &r, err, sizeof err);
    if (show) fputc('\n', stderr);
    if (r.skipped_note[0]) fprintf(stderr, "clnas data convert: warning: %s\n", r.skipped_note);
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas data convert: %s\n", err);
        return st == CLNAS_E_INVALID_ARG ? 2 : 1;
    }
    if (a.json) return print_convert_json(&a, &r);
    printf("wrote    %s\n", a.out);
    printf("source   %s: %ld image files in %d class folders%s", a.folder, r.files, r.classes,
           a.o.per_class > 0 ? " (first files of each class only)" : "");
    if (r.empty_classes) printf(", %ld of them empty", r.empty_classes);
    printf("\nimages   %ld written, %ld skipped\n", r.images, r.skipped);
    printf("records  %dx%d RGB + 2-byte label = %ld bytes each; file %.1f MB\n", a.o.size, a.o.size,
           2L + 3L * a.o.size * a.o.size, (double)r.bytes / 1e6);
    printf("pixels   %s\n", a.o.dct_scale ? "DCT-scaled decode (--dct-scale): NOT PIL's pixels"
                                          : "PIL's: full-size decode, antialiased bilinear resize");
    printf("time     %.2f s (%.3f ms per file)\n", r.seconds, r.files ? 1e3 * r.seconds / (double)r.files : 0.0);
    printf("use it   --dataset imagenet --data %s\n", a.out);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    int json = 0;
    char *pos[1];
    int npos = 0;
    cli c;
    cli_init(&c, "data info", USAGE, FOOTER);
    c.max_pos = 1;
    c.pos_name = "image-record file";
    cli_add(&c, "json", &json);
    int pr = cli_parse(&c, argc, argv, pos, &npos);
    if (pr != CLI_OK) return pr == CLI_HELP ? 0 : 2;
    if (npos != 1) {
        fprintf(stderr, "clnas data info: give the image-record file (see clnas data --help)\n");
        return 2;
    }
    clnas_records_header h;
    char err[2048];
    if (clnas_records_read_header(pos[0], &h, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas data info: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (json) {
        json_t *j = json_object(), *names = json_array();
        int bad = !j || !names;
        if (!bad) {
            bad |= json_object_set_new(j, "file", clnas_json_str(pos[0]));
            bad |= json_object_set_new(j, "source", clnas_json_str(h.source));
            bad |= json_object_set_new(j, "images", json_integer(h.images));
            bad |= json_object_set_new(j, "skipped", json_integer(h.skipped));
            bad |= json_object_set_new(j, "classes", json_integer(h.classes));
            bad |= json_object_set_new(j, "size", json_integer(h.size));
            bad |= json_object_set_new(j, "record_bytes", json_integer(h.record_bytes));
            bad |= json_object_set_new(j, "header_bytes", json_integer(h.header_bytes));
            bad |= json_object_set_new(j, "filter", clnas_json_str(h.filter));
            bad |= json_object_set_new(j, "decode", clnas_json_str(h.decode));
            bad |= json_object_set_new(j, "clnas", clnas_json_str(h.version));
            bad |= json_object_set_new(j, "date", clnas_json_str(h.date));
            for (int i = 0; h.class_names && i < h.classes; i++) bad |= json_array_append_new(names, clnas_json_str(h.class_names[i]));
            bad |= json_object_set(j, "class_names", names);
        }
        if (bad || clnas_json_print(stdout, j) != 0) {
            fprintf(stderr, "clnas data info: cannot write the JSON result\n");
            rc = 1;
        }
        json_decref(names);
        json_decref(j);
    } else {
        printf("file     %s (%ld-byte header, then %ld records of %ld bytes)\n", pos[0], h.header_bytes, h.images,
               h.record_bytes);
        printf("source   %s\n", h.source);
        printf("images   %ld (%ld files skipped when it was made)\n", h.images, h.skipped);
        printf("classes  %d", h.classes);
        if (h.class_names && h.classes > 0)
            printf(": %s%s%s", h.class_names[0], h.classes > 1 ? " .. " : "", h.classes > 1 ? h.class_names[h.classes - 1] : "");
        printf("\nsize     %dx%d, %d channels\n", h.size, h.size, h.channels);
        printf("filter   %s\n", h.filter);
        printf("decode   %s\n", h.decode);
        printf("made by  clnas %s on %s\n", h.version, h.date);
        if (h.size == clnas_dataset_hw(CLNAS_DS_IMAGENET)) printf("use it   --dataset imagenet --data %s\n", pos[0]);
    }
    clnas_records_header_free(&h);
    return rc;
}

int clnas_cmd_data(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && !strcmp(sub, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (sub && !strcmp(sub, "info")) return cmd_info(argc - 1, argv + 1);
    if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))) {
        /* the full help: the usage text and both subcommands' options */
        cli c;
        const char *s = NULL;
        int flag = 0, n = 0;
        cli_init(&c, "data", USAGE, FOOTER);
        cli_add_help(&c, "imagefolder", &s, "convert: the ImageNet-style folder (one sub-folder of JPEGs per class)");
        cli_add_help(&c, "out", &s, "convert: the image-record file to write");
        cli_add(&c, "size", &n);
        cli_add(&c, "threads", &n);
        cli_add(&c, "per-class", &n);
        cli_add(&c, "dct-scale", &flag);
        cli_add(&c, "quiet", &flag);
        cli_add(&c, "json", &flag);
        cli_help(&c, stdout);
        return 0;
    }
    if (sub) fprintf(stderr, "clnas data: unknown subcommand \"%s\" (convert or info; see clnas data --help)\n", sub);
    else fprintf(stderr, "clnas data: convert or info? (see clnas data --help)\n");
    return 2;
}
