#!/usr/bin/env bash
# The README's demo command (`npm run demo`): installs what is missing, then runs the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/use-node.sh
node bin/cgm.mjs demo "$@"
