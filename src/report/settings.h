/* settings.h - the settings a result was computed with, recorded next to it (a trace's search
 * line, a search result file's "settings", rank's scores.csv.json) and compared when a run is
 * resumed, so that one file never mixes numbers of different settings.
 *
 * A settings object is a flat JSON object of strings and integers. Every key that changes a
 * number is compared ("space", "batches", "dataset", "data", "seed", "batch", "repeats",
 * "lr_batch", "lr_batches", "prune_number", "device"); "version" (the clnas version) only warns.
 * A key the recorded object lacks (a file of an older clnas) cannot be checked: it is listed. */
#ifndef CLNAS_REPORT_SETTINGS_H
#define CLNAS_REPORT_SETTINGS_H

#include "clnas/score.h"
#include "report/json.h"

/* The settings of a score study: space, dataset, data, seed, batch, repeats, lr_batch,
 * lr_batches, device, version. NULL when out of memory. */
json_t *clnas_settings_new(const char *space, const clnas_score_opts *o, const char *data, const char *device);

typedef struct clnas_settings_diff {
    int ndiffer;          /* keys whose values differ (version not counted) */
    char differ[2048];    /* "batch 8 (this run: 16), data \"a\" (this run: \"b\")" */
    char flags[1024];     /* the recorded values as flags: "--batch 8 --data a" */
    char unchecked[512];  /* keys the recorded object lacks, "data, device" */
    char version[64];     /* the recorded version when it differs from this one (else "") */
} clnas_settings_diff;

/* Compares every key of `current` with `recorded`; fills d. Returns d->ndiffer. */
int clnas_settings_compare(const json_t *recorded, const json_t *current, clnas_settings_diff *d);

/* The usual handling for a command `cmd` resuming `path`: prints the refusal (the file, each
 * differing setting with both values, the two ways on) and returns 1; or prints the warnings
 * (another clnas version, settings that could not be checked) and returns 0. */
int clnas_settings_check(const char *cmd, const char *path, const json_t *recorded, const json_t *current);

#endif
