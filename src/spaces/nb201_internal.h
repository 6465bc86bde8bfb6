/* nb201_internal.h - NAS-Bench-201 builder variants used inside the library only. */
#ifndef CLNAS_NB201_INTERNAL_H
#define CLNAS_NB201_INTERNAL_H

#include "clnas/nb201.h"

/* clnas_nb201_build with every BatchNorm left out (stem, cells, reduction blocks, lastact):
 * what zero-cost-nas's synflow scores (its bn=False copy turns each BatchNorm into the
 * identity). Module names are unchanged, so clnas_net_init_params gives every convolution and
 * the classifier the same values as in the network with BatchNorm. */
clnas_status nb201_build_nobn(const clnas_nb201_config *cfg, const clnas_nb201_arch *arch, clnas_net **out,
                              char *err, size_t errlen);

#endif
