#!/usr/bin/env bash
# Every GPU figure of BENCHMARKS.md in one call, for a GPU machine that is lent for
# minutes, has no compiler and no network. Given a release binary built here with
# `--features cuda` and an output folder, it:
#
#   1. restores the cubecl kernel cache if one is given (skips minutes of autotuning),
#   2. times occlude's training step (CIFAR ResNet-18, batch 256) plain and with each
#      saliency method (vanilla, low-res, early-loss),
#   3. times one epoch of Cutout vs KeepCutout (vanilla, low-res, early-loss, reuse
#      when the binary has it) on generated CIFAR-size data (`occlude data synth-cifar10`),
#   4. runs PyTorch's reference (shared/bench/torch_ref.py) on the same card, if found,
#   5. writes every figure (JSON lines), the device description, a log, and the kernel
#      cache (`cubecl-cache.tgz`) to the output folder.
#
# Usage:
#   bench/gpu.sh OUT [--bin PATH] [--cache cubecl-cache.tgz] [--backend cuda|flex]
#                    [--torch-ref PATH] [--quick]
#
# --backend flex --quick runs the same sequence on the CPU with tiny sizes: that is how
# the script itself is tested (crates/occlude-cli/tests/gpu_script.rs).
# A failing step is logged and the others go on; the exit status is that of the last
# failure (0 when all succeeded).
set -uo pipefail

OUT=""
BIN="target/release/occlude"
CACHE=""
BACKEND="cuda"
TORCH_REF=""
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --cache) CACHE=$2; shift 2 ;;
    --backend) BACKEND=$2; shift 2 ;;
    --torch-ref) TORCH_REF=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) OUT=$1; shift ;;
  esac
done
[ -n "$OUT" ] || { echo "usage: bench/gpu.sh OUT [--bin PATH] [--cache FILE] [--backend cuda|flex] [--quick]" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG="$OUT/log.txt"
STATUS=0
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG" >&2; }
run() {  # run CMD... appending stdout to the file named by $DEST
  log "+ $*"
  local start=$SECONDS
  "$@" >>"$DEST" 2>>"$LOG"
  local rc=$?
  [ $rc -eq 0 ] || { STATUS=$rc; log "failed ($rc) after $((SECONDS - start)) s: $*"; }
  log "  done in $((SECONDS - start)) s"
  return 0
}

if [ "$QUICK" = 1 ]; then
  MODEL=resnet8; BATCH=16; WARMUP=1; STEPS=2; TRAIN=200; TEST=100; SIDE=8
else
  MODEL=resnet18-cifar; BATCH=256; WARMUP=20; STEPS=50; TRAIN=50000; TEST=10000; SIDE=16
fi

# 1. Kernel cache.
if [ -n "$CACHE" ] && [ -f "$CACHE" ]; then
  log "restoring kernel cache $CACHE"
  tar xzf "$CACHE" -C "$HOME" 2>>"$LOG" || log "could not restore the cache"
fi

# Device description.
{
  date -u
  uname -a
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  nproc
} >"$OUT/device.txt" 2>&1
"$BIN" --version >>"$OUT/device.txt" 2>&1

# 2. Training step, plain and with each saliency method.
DEST="$OUT/train-step.jsonl"
for sal in none vanilla low-res early-loss; do
  run "$BIN" bench train-step --model "$MODEL" --batch "$BATCH" --input 3x32x32 --classes 10 \
    --warmup "$WARMUP" --steps "$STEPS" --backend "$BACKEND" --saliency "$sal"
done

# 3. One epoch, Cutout vs KeepCutout, on generated CIFAR-size data.
DATA="$OUT/data/cifar10"
DEST="$OUT/log.txt"
run "$BIN" data synth-cifar10 --out "$DATA" --train "$TRAIN" --test "$TEST"
cat >"$OUT/epoch.toml" <<EOF
name = "gpu-epoch"
seed = 0
epochs = 1
output_dir = "runs"

[data]
kind = "cifar10"
path = "$DATA"

[model]
arch = "$MODEL"

[optimizer]
lr = 0.1
momentum = 0.9
nesterov = true
weight_decay = 5e-4
batch_size = $BATCH

[schedule]
kind = "cosine"

[augment]
method = "cutout:n=1,s=$SIDE"
EOF
augments=(--augment "cutout:n=1,s=$SIDE" --augment "keep-cutout:n=1,s=$SIDE"
  --augment "keep-cutout:n=1,s=$SIDE,saliency=low-res" --augment "keep-cutout:n=1,s=$SIDE,saliency=early-loss")
if "$BIN" sample --augment "keep-cutout:s=4,saliency=reuse" --size 8x8 >/dev/null 2>&1; then
  augments+=(--augment "keep-cutout:n=1,s=$SIDE,saliency=reuse")
fi
DEST="$OUT/epoch.jsonl"
run "$BIN" bench epoch --config "$OUT/epoch.toml" --backend "$BACKEND" --out "$OUT/runs" "${augments[@]}"

# 4. PyTorch on the same device.
if [ -z "$TORCH_REF" ]; then
  for p in ../shared/bench/torch_ref.py shared/bench/torch_ref.py; do
    [ -f "$p" ] && TORCH_REF=$p && break
  done
fi
DEST="$OUT/torch.jsonl"
if [ "$BACKEND" = cuda ] && [ -n "$TORCH_REF" ] && python3 -c 'import torch' 2>/dev/null; then
  run python3 "$TORCH_REF" "$BATCH"
else
  log "PyTorch reference skipped (backend $BACKEND, script '${TORCH_REF:-not found}')"
fi

# 5. Kernel cache for the next machine.
if [ -d "$HOME/.cache/cubecl" ]; then
  tar czf "$OUT/cubecl-cache.tgz" -C "$HOME" .cache/cubecl 2>>"$LOG" && log "saved the kernel cache"
fi
rm -rf "$OUT/data" "$OUT/runs"
log "finished with status $STATUS; results in $OUT"
exit "$STATUS"
