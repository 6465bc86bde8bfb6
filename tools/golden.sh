#!/usr/bin/env bash
# tools/golden.sh - records what clnas computes for a fixed set of commands, and compares a later
# build's outputs with such a record VALUE FOR VALUE (not within the tests' tolerances). Used to
# prove that a refactor changed no number: record with the old binary, compare with the new.
#
#   tools/golden.sh record  DIR [CLNAS]   run the commands with CLNAS (default build/clnas) into DIR
#   tools/golden.sh compare OLD NEW       compare two records; exit 1 on any difference
#
# What is compared (tools/golden_compare.py):
# - every safetensors file of every --dump byte for byte in its tensors (weights, images, patches,
#   Theta, eigenvalues, G row norms, linear-region codes, kappa, regions), and its metadata;
# - every JSON output (score --json, search results and summaries, traces, stats --json) value by
#   value: strings and integers equal; a real number equal to the old one, or - where the old writer
#   printed fewer than 17 significant digits - the new value printed with the old digits giving the
#   old text; time and rate fields are left out; keys added by the new writer are listed, not failed;
# - CSV files (rank) and `clnas net` summaries byte for byte.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
case "$mode" in
record)
  out=${2:?usage: tools/golden.sh record DIR [CLNAS]}
  bin=$(realpath "${3:-build/clnas}")
  mkdir -p "$out"
  cd "$out"   # paths in the outputs are relative, so two records compare
  export CLNAS_TUNE=${CLNAS_TUNE:-}
  sp='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
  mixed='|skip_connect~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|'
  partial='|nor_conv_3x3,avg_pool_3x3~0|+|none,skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3,nor_conv_1x1~1|avg_pool_3x3~2|'
  run() { local name=$1; shift; echo "golden: $name: $*" >&2; "$bin" "$@" > "$name" ; }
  run score_supernet.json score --arch supernet --json --dump "dump_supernet"
  run score_single.json score --arch "$sp" --json --batch 16 --repeat 2 --dump "dump_single"
  run score_mixed.json score --arch "$mixed" --json --batch 16 --repeat 2 --seed 3 --dump "dump_mixed"
  run score_partial.json score --arch "$partial" --json --batch 24 --repeat 1 --lr-batch 500 --lr-batches 2 --dump "dump_partial"
  run score_fp64.json score --arch supernet --json --batch 16 --repeat 1 --fp64 --metric ntk
  run score_from.json score --from "dump_single" --json
  run score_lr_only.json score --arch "$mixed" --json --metric lr --seed 9
  run score_kaiming.json score --arch "$sp" --json --batch 8 --repeat 1 --init kaiming_fan_out --lr-batch 200 --lr-batches 1
  run search.json search --out "search" --seeds 0-1 --batch 8 --repeat 1 --lr-batches 1 --lr-batch 100 --json --quiet
  run search_shared.json search --out "search_shared" --batch 8 --repeat 2 --lr-batches 1 --lr-batch 100 --shared-batches --json --quiet
  run rank.txt rank --sample 12 --seed 5 --out rank.csv --batch 16 --repeat 2 --lr-batch 500 --lr-batches 1
  run stats.json stats rank.csv --json
  run net_default.txt net --arch "$sp"
  run net_supernet_ntk.txt net --arch supernet --proxy ntk
  run net_lr.txt net --arch supernet --proxy lr
  run net_c100.txt net --arch "$partial" --C 3 --N 2 --classes 100 --input 16
  echo "golden: recorded in $PWD" >&2
  ;;
compare)
  old=${2:?usage: tools/golden.sh compare OLD NEW}
  new=${3:?usage: tools/golden.sh compare OLD NEW}
  exec /usr/bin/python3 tools/golden_compare.py "$old" "$new"
  ;;
*)
  sed -n '2,17p' "$0" >&2
  exit 2
  ;;
esac
