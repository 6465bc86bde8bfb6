/* ntk_seeds.h - how the NTK (ntk.c) chooses its backward seeds in flight, for the code that
 * measures and stores that choice (`clnas tune`, src/bench/tune_seeds.c).
 *
 * Without an explicit count (clnas_ntk_config.seeds, or $CLNAS_SEEDS) the NTK runs as many seeds
 * at once as fit an activation-gradient budget in bytes: the device's per-device value
 * CLNAS_NTK_SEED_BUDGET_KEY (stored by `clnas tune` in the device's tuning file, or shipped for
 * known kinds of device; see runtime/tune.h), else CLNAS_NTK_SEED_BUDGET_DEFAULT. A budget in bytes
 * rather than seeds carries over between networks: one seed of a bigger network already carries
 * more work per kernel launch, so the same budget gives it fewer seeds. */
#ifndef CLNAS_METRICS_NTK_SEEDS_H
#define CLNAS_METRICS_NTK_SEEDS_H

/* The key of the NTK's budget among a device's tuned values (runtime/tune.h). */
#define CLNAS_NTK_SEED_BUDGET_KEY "ntk.seed_budget_bytes"
/* The budget when the device has none: 256 MiB. */
#define CLNAS_NTK_SEED_BUDGET_DEFAULT (256.0 * 1048576.0)

/* Seeds in flight for a budget in bytes: floor(budget / per_seed), in [1, batch], and no more than
 * one allocation of max_alloc bytes holds (0: no such limit). per_seed: bytes of activation
 * gradients one seed needs (the network's activations per sample x batch x 4). */
int clnas_ntk_seeds_for_budget(double budget, double per_seed, double max_alloc, int batch);

#endif
