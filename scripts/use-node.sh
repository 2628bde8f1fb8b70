# Sourced by the README's commands after scripts/setup.sh: when setup linked Node 24 from the venv
# (the machine's node being older), put it first on PATH so npm, npx, the tests and every process
# the CLI spawns (process.execPath) run on it.
_node_bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.state/node/bin"
if [[ -x "$_node_bin/node" && ":$PATH:" != *":$_node_bin:"* ]]; then
  export PATH="$_node_bin:$PATH"
fi
unset _node_bin
