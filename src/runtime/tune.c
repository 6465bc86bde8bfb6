/* tune.c - what the runtime stores and applies per device (runtime/tune.h): CLBlast's constraints
 * on its GEMM kernel parameters, the per-device values kept by key, the device's tuning file
 * (where it lives, reading, atomic writing, deleting) and what a new context applies. The search
 * that produces a tuning is `clnas tune` (src/bench/tune_*.c); the defaults shipped for known
 * kinds of device are in tune_defaults.c.
 *
 * The tuning file is plain key=value text, one per line, '#' comments:
 *   format=1
 *   platform=, device=, driver=, clblast=     the key: the file is used only when all four match
 *   gemm=tuned | default                      default: CLBlast's own parameters were as fast
 *   xgemm.<NAME>=, direct.<NAME>=             every parameter of CLBlast's Xgemm / XgemmDirect
 *   routine.XGEMM_MIN_INDIRECT_SIZE=          below this size cubed (m*n*k), CLBlast runs direct
 *   kernels=cpu | gpu                         the kernel variant `clnas tune` measured faster
 *                                             (no line: the default rule, clnas_kernel_variant)
 *   param.<KEY>=                              a per-device value (a number), returned by key
 *   seed_budget_bytes=                        the older spelling of param.ntk.seed_budget_bytes
 *   measured.*=                               what `clnas tune` measured (ignored when reading)
 * Unknown keys are ignored (newer files stay readable); anything else that is wrong makes the
 * whole file unusable, reported through a note, never half applied.
 *
 * Older spellings: files written before per-device values were generic hold the NTK's budget as
 * seed_budget_bytes=N (0: none). They are read as that parameter, and a file written now carries
 * the older line next to the param.* one, so that an older clnas reading a newer file finds its
 * budget too. The runtime only renames the key; it never looks at what the value means. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "runtime/tune.h"

const char *const clnas_tune_xgemm_names[CLNAS_TUNE_NX] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC",
                                                           "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
                                                           "STRM", "STRN", "VWM", "VWN"};
const char *const clnas_tune_direct_names[CLNAS_TUNE_ND] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                                            "PADA", "PADB", "VWMD", "VWND", "WGD"};
static const char *const routine_names[1] = {"XGEMM_MIN_INDIRECT_SIZE"};

#define TUNE_FORMAT 1

/* Older spellings of per-device values (see the top of this file): file key -> parameter key. */
static const struct legacy_key {
    const char *file_key, *param;
} LEGACY[] = {{"seed_budget_bytes", "ntk.seed_budget_bytes"}};
#define NLEGACY (sizeof LEGACY / sizeof LEGACY[0])
#define LEGACY_MAX ((uint64_t)1 << 50) /* what older readers accept in those lines */
/* Upper bound for any single kernel parameter; far above anything sensible, it only keeps
 * products of parameters from overflowing in the checks below. */
#define PARAM_MAX 4096u

enum { X_GEMMK, X_KREG, X_KWG, X_KWI, X_MDIMA, X_MDIMC, X_MWG, X_NDIMB, X_NDIMC, X_NWG, X_SA, X_SB, X_STRM,
       X_STRN, X_VWM, X_VWN };
enum { D_KWID, D_MDIMAD, D_MDIMCD, D_NDIMBD, D_NDIMCD, D_PADA, D_PADB, D_VWMD, D_VWND, D_WGD };

/* ------------------------------------------------------------------ constraints */

static int is_mult(size_t x, size_t m) { return m > 0 && x % m == 0; }
static int vec_width(size_t v) { return v == 1 || v == 2 || v == 4 || v == 8 || v == 16; }

/* The per-thread share of a cooperative local-memory load: the work-group's threads
 * (c1 * c2) arranged as `a` columns must fill whole rows, and the tile must hold whole rows. */
static int coop_ok(size_t tile, size_t c1, size_t c2, size_t a)
{
    return a > 0 && (c1 * c2) % a == 0 && is_mult(tile, (c1 * c2) / a);
}

int clnas_tune_xgemm_ok(const size_t *v, uint64_t local_mem, size_t max_wg)
{
    for (int i = 0; i < CLNAS_TUNE_NX; i++)
        if (v[i] > PARAM_MAX) return 0;
    if (v[X_GEMMK] > 1 || v[X_SA] > 1 || v[X_SB] > 1 || v[X_STRM] > 1 || v[X_STRN] > 1) return 0;
    if (!vec_width(v[X_VWM]) || !vec_width(v[X_VWN])) return 0;
    if (!v[X_KREG] || !v[X_KWG] || !v[X_KWI] || !v[X_MDIMA] || !v[X_MDIMC] || !v[X_NDIMB] || !v[X_NDIMC] ||
        !v[X_MWG] || !v[X_NWG])
        return 0;
    const size_t threads = v[X_MDIMC] * v[X_NDIMC];
    if (max_wg && threads > max_wg) return 0;
    /* whole numbers of vectors per thread, for the compute tile and for the loads of A and B */
    if (!is_mult(v[X_MWG], v[X_MDIMC] * v[X_VWM]) || !is_mult(v[X_NWG], v[X_NDIMC] * v[X_VWN])) return 0;
    if (!is_mult(v[X_MWG], v[X_MDIMA] * v[X_VWM]) || !is_mult(v[X_NWG], v[X_NDIMB] * v[X_VWN])) return 0;
    if (v[X_GEMMK] == 0) {
        /* the 2D kernel: KWG is unrolled by KWI, and the work-group loads the KWG-deep tiles */
        if (!is_mult(v[X_KWG], v[X_KWI])) return 0;
        if (!coop_ok(v[X_KWG], v[X_MDIMC], v[X_NDIMC], v[X_MDIMA]) ||
            !coop_ok(v[X_KWG], v[X_MDIMC], v[X_NDIMC], v[X_NDIMB]))
            return 0;
    } else {
        /* the 2D-register kernel (GEMMK=1): no local memory, k stepped one at a time, KREG
         * k-values kept in registers as whole VWN vectors (CLBlast's tuner limits it so) */
        if (v[X_KWG] != 1 || v[X_KWI] != 1 || v[X_SA] || v[X_SB]) return 0;
        if (v[X_MDIMA] != v[X_MDIMC] || v[X_NDIMB] != v[X_NDIMC]) return 0;
        if (!is_mult(v[X_KREG], v[X_VWN])) return 0;
    }
    const uint64_t lmem = 4u * ((uint64_t)v[X_SA] * v[X_KWG] * v[X_MWG] + (uint64_t)v[X_SB] * v[X_KWG] * v[X_NWG]);
    return !local_mem || lmem <= local_mem;
}

int clnas_tune_direct_ok(const size_t *v, uint64_t local_mem, size_t max_wg)
{
    for (int i = 0; i < CLNAS_TUNE_ND; i++)
        if (v[i] > PARAM_MAX) return 0;
    if (v[D_PADA] > 1 || v[D_PADB] > 1) return 0;
    if (!vec_width(v[D_VWMD]) || !vec_width(v[D_VWND])) return 0;
    if (!v[D_KWID] || !v[D_MDIMAD] || !v[D_MDIMCD] || !v[D_NDIMBD] || !v[D_NDIMCD] || !v[D_WGD]) return 0;
    const size_t threads = v[D_MDIMCD] * v[D_NDIMCD];
    if (max_wg && threads > max_wg) return 0;
    /* one square WGD tile per work-group: whole vectors per thread, an unrollable k loop, and
     * whole rows for the cooperative loads of A and B */
    if (!is_mult(v[D_WGD], v[D_KWID])) return 0;
    if (!is_mult(v[D_WGD], v[D_MDIMCD] * v[D_VWMD]) || !is_mult(v[D_WGD], v[D_NDIMCD] * v[D_VWND])) return 0;
    if (!is_mult(v[D_WGD], v[D_MDIMAD] * v[D_VWMD]) || !is_mult(v[D_WGD], v[D_NDIMBD] * v[D_VWND])) return 0;
    if (!coop_ok(v[D_WGD], v[D_MDIMCD], v[D_NDIMCD], v[D_MDIMAD]) ||
        !coop_ok(v[D_WGD], v[D_MDIMCD], v[D_NDIMCD], v[D_NDIMBD]))
        return 0;
    const uint64_t w = v[D_WGD];
    const uint64_t lmem = 4u * (w * (w + v[D_PADA]) + w * (w + v[D_PADB]));
    return !local_mem || lmem <= local_mem;
}

/* ------------------------------------------------------------------ per-device values */

static int key_ok(const char *key)
{
    size_t n = 0;
    for (const char *c = key; *c; c++, n++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-') return 0;
    return n > 0 && n < CLNAS_TUNE_KEY_LEN;
}

static int param_index(const clnas_tuning *t, const char *key)
{
    for (int i = 0; i < t->nparams && i < CLNAS_TUNE_MAX_PARAMS; i++)
        if (strcmp(t->params[i].key, key) == 0) return i;
    return -1;
}

int clnas_tuning_param(const clnas_tuning *t, const char *key, double *value)
{
    const int i = param_index(t, key);
    if (i < 0) return 0;
    *value = t->params[i].value;
    return 1;
}

clnas_status clnas_tuning_set_param(clnas_ctx *ctx, clnas_tuning *t, const char *key, double value)
{
    if (!key_ok(key))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "device parameter key \"%.80s\" is not 1-%d characters of "
                               "[A-Za-z0-9._-]", key, CLNAS_TUNE_KEY_LEN - 1);
    if (!isfinite(value))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "device parameter %s: the value is not a finite number", key);
    int i = param_index(t, key);
    if (i < 0) {
        if (t->nparams >= CLNAS_TUNE_MAX_PARAMS)
            return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "device parameter %s: a tuning holds at most %d values", key,
                                   CLNAS_TUNE_MAX_PARAMS);
        i = t->nparams++;
        snprintf(t->params[i].key, sizeof t->params[i].key, "%s", key);
    }
    t->params[i].value = value;
    return CLNAS_OK;
}

static void unset_param(clnas_tuning *t, const char *key)
{
    const int i = param_index(t, key);
    if (i < 0) return;
    memmove(&t->params[i], &t->params[i + 1], (size_t)(t->nparams - i - 1) * sizeof t->params[0]);
    t->nparams--;
}

int clnas_ctx_device_param(const clnas_ctx *ctx, const char *key, double *value)
{
    return clnas_tuning_param(&ctx->tune, key, value);
}

/* ------------------------------------------------------------------ where the file lives */

/* Copies s without leading/trailing blanks, control characters turned into spaces (drivers
 * pad their strings; a newline would break the one-value-per-line format). */
static void clean(const char *s, char *out, size_t len)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = 0;
    for (; *s && n + 1 < len; s++) out[n++] = iscntrl((unsigned char)*s) ? ' ' : *s;
    while (n > 0 && isspace((unsigned char)out[n - 1])) n--;
    out[n] = 0;
}

clnas_status clnas_tune_path(const clnas_device_info *d, char *out, size_t len, char *err, size_t errlen)
{
    char base[1024], plat[sizeof d->platform_name], dev[sizeof d->name], slug[49];
    if (len) out[0] = 0;
    if (err && errlen) err[0] = 0;
    clnas_status st = clnas_cache_dir("tune", base, sizeof base, err, errlen);
    if (st != CLNAS_OK) return st;
    clean(d->platform_name, plat, sizeof plat);
    clean(d->name, dev, sizeof dev);
    /* readable part: the device name reduced to [A-Za-z0-9._-]; the hash keeps two devices
     * whose names reduce alike apart. Driver and CLBlast version are checked inside the file,
     * so that after an upgrade the old file is found, reported as stale and rewritten. */
    size_t n = 0;
    for (const char *c = dev; *c && n + 1 < sizeof slug; c++) {
        int keep = isalnum((unsigned char)*c) || *c == '.' || *c == '-';
        if (keep) slug[n++] = *c;
        else if (n > 0 && slug[n - 1] != '_') slug[n++] = '_';
    }
    while (n > 0 && slug[n - 1] == '_') n--;
    slug[n] = 0;
    uint64_t h = clnas_fnv1a64(CLNAS_FNV_INIT, plat, strlen(plat));
    h = clnas_fnv1a64(h, "\x01", 1);
    h = clnas_fnv1a64(h, dev, strlen(dev));
    int w = snprintf(out, len, "%s/%s-%016llx.conf", base, n ? slug : "device", (unsigned long long)h);
    if (w < 0 || (size_t)w >= len) {
        if (len) out[0] = 0;
        if (err && errlen) snprintf(err, errlen, "the tuning file's path is longer than %zu bytes", len ? len - 1 : 0);
        return CLNAS_E_INVALID_ARG;
    }
    return CLNAS_OK;
}

/* ------------------------------------------------------------------ reading */

/* Strict unsigned decimal: digits only, no sign, no blanks, at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!*s) return 0;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        if (v > (max - (uint64_t)(*s - '0')) / 10) return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 1;
}

/* A finite number, the whole string. */
static int parse_num(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || end == s || *end || errno == ERANGE || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

static int name_index(const char *const *names, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], key) == 0) return i;
    return -1;
}

static const char *const KEY_NAMES[4] = {"platform", "device", "driver", "clblast"};

/* What a file said so far, line by line. */
typedef struct file_reader {
    clnas_tuning r;
    char key[4][256];
    int have_key[4], format, gemm, have_x, have_d, have_r;
    unsigned explicit_params; /* bit i: params[i] came from a param.* line (beats older spellings) */
    char why[256];            /* "" while the file is fine */
} file_reader;

static void read_param(file_reader *fr, const char *key, const char *v, int lineno)
{
    double x;
    if (!key_ok(key)) snprintf(fr->why, sizeof fr->why, "line %d: param.%.60s is not a valid key", lineno, key);
    else if (!parse_num(v, &x)) snprintf(fr->why, sizeof fr->why, "line %d: param.%.40s \"%.60s\" is not a number", lineno, key, v);
    else if (clnas_tuning_set_param(NULL, &fr->r, key, x) != CLNAS_OK)
        snprintf(fr->why, sizeof fr->why, "line %d: more than %d param.* values", lineno, CLNAS_TUNE_MAX_PARAMS);
    else fr->explicit_params |= 1u << param_index(&fr->r, key);
}

static void read_legacy(file_reader *fr, const struct legacy_key *l, const char *v, int lineno)
{
    uint64_t u = 0;
    if (!parse_u64(v, LEGACY_MAX, &u)) {
        snprintf(fr->why, sizeof fr->why, "line %d: %s \"%.60s\" is not a number", lineno, l->file_key, v);
        return;
    }
    const int i = param_index(&fr->r, l->param);
    if (i >= 0 && (fr->explicit_params >> i & 1u)) return; /* the param.* line says it */
    if (u == 0) { /* 0 meant "none" */
        if (i < 0) return;
        unset_param(&fr->r, l->param);
        const unsigned below = fr->explicit_params & ((1u << i) - 1u);
        fr->explicit_params = below | (fr->explicit_params >> (i + 1) << i);
    } else if (clnas_tuning_set_param(NULL, &fr->r, l->param, (double)u) != CLNAS_OK)
        snprintf(fr->why, sizeof fr->why, "line %d: more than %d per-device values", lineno, CLNAS_TUNE_MAX_PARAMS);
}

/* One key=value line (blanks trimmed). */
static void read_kv(file_reader *fr, const char *k, const char *v, int lineno)
{
    uint64_t u = 0;
    int i;
    if (strcmp(k, "format") == 0) {
        if (!parse_u64(v, 1000, &u)) snprintf(fr->why, sizeof fr->why, "line %d: format \"%.60s\" is not a number", lineno, v);
        fr->format = (int)u;
    } else if ((i = name_index(KEY_NAMES, 4, k)) >= 0) {
        snprintf(fr->key[i], sizeof fr->key[i], "%.255s", v);
        fr->have_key[i] = 1;
    } else if (strcmp(k, "gemm") == 0) {
        if (strcmp(v, "tuned") == 0) fr->gemm = 1;
        else if (strcmp(v, "default") == 0) fr->gemm = 0;
        else snprintf(fr->why, sizeof fr->why, "line %d: gemm must be \"tuned\" or \"default\", not \"%.60s\"", lineno, v);
    } else if (strncmp(k, "xgemm.", 6) == 0 && (i = name_index(clnas_tune_xgemm_names, CLNAS_TUNE_NX, k + 6)) >= 0) {
        if (!parse_u64(v, PARAM_MAX, &u)) snprintf(fr->why, sizeof fr->why, "line %d: %.40s \"%.60s\" is not a small number", lineno, k, v);
        fr->r.xgemm[i] = (size_t)u;
        fr->have_x |= 1 << i;
    } else if (strncmp(k, "direct.", 7) == 0 && (i = name_index(clnas_tune_direct_names, CLNAS_TUNE_ND, k + 7)) >= 0) {
        if (!parse_u64(v, PARAM_MAX, &u)) snprintf(fr->why, sizeof fr->why, "line %d: %.40s \"%.60s\" is not a small number", lineno, k, v);
        fr->r.direct[i] = (size_t)u;
        fr->have_d |= 1 << i;
    } else if (strcmp(k, "routine.XGEMM_MIN_INDIRECT_SIZE") == 0) {
        if (!parse_u64(v, 1u << 20, &u)) snprintf(fr->why, sizeof fr->why, "line %d: %.40s \"%.60s\" is not a number <= 2^20", lineno, k, v);
        fr->r.min_indirect = (size_t)u;
        fr->have_r = 1;
    } else if (strcmp(k, "kernels") == 0) {
        if (strcmp(v, "cpu") == 0) fr->r.kernels = CLNAS_KERNELS_CPU;
        else if (strcmp(v, "gpu") == 0) fr->r.kernels = CLNAS_KERNELS_GPU;
        else snprintf(fr->why, sizeof fr->why, "line %d: kernels must be \"cpu\" or \"gpu\" (the kernel variant), not \"%.60s\"",
                      lineno, v);
    } else if (strncmp(k, "param.", 6) == 0) {
        read_param(fr, k + 6, v, lineno);
    } else {
        for (size_t l = 0; l < NLEGACY; l++)
            if (strcmp(k, LEGACY[l].file_key) == 0) read_legacy(fr, &LEGACY[l], v, lineno);
        /* anything else (measured.*, keys of a newer clnas) is information only */
    }
}

/* Reads every line of f into fr (stops at the first problem, in fr->why). */
static void read_lines(FILE *f, file_reader *fr)
{
    char line[1024];
    int lineno = 0;
    while (!fr->why[0] && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(fr->why, sizeof fr->why, "line %d is too long", lineno);
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(fr->why, sizeof fr->why, "line %d is not key=value", lineno);
            break;
        }
        *eq = 0;
        char k[128], v[512];
        clean(p, k, sizeof k);
        clean(eq + 1, v, sizeof v);
        read_kv(fr, k, v, lineno);
    }
    if (!fr->why[0] && ferror(f)) snprintf(fr->why, sizeof fr->why, "read error");
}

/* What a complete file must say: format, the key, gemm, and (when tuned) every valid parameter. */
static void check_complete(file_reader *fr, const clnas_device_info *d)
{
    if (!fr->why[0] && fr->format != TUNE_FORMAT)
        snprintf(fr->why, sizeof fr->why, fr->format < 0 ? "no format line" : "format %d is not the one this clnas reads (%d)",
                 fr->format, TUNE_FORMAT);
    for (int i = 0; i < 4 && !fr->why[0]; i++)
        if (!fr->have_key[i]) snprintf(fr->why, sizeof fr->why, "no %s line", KEY_NAMES[i]);
    if (!fr->why[0] && fr->gemm < 0) snprintf(fr->why, sizeof fr->why, "no gemm line");
    if (!fr->why[0] && fr->gemm == 1) {
        if (fr->have_x != (1 << CLNAS_TUNE_NX) - 1 || fr->have_d != (1 << CLNAS_TUNE_ND) - 1 || !fr->have_r)
            snprintf(fr->why, sizeof fr->why, "gemm=tuned but not every xgemm.*, direct.* and routine.* parameter is given");
        else if (!clnas_tune_xgemm_ok(fr->r.xgemm, d->local_mem_bytes, d->max_work_group))
            snprintf(fr->why, sizeof fr->why, "the xgemm.* parameters break CLBlast's constraints for this device");
        else if (!clnas_tune_direct_ok(fr->r.direct, d->local_mem_bytes, d->max_work_group))
            snprintf(fr->why, sizeof fr->why, "the direct.* parameters break CLBlast's constraints for this device");
    }
}

clnas_status clnas_tune_read(const char *path, const clnas_device_info *d, clnas_tuning *t, int *found, char *err,
                             size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    err[0] = 0;
    *found = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return CLNAS_OK;
        *found = 1;
        snprintf(err, errlen, "tuning file %s cannot be read (%s): ignored", path, strerror(errno));
        return CLNAS_E_IO;
    }
    *found = 1;
    file_reader *fr = calloc(1, sizeof *fr);
    if (!fr) {
        fclose(f);
        snprintf(err, errlen, "out of host memory reading %s", path);
        return CLNAS_E_NOMEM;
    }
    fr->format = -1;
    fr->gemm = -1;
    read_lines(f, fr);
    fclose(f);
    check_complete(fr, d);
    clnas_status st = CLNAS_OK;
    if (fr->why[0]) {
        snprintf(err, errlen, "tuning file %s is corrupt (%s): ignored; `clnas tune --device %d` writes a new one", path,
                 fr->why, d->index);
        st = CLNAS_E_IO;
    }
    /* the key: a file from another driver or CLBlast describes kernels that may no longer
     * behave the same, so it is passed over (and reported), not trusted */
    char mine[4][256];
    clean(d->platform_name, mine[0], sizeof mine[0]);
    clean(d->name, mine[1], sizeof mine[1]);
    clean(d->driver_version, mine[2], sizeof mine[2]);
    snprintf(mine[3], sizeof mine[3], "%s", clnas_clblast_version());
    for (int i = 0; i < 4 && st == CLNAS_OK; i++)
        if (strcmp(fr->key[i], mine[i]) != 0) {
            snprintf(err, errlen, "tuning file %s was written for %s \"%s\", this is \"%s\": ignored; "
                     "`clnas tune --device %d` measures again", path, KEY_NAMES[i], fr->key[i], mine[i], d->index);
            st = CLNAS_E_UNSUPPORTED;
        }
    if (st == CLNAS_OK) {
        fr->r.gemm = fr->gemm;
        *t = fr->r;
    }
    free(fr);
    return st;
}

/* ------------------------------------------------------------------ writing */

static void write_params(FILE *f, const clnas_tuning *t)
{
    for (int i = 0; i < t->nparams && i < CLNAS_TUNE_MAX_PARAMS; i++)
        fprintf(f, "param.%s=%.17g\n", t->params[i].key, t->params[i].value);
    for (size_t l = 0; l < NLEGACY; l++) {
        double v;
        if (clnas_tuning_param(t, LEGACY[l].param, &v) && v >= 0 && v <= (double)LEGACY_MAX && v == floor(v))
            fprintf(f, "%s=%.0f\n", LEGACY[l].file_key, v);
    }
}

clnas_status clnas_tune_write(clnas_ctx *ctx, const char *path, const clnas_device_info *d, const clnas_tuning *t,
                              const char *extra)
{
    if (t->gemm && (!clnas_tune_xgemm_ok(t->xgemm, d->local_mem_bytes, d->max_work_group) ||
                    !clnas_tune_direct_ok(t->direct, d->local_mem_bytes, d->max_work_group)))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "refusing to write a tuning that breaks CLBlast's constraints");
    if (t->kernels != CLNAS_KERNELS_RULE && t->kernels != CLNAS_KERNELS_CPU && t->kernels != CLNAS_KERNELS_GPU)
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "refusing to write kernel variant %d (not cpu or gpu)", t->kernels);
    for (int i = 0; i < t->nparams; i++)
        if (!key_ok(t->params[i].key) || !isfinite(t->params[i].value))
            return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "refusing to write device parameter \"%.80s\"", t->params[i].key);
    char dir[4096], why[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (clnas_mkdir_p(dir, why, sizeof why) != CLNAS_OK)
            return clnas_set_error(ctx, CLNAS_E_IO, "cannot write %s: %s", path, why);
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return clnas_set_error(ctx, CLNAS_E_IO, "cannot write %s: %s", tmp, strerror(errno));
    char plat[sizeof d->platform_name], dev[sizeof d->name], drv[sizeof d->driver_version];
    clean(d->platform_name, plat, sizeof plat);
    clean(d->name, dev, sizeof dev);
    clean(d->driver_version, drv, sizeof drv);
    fprintf(f, "# clnas GEMM tuning of one OpenCL device, written by `clnas tune`.\n"
               "# Applied whenever a context is created on this device (CLNAS_TUNE=off disables it);\n"
               "# `clnas tune --reset` deletes it. measured.* lines are information only.\n");
    fprintf(f, "format=%d\nplatform=%s\ndevice=%s\ndriver=%s\nclblast=%s\ngemm=%s\n", TUNE_FORMAT, plat, dev, drv,
            clnas_clblast_version(), t->gemm ? "tuned" : "default");
    if (t->gemm) {
        for (int i = 0; i < CLNAS_TUNE_NX; i++) fprintf(f, "xgemm.%s=%zu\n", clnas_tune_xgemm_names[i], t->xgemm[i]);
        for (int i = 0; i < CLNAS_TUNE_ND; i++) fprintf(f, "direct.%s=%zu\n", clnas_tune_direct_names[i], t->direct[i]);
        fprintf(f, "routine.%s=%zu\n", routine_names[0], t->min_indirect);
    }
    if (t->kernels == CLNAS_KERNELS_CPU || t->kernels == CLNAS_KERNELS_GPU)
        fprintf(f, "kernels=%s\n", t->kernels == CLNAS_KERNELS_CPU ? "cpu" : "gpu");
    write_params(f, t);
    if (extra && *extra) fputs(extra, f);
    int ok = !ferror(f);
    ok = (fclose(f) == 0) && ok;
    /* rename is atomic: a reader sees the old file or the new one, never a part */
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return clnas_set_error(ctx, CLNAS_E_IO, "cannot write %s: %s", path, strerror(e));
    }
    return CLNAS_OK;
}

clnas_status clnas_tune_delete(const clnas_device_info *d, char *path, size_t len, int *removed, char *err,
                               size_t errlen)
{
    *removed = 0;
    clnas_status st = clnas_tune_path(d, path, len, err, errlen);
    if (st != CLNAS_OK) return st;
    if (remove(path) == 0) {
        *removed = 1;
        return CLNAS_OK;
    }
    if (errno == ENOENT) return CLNAS_OK;
    if (err && errlen) snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
    return CLNAS_E_IO;
}

/* ------------------------------------------------------------------ applying */

clnas_status clnas_tune_apply(clnas_ctx *ctx, const clnas_tuning *t)
{
    if (!t->gemm) return CLNAS_OK;
    const clnas_device_info *d = &ctx->info;
    if (!clnas_tune_xgemm_ok(t->xgemm, d->local_mem_bytes, d->max_work_group) ||
        !clnas_tune_direct_ok(t->direct, d->local_mem_bytes, d->max_work_group))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "GEMM parameters break CLBlast's constraints on \"%s\"", d->name);
    clnas_status st = clnas_gemm_override(ctx, "Xgemm", CLNAS_TUNE_NX, clnas_tune_xgemm_names, t->xgemm);
    if (st == CLNAS_OK) st = clnas_gemm_override(ctx, "XgemmDirect", CLNAS_TUNE_ND, clnas_tune_direct_names, t->direct);
    if (st == CLNAS_OK) st = clnas_gemm_override(ctx, "GemmRoutine", 1, routine_names, &t->min_indirect);
    return st;
}

static int tune_disabled(void)
{
    const char *e = getenv("CLNAS_TUNE");
    return e && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0);
}

static int use(clnas_ctx *ctx, const clnas_tuning *t, const char *source)
{
    if (clnas_tune_apply(ctx, t) != CLNAS_OK) {
        size_t n = strlen(ctx->tune_note);
        snprintf(ctx->tune_note + n, sizeof ctx->tune_note - n, "%sthe %s GEMM tuning was not applied: %.300s",
                 n ? "; " : "", source, ctx->err);
        ctx->err[0] = 0;
        return 0;
    }
    ctx->tune = *t;
    ctx->tune_source = source;
    return 1;
}

void clnas_tune_ctx_init(clnas_ctx *ctx)
{
    memset(&ctx->tune, 0, sizeof ctx->tune);
    ctx->tune_note[0] = 0;
    ctx->tune_source = "none";
    if (tune_disabled()) {
        ctx->tune_source = "off";
        return;
    }
    clnas_tuning t;
    char path[1200];
    int found = 0;
    if (clnas_tune_path(&ctx->info, path, sizeof path, NULL, 0) == CLNAS_OK &&
        clnas_tune_read(path, &ctx->info, &t, &found, ctx->tune_note, sizeof ctx->tune_note) == CLNAS_OK && found &&
        use(ctx, &t, "file"))
        return;
    if (clnas_tune_shipped(&ctx->info, &t)) use(ctx, &t, "shipped");
}

const char *clnas_device_tuning_source(const clnas_device_info *dev)
{
    if (tune_disabled()) return "off";
    clnas_tuning t;
    char path[1200];
    int found = 0;
    if (clnas_tune_path(dev, path, sizeof path, NULL, 0) == CLNAS_OK &&
        clnas_tune_read(path, dev, &t, &found, NULL, 0) == CLNAS_OK && found)
        return "file";
    return clnas_tune_shipped(dev, &t) ? "shipped" : "none";
}
