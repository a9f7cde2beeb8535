#!/usr/bin/env bash
# Builds the libtorch binding with g++ alone (no node-gyp, no Python build tools), the way binding.gyp does, against
# LIBTORCH (a libtorch distribution or a pip torch folder; Debian's libtorch-dev without it). For the GPU device
# machine, where the addon must be built against its own torch. Usage:
#   scripts/device/build-addon.sh OUT.node [NODE_HEADERS_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?the .node file to write}
node_headers=${2:-$(node -p "require('path').join(process.execPath, '../../include/node')")}
[ -f "$node_headers/node_api.h" ] || node_headers=/usr/include/node
napi=$(node -p "require('node-addon-api').include_dir")
config=native/libtorch-config.cjs
read -r -a includes <<<"$(node $config --include)"
read -r -a libs <<<"$(node $config --libs)"
read -r -a defines <<<"$(node $config --defines)"
flags=(-std=c++17 -O2 -fPIC -fexceptions -frtti -Wno-unused-parameter -Wno-deprecated-declarations
  -DNAPI_VERSION=8 -DUSE_C10D_GLOO -DNAPI_CPP_EXCEPTIONS -DNODE_ADDON_API_CPP_EXCEPTIONS_ALL
  "${defines[@]/#/-D}" -I"$node_headers" -I"$napi" "${includes[@]/#/-I}")
objects=$(mktemp -d)
sources=(addon tensor_handle operator_call autograd errors distributed device)
echo "build-addon: $(node $config --json | tr -d '\n ' | cut -c1-300)"
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -I{} sh -c 'g++ "$@" -c native/src/{}.cc -o '"$objects"'/{}.o || exit 255' _ "${flags[@]}"
g++ -shared -o "$out" "$objects"/*.o "${libs[@]}"
rm -rf "$objects"
echo "build-addon: wrote $out"
