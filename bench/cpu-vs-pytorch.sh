#!/usr/bin/env bash
# occlude vs PyTorch on the CPU: the same training step (and saliency pass), alternating
# in one run so both see the same machine. Prints one JSON line per measurement.
#
#   bench/cpu-vs-pytorch.sh [PYTHON] [ROUNDS]
#
# PYTHON: a Python with torch installed (default: python3); never needed by the build
# or the tests. Measure on a quiet machine: PyTorch's two threads collapse when another
# process competes for a core.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
ROUNDS=${2:-3}
OCC=${OCCLUDE_BIN:-target/release/occlude}
REF=${TORCH_CPU:-../shared/bench/torch_cpu.py}
[ -x "$OCC" ] || cargo build --release -p occlude-cli >&2
rows=(
  "resnet20 64 3 32 32 none 8"
  "resnet20 64 1 28 28 none 8"
  "resnet20 64 3 32 32 vanilla 6"
  "resnet18-cifar 32 3 32 32 none 3"
  "resnet18-cifar 32 3 32 32 vanilla 3"
)
for round in $(seq "$ROUNDS"); do
  for row in "${rows[@]}"; do
    read -r model batch c h w sal steps <<<"$row"
    "$PY" "$REF" "$model" "$batch" "$c" "$h" "$w" "$sal" "$steps" 2>/dev/null | sed "s/^{/{\"round\": $round, /"
    "$OCC" bench train-step --model "$model" --batch "$batch" --input "${c}x${h}x${w}" \
      --warmup 2 --steps "$steps" --saliency "$sal" | sed "s/^{/{\"round\":$round,/"
  done
done
