#!/usr/bin/env bash
# Packs what the GPU device machine lacks (it has CUDA, PyTorch, g++ and CMake, no Node) into .device/ for `run`'s
# carry: this machine's Node binary (glibc-only dependencies, so it runs there) and the N-API headers, xz-compressed.
# Run here, then carry .device, dist and node_modules/node-addon-api (scripts/device/gpu-check.sh says how).
set -euo pipefail
cd "$(dirname "$0")/../.."
node_bin=$(readlink -f "$(command -v node)")
headers=$(node -p "require('path').join(process.execPath, '../../include/node')")
[ -f "$headers/node_api.h" ] || headers=/usr/include/node
[ -f "$headers/node_api.h" ] || { echo "pack-node: no node_api.h next to $node_bin or in /usr/include/node" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/node/bin" "$stage/node/include/node" .device
cp "$node_bin" "$stage/node/bin/node"
cp "$headers"/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} "$stage/node/include/node/"
tar -C "$stage" -cJf .device/node.tar.xz node
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
echo "pack-node: .device/node.tar.xz ($(du -h .device/node.tar.xz | cut -f1)) holds node $(node --version) and the N-API headers"
