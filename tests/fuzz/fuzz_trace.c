/* fuzz_trace.c - the search-trace reader (JSON lines, read back to resume a search) and the
 * settings check a resume makes with what it read. */
#include "fuzz_util.h"
#include "report/settings.h"
#include "report/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, ".jsonl");
    clnas_trace_data t;
    char err[4400] = "";
    if (clnas_trace_read(path, &t, err, sizeof err) != CLNAS_OK) {
        if (!err[0]) abort();
        return 0;
    }
    if (t.header) {
        clnas_score_opts o;
        clnas_score_opts_default(&o);
        json_t *cur = clnas_settings_new("nb201", &o, "data", "device");
        clnas_settings_diff d;
        if (cur) clnas_settings_compare(t.header, cur, &d);
        json_decref(cur);
    }
    clnas_trace_data_free(&t);
    return 0;
}
