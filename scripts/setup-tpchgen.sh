#!/usr/bin/env bash
# Installs tpchgen-cli 4.0.0 (the TPC-H data generator, from the Python package index) into a venv for
# dyntable-bench-sql's TPC-H queries: $DIR/venv/bin/tpchgen-cli, where the benchmark looks by default.
# Usage: scripts/setup-tpchgen.sh [DIR]     (default: $HOME/.cache/tpchgen). Idempotent.
set -euo pipefail
dir=${1:-$HOME/.cache/tpchgen}
command -v python3 >/dev/null || { echo "setup-tpchgen: python3 is required" >&2; exit 1; }
mkdir -p "$dir"
if [[ ! -x "$dir/venv/bin/tpchgen-cli" ]]; then
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install -q tpchgen-cli==4.0.0
fi
"$dir/venv/bin/tpchgen-cli" --version
