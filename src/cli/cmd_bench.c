/* cmd_bench.c - `clnas bench`: performance measurements, never run by the unit tests. The
 * measuring is the library's (src/bench/bench.h); this file parses the options and prints.
 *
 * Three modes (--shapes and --scaling may be combined; without either, the default):
 * - default: one kappa (proxy supernet and a single path) and one R, stage by stage, as
 *   medians over repeats, with the achieved FLOP rate next to the device's CLBlast SGEMM rate
 *   measured in the same run;
 * - --shapes: the achieved rate of every convolution shape the two TE-NAS proxies run
 *   (forward, backward-data and backward-weight separately), each shape's share of a kappa's
 *   convolution time, and the effective bandwidth of the non-convolution backward ops;
 * - --scaling: one kappa of the proxy supernet at growing batches and of the full NB201
 *   evaluation network, with time, FLOP rate, seeds in flight and device memory, and how
 *   they grow from one batch to the next. */
#define _POSIX_C_SOURCE 200809L /* popen */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench.h"
#include "cli/asvit_cli.h"
#include "cli/cli.h"
#include "report/json.h"

static double mib(double bytes) { return bytes / 1048576.0; }

/* A real, or null for a value that was not measured (negative) or is not finite. */
static json_t *num_or_null(double v) { return v < 0 ? json_null() : clnas_json_num(v); }

/* Adds key: value to obj; 0 when out of memory (v NULL). */
static int put(json_t *obj, const char *key, json_t *v) { return v && json_object_set_new(obj, key, v) == 0; }

/* ---------------- the default mode ---------------- */

/* x / y as a percentage, or "-" when either was not measured. */
static const char *pct(char *buf, size_t len, double x, double y)
{
    if (x > 0 && y > 0) snprintf(buf, len, "%.1f %%", 100 * x / y);
    else snprintf(buf, len, "-");
    return buf;
}

static void print_sgemm(const clnas_bench_overview *o)
{
    const clnas_bench_hostblas *h = &o->host;
    if (o->have_host)
        printf("host BLAS: OpenBLAS (%s), kernel %s, %d threads%s%s\n", h->name, h->core, h->threads,
               h->coretype_env[0] ? ", OPENBLAS_CORETYPE=" : "", h->coretype_env);
    else
        printf("host BLAS: none (%s): no OpenBLAS ratios\n", h->why);
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* OpenBLAS falls back to a generic kernel on CPU models newer than its release (seen here:
     * Prescott, 50 GFLOP/s, on an AVX-512 Xeon whose SkylakeX kernel reached 200-300). */
    if (o->have_host && !h->coretype_env[0] && __builtin_cpu_supports("avx512f") &&
        (strcmp(h->core, "Prescott") == 0 || strcmp(h->core, "Core2") == 0 || strcmp(h->core, "Nehalem") == 0 ||
         strcmp(h->core, "Sandybridge") == 0 || strcmp(h->core, "Haswell") == 0))
        printf("note: this CPU has AVX-512 but OpenBLAS chose its %s kernel (it does not know the model), so the\n"
               "      OpenBLAS rate and the /OpenBLAS column understate the CPU: rerun with OPENBLAS_CORETYPE=SkylakeX\n",
               h->core);
#endif
    char b1[32], b2[32];
    printf("%-28s %18s %18s %18s\n", "SGEMM, GFLOP/s (median)", "OpenBLAS (host)", "CLBlast (device)", "CLBlast/OpenBLAS");
    printf("%-28s %18.1f %18.1f %18s\n", "1024x1024x1024", o->host_1024, o->sgemm_1024,
           pct(b1, sizeof b1, o->sgemm_1024, o->host_1024));
    char lab[64];
    snprintf(lab, sizeof lab, "Gram %dx%dx%zu", o->batch, o->batch, o->kappa[0].P);
    printf("%-28s %18.1f %18.1f %18s\n\n", lab, o->host_gram, o->sgemm_gram, pct(b2, sizeof b2, o->sgemm_gram, o->host_gram));
}

/* Which kernel variant ran and why (runtime/tune.h: env, the device's tuning, the default rule). */
static void print_kernels(const clnas_ctx *ctx)
{
    const char *src = NULL;
    const int v = clnas_kernel_variant(ctx, &src);
    const char *vsrc = NULL;
    const int vw = clnas_conv_vector_width(ctx, &vsrc);
    printf("kernels: %s (%s); convolution vectors: %d floats (%s)\n\n", clnas_kernels_name(v), src, vw, vsrc);
}

static void print_overview(const clnas_ctx *ctx, const clnas_bench_overview *o)
{
    const clnas_device_info *d = clnas_ctx_device(ctx);
    const clnas_bench_kappa *kb = o->kappa;
    printf("device %d: %s (%s, %u compute units; platform %s, driver %s), medians of %d repeats\n", d->index, d->name,
           d->type, d->compute_units, d->platform_name, d->driver_version, o->reps);
    print_kernels(ctx);
    print_sgemm(o);
    printf("%-24s %8s %6s %9s %9s %9s %9s %9s %10s %8s %9s %9s\n", "stage", "P", "seeds", "forward", "backward", "gram",
           "eigen", "total", "GFLOP", "GFLOP/s", "/CLBlast", "/OpenBLAS");
    for (int i = 0; i < 2; i++) {
        char b1[32], b2[32];
        printf("%-24s %8zu %6d %8.3fs %8.3fs %8.3fs %8.4fs %8.3fs %10.2f %8.2f %9s %9s\n", o->what[i], kb[i].P,
               kb[i].seeds, kb[i].fwd, kb[i].bwd, kb[i].gram, kb[i].eig, kb[i].total, kb[i].gflop, kb[i].rate,
               pct(b1, sizeof b1, kb[i].rate, o->sgemm_1024), pct(b2, sizeof b2, kb[i].rate, o->host_1024));
    }
    printf("%-24s %8s %6s %9s %9s %9s %9s %8.3fs  (%d patches, R = %zu)\n", "R, LR proxy supernet", "-", "-", "-", "-",
           "-", "-", o->lr_s, CLNAS_BENCH_LR_SAMPLES, o->regions);
    printf("\n/CLBlast, /OpenBLAS: a kappa's achieved rate as a fraction of the 1024^3 SGEMM rate of CLBlast on the device\n"
           "and of OpenBLAS on the host, both measured above in this run.\n");
    printf("FLOP floor at the CLBlast SGEMM rate: supernet kappa %.3f s, single-path kappa %.3f s\n",
           kb[0].gflop / o->sgemm_1024, kb[1].gflop / o->sgemm_1024);
}

/* Adds the default mode's fields to top; 0 when out of memory. */
static int json_overview(json_t *top, const clnas_bench_overview *o)
{
    json_t *ks = json_array();
    for (int i = 0; ks && i < 2; i++) {
        const clnas_bench_kappa *k = &o->kappa[i];
        json_t *e = json_pack("{s:o, s:o, s:I, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "what", clnas_json_str(o->what[i]),
                              "arch", clnas_json_str(o->arch[i]), "jacobian_params", (json_int_t)k->P, "seeds_in_flight",
                              k->seeds, "gflop", clnas_json_num(k->gflop), "forward_s", clnas_json_num(k->fwd), "backward_s",
                              clnas_json_num(k->bwd), "gram_s", clnas_json_num(k->gram), "eig_s", clnas_json_num(k->eig),
                              "total_s", clnas_json_num(k->total), "gflops", clnas_json_num(k->rate));
        if (!e || json_array_append_new(ks, e) != 0) ks = (json_decref(ks), NULL);
    }
    json_t *lr = json_pack("{s:i, s:o, s:I}", "samples", CLNAS_BENCH_LR_SAMPLES, "seconds", clnas_json_num(o->lr_s),
                           "regions", (json_int_t)o->regions);
    const clnas_bench_hostblas *h = &o->host;
    json_t *hb = o->have_host ? json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o}", "library", h->name, "core", h->core,
                                          "config", h->config, "openblas_coretype_env", h->coretype_env, "threads",
                                          h->threads, "sgemm_gflops_1024", num_or_null(o->host_1024),
                                          "sgemm_gflops_gram", num_or_null(o->host_gram))
                              : json_pack("{s:n, s:s}", "library", "reason", h->why);
    for (int i = 0; ks && i < 2; i++) {
        const double r = o->kappa[i].rate;
        json_t *e = json_array_get(ks, (size_t)i);
        if (!put(e, "of_clblast_sgemm_1024", num_or_null(r / o->sgemm_1024)) ||
            !put(e, "of_openblas_sgemm_1024", num_or_null(o->host_1024 > 0 ? r / o->host_1024 : -1)))
            ks = (json_decref(ks), NULL);
    }
    return put(top, "batch", json_integer(o->batch)) && put(top, "sgemm_gflops_1024", clnas_json_num(o->sgemm_1024)) &&
           put(top, "sgemm_gflops_gram", clnas_json_num(o->sgemm_gram)) && put(top, "host_blas", hb) &&
           put(top, "clblast_over_openblas_1024", num_or_null(o->host_1024 > 0 ? o->sgemm_1024 / o->host_1024 : -1)) &&
           put(top, "clblast_over_openblas_gram", num_or_null(o->host_gram > 0 ? o->sgemm_gram / o->host_gram : -1)) &&
           put(top, "kappa", ks) && put(top, "lr", lr);
}

/* ---------------- --shapes ---------------- */

static void conv_label(const clnas_bench_row *r, char *buf, size_t len)
{
    snprintf(buf, len, "%d->%d %dx%d k%d s%d p%d", r->c, r->cout, r->h, r->w, r->k, r->stride, r->pad);
}
static void other_label(const clnas_bench_row *r, char *buf, size_t len)
{
    if (r->kind == CLNAS_BENCH_AVGPOOL)
        snprintf(buf, len, "avgpool %d %dx%d k%d s%d p%d", r->c, r->h, r->w, r->k, r->stride, r->pad);
    else
        snprintf(buf, len, "%s %d %dx%d", r->kind == CLNAS_BENCH_SUM ? "sum (axpby)" : r->op, r->c, r->h, r->w);
}

static void print_conv_rows(const clnas_bench_shapes *sr)
{
    printf("%-22s %5s %4s %3s %3s %9s %8s %7s %9s %8s %7s %8s %7s %9s %7s\n", "shape Cin->Cout HxW", "batch", "S", "n",
           "dx", "fwd MFLOP", "fwd ms", "GFLOP/s", "bwd MFLOP", "data ms", "GFLOP/s", "wgt ms", "GFLOP/s", "s/kappa",
           "share");
    const int S = sr->seeds;
    for (int i = 0; i < sr->nconv; i++) {
        const clnas_bench_row *r = &sr->conv[i];
        char lab[64];
        conv_label(r, lab, sizeof lab);
        const double f = r->flop;
        printf("%-22s %5d %4d %3d %3d %9.2f %8.3f %7.2f %9.2f %8.3f %7.2f %8.3f %7.2f %9.4f %6.1f%%\n", lab, sr->batch, S,
               r->calls, r->dx_calls, f / 1e6, r->t[0][0] * 1e3, f / r->t[0][0] / 1e9, S * f / 1e6, r->t[0][1] * 1e3,
               S * f / r->t[0][1] / 1e9, r->t[0][2] * 1e3, S * f / r->t[0][2] / 1e9, r->per_s, 100 * r->share);
    }
    for (int i = 0; i < sr->nlr; i++) {
        const clnas_bench_row *r = &sr->lr[i];
        char lab[64];
        conv_label(r, lab, sizeof lab);
        printf("%-22s %5d %4s %3d %3s %9.2f %8.3f %7.2f %9s %8s %7s %8s %7s %9.4f %6.1f%%  (per R)\n", lab,
               CLNAS_BENCH_LR_BATCH, "-", r->calls, "-", r->flop / 1e6, r->t[0][0] * 1e3, r->flop / r->t[0][0] / 1e9, "-",
               "-", "-", "-", "-", r->per_s, 100 * r->share);
    }
}

static void print_shapes(const clnas_ctx *ctx, int reps, const clnas_bench_shapes *sr)
{
    const clnas_device_info *d = clnas_ctx_device(ctx);
    const clnas_bench_kappa *k = &sr->kappa;
    printf("device %d: %s (%s, %u compute units), medians of %d repeats\n", d->index, d->name, d->type,
           d->compute_units, reps);
    print_kernels(ctx);
    printf("Convolutions of the NTK proxy supernet (C=3, N=1, 32x32; %d distinct shapes) at batch %d with S = %d seeds\n"
           "in flight (one kappa = 1 forward + %d backward pass(es) of %d seeds%s), and of the linear-region proxy\n"
           "(C=1, one cell, 3x3 input; forward only, %d batches of %d per R). FLOP per call: multiply-add = 2; the\n"
           "backward ops do S seeds per call. n: layers of the shape; dx: of those, with a backward-data call.\n"
           "s/kappa: n x (forward + backward-weight) + dx x backward-data over a kappa's passes; share: of the\n"
           "convolution time of one kappa (of one R for the linear-region rows).\n\n",
           sr->nconv, sr->batch, sr->seeds, sr->full, sr->seeds, sr->rem ? " + 1 of the rest" : "",
           CLNAS_BENCH_LR_SAMPLES / CLNAS_BENCH_LR_BATCH, CLNAS_BENCH_LR_BATCH);
    print_conv_rows(sr);
    printf("\nNon-convolution backward ops of the supernet kappa, one call per layer and backward pass (calls); an\n"
           "executor that folds ReLUs into the convolutions or reads edge sums in place makes fewer calls, so s/kappa\n"
           "is an upper bound. GB/s is effective: the least traffic a call needs (the shared forward input read\n"
           "once, each seed's output gradient read, its input gradient read and written) over its time.\n\n");
    printf("%-30s %5s %4s %5s %9s %8s %7s %9s\n", "op C HxW", "batch", "S", "calls", "MB/call", "ms/call", "GB/s",
           "s/kappa");
    for (int i = 0; i < sr->nother; i++) {
        const clnas_bench_row *r = &sr->other[i];
        char lab[64];
        other_label(r, lab, sizeof lab);
        printf("%-30s %5d %4d %5d %9.2f %8.3f %7.2f %9.4f\n", lab, sr->batch, sr->seeds, r->calls, r->bytes / 1e6,
               r->t[0][0] * 1e3, r->bytes / r->t[0][0] / 1e9, r->per_s);
    }
    printf("\nOne measured supernet kappa: %.3f s (forward %.3f s, backward %.3f s, Gram %.3f s, eigen %.4f s).\n", k->total,
           k->fwd, k->bwd, k->gram, k->eig);
    printf("Summed from the per-call medians: convolutions %.3f s (%.0f%% of the kappa); the non-conv backward\n"
           "ops above, one call per layer, %.3f s (%.0f%%). The rest of the kappa (%.3f s; negative when fused or\n"
           "skipped calls make the per-layer count too high) is the forward's other ops, zeroing, GAP/linear, the\n"
           "Gram, the eigensolve, and whatever calls in sequence cost beyond calls in isolation.\n",
           sr->conv_s, 100 * sr->conv_s / k->total, sr->other_s, 100 * sr->other_s / k->total,
           k->total - sr->conv_s - sr->other_s);
    printf("One measured R (%d patches): %.4f s, of which convolutions %.4f s.\n", CLNAS_BENCH_LR_SAMPLES, sr->lr_s,
           sr->lr_conv_s);
}

/* One convolution row; lr: a row of the linear-region proxy (forward only: no seeds, no backward). */
static json_t *json_conv_row(const clnas_bench_row *r, int lr, int N, int S)
{
    const double f = r->flop;
    json_t *e = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o}", "net", lr ? "lr" : "ntk", "cin",
                          r->c, "cout", r->cout, "h", r->h, "w", r->w, "k", r->k, "stride", r->stride, "pad", r->pad, "batch",
                          N, "layers", r->calls, "dx_layers", lr ? 0 : r->dx_calls, "flop_fwd", clnas_json_num(f));
    if (e && put(e, "seeds", lr ? json_null() : json_integer(S)) && put(e, "flop_bwd", lr ? json_null() : clnas_json_num(S * f)) &&
        put(e, "fwd_s", num_or_null(r->t[0][0])) && put(e, "bwd_data_s", lr ? json_null() : num_or_null(r->t[0][1])) &&
        put(e, "bwd_weight_s", lr ? json_null() : num_or_null(r->t[0][2])) &&
        put(e, "fwd_gflops", num_or_null(f / r->t[0][0] / 1e9)) &&
        put(e, "bwd_data_gflops", lr ? json_null() : num_or_null(S * f / r->t[0][1] / 1e9)) &&
        put(e, "bwd_weight_gflops", lr ? json_null() : num_or_null(S * f / r->t[0][2] / 1e9)) &&
        put(e, lr ? "per_r_s" : "per_kappa_s", num_or_null(r->per_s)) && put(e, "share", num_or_null(r->share)))
        return e;
    json_decref(e);
    return NULL;
}

static json_t *json_backward_op(const clnas_bench_row *r, int N, int S)
{
    json_t *e = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o}", "op", r->op, "c", r->c, "h", r->h, "w",
                          r->w, "k", r->k, "stride", r->stride, "pad", r->pad, "batch", N, "seeds", S, "calls_per_pass",
                          r->calls, "bytes", clnas_json_num(r->bytes));
    if (e && put(e, "s", num_or_null(r->t[0][0])) && put(e, "gbps", num_or_null(r->bytes / r->t[0][0] / 1e9)) &&
        put(e, "per_kappa_s", num_or_null(r->per_s)))
        return e;
    json_decref(e);
    return NULL;
}

static json_t *json_shapes(const clnas_bench_shapes *sr)
{
    const clnas_bench_kappa *k = &sr->kappa;
    json_t *conv = json_array(), *ops = json_array();
    int ok = conv && ops;
    for (int i = 0; ok && i < sr->nconv; i++) ok = json_array_append_new(conv, json_conv_row(&sr->conv[i], 0, sr->batch, sr->seeds)) == 0;
    for (int i = 0; ok && i < sr->nlr; i++) ok = json_array_append_new(conv, json_conv_row(&sr->lr[i], 1, CLNAS_BENCH_LR_BATCH, 0)) == 0;
    for (int i = 0; ok && i < sr->nother; i++) ok = json_array_append_new(ops, json_backward_op(&sr->other[i], sr->batch, sr->seeds)) == 0;
    json_t *s = ok ? json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:i, s:i, s:o, s:o, s:O, s:O}", "batch", sr->batch,
                               "seeds_in_flight", sr->seeds, "backward_passes", sr->full + (sr->rem > 0), "kappa_s",
                               clnas_json_num(k->total), "kappa_forward_s", clnas_json_num(k->fwd), "kappa_backward_s",
                               clnas_json_num(k->bwd), "kappa_conv_s", clnas_json_num(sr->conv_s), "kappa_other_backward_s",
                               clnas_json_num(sr->other_s), "lr_samples", CLNAS_BENCH_LR_SAMPLES, "lr_batch",
                               CLNAS_BENCH_LR_BATCH, "lr_s", clnas_json_num(sr->lr_s), "lr_conv_s",
                               clnas_json_num(sr->lr_conv_s), "conv", conv, "backward_ops", ops)
                   : NULL;
    json_decref(conv);
    json_decref(ops);
    return s;
}

/* ---------------- --scaling ---------------- */

static void print_scaling(const clnas_ctx *ctx, const clnas_bench_scale_row *rows, int n)
{
    const clnas_device_info *d = clnas_ctx_device(ctx);
    printf("device %d: %s (%s, %u compute units; %.0f MiB global memory, %.0f MiB largest allocation)\n", d->index,
           d->name, d->type, d->compute_units, mib((double)d->global_mem_bytes), mib((double)d->max_alloc_bytes));
    print_kernels(ctx);
    printf("One kappa per row: median of `reps`, after one untimed kappa of the network at its smallest batch.\n"
           "GFLOP: forward, B backward seeds and the Gram matrix (multiply-add = 2). dev MiB: what the NTK holds\n"
           "(plan MiB: activations, S seeds of activation gradients, workspace; G MiB: the Jacobian, B x nparams\n"
           "floats; Theta). peak RSS: the process's resident peak during the row (on a CPU device it includes the\n"
           "device buffers actually touched and CLBlast's temporaries, plus the runtime's own baseline).\n"
           "x time, x mem: ratio to the previous row of the same network.\n\n");
    printf("%-34s %5s %4s %5s %8s %9s %8s %8s %9s %9s %8s %9s %8s %8s %9s %7s %6s\n", "network", "batch", "reps", "seeds",
           "P", "forward", "backward", "gram", "total", "GFLOP", "GFLOP/s", "dev MiB", "plan MiB", "G MiB", "peak RSS",
           "x time", "x mem");
    for (int i = 0; i < n; i++) {
        const clnas_bench_kappa *k = &rows[i].k;
        const size_t other = k->dev_bytes - k->g_bytes;
        printf("%-34s %5d %4d %5d %8zu %8.3fs %8.3fs %7.3fs %8.3fs %9.2f %8.2f %9.1f %8.1f %8.1f ", rows[i].net, k->batch,
               k->reps, k->seeds, k->P, k->fwd, k->bwd, k->gram, k->total, k->gflop, k->rate, mib((double)k->dev_bytes),
               mib((double)other), mib((double)k->g_bytes));
        if (k->rss >= 0) printf("%9.1f ", mib(k->rss));
        else printf("%9s ", "-");
        if (rows[i].time_ratio >= 0) printf("%6.2fx %5.2fx\n", rows[i].time_ratio, rows[i].memory_ratio);
        else printf("%7s %6s\n", "-", "-");
    }
}

static json_t *json_scaling(const clnas_bench_scale_row *rows, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        const clnas_bench_kappa *k = &rows[i].k;
        json_t *e = json_pack("{s:o, s:i, s:i, s:i, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I}", "network",
                              clnas_json_str(rows[i].net), "batch", k->batch, "repeats", k->reps, "seeds_in_flight",
                              k->seeds, "jacobian_params", (json_int_t)k->P, "params", (json_int_t)k->nparams, "gflop",
                              clnas_json_num(k->gflop), "forward_s", clnas_json_num(k->fwd), "backward_s",
                              clnas_json_num(k->bwd), "gram_s", clnas_json_num(k->gram), "eig_s", clnas_json_num(k->eig),
                              "total_s", clnas_json_num(k->total), "gflops", clnas_json_num(k->rate), "device_bytes",
                              (json_int_t)k->dev_bytes, "jacobian_bytes", (json_int_t)k->g_bytes);
        if (!(e && put(e, "peak_rss_bytes", num_or_null(k->rss)) && put(e, "time_ratio", num_or_null(rows[i].time_ratio)) &&
              put(e, "memory_ratio", num_or_null(rows[i].memory_ratio)) && json_array_append_new(a, e) == 0)) {
            json_decref(e);
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* ---------------- the command ---------------- */

static const char USAGE[] =
"usage: clnas bench [--device D] [--repeat N] [--batch B] [--seeds-in-flight S] [--torch [--rounds R]] [--json]\n"
"       clnas bench --shapes [--device D] [--repeat N] [--batch B] [--seeds-in-flight S] [--json]\n"
"       clnas bench --scaling [--scaling-max-batch M] [--no-full] [--device D] [--repeat N] [--seeds-in-flight S] [--json]\n"
"       clnas bench --space darts [...]   (one DARTS search candidate: see clnas bench --space darts --help)\n"
"       clnas bench --throughput [--devices all|LIST] [--sample N] [--repeat N] [--batch B] [--json]   (also under mpirun)\n"
"\n"
"Default: times, as medians over N repeats (default 5) after one warm-up run:\n"
"  the device's CLBlast SGEMM rate (1024^3, and the Gram shape B x B x P),\n"
"  one kappa of the TE-NAS NTK proxy supernet (all four non-none ops on every edge) at batch B,\n"
"  one kappa of the single path " CLNAS_BENCH_SINGLE_PATH ",\n"
"  one R of the linear-region proxy supernet (3000 patches),\n"
"stage by stage, with the FLOPs of each kappa (convolutions, linear layers and the Gram matrix;\n"
"multiply-add = 2) and the achieved rate as a fraction of the SGEMM rate of CLBlast on the device and\n"
"of OpenBLAS on the host (loaded at run time: libopenblas0-pthread; the kernel it runs is named), with\n"
"both SGEMM rates side by side. --torch also runs tools/bench_torch.py's PyTorch side (same batch and\n"
"repeats; /usr/bin/python3 or $CLNAS_PYTHON) and prints PyTorch/clnas time ratios; --rounds R repeats\n"
"clnas-then-PyTorch R times in turn and prints every round's ratios and their medians.\n"
"\n"
"--shapes: every distinct convolution shape of the NTK proxy supernet (batch B, the NTK's seeds in\n"
"  flight) and of the linear-region proxy (batch 1000, forward only), read off the networks: GFLOP/s of\n"
"  forward, backward-data and backward-weight (median of N, default 5), each shape's share of a kappa's\n"
"  convolution time; then the non-convolution backward ops (BN, ReLU, edge sums, pooling) as effective\n"
"  GB/s, and a measured kappa and R for reference.\n"
"--scaling: one kappa of the proxy supernet at batch 16, 32, 72 and 128 (median of N, default 3) and of\n"
"  the full NB201 network (C=16, N=5, all nor_conv_3x3, 1.53 M parameters) at batch 16 and 64 (one\n"
"  run each; batch 64 takes minutes on a CPU): time, GFLOP/s, seeds in flight, device memory and how\n"
"  they grow. --scaling-max-batch M skips batches above M; --no-full skips the full network.\n"
"--throughput: NB201 architectures scored per second (TE-NAS's settings at --batch B, 3 repeats of the\n"
"  score) by each device of --devices alone and by all of them together with dynamic scheduling (as\n"
"  clnas rank --devices runs them), medians of N timed runs (default 3) of --sample N architectures\n"
"  (default 6) after one untimed architecture per device. Under mpirun every rank runs its devices and\n"
"  the rates are summed over the ranks (time of the slowest rank).\n"
"--batch B applies to the default mode, --shapes and --throughput. --seeds-in-flight S fixes the seeds in flight\n"
"  everywhere; by default the NTK chooses, lowered where the activation gradients would not fit the\n"
"  device's memory.\n";

static const char FOOTER[] = "--seeds N, the old spelling of --seeds-in-flight N, still works (with a warning).\n";

typedef struct bench_args {
    const char *device;
    int reps, batch, seeds, max_batch, json, shapes, scaling, no_full, torch;
    const char *torch_script;
    const char *devices;
    int throughput, sample;
    int rounds; /* --torch: alternations of clnas and PyTorch */
} bench_args;

/* 0: parsed; otherwise the exit status (0 after --help, 2 for a usage error) + 100. */
static int parse(int argc, char **argv, bench_args *a, int *reps_given)
{
    cli c;
    cli_init(&c, "bench", USAGE, FOOTER);
    cli_add(&c, "device", &a->device);
    cli_opt *o = cli_add_help(&c, "repeat", &a->reps, "timed repeats, medians reported (default 5; --scaling: 3)");
    o->lo = 1;
    o->hi = 1000;
    o->given = reps_given;
    cli_add_help(&c, "batch", &a->batch, "NTK batch of the default mode and --shapes (default 72)")->hi = 10000;
    cli_add_help(&c, "seeds-in-flight", &a->seeds, "NTK backward seeds run together everywhere (default: the NTK's\n"
                                                   "choice, lowered to what fits the device)");
    cli_add(&c, "json", &a->json);
    cli_add_help(&c, "shapes", &a->shapes, "time every convolution shape of the proxies, and the other backward ops");
    cli_add_help(&c, "scaling", &a->scaling, "time kappa over batch sizes and network sizes");
    cli_add_help(&c, "scaling-max-batch", &a->max_batch, "--scaling: skip batches above M");
    cli_add_help(&c, "no-full", &a->no_full, "--scaling: skip the full NB201 network");
    cli_add_help(&c, "throughput", &a->throughput, "NB201 architectures scored per second by each device alone and by all\n"
                                                   "devices (--devices) or MPI ranks together");
    cli_add_help(&c, "devices", &a->devices, "--throughput: the devices (all, local-rank, or a list such as 0,1)");
    cli_add_help(&c, "sample", &a->sample, "--throughput: architectures per timed run (default 6)")->hi = 1000;
    cli_add_help(&c, "torch", &a->torch, "default mode: also time the same kappas and R in PyTorch (tools/bench_torch.py,\n"
                                         "/usr/bin/python3 with python3-torch) and print the ratios");
    cli_add_help(&c, "torch-script", &a->torch_script, "--torch: the bench_torch.py to run (default: the source tree's)");
    o = cli_add_help(&c, "rounds", &a->rounds, "--torch: measure clnas, then PyTorch, R times in turn (default 1) and report\n"
                                               "each round's ratios and their median: on a machine whose speed drifts\n"
                                               "(shared hosts) a ratio from one round can be off by tens of percent");
    o->lo = 1;
    o->hi = 100;
    cli_add_fn(&c, "seeds", cli_parse_deprecated_seeds, &a->seeds, NULL)->hidden = 1;
    const int pr = cli_parse(&c, argc, argv, NULL, NULL);
    return pr == CLI_OK ? 0 : 100 + (pr == CLI_HELP ? 0 : 2);
}

/* --shapes and/or --scaling. Returns the exit status. */
static int run_detail(clnas_ctx *ctx, const clnas_dataset *data, const bench_args *a, int reps_given, json_t *js)
{
    clnas_bench_shapes *sr = NULL;
    clnas_bench_scale_row rows[CLNAS_BENCH_MAX_SCALE_ROWS];
    int nrows = 0;
    clnas_status st = a->shapes ? clnas_bench_shapes_run(ctx, data, a->batch, a->seeds, a->reps, &sr) : CLNAS_OK;
    if (st == CLNAS_OK && a->scaling) {
        /* proxy rows: a few repeats (default 3: batch 128 takes seconds); full-net rows: one run each */
        const clnas_bench_scaling_opts so = {reps_given ? a->reps : 3, a->seeds, a->max_batch, !a->no_full};
        st = clnas_bench_scaling_run(ctx, data, &so, rows, &nrows);
    }
    int rc = 0;
    if (st != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        rc = 1;
    } else if (js) {
        if (!(a->shapes ? put(js, "shapes", json_shapes(sr)) : 1) || !(a->scaling ? put(js, "scaling", json_scaling(rows, nrows)) : 1) ||
            clnas_json_print(stdout, js) != 0) {
            fprintf(stderr, "clnas bench: cannot write the result (out of memory, or standard output failed)\n");
            rc = 1;
        }
    } else {
        if (a->shapes) print_shapes(ctx, a->reps, sr);
        if (a->shapes && a->scaling) printf("\n");
        if (a->scaling) print_scaling(ctx, rows, nrows);
    }
    free(sr);
    return rc;
}

/* --torch: the PyTorch side of tools/bench_torch.py (--no-clnas --json), same batch and repeats.
 * Returns the parsed JSON, or NULL with the reason in why. */
static json_t *run_torch(const bench_args *a, char *why, size_t len)
{
    const char *script = a->torch_script ? a->torch_script : CLNAS_TOOLS_DIR "/bench_torch.py";
    const char *py = getenv("CLNAS_PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --no-clnas --json --repeat %d --batch %d", py, script, a->reps, a->batch);
    fprintf(stderr, "clnas bench: running the PyTorch side: %s\n", cmd);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(why, len, "cannot run %.900s", cmd);
        return NULL;
    }
    json_error_t je;
    json_t *js = json_loadf(p, 0, &je);
    const int rc = pclose(p);
    if (rc != 0 || !js) {
        snprintf(why, len, "%.900s exited with status %d%s%.100s", cmd, rc, js ? "" : "; no JSON: ", js ? "" : je.text);
        json_decref(js);
        return NULL;
    }
    return js;
}

/* Seconds of comparison row i of bench_torch.py's JSON (-1 if absent). */
static double torch_row_s(json_t *tj, size_t i)
{
    json_t *v = json_object_get(json_array_get(json_object_get(tj, "comparison"), i), "torch_s");
    return json_is_number(v) ? json_number_value(v) : -1;
}

/* PyTorch time / clnas time of the three rows (0 where either is missing). */
static void torch_ratios(json_t *tj, const clnas_bench_overview *o, double out[3])
{
    const double c[3] = {o->kappa[0].total, o->kappa[1].total, o->lr_s};
    for (size_t i = 0; i < 3; i++) {
        const double ts = torch_row_s(tj, i);
        out[i] = ts > 0 && c[i] > 0 ? ts / c[i] : 0;
    }
}

static void print_torch(const clnas_bench_overview *o, json_t *tj, const char *why)
{
    printf("\nPyTorch, same computations (tools/bench_torch.py, float32, medians of %d after a warm-up):\n", o->reps);
    if (!tj) {
        printf("  not measured: %s\n", why);
        return;
    }
    json_t *t = json_object_get(tj, "torch");
    printf("  %s on %s, %d threads\n", json_string_value(json_object_get(t, "version")),
           json_string_value(json_object_get(t, "device_name")), (int)json_integer_value(json_object_get(t, "threads")));
    printf("%-24s %10s %10s %12s\n", "measurement", "PyTorch", "clnas", "PyTorch/clnas");
    const double c[3] = {o->kappa[0].total, o->kappa[1].total, o->lr_s};
    const char *w[3] = {o->what[0], o->what[1], "R, LR proxy supernet"};
    for (size_t i = 0; i < 3; i++) {
        const double ts = torch_row_s(tj, i);
        printf("%-24s %9.4fs %9.4fs %11.2fx\n", w[i], ts, c[i], ts > 0 && c[i] > 0 ? ts / c[i] : 0.0);
    }
}

/* Adds "torch" (the PyTorch times and ratios, or the reason there are none) to top. */
static int json_torch(json_t *top, const clnas_bench_overview *o, json_t *tj, const char *why)
{
    if (!tj) return put(top, "torch", json_pack("{s:n, s:s}", "result", "reason", why));
    const double c[3] = {o->kappa[0].total, o->kappa[1].total, o->lr_s};
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < 3; i++) {
        const double ts = torch_row_s(tj, i);
        json_t *e = json_pack("{s:o, s:o, s:o}", "torch_s", num_or_null(ts), "clnas_s", clnas_json_num(c[i]),
                              "torch_over_clnas", num_or_null(ts > 0 ? ts / c[i] : -1));
        if (!e || json_array_append_new(rows, e) != 0) rows = (json_decref(rows), NULL);
    }
    json_t *t = json_object_get(tj, "torch");
    return put(top, "torch", json_pack("{s:O, s:O, s:O, s:o}", "version", json_object_get(t, "version"), "device_name",
                                       json_object_get(t, "device_name"), "threads", json_object_get(t, "threads"),
                                       "rows", rows));
}

static int cmp_double(const void *x, const void *y)
{
    const double u = *(const double *)x, v = *(const double *)y;
    return (u > v) - (u < v);
}

/* --rounds R > 1: rounds 2..R of clnas then PyTorch after the first; ratio[r][i] = PyTorch / clnas
 * of row i in round r. Prints each round and the medians; adds "rounds" to js when given. 0 on
 * success; 1 when a round failed (the message is printed). */
static int more_rounds(clnas_ctx *ctx, const clnas_dataset *data, const bench_args *a, double (*ratio)[3], json_t *js)
{
    for (int r = 1; r < a->rounds; r++) {
        clnas_bench_overview ov;
        char why[2048] = "";
        if (clnas_bench_overview_run(ctx, data, a->batch, a->seeds, a->reps, &ov) != CLNAS_OK) {
            fprintf(stderr, "clnas bench: round %d: %s\n", r + 1, clnas_ctx_errmsg(ctx));
            return 1;
        }
        json_t *t = run_torch(a, why, sizeof why);
        if (!t) {
            fprintf(stderr, "clnas bench: round %d: PyTorch side not measured: %s\n", r + 1, why);
            return 1;
        }
        torch_ratios(t, &ov, ratio[r]);
        json_decref(t);
        if (!js) {
            printf("round %d: PyTorch/clnas %.2fx (supernet kappa), %.2fx (single-path kappa), %.2fx (R)\n", r + 1,
                   ratio[r][0], ratio[r][1], ratio[r][2]);
            fflush(stdout);
        }
    }
    double med[3];
    json_t *arr = js ? json_array() : NULL;
    for (int i = 0; i < 3; i++) {
        double v[100];
        for (int r = 0; r < a->rounds; r++) v[r] = ratio[r][i];
        qsort(v, (size_t)a->rounds, sizeof v[0], cmp_double);
        med[i] = a->rounds % 2 ? v[a->rounds / 2] : 0.5 * (v[a->rounds / 2 - 1] + v[a->rounds / 2]);
    }
    for (int r = 0; arr && r < a->rounds; r++)
        if (json_array_append_new(arr, json_pack("[f, f, f]", ratio[r][0], ratio[r][1], ratio[r][2])) != 0) return 1;
    if (js)
        return put(js, "torch_rounds", json_pack("{s:i, s:o, s:[f, f, f]}", "rounds", a->rounds, "ratios", arr,
                                                 "median", med[0], med[1], med[2])) ? 0 : 1;
    printf("median of %d rounds, PyTorch/clnas: %.2fx (supernet kappa), %.2fx (single-path kappa), %.2fx (R)\n",
           a->rounds, med[0], med[1], med[2]);
    return 0;
}

static int run_overview(clnas_ctx *ctx, const clnas_dataset *data, const bench_args *a, json_t *js)
{
    clnas_bench_overview ov;
    if (clnas_bench_overview_run(ctx, data, a->batch, a->seeds, a->reps, &ov) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        return 1;
    }
    char why[2048] = "";
    double ratio[100][3];
    if (!js) { /* clnas's own numbers first: the PyTorch side can take minutes */
        print_overview(ctx, &ov);
        fflush(stdout);
        json_t *t = a->torch ? run_torch(a, why, sizeof why) : NULL;
        if (a->torch) print_torch(&ov, t, why);
        if (t) torch_ratios(t, &ov, ratio[0]);
        const int more = t && a->rounds > 1;
        json_decref(t);
        if (more) {
            printf("\nrounds (clnas, then PyTorch, in turn; same settings):\nround 1: PyTorch/clnas %.2fx (supernet kappa), "
                   "%.2fx (single-path kappa), %.2fx (R)\n", ratio[0][0], ratio[0][1], ratio[0][2]);
            fflush(stdout);
            return more_rounds(ctx, data, a, ratio, NULL);
        }
        return 0;
    }
    json_t *tj = a->torch ? run_torch(a, why, sizeof why) : NULL;
    if (tj) torch_ratios(tj, &ov, ratio[0]);
    const int ok = json_overview(js, &ov) && (!a->torch || json_torch(js, &ov, tj, why)) &&
                   (!tj || a->rounds < 2 || more_rounds(ctx, data, a, ratio, js) == 0) &&
                   clnas_json_print(stdout, js) == 0;
    json_decref(tj);
    if (!ok) fprintf(stderr, "clnas bench: cannot write the result (out of memory, or standard output failed)\n");
    return ok ? 0 : 1;
}

int clnas_cmd_bench(int argc, char **argv)
{
    if (cli_argv_space_is(argc, argv, "asvit")) return clnas_cmd_bench_asvit(argc, argv);
    if (cli_wants_darts(argc, argv)) return clnas_cmd_bench_darts(argc, argv);
    bench_args a = {NULL, 5, 72, 0, 1000000, 0, 0, 0, 0, 0, NULL, NULL, 0, 6, 1};
    int reps_given = 0;
    const int pr = parse(argc, argv, &a, &reps_given);
    if (pr) return pr - 100;
    if (a.throughput)
        return cli_bench_throughput(a.devices, a.device, a.sample, reps_given ? a.reps : 3, a.batch, a.seeds, a.json);
    if (a.devices) {
        fprintf(stderr, "clnas bench: --devices goes with --throughput (the other modes time one device: --device)\n");
        return 2;
    }
    if (a.rounds > 1 && (!a.torch || a.shapes || a.scaling)) {
        fprintf(stderr, "clnas bench: --rounds goes with --torch in the default mode (it alternates clnas and PyTorch)\n");
        return 2;
    }
    char err[1024];
    clnas_dataset *data = NULL;
    if (clnas_dataset_load(CLNAS_DS_CIFAR10, NULL, &data, err, sizeof err) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", err);
        return 1;
    }
    clnas_ctx *ctx = NULL;
    if (clnas_ctx_create(a.device, &ctx) != CLNAS_OK) {
        fprintf(stderr, "clnas bench: %s\n", clnas_ctx_errmsg(ctx));
        clnas_ctx_destroy(ctx);
        clnas_dataset_destroy(data);
        return 1;
    }
    const clnas_device_info *d = clnas_ctx_device(ctx);
    const char *ksrc = NULL;
    const int kv = clnas_kernel_variant(ctx, &ksrc);
    json_t *js = a.json ? json_pack("{s:o, s:s, s:i, s:i, s:{s:s, s:s}}", "device", clnas_json_str(d->name), "device_type",
                                    d->type, "device_index", d->index, "repeats", a.reps, "kernels", "variant",
                                    clnas_kernels_name(kv), "source", ksrc)
                        : NULL;
    int rc;
    if (a.json && !js) {
        fprintf(stderr, "clnas bench: out of host memory\n");
        rc = 1;
    } else if (a.shapes || a.scaling) {
        rc = run_detail(ctx, data, &a, reps_given, js);
    } else {
        rc = run_overview(ctx, data, &a, js);
    }
    json_decref(js);
    clnas_ctx_destroy(ctx);
    clnas_dataset_destroy(data);
    return rc;
}
