/* runtime/tune.h - what the runtime stores and applies per device: CLBlast's single-precision
 * GEMM kernel parameters (applied to CLBlast when a context opens the device) and any number of
 * other per-device values, kept by key and handed back on request without being interpreted
 * (the NTK keeps its activation-gradient budget here as "ntk.seed_budget_bytes", see
 * src/metrics/ntk.c). The runtime knows no neural network: what the values mean, and how they
 * are measured (`clnas tune`, src/bench/), is the business of whoever reads and writes them.
 *
 * Where a tuning comes from when clnas_ctx_create opens a device, first that exists: the
 * device's tuning file (<cache>/tune/<device>-<hash>.conf, written by `clnas tune`), clnas's
 * shipped default for that kind of device (tune_defaults.c), nothing (CLBlast's own database,
 * no per-device values). CLNAS_TUNE=off (or 0) applies nothing.
 *
 * Conventions: fallible functions return clnas_status; those without a context write the reason
 * into err (errlen bytes, may be NULL/0). Predicates and look-ups return 1 / 0. */
#ifndef CLNAS_RUNTIME_TUNE_H
#define CLNAS_RUNTIME_TUNE_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/context.h"
#include "clnas/status.h"

#define CLNAS_TUNE_NX 16 /* parameters of CLBlast's "Xgemm" kernel */
#define CLNAS_TUNE_ND 10 /* parameters of CLBlast's "XgemmDirect" kernel */
extern const char *const clnas_tune_xgemm_names[CLNAS_TUNE_NX]; /* CLBlast's names, its order */
extern const char *const clnas_tune_direct_names[CLNAS_TUNE_ND];

#define CLNAS_TUNE_MAX_PARAMS 16 /* per-device values one tuning holds */
#define CLNAS_TUNE_KEY_LEN 64    /* longest key + 1; keys are [A-Za-z0-9._-]+ */

/* One per-device value: a key ("ntk.seed_budget_bytes") and a finite number. */
typedef struct clnas_device_param {
    char key[CLNAS_TUNE_KEY_LEN];
    double value;
} clnas_device_param;

typedef struct clnas_tuning {
    int gemm;                     /* 1: override CLBlast with the three below; 0: keep CLBlast's */
    size_t xgemm[CLNAS_TUNE_NX];  /* in clnas_tune_xgemm_names order */
    size_t direct[CLNAS_TUNE_ND]; /* in clnas_tune_direct_names order */
    size_t min_indirect;          /* "GemmRoutine" XGEMM_MIN_INDIRECT_SIZE: m*n*k below its cube runs direct */
    int nparams;                  /* per-device values, in the order they were set */
    clnas_device_param params[CLNAS_TUNE_MAX_PARAMS];
    int kernels;                  /* kernel variant: CLNAS_KERNELS_RULE (none stored), _CPU or _GPU */
} clnas_tuning;

/* The kernel variant a tuning stores (file line kernels=cpu|gpu; no line: the default rule).
 * Where two variants of a kernel exist (BN backward, the specialised convolutions, the pooling row
 * kernels, the depthwise and max-pool backward), the CPU-shaped one lets each work-item stream through a contiguous run in small groups,
 * the GPU-shaped one has neighbouring work-items read neighbouring addresses in groups of 64-256.
 * Which one runs: clnas_kernel_variant below. */
enum { CLNAS_KERNELS_RULE = 0, CLNAS_KERNELS_CPU = 1, CLNAS_KERNELS_GPU = 2 };

/* ---- per-device values ---- */
/* 1 with *value set when t holds key; 0 otherwise (value untouched). */
int clnas_tuning_param(const clnas_tuning *t, const char *key, double *value);
/* Sets key to value (replacing an existing value). CLNAS_E_INVALID_ARG for a malformed key or a
 * value that is not finite, or when t already holds CLNAS_TUNE_MAX_PARAMS other keys; the reason
 * goes to ctx (may be NULL). */
clnas_status clnas_tuning_set_param(clnas_ctx *ctx, clnas_tuning *t, const char *key, double value);
/* The value the device's applied tuning holds for key: 1 with *value set, 0 when none (no tuning
 * applied, CLNAS_TUNE=off, or the tuning has no such key). */
int clnas_ctx_device_param(const clnas_ctx *ctx, const char *key, double *value);

/* ---- CLBlast's constraints on a GEMM parameter set ----
 * Integer work per thread, unrollable loops, local memory and work-group size of the device
 * (0 = unknown, not checked). A set that breaks them may compile and then compute wrong results,
 * so nothing unchecked is ever handed to CLBlast. Predicates: 1 when the set is valid. */
int clnas_tune_xgemm_ok(const size_t *v, uint64_t local_mem, size_t max_wg);
int clnas_tune_direct_ok(const size_t *v, uint64_t local_mem, size_t max_wg);

/* ---- the tuning file ----
 * Plain key=value text, one per line, '#' comments (see tune.c for every key). */

/* The tuning file of a device: <cache>/tune/<device>-<hash>.conf, <cache> as clnas_cache_dir
 * says ($CLNAS_CACHE_DIR, else $XDG_CACHE_HOME/clnas, else ~/.cache/clnas). CLNAS_E_UNSUPPORTED
 * when there is no cache directory (CLNAS_CACHE_DIR=off, no HOME), CLNAS_E_INVALID_ARG when the
 * path does not fit len; the reason in err. */
clnas_status clnas_tune_path(const clnas_device_info *d, char *out, size_t len, char *err, size_t errlen);
/* Reads a tuning file. CLNAS_OK with *found = 1 and *t filled, or *found = 0 when there is no
 * file (err ""). When the file cannot be used: CLNAS_E_IO (unreadable or corrupt) or
 * CLNAS_E_UNSUPPORTED (written for another device, driver or CLBlast version), *found = 1, *t
 * untouched, and a one-line reason in err that names the file and says how to fix it. */
clnas_status clnas_tune_read(const char *path, const clnas_device_info *d, clnas_tuning *t, int *found, char *err,
                             size_t errlen);
/* Writes a tuning file atomically (temporary file + rename), creating its directory. `extra`
 * (may be NULL) is appended verbatim: key=value lines a reader ignores (measurements). Reasons
 * for CLNAS_E_IO / CLNAS_E_INVALID_ARG go to ctx (may be NULL). */
clnas_status clnas_tune_write(clnas_ctx *ctx, const char *path, const clnas_device_info *d,
                              const clnas_tuning *t, const char *extra);
/* Deletes the device's tuning file; its path goes to path (len bytes), *removed = 1 when there
 * was one. Errors as clnas_tune_path, or CLNAS_E_IO when the file exists and cannot be removed. */
clnas_status clnas_tune_delete(const clnas_device_info *d, char *path, size_t len, int *removed, char *err,
                               size_t errlen);

/* ---- shipped defaults (tune_defaults.c) ---- */
/* Look-up: 1 with *t filled with the shipped default for this kind of device; 0 when there is
 * none (or it does not fit this device's local memory or work-group size). */
int clnas_tune_shipped(const clnas_device_info *d, clnas_tuning *t);
/* A one-line description of the shipped entry that matches d ("" when none). Static string. */
const char *clnas_tune_shipped_name(const clnas_device_info *d);

/* ---- applying ---- */
/* Hands t's GEMM parameters to CLBlast (nothing when t->gemm is 0). CLBlast keeps them per
 * device for the whole process, for every context on that device, until overridden again.
 * CLNAS_E_INVALID_ARG (message in ctx) for a set that breaks CLBlast's constraints. */
clnas_status clnas_tune_apply(clnas_ctx *ctx, const clnas_tuning *t);
/* Picks and applies the tuning at context creation (device.c); never fails: a tuning that cannot
 * be used is described in the context's tuning note (clnas_ctx_tuning_note) and passed over. */
void clnas_tune_ctx_init(clnas_ctx *ctx);
/* Which kernel variant ctx runs (CLNAS_KERNELS_CPU or _GPU) and, in *source (may be NULL), why:
 * "env" ($CLNAS_KERNEL_VARIANT=cpu|gpu), "tuned" (the device's applied tuning stores a choice,
 * measured by `clnas tune`), "default rule" (CPU devices take the CPU shape, others the GPU
 * shape); in that order. While `clnas tune` times the variants it forces each in turn
 * ("measuring"). A $CLNAS_KERNEL_VARIANT that is neither cpu nor gpu is ignored (the source then
 * says "default rule (CLNAS_KERNEL_VARIANT ignored)"). */
int clnas_kernel_variant(const clnas_ctx *ctx, const char **source);
/* Floats per vector of the specialised convolutions (cl/conv_fast.cl), 8 or 16: 16 on a
 * CPU-shaped device whose preferred float vector width is 16 (AVX-512), else 8;
 * $CLNAS_CONV_VW=8 or 16 overrides. *source (may be NULL) says which ("env", "device"). */
int clnas_conv_vector_width(const clnas_ctx *ctx, const char **source);
/* "cpu-shaped" / "gpu-shaped" for CLNAS_KERNELS_CPU / _GPU, "default rule" for CLNAS_KERNELS_RULE. */
const char *clnas_kernels_name(int kernels);

/* "1.5.3": the CLBlast version clnas was built against (part of a tuning file's key). */
const char *clnas_clblast_version(void);

#endif
