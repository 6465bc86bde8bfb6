/* fuzz_json.c - JSON files clnas reads back (search results, rank's scores.csv.json): the
 * strict reader, the typed getters and the settings comparison of a resume. */
#include "fuzz_util.h"
#include "report/settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".json");
    json_t *j = NULL;
    char err[4400] = "";
    if (clnas_json_read_file(path, &j, err, sizeof err) != CLNAS_OK) {
        if (!err[0]) abort();
        return 0;
    }
    (void)clnas_json_get_str(j, "arch", NULL);
    (void)clnas_json_get_num(j, "wall_s", 0);
    (void)clnas_json_get_int(j, "candidates", 0);
    clnas_score_opts o;
    clnas_score_opts_default(&o);
    json_t *cur = clnas_settings_new("nb201", &o, "data", "device");
    const json_t *rec = json_is_object(json_object_get(j, "settings")) ? json_object_get(j, "settings") : j;
    clnas_settings_diff d;
    if (cur && json_is_object(rec)) clnas_settings_compare(rec, cur, &d);
    json_decref(cur);
    json_decref(j);
    return 0;
}
