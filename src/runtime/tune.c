/* tune.c - per-device GEMM tuning: CLBlast's constraints on its GEMM kernel parameters, the
 * device's tuning file (where it lives, reading, atomic writing) and what a new context applies.
 * The search that produces a tuning is `clnas tune` (src/cli/cmd_tune.c); the defaults shipped
 * for known kinds of device are in tune_defaults.c.
 *
 * The tuning file is plain key=value text, one per line, '#' comments:
 *   format=1
 *   platform=, device=, driver=, clblast=     the key: the file is used only when all four match
 *   gemm=tuned | default                      default: CLBlast's own parameters were as fast
 *   xgemm.<NAME>=, direct.<NAME>=             every parameter of CLBlast's Xgemm / XgemmDirect
 *   routine.XGEMM_MIN_INDIRECT_SIZE=          below this size cubed (m*n*k), CLBlast runs direct
 *   seed_budget_bytes=                        NTK activation-gradient bytes in flight (0: built-in)
 *   measured.*=                               what `clnas tune` measured (ignored when reading)
 * Unknown keys are ignored (newer files stay readable); anything else that is wrong makes the
 * whole file unusable, reported through a note, never half applied. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

const char *const clnas_tune_xgemm_names[CLNAS_TUNE_NX] = {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC",
                                                           "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
                                                           "STRM", "STRN", "VWM", "VWN"};
const char *const clnas_tune_direct_names[CLNAS_TUNE_ND] = {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD",
                                                            "PADA", "PADB", "VWMD", "VWND", "WGD"};
static const char *const routine_names[1] = {"XGEMM_MIN_INDIRECT_SIZE"};

#define TUNE_FORMAT 1
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

int clnas_tune_path(const clnas_device_info *d, char *out, size_t len)
{
    char base[1024], plat[sizeof d->platform_name], dev[sizeof d->name], slug[49];
    if (clnas_cache_dir("tune", base, sizeof base, NULL, 0) != CLNAS_OK) return 0;
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
    return w > 0 && (size_t)w < len;
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

static int name_index(const char *const *names, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], key) == 0) return i;
    return -1;
}

int clnas_tune_read(const char *path, const clnas_device_info *d, clnas_tuning *t, char *msg, size_t len)
{
    msg[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        snprintf(msg, len, "tuning file %s cannot be read (%s): ignored", path, strerror(errno));
        return -1;
    }
    clnas_tuning r;
    memset(&r, 0, sizeof r);
    /* what the file must say: the key, gemm, and (when tuned) every parameter */
    char key[4][256] = {{0}};
    static const char *const key_names[4] = {"platform", "device", "driver", "clblast"};
    int have_key[4] = {0, 0, 0, 0}, format = -1, gemm = -1, have_x = 0, have_d = 0, have_r = 0;
    char line[1024], why[256] = "";
    int lineno = 0;
    while (!why[0] && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(why, sizeof why, "line %d is too long", lineno);
            break;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        char *p = line;
        while (isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(why, sizeof why, "line %d is not key=value", lineno);
            break;
        }
        *eq = 0;
        char k[128], v[512];
        clean(p, k, sizeof k);
        clean(eq + 1, v, sizeof v);
        uint64_t u = 0;
        int i;
        if (strcmp(k, "format") == 0) {
            if (!parse_u64(v, 1000, &u)) snprintf(why, sizeof why, "line %d: format \"%.60s\" is not a number", lineno, v);
            format = (int)u;
        } else if ((i = name_index(key_names, 4, k)) >= 0) {
            snprintf(key[i], sizeof key[i], "%.255s", v);
            have_key[i] = 1;
        } else if (strcmp(k, "gemm") == 0) {
            if (strcmp(v, "tuned") == 0) gemm = 1;
            else if (strcmp(v, "default") == 0) gemm = 0;
            else snprintf(why, sizeof why, "line %d: gemm must be \"tuned\" or \"default\", not \"%.60s\"", lineno, v);
        } else if (strncmp(k, "xgemm.", 6) == 0 && (i = name_index(clnas_tune_xgemm_names, CLNAS_TUNE_NX, k + 6)) >= 0) {
            if (!parse_u64(v, PARAM_MAX, &u)) snprintf(why, sizeof why, "line %d: %.40s \"%.60s\" is not a small number", lineno, k, v);
            r.xgemm[i] = (size_t)u;
            have_x |= 1 << i;
        } else if (strncmp(k, "direct.", 7) == 0 && (i = name_index(clnas_tune_direct_names, CLNAS_TUNE_ND, k + 7)) >= 0) {
            if (!parse_u64(v, PARAM_MAX, &u)) snprintf(why, sizeof why, "line %d: %.40s \"%.60s\" is not a small number", lineno, k, v);
            r.direct[i] = (size_t)u;
            have_d |= 1 << i;
        } else if (strcmp(k, "routine.XGEMM_MIN_INDIRECT_SIZE") == 0) {
            if (!parse_u64(v, 1u << 20, &u)) snprintf(why, sizeof why, "line %d: %.40s \"%.60s\" is not a number <= 2^20", lineno, k, v);
            r.min_indirect = (size_t)u;
            have_r = 1;
        } else if (strcmp(k, "seed_budget_bytes") == 0) {
            if (!parse_u64(v, (uint64_t)1 << 50, &u)) snprintf(why, sizeof why, "line %d: seed_budget_bytes \"%.60s\" is not a number", lineno, v);
            r.seed_budget = (double)u;
        }
        /* anything else (measured.*, keys of a newer clnas) is information only */
    }
    int read_err = ferror(f);
    fclose(f);
    if (!why[0] && read_err) snprintf(why, sizeof why, "read error");
    if (!why[0] && format != TUNE_FORMAT)
        snprintf(why, sizeof why, format < 0 ? "no format line" : "format %d is not the one this clnas reads (%d)", format, TUNE_FORMAT);
    for (int i = 0; i < 4 && !why[0]; i++)
        if (!have_key[i]) snprintf(why, sizeof why, "no %s line", key_names[i]);
    if (!why[0] && gemm < 0) snprintf(why, sizeof why, "no gemm line");
    if (!why[0] && gemm == 1) {
        if (have_x != (1 << CLNAS_TUNE_NX) - 1 || have_d != (1 << CLNAS_TUNE_ND) - 1 || !have_r)
            snprintf(why, sizeof why, "gemm=tuned but not every xgemm.*, direct.* and routine.* parameter is given");
        else if (!clnas_tune_xgemm_ok(r.xgemm, d->local_mem_bytes, d->max_work_group))
            snprintf(why, sizeof why, "the xgemm.* parameters break CLBlast's constraints for this device");
        else if (!clnas_tune_direct_ok(r.direct, d->local_mem_bytes, d->max_work_group))
            snprintf(why, sizeof why, "the direct.* parameters break CLBlast's constraints for this device");
    }
    if (why[0]) {
        snprintf(msg, len, "tuning file %s is corrupt (%s): ignored; `clnas tune --device %d` writes a new one",
                 path, why, d->index);
        return -1;
    }
    /* the key: a file from another driver or CLBlast describes kernels that may no longer
     * behave the same, so it is passed over (and reported), not trusted */
    char mine[4][256];
    clean(d->platform_name, mine[0], sizeof mine[0]);
    clean(d->name, mine[1], sizeof mine[1]);
    clean(d->driver_version, mine[2], sizeof mine[2]);
    snprintf(mine[3], sizeof mine[3], "%s", clnas_clblast_version());
    for (int i = 0; i < 4; i++)
        if (strcmp(key[i], mine[i]) != 0) {
            snprintf(msg, len, "tuning file %s was written for %s \"%s\", this is \"%s\": ignored; "
                     "`clnas tune --device %d` measures again", path, key_names[i], key[i], mine[i], d->index);
            return -1;
        }
    r.gemm = gemm;
    *t = r;
    return 1;
}

/* ------------------------------------------------------------------ writing */

clnas_status clnas_tune_write(clnas_ctx *ctx, const char *path, const clnas_device_info *d, const clnas_tuning *t,
                              const char *extra)
{
    if (t->gemm && (!clnas_tune_xgemm_ok(t->xgemm, d->local_mem_bytes, d->max_work_group) ||
                    !clnas_tune_direct_ok(t->direct, d->local_mem_bytes, d->max_work_group)))
        return clnas_set_error(ctx, CLNAS_E_INVALID_ARG, "refusing to write a tuning that breaks CLBlast's constraints");
    char dir[4096], why[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (clnas_mkdir_p(dir, why, sizeof why) != CLNAS_OK)
            return clnas_set_error(ctx, CLNAS_E_IO, "cannot write %s: %s", path, why);
    }
    char tmp[1300];
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
    fprintf(f, "seed_budget_bytes=%.0f\n", t->seed_budget > 0 ? t->seed_budget : 0.0);
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
    if (clnas_tune_path(&ctx->info, path, sizeof path) &&
        clnas_tune_read(path, &ctx->info, &t, ctx->tune_note, sizeof ctx->tune_note) == 1 && use(ctx, &t, "file"))
        return;
    if (clnas_tune_shipped(&ctx->info, &t)) use(ctx, &t, "shipped");
}

const char *clnas_device_tuning_source(const clnas_device_info *dev)
{
    if (tune_disabled()) return "off";
    clnas_tuning t;
    char path[1200], msg[512];
    if (clnas_tune_path(dev, path, sizeof path) && clnas_tune_read(path, dev, &t, msg, sizeof msg) == 1) return "file";
    return clnas_tune_shipped(dev, &t) ? "shipped" : "none";
}
