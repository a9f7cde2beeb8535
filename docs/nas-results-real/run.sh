#!/bin/bash
# Issue 23's real run, in parts (each part's wall time logged to runs/real23.times).
set -e
cd /work/main
E="node dist/src/cli/main.js"
DATA='tar:../shared/data/cifar10-train.tar.gz,val=2000,train=6400'
T=3684544   # the space's base (4-stage b0) at 32 px, 10 classes: the MAC target = the base's MACs
part() { local name=$1; shift; local s=$(date +%s.%N); "$@"; local e=$(date +%s.%N); echo "$name $(echo "$e - $s" | bc) s (ended $(date -u +%H:%M:%S))" >> runs/real23.times; }
if [ ! -f runs/real23-sn/.done ]; then
  part supernet $E oneshot train --data "$DATA" --space docs/nas-results-fidelity/space4.json --out runs/real23-sn \
    --epochs 40 --batch-size 64 --sampling reinforce --target-macs $T --threads 2 --workers 1 --seed 0 \
    $( [ -f runs/real23-sn/last.safetensors ] && echo --resume ) > runs/real23-sn.log 2>&1
  touch runs/real23-sn/.done
fi
part nas $E nas --supernet runs/real23-sn --candidates 1000 --confirm 5 --budget 30ep --batch-size 128 \
  --recipe '{"weightDecay":0.0005}' --compare 3 --reward hard --target-macs $T --threads 2 --seed 0 \
  --db runs/real23.sqlite --name real23 > runs/real23-nas.log 2>&1
