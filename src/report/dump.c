/* dump.c - writes and reads score dumps (see dump.h), and the JSON form of a score. */
#define _POSIX_C_SOURCE 200809L
#include "report/dump.h"
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "core/fault.h"
#include "report/json.h"
#include "report/safetensors.h"

static const char *init_name(clnas_init i)
{
    return i == CLNAS_INIT_KAIMING_FAN_IN ? "kaiming_fan_in" : i == CLNAS_INIT_KAIMING_FAN_OUT ? "kaiming_fan_out" : "pytorch";
}

clnas_status clnas_dump_outputs_alloc(const clnas_score_inputs *in, size_t lr_bits, clnas_score_outputs *out)
{
    size_t K = (size_t)in->repeats, B = (size_t)in->batch;
    out->theta = calloc(K * B * B, sizeof(double));
    out->eigs = calloc(K * B, sizeof(double));
    out->gnorm = calloc(K * B, sizeof(double));
    out->codes = calloc(K * (size_t)in->lr_n * (lr_bits ? lr_bits : 1), 1);
    if (!out->theta || !out->eigs || !out->gnorm || !out->codes) {
        clnas_dump_outputs_free(out);
        return CLNAS_E_NOMEM;
    }
    return CLNAS_OK;
}

void clnas_dump_outputs_free(clnas_score_outputs *out)
{
    free(out->theta);
    free(out->eigs);
    free(out->gnorm);
    free(out->codes);
    memset(out, 0, sizeof *out);
}

static clnas_status save_weights(const char *path, const clnas_net *net, const float *params, char *err, size_t errlen)
{
    st_writer *w = st_writer_new();
    if (!w) return CLNAS_E_NOMEM;
    clnas_status st = st_writer_add_params(w, net, params, NULL);
    if (st == CLNAS_OK) st = st_writer_save(w, path, err, errlen);
    st_writer_free(w);
    return st;
}

/* The element count of a shape read from a file; SIZE_MAX when it overflows or a dimension is
 * negative (matches no wanted count). */
static size_t shape_count(const int64_t *sh, int nd)
{
    size_t n = 1;
    for (int d = 0; d < nd; d++)
        if (sh[d] < 0 || !clnas_mul_size(n, (size_t)sh[d], &n)) return SIZE_MAX;
    return n;
}

static clnas_status load_weights(const char *path, const clnas_net *net, float *params, char *err, size_t errlen)
{
    st_file *f = NULL;
    clnas_status st = st_open(path, &f, err, errlen);
    if (st != CLNAS_OK) return st;
    for (int i = 0; i < clnas_net_nparam_tensors(net) && st == CLNAS_OK; i++) {
        const char *name;
        size_t off, count;
        int shape[4];
        clnas_net_param_tensor(net, i, &name, &off, &count, shape);
        st_dtype dt;
        int nd;
        int64_t sh[ST_MAX_DIMS];
        const void *data = st_get(f, name, &dt, &nd, sh);
        size_t n = data ? shape_count(sh, nd) : 0;
        if (!data || dt != ST_F32 || n != count) {
            snprintf(err, errlen, "%s: tensor \"%s\" is %s (want F32 with %zu values for this architecture)", path, name,
                     !data ? "missing" : "of the wrong type or size", count);
            st = CLNAS_E_IO;
        } else {
            memcpy(params + off, data, count * sizeof(float));
        }
    }
    st_close(f);
    return st;
}

static clnas_status meta_int(st_writer *w, const char *k, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return st_writer_meta(w, k, b);
}

clnas_status clnas_dump_save(const char *dir, const char *space, const char *archs, const clnas_net *nn,
                             const clnas_net *ln, const clnas_score_opts *o, const clnas_score_inputs *in,
                             const clnas_score_outputs *out, const clnas_score_result *res, const json_t *json,
                             char *err, size_t errlen)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create dump folder %s: %s", dir, strerror(errno));
        return CLNAS_E_IO;
    }
    clnas_status st;
    char path[4096];
    snprintf(path, sizeof path, "%s/ntk_weights.safetensors", dir);
    st = save_weights(path, nn, in->ntk_params, err, errlen);
    snprintf(path, sizeof path, "%s/lr_weights.safetensors", dir);
    if (st == CLNAS_OK) st = save_weights(path, ln, in->lr_params, err, errlen);
    const int64_t K = in->repeats, B = in->batch, n = in->lr_n, bits = (int64_t)res->lr_bits;
    if (st == CLNAS_OK) {
        st_writer *w = st_writer_new();
        if (!w) st = CLNAS_E_NOMEM;
        else {
            int64_t s1[5] = {K, B, in->channels, in->hw, in->hw}, s2[5] = {K, n, 1, 3, 3};
            if (in->images) st = st_writer_add(w, "ntk_images", ST_F32, 5, s1, in->images);
            if (st == CLNAS_OK && in->patches) st = st_writer_add(w, "lr_patches", ST_F32, 5, s2, in->patches);
            if (st == CLNAS_OK) st = st_writer_meta(w, "space", space);
            if (st == CLNAS_OK) st = st_writer_meta(w, "arch", archs);
            if (st == CLNAS_OK) st = st_writer_meta(w, "dataset", clnas_dataset_name(o->dataset));
            if (st == CLNAS_OK) st = meta_int(w, "classes", clnas_net_classes(nn));
            if (st == CLNAS_OK) st = meta_int(w, "seed", (long long)o->seed);
            if (st == CLNAS_OK) st = meta_int(w, "stream", (long long)o->stream);
            if (st == CLNAS_OK) st = meta_int(w, "batch", o->batch);
            if (st == CLNAS_OK) st = meta_int(w, "repeats", o->repeats);
            if (st == CLNAS_OK) st = meta_int(w, "lr_batch", o->lr_batch);
            if (st == CLNAS_OK) st = meta_int(w, "lr_batches", o->lr_batches);
            if (st == CLNAS_OK) st = meta_int(w, "metrics", o->metrics);
            if (st == CLNAS_OK) st = st_writer_meta(w, "init", init_name(o->init));
            snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
            if (st == CLNAS_OK) st = st_writer_save(w, path, err, errlen);
            st_writer_free(w);
        }
    }
    double *kap = calloc((size_t)K * 3, sizeof(double));
    int64_t *reg = calloc((size_t)K, sizeof(int64_t));
    if (st == CLNAS_OK && (!kap || !reg)) st = CLNAS_E_NOMEM;
    if (st == CLNAS_OK) {
        for (int r = 0; r < K; r++) {
            kap[r] = res->ntk[r].kappa;
            kap[K + r] = res->ntk[r].lambda_min;
            kap[2 * K + r] = res->ntk[r].lambda_max;
            reg[r] = (int64_t)res->regions[r];
        }
        st_writer *w = st_writer_new();
        if (!w) st = CLNAS_E_NOMEM;
        else {
            int64_t sT[3] = {K, B, B}, sE[2] = {K, B}, sC[3] = {K, n, bits}, sK[1] = {K};
            if (o->metrics & CLNAS_METRIC_NTK) {
                if (st == CLNAS_OK) st = st_writer_add(w, "theta", ST_F64, 3, sT, out->theta);
                if (st == CLNAS_OK) st = st_writer_add(w, "eigenvalues", ST_F64, 2, sE, out->eigs);
                if (st == CLNAS_OK) st = st_writer_add(w, "g_row_norms", ST_F64, 2, sE, out->gnorm);
                if (st == CLNAS_OK) st = st_writer_add(w, "kappa", ST_F64, 1, sK, kap);
                if (st == CLNAS_OK) st = st_writer_add(w, "lambda_min", ST_F64, 1, sK, kap + K);
                if (st == CLNAS_OK) st = st_writer_add(w, "lambda_max", ST_F64, 1, sK, kap + 2 * K);
            }
            if (o->metrics & CLNAS_METRIC_LR) {
                if (st == CLNAS_OK) st = st_writer_add(w, "codes", ST_U8, 3, sC, out->codes);
                if (st == CLNAS_OK) st = st_writer_add(w, "regions", ST_I64, 1, sK, reg);
            }
            snprintf(path, sizeof path, "%s/outputs.safetensors", dir);
            if (st == CLNAS_OK) st = st_writer_save(w, path, err, errlen);
            else snprintf(err, errlen, "out of host memory assembling %s", path);
            st_writer_free(w);
        }
    }
    free(kap);
    free(reg);
    if (st == CLNAS_OK && json) {
        snprintf(path, sizeof path, "%s/score.json", dir);
        st = clnas_json_write_file(path, json, err, errlen);
    }
    return st;
}

static int meta_num(const st_file *f, const char *k, long long *v)
{
    const char *s = st_meta(f, k);
    char *end;
    if (!s) return 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end;
}

clnas_status clnas_dump_read_header(const char *dir, char *space, size_t space_len, char *arch, size_t arch_len,
                                   clnas_score_opts *o, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    st_file *f = NULL;
    clnas_status st = st_open(path, &f, err, errlen);
    if (st != CLNAS_OK) return st;
    clnas_score_opts_default(o);
    long long seed, stream, batch, repeats, lrb, lrbs, metrics;
    const char *a = st_meta(f, "arch"), *ds = st_meta(f, "dataset"), *init = st_meta(f, "init");
    const char *sp = st_meta(f, "space");
    if (!a || !ds || !meta_num(f, "seed", &seed) || !meta_num(f, "stream", &stream) || !meta_num(f, "batch", &batch) ||
        !meta_num(f, "repeats", &repeats) || !meta_num(f, "lr_batch", &lrb) || !meta_num(f, "lr_batches", &lrbs) ||
        !meta_num(f, "metrics", &metrics)) {
        snprintf(err, errlen, "%s: metadata incomplete (need arch, dataset, seed, stream, batch, repeats, lr_batch, "
                 "lr_batches, metrics): not a clnas score dump?", path);
        st_close(f);
        return CLNAS_E_IO;
    }
    if (clnas_dataset_parse_kind(ds, &o->dataset) != CLNAS_OK || strlen(a) >= arch_len ||
        strlen(sp ? sp : "nb201") >= space_len) {
        snprintf(err, errlen, "%s: bad metadata: space \"%s\", arch \"%.200s\", dataset \"%s\"", path, sp ? sp : "nb201", a, ds);
        st_close(f);
        return CLNAS_E_IO;
    }
    /* the ranges of the flags that set them (a crafted file must not overflow a size) */
    if (batch < 2 || batch > 100000 || repeats < 1 || repeats > CLNAS_MAX_REPEATS || lrb < 1 || lrb > 1000000 || lrbs < 1 ||
        lrbs > 1000 || seed < 0 || stream < 0 || metrics < 1 || metrics > 3) {
        snprintf(err, errlen, "%s: metadata out of range: batch %lld (2..100000), repeats %lld (1..%d), lr_batch %lld "
                              "(1..1000000), lr_batches %lld (1..1000), seed %lld, stream %lld, metrics %lld (1..3)",
                 path, batch, repeats, CLNAS_MAX_REPEATS, lrb, lrbs, seed, stream, metrics);
        st_close(f);
        return CLNAS_E_IO;
    }
    /* a dump written before the space was recorded is a NAS-Bench-201 one */
    snprintf(space, space_len, "%s", sp ? sp : "nb201");
    snprintf(arch, arch_len, "%s", a);
    o->seed = (uint64_t)seed;
    o->stream = (uint64_t)stream;
    o->batch = (int)batch;
    o->repeats = (int)repeats;
    o->lr_batch = (int)lrb;
    o->lr_batches = (int)lrbs;
    o->metrics = (int)metrics;
    o->init = init && !strcmp(init, "kaiming_fan_in") ? CLNAS_INIT_KAIMING_FAN_IN
            : init && !strcmp(init, "kaiming_fan_out") ? CLNAS_INIT_KAIMING_FAN_OUT : CLNAS_INIT_PYTORCH;
    st_close(f);
    return CLNAS_OK;
}

clnas_status clnas_dump_load(const char *dir, const clnas_net *nn, const clnas_net *ln, const clnas_score_opts *o,
                             clnas_score_inputs *in, char *err, size_t errlen)
{
    char path[4096];
    memset(in, 0, sizeof *in);
    snprintf(path, sizeof path, "%s/inputs.safetensors", dir);
    st_file *f = NULL;
    clnas_status st = st_open(path, &f, err, errlen);
    if (st != CLNAS_OK) return st;
    in->repeats = o->repeats;
    in->batch = o->batch;
    in->channels = 3;
    in->hw = clnas_dataset_hw(o->dataset);
    size_t lr_n = 0;
    if (o->lr_batch < 1 || o->lr_batches < 1 || !clnas_mul_size((size_t)o->lr_batch, (size_t)o->lr_batches, &lr_n) ||
        lr_n > INT_MAX) {
        snprintf(err, errlen, "%s: lr_batch %d x lr_batches %d patches is out of range", path, o->lr_batch, o->lr_batches);
        st_close(f);
        return CLNAS_E_INVALID_ARG;
    }
    in->lr_n = (int)lr_n;
    st_dtype dt;
    int nd;
    int64_t sh[ST_MAX_DIMS];
    if (o->metrics & CLNAS_METRIC_NTK) {
        const void *d = st_get(f, "ntk_images", &dt, &nd, sh);
        size_t want = (size_t)in->repeats * in->batch * 3 * in->hw * in->hw;
        if (!d || dt != ST_F32 || nd != 5 || shape_count(sh, nd) != want) {
            snprintf(err, errlen, "%s: ntk_images missing or not F32 [%d,%d,3,%d,%d]", path, in->repeats, in->batch, in->hw, in->hw);
            st = CLNAS_E_IO;
        } else if (!(in->images = malloc(want * sizeof(float)))) st = CLNAS_E_NOMEM;
        else memcpy(in->images, d, want * sizeof(float));
    }
    if (st == CLNAS_OK && (o->metrics & CLNAS_METRIC_LR)) {
        const void *d = st_get(f, "lr_patches", &dt, &nd, sh);
        size_t want = (size_t)in->repeats * in->lr_n * 9;
        if (!d || dt != ST_F32 || nd != 5 || shape_count(sh, nd) != want) {
            snprintf(err, errlen, "%s: lr_patches missing or not F32 [%d,%d,1,3,3]", path, in->repeats, in->lr_n);
            st = CLNAS_E_IO;
        } else if (!(in->patches = malloc(want * sizeof(float)))) st = CLNAS_E_NOMEM;
        else memcpy(in->patches, d, want * sizeof(float));
    }
    st_close(f);
    if (st == CLNAS_OK) {
        in->ntk_nparams = clnas_net_nparams(nn);
        in->lr_nparams = clnas_net_nparams(ln);
        in->ntk_params = malloc(in->ntk_nparams * sizeof(float));
        in->lr_params = malloc(in->lr_nparams * sizeof(float));
        if (!in->ntk_params || !in->lr_params) st = CLNAS_E_NOMEM;
    }
    snprintf(path, sizeof path, "%s/ntk_weights.safetensors", dir);
    if (st == CLNAS_OK) st = load_weights(path, nn, in->ntk_params, err, errlen);
    snprintf(path, sizeof path, "%s/lr_weights.safetensors", dir);
    if (st == CLNAS_OK) st = load_weights(path, ln, in->lr_params, err, errlen);
    if (st != CLNAS_OK) {
        if (st == CLNAS_E_NOMEM) snprintf(err, errlen, "out of host memory reading %s", dir);
        clnas_score_inputs_free(in);
    }
    return st;
}

json_t *clnas_score_json(const char *arch, const clnas_score_opts *o, const clnas_score_result *r, const char *device,
                         const char *data_source)
{
    json_t *j = json_object();
    if (!j) return NULL;
    int bad = json_object_set_new(j, "arch", clnas_json_str(arch));
    bad |= json_object_set_new(j, "dataset", json_string(clnas_dataset_name(o->dataset)));
    bad |= json_object_set_new(j, "data", clnas_json_str(data_source ? data_source : ""));
    bad |= json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    bad |= json_object_set_new(j, "stream", json_integer((json_int_t)o->stream));
    bad |= json_object_set_new(j, "init", json_string(init_name(o->init)));
    bad |= json_object_set_new(j, "device", clnas_json_str(device ? device : ""));
    bad |= json_object_set_new(j, "repeats", json_integer(o->repeats));
    if (o->metrics & CLNAS_METRIC_NTK) {
        double k[CLNAS_MAX_REPEATS], lmin[CLNAS_MAX_REPEATS], lmax[CLNAS_MAX_REPEATS];
        json_t *status = json_array();
        for (int i = 0; i < r->repeats; i++) {
            k[i] = r->ntk[i].kappa;
            lmin[i] = r->ntk[i].lambda_min;
            lmax[i] = r->ntk[i].lambda_max;
            bad |= json_array_append_new(status, json_string(clnas_kappa_status_str(r->ntk[i].status)));
        }
        json_t *n = json_object();
        bad |= json_object_set_new(n, "batch", json_integer(o->batch));
        bad |= json_object_set_new(n, "params", json_integer((json_int_t)r->ntk_params));
        bad |= json_object_set_new(n, "jacobian_params", json_integer((json_int_t)r->ntk_jacobian));
        bad |= json_object_set_new(n, "seeds_in_flight", json_integer(r->ntk_seeds));
        bad |= json_object_set_new(n, "gram", json_string(o->fp64_gram ? "fp64" : "fp32"));
        bad |= json_object_set_new(n, "kappa", clnas_json_nums(k, r->repeats));
        bad |= json_object_set_new(n, "lambda_min", clnas_json_nums(lmin, r->repeats));
        bad |= json_object_set_new(n, "lambda_max", clnas_json_nums(lmax, r->repeats));
        bad |= json_object_set_new(n, "status", status);
        bad |= json_object_set_new(n, "kappa_mean", clnas_json_num(r->kappa_mean));
        bad |= json_object_set_new(n, "kappa_geomean", clnas_json_num(r->kappa_geomean));
        bad |= json_object_set_new(j, "ntk", n);
    }
    if (o->metrics & CLNAS_METRIC_LR) {
        json_t *l = json_object();
        bad |= json_object_set_new(l, "samples", json_integer((json_int_t)o->lr_batch * o->lr_batches));
        bad |= json_object_set_new(l, "batch", json_integer(o->lr_batch));
        bad |= json_object_set_new(l, "params", json_integer((json_int_t)r->lr_params));
        bad |= json_object_set_new(l, "bits", json_integer((json_int_t)r->lr_bits));
        json_t *rs = json_array(), *rstat = json_array();
        for (int i = 0; i < r->repeats; i++) {
            bad |= json_array_append_new(rs, r->regions_nonfinite[i] ? json_null() : json_integer((json_int_t)r->regions[i]));
            bad |= json_array_append_new(rstat, json_string(r->regions_nonfinite[i] ? "NaN or inf in the pre-activations" : "ok"));
        }
        bad |= json_object_set_new(l, "regions", rs);
        bad |= json_object_set_new(l, "status", rstat);
        bad |= json_object_set_new(l, "regions_mean", clnas_json_num(r->regions_mean));
        bad |= json_object_set_new(j, "lr", l);
    }
    json_t *t = json_object();
    bad |= json_object_set_new(t, "setup", json_real(r->t_setup));
    bad |= json_object_set_new(t, "forward", json_real(r->t_forward));
    bad |= json_object_set_new(t, "backward", json_real(r->t_backward));
    bad |= json_object_set_new(t, "gram", json_real(r->t_gram));
    bad |= json_object_set_new(t, "eig", json_real(r->t_eig));
    bad |= json_object_set_new(t, "lr", json_real(r->t_lr));
    bad |= json_object_set_new(t, "total", json_real(r->t_total));
    bad |= json_object_set_new(j, "time_s", t);
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}
