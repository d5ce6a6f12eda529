#!/usr/bin/env python3
"""The compaction benchmark's workload (issue 3) written by Java Paimon 0.9, measured by dyntable.

For each workload it
1. has `dyntable-bench-compaction --emit-jsonl` write the workload as JSON-lines files, one per commit (the
   very rows dyntable's benchmark ingests: same generator, seed and sizes);
2. creates the table with Java Paimon 0.9 (`tests/interop/java_paimon.py create`: same schema, primary key
   `id`, `bucket=1`, the same `--option`s, otherwise Paimon's defaults);
3. writes all files with `java_paimon.py write` in one JVM, one commit per file (Java compacts as it writes);
4. measures the table with `dyntable-bench-compaction --measure-table`: write amplification from the
   manifests (`manifest_write_stats`) and the sorted runs at every snapshot.

  python3 scripts/bench-java-compaction.py --rows 4000000 --keys 400000 --commit-every-rows 200000 --json /tmp/java.json

It runs the release build of `dyntable-bench-compaction` (`--bin`; build it with
`cargo build --release -p dyntable-benches --bin dyntable-bench-compaction`).
The oracles come from scripts/setup-oracles.sh ($HOME/.cache/paimon-oracles, or $DYNTABLE_ORACLES).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = 'id BIGINT NOT NULL, name STRING, a DOUBLE, b BIGINT, ts TIMESTAMP(6)'


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rows', type=int, default=20_000_000)
    ap.add_argument('--keys', type=int, default=2_000_000)
    ap.add_argument('--commit-every-rows', type=int, default=1_000_000)
    ap.add_argument('--workload', choices=['uniform', 'zipfian', 'both'], default='both')
    ap.add_argument('--option', action='append', default=[], help='table option k=v (repeatable)')
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--bin', default=os.path.join(os.environ.get('CARGO_TARGET_DIR', os.path.expanduser('~/.cache/dyntable-target')),
                                                  'release', 'dyntable-bench-compaction'))
    ap.add_argument('--oracles', default=os.environ.get('DYNTABLE_ORACLES', os.path.expanduser('~/.cache/paimon-oracles')))
    ap.add_argument('--dir', help='working directory (default: a fresh one under /tmp, removed at the end)')
    ap.add_argument('--keep', action='store_true', help='keep the working directory (tables; the JSON files are always removed)')
    ap.add_argument('--json', help='write the results as JSON to this file')
    a = ap.parse_args()

    workdir = a.dir or tempfile.mkdtemp(prefix='bench-java-compaction-')
    os.makedirs(workdir, exist_ok=True)
    java_python = os.path.join(a.oracles, 'java', 'bin', 'python')
    java_script = os.path.join(ROOT, 'tests', 'interop', 'java_paimon.py')
    env = dict(os.environ, ORACLES=a.oracles)
    wh = os.path.join(workdir, 'warehouse')
    gen_args = ['--rows', str(a.rows), '--keys', str(a.keys), '--commit-every-rows', str(a.commit_every_rows), '--seed', str(a.seed)]
    results = []
    try:
        for w in (['uniform', 'zipfian'] if a.workload == 'both' else [a.workload]):
            jsonl_dir = os.path.join(workdir, 'jsonl')
            t0 = time.monotonic()
            out = subprocess.run([a.bin, '--emit-jsonl', jsonl_dir, '--workload', w] + gen_args,
                                 check=True, capture_output=True, text=True).stdout
            files = [l for l in out.splitlines() if l.strip()]
            gen_s = time.monotonic() - t0
            print('%s: %d JSON-lines files in %.1fs' % (w, len(files), gen_s), file=sys.stderr)

            table = 'bench.%s_java' % w
            create = [java_python, java_script, 'create', wh, table, '--schema', SCHEMA, '--primary-key', 'id', '--option', 'bucket=1']
            for o in a.option:
                create += ['--option', o]
            subprocess.run(create, check=True, env=env)

            t0 = time.monotonic()
            subprocess.run([java_python, java_script, 'write', wh, table] + files, check=True, env=env)
            write_s = time.monotonic() - t0
            print('%s: Java wrote %d rows in %.1fs (%.0f rows/s, JSON parsing and JVM start included)'
                  % (w, a.rows, write_s, a.rows / write_s), file=sys.stderr)
            shutil.rmtree(jsonl_dir, ignore_errors=True)

            measure_json = os.path.join(workdir, '%s-measure.json' % w)
            subprocess.run([a.bin, '--measure-table', wh, table, '--json', measure_json], check=True)
            with open(measure_json) as f:
                m = json.load(f)
            results.append({'workload': w, 'table': table, 'java_write_s': write_s, 'java_rows_per_s': a.rows / write_s,
                            'commits': len(files), 'manifests': m})
    finally:
        shutil.rmtree(os.path.join(workdir, 'jsonl'), ignore_errors=True)
        if not a.dir and not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print('Java Paimon 0.9: %d rows over %d keys, %d rows per commit, options %s' % (a.rows, a.keys, a.commit_every_rows, a.option))
    for r in results:
        m = r['manifests']
        print('%-8s WA %.3f (manifests); sorted runs at APPEND snapshots max %d mean %.2f, at end of commit max %d mean %.2f; '
              '%d snapshots (%d COMPACT); write %.0f s'
              % (r['workload'], m['write_amplification'], m['sorted_runs_at_append_snapshots']['max'],
                 m['sorted_runs_at_append_snapshots']['mean'], m['sorted_runs_at_end_of_commit']['max'],
                 m['sorted_runs_at_end_of_commit']['mean'], m['snapshots'], m['compact_snapshots'], r['java_write_s']))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump({'rows': a.rows, 'keys': a.keys, 'commit_every_rows': a.commit_every_rows, 'seed': a.seed,
                       'options': a.option, 'workloads': results}, f, indent=2)


if __name__ == '__main__':
    main()
