/* rng.c - implements the counter-based generator and PCG32 of rng.h. */
#include "core/rng.h"
#include <math.h>
#include <string.h>
#include "internal.h"

uint64_t clnas_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t clnas_key_combine(uint64_t key, uint64_t v)
{
    return clnas_mix64(key ^ clnas_mix64(v + 0x632be59bd9b4e019ULL));
}

uint64_t clnas_key_module(uint64_t seed, uint64_t stream, const char *name)
{
    uint64_t k = clnas_key_combine(clnas_mix64(seed), stream);
    return clnas_key_combine(k, clnas_fnv1a64(CLNAS_FNV_INIT, name, strlen(name)));
}

double clnas_ctr_uniform(uint64_t key, uint64_t i)
{
    /* two rounds of mixing decorrelate neighbouring counters and keys */
    uint64_t x = clnas_mix64(clnas_mix64(key ^ (i * 0xd1342543de82ef95ULL)) + i);
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

double clnas_ctr_normal(uint64_t key, uint64_t i)
{
    /* Box-Muller on two independent counter draws (2i, 2i+1) */
    double u1 = clnas_ctr_uniform(key, 2 * i), u2 = clnas_ctr_uniform(key, 2 * i + 1);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void clnas_pcg32_seed(clnas_pcg32 *r, uint64_t seed, uint64_t stream)
{
    r->state = 0;
    r->inc = (stream << 1u) | 1u;
    (void)clnas_pcg32_next(r);
    r->state += seed;
    (void)clnas_pcg32_next(r);
}

uint32_t clnas_pcg32_next(clnas_pcg32 *r)
{
    uint64_t old = r->state;
    r->state = old * 6364136223846793005ULL + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

uint32_t clnas_pcg32_below(clnas_pcg32 *r, uint32_t bound)
{
    uint32_t threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        uint32_t v = clnas_pcg32_next(r);
        if (v >= threshold) return v % bound;
    }
}

double clnas_pcg32_double(clnas_pcg32 *r)
{
    uint64_t hi = clnas_pcg32_next(r), lo = clnas_pcg32_next(r);
    return (double)(((hi << 32) | lo) >> 11) * (1.0 / 9007199254740992.0);
}

double clnas_pcg32_uniform(clnas_pcg32 *r, double lo, double hi)
{
    return lo + (hi - lo) * clnas_pcg32_double(r);
}
