#!/usr/bin/env python3
"""Many Java Paimon 0.9 reads in one JVM (each java_paimon.py start costs about 10 s).

Usage: $ORACLES/java/bin/python java_reads.py WAREHOUSE REQUESTS.json
REQUESTS.json is a list of {"db": DB, "table": TABLE, "options": {K: V}}; prints one JSON object per request, in
order: {"lines": [sorted canonical rows]} or {"error": message} (a read error, e.g. an invalid range).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from java_paimon import read  # noqa: E402
from read_pypaimon import to_lines  # noqa: E402


def main(wh, path):
    with open(path) as f:
        requests = json.load(f)
    for r in requests:
        try:
            out = {'lines': to_lines(read(wh, r['db'], r['table'], None, r.get('options') or {}))}
        except Exception as e:  # noqa
            out = {'error': ' | '.join(l.strip() for l in str(e).strip().splitlines()[:3])[:600]}
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    os._exit(0)
