#!/usr/bin/env bash
# The GPU check of issue 15, for one `run` call on the device machine (docs/engine.md; nothing here needs Node or
# libtorch from this machine). Prepare here:  npx tsc -p . && bash scripts/device/pack-node.sh
# then call run with carry [".device", "dist", "node_modules/node-addon-api"] and the command
#   bash scripts/device/gpu-check.sh
# It unpacks Node, builds the binding against the device's own torch (LIBTORCH = its package folder), then runs the
# GPU tests and the training-step benchmarks, writing every log to $OUT (build.log, tests.log, bench-*.txt). Each
# stage goes on after the one before only if that one worked; the last lines printed say where it stopped.
# Rehearse on a CPU machine with:
#   OUT=/tmp/out EFFNET_GPU_CHECK_DEVICE=cpu EFFNET_GPU_CHECK_PYTHON=/usr/bin/python3 LIBTORCH= bash scripts/device/gpu-check.sh
# (it then rebuilds native/build/Release/effnet_torch.node with g++ against Debian's libtorch).
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:?OUT: the folder whose files come back}
device=${EFFNET_GPU_CHECK_DEVICE:-cuda:0}
python=${EFFNET_GPU_CHECK_PYTHON:-python3}
started=$(date +%s)
stage() { echo "== $(( $(date +%s) - started )) s: $*"; }

stage "node"
if ! command -v node >/dev/null || [ -f .device/node.tar.xz ]; then
  mkdir -p /tmp/effnet-node && tar -xJf .device/node.tar.xz -C /tmp/effnet-node || { echo "no .device/node.tar.xz: run scripts/device/pack-node.sh and carry .device"; exit 1; }
  export PATH=/tmp/effnet-node/node/bin:$PATH
  headers=/tmp/effnet-node/node/include/node
else
  headers=
fi
node --version
command -v nvidia-smi >/dev/null && nvidia-smi > "$out/nvidia-smi.txt" 2>&1

stage "libtorch"
if [ -z "${LIBTORCH+x}" ]; then
  LIBTORCH=$("$python" -c "import torch, os; print(os.path.dirname(torch.__file__))") || { echo "$python has no torch"; exit 1; }
  export LIBTORCH
fi
node native/libtorch-config.cjs --json | tee "$out/libtorch-config.json" || exit 1
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'devices', torch.cuda.device_count())" 2>&1 | tee "$out/torch.txt"

stage "build the binding (log: build.log)"
mkdir -p native/build/Release
if ! bash scripts/device/build-addon.sh native/build/Release/effnet_torch.node $headers > "$out/build.log" 2>&1; then
  grep -m 40 -E "error|Error" "$out/build.log"
  echo "the build failed: build.log holds every compiler message (the binding was written against libtorch 1.13)"
  exit 1
fi
node --input-type=module -e "import { cudaDeviceCount, libtorchVersion } from './dist/src/torch/index.js'; console.log('binding on libtorch', libtorchVersion(), 'sees', cudaDeviceCount(), 'CUDA device(s)')" || exit 1

stage "tests (log: tests.log)"
node --test --test-concurrency=1 dist/test/torch/cuda.test.js dist/test/torch/device.test.js dist/test/optim/grad-scaler.test.js \
  dist/test/train/trainer.test.js > "$out/tests.log" 2>&1
grep -E "^# (tests|pass|fail|skipped)|^not ok" "$out/tests.log"

stage "benchmarks (bench-*.txt)"
timeout 240 node dist/bench/gpu/train-step.bench.js --device "$device" --model b0 --batch 64 --size 224 --amp bf16 --rounds 2 --python "$python" > "$out/bench-b0-bf16.txt" 2>&1; tail -1 "$out/bench-b0-bf16.txt"
timeout 120 node dist/bench/gpu/train-step.bench.js --device "$device" --model small --batch 128 --size 32 --amp none --rounds 2 --python "$python" > "$out/bench-small-fp32.txt" 2>&1; tail -1 "$out/bench-small-fp32.txt"
stage "done"
