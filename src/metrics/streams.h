/* streams.h - the fixed sampler streams of TE-NAS's data: the NTK's image batches and the
 * linear-region patches are drawn from samplers keyed by (seed, stream), so the data of a score,
 * a study or a search depends on the seed alone. One definition for every recipe. */
#ifndef CLNAS_METRICS_STREAMS_H
#define CLNAS_METRICS_STREAMS_H
#define CLNAS_STREAM_NTK_DATA 0x4e544bu /* "NTK" */
#define CLNAS_STREAM_LR_DATA 0x4c52u    /* "LR" */
#endif
