/* settings.c - recording and comparing the settings of a resumable run (settings.h). */
#define _POSIX_C_SOURCE 200809L
#include "report/settings.h"
#include <string.h>
#include "core/fault.h"

json_t *clnas_settings_new(const char *space, const clnas_score_opts *o, const char *data, const char *device)
{
    json_t *j = json_object();
    int bad = json_object_set_new(j, "space", json_string(space ? space : "nb201"));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(o->dataset)));
    bad |= json_object_set_new(j, "data", clnas_json_str(data));
    bad |= json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    bad |= json_object_set_new(j, "batch", json_integer(o->batch));
    bad |= json_object_set_new(j, "repeats", json_integer(o->repeats));
    bad |= json_object_set_new(j, "lr_batch", json_integer(o->lr_batch));
    bad |= json_object_set_new(j, "lr_batches", json_integer(o->lr_batches));
    bad |= json_object_set_new(j, "device", clnas_json_str(device));
    bad |= json_object_set_new(j, "version", json_string(clnas_version()));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The flag that sets a key, or NULL. */
static const char *flag_of(const char *key)
{
    static const char *const map[][2] = {{"space", "--space"},     {"dataset", "--dataset"},   {"data", "--data"},
                                         {"seed", "--seed"},       {"batch", "--batch"},       {"repeats", "--repeat"},
                                         {"lr_batch", "--lr-batch"}, {"lr_batches", "--lr-batches"},
                                         {"device", "--device"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], key)) return map[i][1];
    return NULL;
}

/* A value as text: strings quoted and escaped, integers in decimal. */
static void show(const json_t *v, char *out, size_t len)
{
    char esc[300];
    if (json_is_string(v)) snprintf(out, len, "\"%s\"", clnas_escape(json_string_value(v), esc, sizeof esc));
    else if (json_is_integer(v)) snprintf(out, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(out, len, "%.17g", json_real_value(v));
    else snprintf(out, len, "%s", json_is_null(v) ? "null" : "?");
}

static void append(char *buf, size_t len, const char *sep, const char *text)
{
    size_t k = strlen(buf);
    if (k + 1 < len) snprintf(buf + k, len - k, "%s%s", k ? sep : "", text);
}

/* The flag that reproduces a recorded value, appended to d->flags. */
static void add_flag(clnas_settings_diff *d, const char *key, const json_t *v)
{
    char val[320], text[400];
    if (!strcmp(key, "batches")) {
        snprintf(text, sizeof text, "%s", !strcmp(json_string_value(v) ? json_string_value(v) : "", "shared")
                                              ? "--shared-batches" : "(without --shared-batches)");
    } else if (!strcmp(key, "edge_ntk")) { /* the DARTS search's edge phase */
        snprintf(text, sizeof text, "%s", !strcmp(json_string_value(v) ? json_string_value(v) : "", "refresh")
                                              ? "--edge-ntk-refresh" : "(without --edge-ntk-refresh)");
    } else if (flag_of(key)) {
        show(v, val, sizeof val);
        snprintf(text, sizeof text, "%s %s", flag_of(key), val);
    } else {
        return;
    }
    append(d->flags, sizeof d->flags, " ", text);
}

int clnas_settings_compare(const json_t *recorded, const json_t *current, clnas_settings_diff *d)
{
    memset(d, 0, sizeof *d);
    const char *key;
    json_t *cur;
    json_object_foreach((json_t *)current, key, cur) {
        const json_t *rec = json_object_get(recorded, key);
        if (!rec) {
            append(d->unchecked, sizeof d->unchecked, ", ", key);
        } else if (!strcmp(key, "version")) {
            if (!json_equal(rec, cur)) show(rec, d->version, sizeof d->version);
        } else if (!json_equal(rec, cur)) {
            char a[320], b[320], text[800];
            show(rec, a, sizeof a);
            show(cur, b, sizeof b);
            snprintf(text, sizeof text, "%s %s (this run: %s)", key, a, b);
            append(d->differ, sizeof d->differ, ", ", text);
            add_flag(d, key, rec);
            d->ndiffer++;
        }
    }
    return d->ndiffer;
}

int clnas_settings_check(const char *cmd, const char *path, const json_t *recorded, const json_t *current)
{
    clnas_settings_diff d;
    char esc[1200];
    clnas_escape(path, esc, sizeof esc);
    if (clnas_settings_compare(recorded, current, &d) > 0) {
        fprintf(stderr, "clnas %s: %s was computed with other settings: %s. Its results cannot be mixed with this run's: "
                        "rerun with the recorded settings (%s) to resume it, or use a new --out\n",
                cmd, esc, d.differ, d.flags[0] ? d.flags : "see the file");
        return 1;
    }
    if (d.version[0])
        fprintf(stderr, "clnas %s: warning: %s was written by clnas %s, this is clnas %s; resuming it\n", cmd, esc, d.version,
                clnas_version());
    if (d.unchecked[0])
        fprintf(stderr, "clnas %s: warning: %s does not record %s (written by an older clnas): resumed where what it records "
                        "agrees, the rest could not be checked\n", cmd, esc, d.unchecked);
    return 0;
}
