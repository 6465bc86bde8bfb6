/* rng.h - clnas's own random numbers, identical on every platform and device.
 *
 * Two generators:
 * - a counter-based one: value i of stream `key` is a pure function of (key, i), so any
 *   module's weights can be regenerated in isolation, in any order (used for weights);
 * - PCG32, a small sequential generator (used for data sampling and tests). */
#ifndef CLNAS_RNG_H
#define CLNAS_RNG_H
#include <stdint.h>

/* splitmix64 finaliser: a bijective 64-bit mix. */
uint64_t clnas_mix64(uint64_t x);
/* Combines a key with more data (order-sensitive). */
uint64_t clnas_key_combine(uint64_t key, uint64_t v);
/* Key of a named module: combine(seed, stream, fnv1a(name)). */
uint64_t clnas_key_module(uint64_t seed, uint64_t stream, const char *name);
/* Counter-based draws for element i of stream key: 53-bit uniform in [0,1), and N(0,1). */
double clnas_ctr_uniform(uint64_t key, uint64_t i);
double clnas_ctr_normal(uint64_t key, uint64_t i);

typedef struct clnas_pcg32 {
    uint64_t state, inc;
} clnas_pcg32;
void clnas_pcg32_seed(clnas_pcg32 *r, uint64_t seed, uint64_t stream);
uint32_t clnas_pcg32_next(clnas_pcg32 *r);
/* Uniform integer in [0, bound) without modulo bias; bound > 0. */
uint32_t clnas_pcg32_below(clnas_pcg32 *r, uint32_t bound);
/* Uniform double in [0,1) with 53 bits. */
double clnas_pcg32_double(clnas_pcg32 *r);
/* Uniform in [lo, hi). */
double clnas_pcg32_uniform(clnas_pcg32 *r, double lo, double hi);
#endif
