#!/usr/bin/env bash
# tools/imagenet_sample.sh - lay out a flat folder of ImageNet JPEGs named <wnid>_<anything>.JPEG
# (for example github.com/EliSchwartz/imagenet-sample-images: one training image of each of the
# 1000 ILSVRC-2012 classes, n01440764_tench.JPEG ...) as an ImageFolder tree, one sub-folder per
# class, the layout `clnas data convert --imagefolder` and `--dataset imagenet --data DIR` read.
#
#   tools/imagenet_sample.sh SRC_DIR DEST_DIR
#
#   git clone --depth 1 https://github.com/EliSchwartz/imagenet-sample-images
#   tools/imagenet_sample.sh imagenet-sample-images imagenet-sample/train
#   build/clnas data convert --imagefolder imagenet-sample/train --out imagenet_sample32.bin
#
# Files are hard-linked where SRC and DEST share a file system, copied otherwise. A file whose
# name does not start with a WordNet id (n + 8 digits + '_') is reported and left out.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 SRC_DIR DEST_DIR   (SRC_DIR: flat folder of <wnid>_*.JPEG files)" >&2
  exit 2
fi
src=$1
dest=$2
if [ ! -d "$src" ]; then
  echo "$0: '$src' is not a folder" >&2
  exit 1
fi

mkdir -p "$dest"
placed=0
skipped=0
shopt -s nullglob nocaseglob
for f in "$src"/*.jpeg "$src"/*.jpg; do
  base=$(basename "$f")
  if [[ ! $base =~ ^(n[0-9]{8})_ ]]; then
    echo "$0: skipped '$base' (the name does not start with a WordNet id such as n01440764_)" >&2
    skipped=$((skipped + 1))
    continue
  fi
  wnid=${BASH_REMATCH[1]}
  mkdir -p "$dest/$wnid"
  ln -f "$f" "$dest/$wnid/$base" 2>/dev/null || cp -f "$f" "$dest/$wnid/$base"
  placed=$((placed + 1))
done

classes=$(find "$dest" -mindepth 1 -maxdepth 1 -type d | wc -l)
echo "$placed images in $classes class folders under $dest ($skipped skipped)"
if [ "$placed" -eq 0 ]; then
  echo "$0: no <wnid>_*.JPEG files found in '$src'" >&2
  exit 1
fi
