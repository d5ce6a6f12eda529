#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the Paimon oracles and an S3 server (scripts/setup-oracles.sh),
# starts the S3 server, and runs every test of every crate with the interop and S3 tests turned on.
# Build output is reused across runs in $CARGO_TARGET_DIR (default $HOME/.cache/dyntable-target).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/dyntable-target}
export DYNTABLE_ORACLES=${DYNTABLE_ORACLES:-$HOME/.cache/paimon-oracles}
scripts/setup-oracles.sh "$DYNTABLE_ORACLES"

# An S3-compatible server (moto, every request serialized so conditional puts are atomic).
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$DYNTABLE_ORACLES/s3/bin/python" tests/interop/s3_server.py 127.0.0.1 "$port" >"${TMPDIR:-/tmp}/dyntable-s3-$port.log" 2>&1 &
s3_pid=$!
trap 'kill $s3_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
curl -s -f -X PUT "http://127.0.0.1:$port/dyntable-test" >/dev/null
export DYNTABLE_S3_TEST_URL="s3://dyntable-test/warehouse"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1

# Gates: formatting, no import circle between a crate's modules, clippy with warnings as errors (the workspace lints
# in Cargo.toml and clippy.toml), then every test.
cargo fmt --all --check
python3 scripts/module-graph.py --quiet
cargo clippy --workspace --all-targets --features interop,s3 -- -D warnings
cargo test --workspace --all-targets --features interop,s3 "$@"
