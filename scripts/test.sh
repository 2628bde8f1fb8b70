#!/usr/bin/env bash
# The test command of the README (`npm test`): installs what is missing, then lint, types, all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/use-node.sh
echo "[test] node $(node --version)" >&2
echo "[test] lint (biome)" >&2
npx biome check .
echo "[test] typecheck (tsc)" >&2
npx tsc --noEmit
npx tsc -p api/viewer/tsconfig.json   # the viewer's browser scripts (plain JS with JSDoc types)
echo "[test] vitest" >&2
npx vitest run "$@"
