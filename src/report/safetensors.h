/* safetensors.h - reading and writing safetensors files (the format of Hugging Face's
 * safetensors: 8-byte little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the raw little-endian data; offsets
 * are relative to the end of the header). Used for clnas score --dump / --from. */
#ifndef CLNAS_SAFETENSORS_H
#define CLNAS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "clnas/net.h"
#include "clnas/status.h"

typedef enum st_dtype { ST_F32, ST_F64, ST_U8, ST_I64 } st_dtype;
#define ST_MAX_DIMS 8

/* ---- writer: collect tensors (borrowed pointers: they must stay valid until st_writer_save) ---- */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);                   /* NULL when out of memory */
void st_writer_free(st_writer *w);                /* NULL is a no-op */
/* Adds a tensor; data holds prod(shape) elements of dtype. Returns CLNAS_E_INVALID_ARG for
 * a duplicate or invalid name, CLNAS_E_NOMEM when out of memory. */
clnas_status st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndims, const int64_t *shape,
                           const void *data);
/* Adds every parameter tensor of net as an F32 tensor named prefix + its module name
 * ("stem.conv.weight", ...; prefix "" or NULL for none), data params + its offset (borrowed;
 * params holds the net's nparams floats), shape as the net gives it. Errors as st_writer_add;
 * CLNAS_E_INVALID_ARG when prefix + name exceeds 255 bytes. */
clnas_status st_writer_add_params(st_writer *w, const clnas_net *net, const float *params, const char *prefix);
/* Adds a metadata string (copied). */
clnas_status st_writer_meta(st_writer *w, const char *key, const char *value);
/* Writes the file atomically (temporary file + rename). On failure CLNAS_E_IO and a message
 * naming the path in err. Tensors are stored in the order they were added. */
clnas_status st_writer_save(st_writer *w, const char *path, char *err, size_t errlen);

/* ---- reader: loads the whole file ---- */
typedef struct st_file st_file;
/* On failure CLNAS_E_IO with a message naming the path and what is wrong (truncated header,
 * bad JSON at byte offset N, a tensor whose data lies outside the file, ...). */
clnas_status st_open(const char *path, st_file **out, char *err, size_t errlen);
void st_close(st_file *f); /* NULL is a no-op */
int st_count(const st_file *f);
const char *st_name(const st_file *f, int i);
/* Finds a tensor; returns its data (borrowed, valid until st_close; aligned for the dtype)
 * and fills dtype, ndims, shape. NULL if absent. */
const void *st_get(const st_file *f, const char *name, st_dtype *dtype, int *ndims, int64_t shape[ST_MAX_DIMS]);
/* Metadata value or NULL. Borrowed. */
const char *st_meta(const st_file *f, const char *key);
#endif
