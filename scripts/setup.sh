#!/usr/bin/env bash
# Idempotent set-up: Debian packages, npm dependencies, the native addon, TypeScript. Quick when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libtorch-dev >/dev/null 2>&1 || need+=(libtorch-dev)
dpkg -s libgloo-dev >/dev/null 2>&1 || need+=(libgloo-dev)
# libtorch-dev pulls in the reference BLAS (netlib), which runs libtorch's matmul and linear ~30x slower; OpenBLAS
# built on OpenMP takes over libblas.so.3 and shares libtorch's OpenMP threads (--threads governs both). docs/engine.md.
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || need+=(libopenblas0-openmp)
dpkg -s libjpeg62-turbo-dev >/dev/null 2>&1 || need+=(libjpeg62-turbo-dev)
dpkg -s python3-torchvision >/dev/null 2>&1 || need+=(python3-torchvision)
dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || need+=(dataset-fashion-mnist)
dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
# The hostile-input tests measure each command's peak memory with /usr/bin/time (test/hostile/harness.ts).
dpkg -s time >/dev/null 2>&1 || need+=(time)
# The experiment store's many-host backend: the tests start a throwaway server of their own (scripts/postgres-test-server.sh).
dpkg -s postgresql >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

export ONNXRUNTIME_NODE_INSTALL=skip
stamp=node_modules/.effnet-lock-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

addon=native/build/Release/effnet_torch.node
if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp native/libtorch-config.cjs -newer "$addon" 2>/dev/null | head -1)" ]; then
  echo "setup: building the native addon (libtorch binding)"
  npx --no-install node-gyp rebuild --directory native -j 2 >native-build.log 2>&1 || { tail -40 native-build.log; echo "setup: native build failed (full log: native-build.log)"; exit 1; }
fi

echo "setup: compiling TypeScript"
npx --no-install tsc -p .
