#!/usr/bin/env bash
# Installs what dyntable's interop tests need, from the Python package index, into one directory:
#   $ORACLES/py           pypaimon 2.1.0 (pure Python) and pypaimon-rust 0.4.0 (the Rust `paimon` crate)
#   $ORACLES/java         pypaimon 0.2.0, which bundles Java Paimon 0.9.0 behind a py4j bridge (needs a JDK 17)
#   $ORACLES/hadoop_jars  the Hadoop client jars Java Paimon needs, taken from the pyspark source package
#   $ORACLES/s3           moto's S3 server, for the S3 warehouse tests
# Usage: scripts/setup-oracles.sh [ORACLES_DIR]     (default: $DYNTABLE_ORACLES or $HOME/.cache/paimon-oracles)
# Idempotent: a second run only checks.
set -euo pipefail
dir=${1:-${DYNTABLE_ORACLES:-$HOME/.cache/paimon-oracles}}
mkdir -p "$dir"
cd "$dir"

command -v python3 >/dev/null || { echo "setup-oracles: python3 (3.11) is required" >&2; exit 1; }
command -v java >/dev/null || { echo "setup-oracles: java (JDK 17) is required for the Java Paimon oracle" >&2; exit 1; }

if [[ ! -x py/bin/python ]] || ! py/bin/python -c 'import pypaimon, pypaimon_rust' 2>/dev/null; then
  python3 -m venv py
  py/bin/pip install -q pypaimon==2.1.0 pypaimon-rust==0.4.0
fi

if [[ ! -x java/bin/python ]] || ! java/bin/python -c 'import pypaimon.py4j' 2>/dev/null; then
  python3 -m venv java
  mkdir -p dl
  java/bin/pip download -q --no-deps -d dl pypaimon==0.2.0
  java/bin/pip install -q dl/pypaimon-0.2.0.tar.gz
fi
if [[ ! -e hadoop_jars/hadoop-client-runtime-3.5.0.jar ]]; then
  mkdir -p dl hadoop_jars
  java/bin/pip download -q --no-deps -d dl pyspark==4.3.0     # large source package; only 4 jars are kept
  tar xzf dl/pyspark-4.3.0.tar.gz -C hadoop_jars --strip-components=3 \
    pyspark-4.3.0/deps/jars/hadoop-client-api-3.5.0.jar pyspark-4.3.0/deps/jars/hadoop-client-runtime-3.5.0.jar \
    pyspark-4.3.0/deps/jars/jcl-over-slf4j-2.0.17.jar pyspark-4.3.0/deps/jars/slf4j-api-2.0.17.jar
  rm -f dl/pyspark-4.3.0.tar.gz
fi

if [[ ! -x s3/bin/python ]] || ! s3/bin/python -c 'import moto.server, werkzeug' 2>/dev/null; then
  python3 -m venv s3
  s3/bin/pip install -q "moto[server]>=5.2,<5.3"
fi
echo "oracles ready in $dir"
