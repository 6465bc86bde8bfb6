/* tune_defaults.c - device tunings shipped with clnas, so that a fresh checkout is fast on known
 * kinds of device before anyone runs `clnas tune`: CLBlast GEMM parameters and per-device values
 * (runtime/tune.h), the same as a tuning file would hold. A device's own tuning file (written by
 * `clnas tune`) takes precedence; a device that matches nothing here and has no file keeps
 * CLBlast's own database.
 *
 * Entries match on what the device reports (platform name, device type, optionally a part of the
 * device name) and were measured with `clnas tune` on the machine named in each entry. */
#include <string.h>
#include "internal.h"
#include "runtime/tune.h"

typedef struct shipped_tuning {
    const char *platform;     /* CL_PLATFORM_NAME, exact (surrounding blanks ignored) */
    const char *type;         /* "CPU", "GPU", ... */
    const char *name_part;    /* part of CL_DEVICE_NAME that must appear, or NULL for any */
    const char *what;         /* shown by `clnas devices` */
    clnas_tuning t;
} shipped_tuning;

/* xgemm order:  GEMMK KREG KWG KWI MDIMA MDIMC MWG NDIMB NDIMC NWG SA SB STRM STRN VWM VWN
 * direct order: KWID MDIMAD MDIMCD NDIMBD NDIMCD PADA PADB VWMD VWND WGD */
static const shipped_tuning shipped[] = {
    /* PoCL's CPU device (LLVM; the work-items of a work-group run as loops on one core). Measured
     * with `clnas tune` on PoCL 3.1 (Debian), CLBlast 1.5.3, a 2-core Intel Xeon with AVX-512
     * ("pthread-skylake-avx512"), idle apart from the measurement:
     *   GEMM: CLBlast's 2D-register kernel (GEMMK=1, no local memory) with 24x24 tiles, 2x2
     *   work-items of 12x12 outputs, 4-wide vectors: 72 = 3 x 24, so the Gram's padded copies add
     *   no work. 3.6-4.2x CLBlast's own parameters on the Gram shapes (72 x 72 x 11382 / 14364,
     *   ~5 -> ~21 GFLOP/s), 3-4x on 1024^3 (~9 -> ~35 GFLOP/s). The Grams go through it (switch-over
     *   size 288 < their size); the direct kernel (16 work-items of 8x8 outputs) serves small GEMMs.
     *   The 36x36-tile set measured within noise of it; the 24x24 one was clearly ahead in
     *   GFLOP per CPU-second, which the machine's other load does not disturb.
     *   ntk.seed_budget_bytes: the NTK's activation-gradient budget, 301.7 MiB = 4 seeds of the proxy
     *   supernet, 8 of the single path: the choose_budget rule (src/bench/tune_seeds.c) on the mean of
     *   three full runs, within 1% of each network's best seed count (the built-in 256 MiB gives 3
     *   and 7: 13% and 5% slower). */
    {"Portable Computing Language", "CPU", NULL, "PoCL CPU devices (measured on a 2-core AVX-512 Xeon, PoCL 3.1)",
     {1,
      {1, 4, 1, 1, 2, 2, 24, 2, 2, 24, 0, 0, 0, 0, 4, 4},
      {2, 4, 4, 4, 4, 0, 0, 4, 4, 32},
      288,
      1,
      {{"ntk.seed_budget_bytes", 316318464.0}},
      CLNAS_KERNELS_RULE}},
};

static int blank(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* a == b ignoring blanks around a (drivers pad their strings) */
static int same_trimmed(const char *a, const char *b)
{
    while (blank((unsigned char)*a)) a++;
    size_t n = strlen(a), m = strlen(b);
    while (n > 0 && blank((unsigned char)a[n - 1])) n--;
    return n == m && strncmp(a, b, n) == 0;
}

static const shipped_tuning *find(const clnas_device_info *d)
{
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        const shipped_tuning *s = &shipped[i];
        if (same_trimmed(d->platform_name, s->platform) && d->type && strcmp(d->type, s->type) == 0 &&
            (!s->name_part || strstr(d->name, s->name_part)))
            return s;
    }
    return NULL;
}

int clnas_tune_shipped(const clnas_device_info *d, clnas_tuning *t)
{
    const shipped_tuning *s = find(d);
    if (!s) return 0;
    /* a shipped set must also fit this particular device (local memory, work-group size) */
    if (s->t.gemm && (!clnas_tune_xgemm_ok(s->t.xgemm, d->local_mem_bytes, d->max_work_group) ||
                      !clnas_tune_direct_ok(s->t.direct, d->local_mem_bytes, d->max_work_group)))
        return 0;
    *t = s->t;
    return 1;
}

const char *clnas_tune_shipped_name(const clnas_device_info *d)
{
    const shipped_tuning *s = find(d);
    return s ? s->what : "";
}
