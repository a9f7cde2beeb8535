#!/bin/bash
# The found network of issue 23's real run through scale (phi = 1), train, export and predict (wall time per part).
set -e
cd /work/main
E="node dist/src/cli/main.js"
DATA='tar:../shared/data/cifar10-train.tar.gz,val=2000,train=6400'
part() { local name=$1; shift; local s=$(date +%s.%N); "$@"; local e=$(date +%s.%N); echo "$name $(echo "$e - $s" | bc) s (ended $(date -u +%H:%M:%S))" >> runs/real23.times; }
part scale $E scale --base runs/real23/best.json --phi 1 --num-classes 10 --write runs/real23-scaled.json > runs/real23-scale.log 2>&1
part train-scaled $E train --config runs/real23-scaled.json --data "$DATA" --epochs 30 --batch-size 128 --weight-decay 5e-4 \
  --threads 2 --workers 1 --eval-every 30 --out runs/real23-scaled-run > runs/real23-scaled-train.log 2>&1
part export $E export --checkpoint runs/real23-scaled-run --out runs/real23-scaled.onnx > runs/real23-export.log 2>&1
# eight hold-out images of the run (its split.json), as files
mkdir -p runs/real23-images
NAMES=$(python3 -c "import json; s=json.load(open('runs/real23-scaled-run/split.json')); print(' '.join(s['valNames'][:8]))")
tar -xzf ../shared/data/cifar10-train.tar.gz -C runs/real23-images $NAMES
part predict $E predict runs/real23-scaled.onnx $(for n in $NAMES; do echo runs/real23-images/$n; done) --top 1 > runs/real23-predict.log 2>&1
