#!/usr/bin/env bash
# The runs behind docs/results.md's research tables (each a plain `workbench run`; minutes each).
# 2D Matryoshka (random layer+dim per step) vs the fixed Starbucks schedule vs models trained
# separately at single (layer, dim) cells, all at equal steps (1 epoch of STSB train, 360 steps).
# Usage: bash bench/research_runs.sh [OUT_ROOT]   (default runs/research)
set -euo pipefail
root="${1:-runs/research}"
mkdir -p "$root"
run() { name=$1; shift; workbench run matryoshka_2d --preset cpu --out "$root/$name" "$@"; }
run m2d
run starbucks -p variant starbucks
run separate-L2-d32 -p variant starbucks -p starbucks_layer_dims '[[2, 32]]' -p kl_div_weight 0.0
run separate-L4-d128 -p variant starbucks -p starbucks_layer_dims '[[4, 128]]' -p kl_div_weight 0.0
run separate-L6-d384 -p variant starbucks -p starbucks_layer_dims '[[6, 384]]' -p kl_div_weight 0.0
workbench compare "$root"/* --out "$root/comparison"
