#!/usr/bin/env bash
# Runs the whole test suite with node's built-in runner on the compiled tests.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find dist/test -name '*.test.js' | sort)
if [ ${#files[@]} -eq 0 ]; then echo "no test files under dist/test"; exit 1; fi
exec node --test --test-concurrency=1 "${files[@]}"
