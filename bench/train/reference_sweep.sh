#!/bin/bash
# Runs many PyTorch reference trainings (bench/train/small_images_reference.py) side by side, e.g. on a GPU machine,
# to compare recipes and seeds quickly. The reference's results do not depend on the device beyond numerics: run 6's
# configuration gave 92.29% on this machine's CPU and 92.26% on an H200 (seed 0).
#
# usage: bench/train/reference_sweep.sh LIST PARALLEL LIMIT_SECONDS
#   LIST: lines 'NAME ARGS...' (ARGS for small_images_reference.py; '#' lines are skipped), e.g.
#         bench/train/sweeps/fashion-mnist-1.list. Those lists read the data from .devdata/ (Debian's Fashion-MNIST
#         .gz files in .devdata/fashion-mnist, the CIFAR-10 tar and runs/cifar-split.json copied into .devdata/).
#   PARALLEL: runs at a time; LIMIT_SECONDS: the whole sweep is stopped after this long.
# env: DEV (torch device, default cuda), PY (python, default python3), OUT (results folder, default /tmp/out),
#      LOGS (per-run logs and metrics.csv folders, default /tmp/sweep).
# Writes OUT/summary.jsonl (one line per run: its final JSON summary, or its last finished epoch when stopped) and
# OUT/logs.tar.gz (every run's log and metrics.csv). Each run uses 1 thread and 1 loader worker, --init effnet.
set -u
LIST=$1; PAR=$2; LIMIT=$3
DEV=${DEV:-cuda}; PY=${PY:-python3}; OUTDIR=${OUT:-/tmp/out}; LOGS=${LOGS:-/tmp/sweep}
mkdir -p "$LOGS" "$OUTDIR"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
run_one() {
  name=$1; shift
  "$PY" bench/train/small_images_reference.py --device "$DEV" --threads 1 --workers 1 --init effnet --out "$LOGS/$name" "$@" > "$LOGS/$name.log" 2>&1
  last=$(tail -1 "$LOGS/$name.log" | grep '^{"reference"'); echo "{\"run\":\"$name\",\"args\":\"$*\",\"last\":${last:-null}}" >> "$OUTDIR/summary.jsonl"
}
export -f run_one; export LOGS OUTDIR DEV PY
grep -v '^#' "$LIST" | grep . | timeout "$LIMIT" xargs -P "$PAR" -L 1 bash -c 'run_one "$@"' _
echo "sweep ended rc=$?"
while read -r name _; do
  [ -f "$LOGS/$name.log" ] || continue
  grep -q "\"run\":\"$name\"" "$OUTDIR/summary.jsonl" 2>/dev/null ||
    { epoch=$(grep '^{"epoch"' "$LOGS/$name.log" | tail -1); echo "{\"run\":\"$name\",\"unfinished\":true,\"lastEpoch\":${epoch:-null}}" >> "$OUTDIR/summary.jsonl"; }
done < <(grep -v '^#' "$LIST" | grep .)
tar czf "$OUTDIR/logs.tar.gz" -C "$LOGS" .
cat "$OUTDIR/summary.jsonl"
