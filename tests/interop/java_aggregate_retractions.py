#!/usr/bin/env python3
"""Java Paimon 0.9: how the `aggregation` merge engine handles retractions (-U / -D) per aggregate function.

Run with the Java oracle's interpreter, one JVM for everything:

    O=$HOME/.cache/paimon-oracles
    ORACLES=$O $O/java/bin/python tests/interop/java_aggregate_retractions.py WAREHOUSE [--only FUNC[,FUNC..]] [--variant opfield|api]

WAREHOUSE must not exist yet or be empty (every table is created fresh; nothing is written outside it).
Prints one JSON object per (function, scenario, commits, variant):
  {"function", "scenario", "commits": "per-commit"|"one-commit"|"per-commit+full-compact", "variant", "options",
   "rows": [[op, v], ...]           the input rows in order
   "reads": [...]                   one entry per commit (per-commit+full-compact: the rows one by one, then a
                                    last commit that is a full compaction of the bucket): the rows read after it (list of {"id","v"[,"_op"]}),
                                    or {"error": ..., "stage": "write"|"read"}
   "result": [...] | absent         rows after the last commit (id=1 only row or [] if the key is absent)
   "error": {...} | absent          first error: {"stage": "create"|"write"|"read", "commit": n, "message": ...}}
Variants:
  opfield  table option rowkind.field=_op; `_op STRING` is a stored value column (default aggregate function
           last_non_null_value) and Java takes each row's kind from it (this is how java_paimon.py writes).
  api      no _op column; the RowKind is set on the row through the Java API.
Each table: id BIGINT NOT NULL primary key, v <type>, bucket=1, merge-engine=aggregation,
fields.v.aggregate-function=<function> (+ extra options).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLES = os.environ.get('ORACLES') or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(sys.executable))))
os.environ.setdefault('_PYPAIMON_HADOOP_CLASSPATH', os.path.join(ORACLES, 'hadoop_jars', '*'))
os.environ.setdefault('_PYPAIMON_JVM_ARGS', '--add-opens=java.base/java.nio=ALL-UNNAMED -XX:-UsePerfData')

from pypaimon.py4j import Catalog  # noqa: E402
from pypaimon.py4j.java_gateway import get_gateway  # noqa: E402
from pypaimon.py4j.util import java_utils  # noqa: E402
from py4j.java_collections import ListConverter  # noqa: E402
from py4j.protocol import Py4JJavaError  # noqa: E402

# ---------------------------------------------------------------- cases
VALUES = {
    'INT': {'A': 2, 'B': 3, 'C': 5},
    'STRING': {'A': 'a', 'B': 'b', 'C': 'c'},
    'BOOLEAN': {'A': True, 'B': False, 'C': True},
    'ARRAY<STRING>': {'A': ['x', 'y'], 'B': ['y', 'z'], 'C': ['w']},
    'MAP<STRING,INT>': {'A': {'k': 1}, 'B': {'k': 2, 'j': 5}, 'C': {'m': 7}},
}
# (label, function, type, extra options)
FUNCTIONS = [
    ('sum', 'sum', 'INT', {}),
    ('product', 'product', 'INT', {}),
    ('max', 'max', 'INT', {}),
    ('min', 'min', 'INT', {}),
    ('last_value', 'last_value', 'STRING', {}),
    ('last_non_null_value', 'last_non_null_value', 'STRING', {}),
    ('first_value', 'first_value', 'STRING', {}),
    ('first_non_null_value', 'first_non_null_value', 'STRING', {}),
    ('listagg', 'listagg', 'STRING', {}),
    ('bool_and', 'bool_and', 'BOOLEAN', {}),
    ('bool_or', 'bool_or', 'BOOLEAN', {}),
    ('collect', 'collect', 'ARRAY<STRING>', {}),
    ('collect_distinct', 'collect', 'ARRAY<STRING>', {'fields.v.distinct': 'true'}),
    ('merge_map', 'merge_map', 'MAP<STRING,INT>', {}),
    ('max_ignore_retract', 'max', 'INT', {'fields.v.ignore-retract': 'true'}),
    ('listagg_ignore_retract', 'listagg', 'STRING', {'fields.v.ignore-retract': 'true'}),
]
SCENARIOS = [
    ('S1', [('+I', 'A'), ('+I', 'B'), ('-U', 'A')]),
    ('S2', [('-U', 'A'), ('+I', 'A'), ('+I', 'B')]),
    ('S3', [('+I', 'A'), ('-D', 'A')]),
    ('S4', [('+I', 'A'), ('+I', 'B'), ('-U', 'B'), ('+U', 'C')]),
    ('S5', [('-U', 'A'), ('+I', 'B')]),       # a key that starts with only a retraction
    ('S5d', [('-D', 'A'), ('+I', 'B')]),
    # S5 with a full compaction (its own commit) between the lone retraction and the insert;
    # in one-commit mode the COMPACT step is left out (so that mode equals S5's)
    ('S5c', [('-U', 'A'), ('COMPACT', None), ('+I', 'B')]),
    # S1 with a full compaction after the two inserts (the retraction then meets one compacted row)
    ('S1c', [('+I', 'A'), ('+I', 'B'), ('COMPACT', None), ('-U', 'A')]),
]

# ---------------------------------------------------------------- Java plumbing
gw = get_gateway()
jvm = gw.jvm
P = jvm.org.apache.paimon
DT = P.types.DataTypes


def jtype(t):
    return {'INT': DT.INT(), 'STRING': DT.STRING(), 'BOOLEAN': DT.BOOLEAN(),
            'ARRAY<STRING>': DT.ARRAY(DT.STRING()), 'MAP<STRING,INT>': DT.MAP(DT.STRING(), DT.INT())}[t]


def conv_list(xs):
    return ListConverter().convert(xs, gw._gateway_client)


def write_value(w, pos, t, x):
    if x is None:
        w.setNullAt(pos)
    elif t == 'INT':
        w.writeInt(pos, x)
    elif t == 'BOOLEAN':
        w.writeBoolean(pos, x)
    elif t == 'STRING':
        w.writeString(pos, P.data.BinaryString.fromString(x))
    elif t == 'ARRAY<STRING>':
        arr = gw.new_array(jvm.java.lang.Object, len(x))
        for i, e in enumerate(x):
            arr[i] = P.data.BinaryString.fromString(e)
        w.writeArray(pos, P.data.GenericArray(arr), P.data.serializer.InternalArraySerializer(DT.STRING()))
    elif t == 'MAP<STRING,INT>':
        hm = jvm.java.util.LinkedHashMap()
        for k, v in x.items():
            hm.put(P.data.BinaryString.fromString(k), v)
        w.writeMap(pos, P.data.GenericMap(hm), P.data.serializer.InternalMapSerializer(DT.STRING(), DT.INT()))
    else:
        raise ValueError(t)


def make_row(t, key, op, x, with_op):
    n = 3 if with_op else 2
    row = P.data.BinaryRow(n)
    w = P.data.BinaryRowWriter(row)
    w.writeRowKind(P.types.RowKind.fromShortString(op))
    w.writeLong(0, key)
    write_value(w, 1, t, x)
    if with_op:
        w.writeString(2, P.data.BinaryString.fromString(op))
    w.complete()
    return row


def read_value(r, pos, t):
    if r.isNullAt(pos):
        return None
    if t == 'INT':
        return r.getInt(pos)
    if t == 'BOOLEAN':
        return r.getBoolean(pos)
    if t == 'STRING':
        return r.getString(pos).toString()
    if t == 'ARRAY<STRING>':
        a = r.getArray(pos)
        return [None if a.isNullAt(i) else a.getString(i).toString() for i in range(a.size())]
    if t == 'MAP<STRING,INT>':
        m = r.getMap(pos)
        ka, va = m.keyArray(), m.valueArray()
        out = {}
        for i in range(m.size()):
            out[None if ka.isNullAt(i) else ka.getString(i).toString()] = None if va.isNullAt(i) else va.getInt(i)
        return dict(sorted(out.items(), key=lambda kv: (kv[0] is None, kv[0] or '')))
    raise ValueError(t)


def read_table(jt, t, with_op):
    rb = jvm.InvocationUtil.getReadBuilder(jt)
    splits = rb.newScan().plan().splits()
    tr = rb.newRead()
    out = []
    for sp in splits:
        it = P.reader.RecordReaderIterator(tr.createReader(sp))
        try:
            while it.hasNext():
                r = it.next()
                d = {'id': r.getLong(0), 'v': read_value(r, 1, t)}
                if with_op:
                    d['_op'] = None if r.isNullAt(2) else r.getString(2).toString()
                kind = r.getRowKind().shortString()
                if kind != '+I':
                    d['rowkind'] = kind
                out.append(d)
        finally:
            it.close()
    return sorted(out, key=lambda d: d['id'])


def java_error(e):
    """'Class: message' of the Java exception and of its root cause."""
    if isinstance(e, Py4JJavaError):
        je = e.java_exception
        top = je.toString()
        root = je
        while root.getCause() is not None and not root.getCause().equals(root):
            root = root.getCause()
        msg = {'message': top}
        if not root.equals(je):
            msg['root'] = root.toString()
        return msg
    return {'message': '%s: %s' % (type(e).__name__, e)}


def run_case(cat, name, label, func, t, extra, scen, rows, mode, variant):
    with_op = variant == 'opfield'
    opts = {'bucket': '1', 'merge-engine': 'aggregation', 'fields.v.aggregate-function': func}
    if with_op:
        opts['rowkind.field'] = '_op'
    opts.update(extra)
    res = {'function': label, 'scenario': scen, 'commits': mode, 'variant': variant,
           'options': opts, 'rows': [[op, VALUES[t].get(x)] for op, x in rows]}
    ident = java_utils.to_j_identifier('db.' + name)
    try:
        b = P.schema.Schema.newBuilder()
        b.column('id', DT.BIGINT().notNull())
        b.column('v', jtype(t))
        if with_op:
            b.column('_op', DT.STRING())
        b.primaryKey(conv_list(['id']))
        for k, v in opts.items():
            b.option(k, v)
        cat._j_catalog.createTable(ident, b.build(), False)
        jt = cat._j_catalog.getTable(ident)
    except Exception as e:  # noqa
        res['error'] = dict(stage='create', **java_error(e))
        return res
    if mode == 'one-commit':
        batches = [[r for r in rows if r[0] != 'COMPACT']]
    else:
        batches = ['COMPACT' if r[0] == 'COMPACT' else [r] for r in rows]
    if mode == 'per-commit+full-compact':
        batches.append('COMPACT')
    reads = []
    for i, batch in enumerate(batches, 1):
        wb = jvm.InvocationUtil.getBatchWriteBuilder(jt)
        w = wb.newWrite()
        try:
            if batch == 'COMPACT':
                w.compact(P.data.BinaryRow.EMPTY_ROW, 0, True)
            else:
                for op, x in batch:
                    w.write(make_row(t, 1, op, VALUES[t][x], with_op))
            msgs = w.prepareCommit()
            c = wb.newCommit()
            c.commit(msgs)
            c.close()
        except Exception as e:  # noqa
            err = dict(stage='write', commit=i, **java_error(e))
            reads.append({'error': err})
            res.setdefault('error', err)
            try:
                w.close()
            except Exception:  # noqa
                pass
            continue
        w.close()
        try:
            reads.append(read_table(jt, t, with_op))
        except Exception as e:  # noqa
            err = dict(stage='read', commit=i, **java_error(e))
            reads.append({'error': err})
            if i == len(batches):
                res.setdefault('error', err)
    res['reads'] = reads
    if 'error' not in reads[-1]:
        res['result'] = reads[-1]
    return res


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('warehouse')
    ap.add_argument('--only', default='', help='comma-separated function labels')
    ap.add_argument('--scenario', default='', help='comma-separated scenario names')
    ap.add_argument('--variant', default='opfield,api')
    a = ap.parse_args()
    only = set(x for x in a.only.split(',') if x)
    scens = set(x for x in a.scenario.split(',') if x)
    os.makedirs(a.warehouse, exist_ok=True)
    cat = Catalog.create({'warehouse': os.path.abspath(a.warehouse)})
    cat.create_database('db', True)
    for variant in a.variant.split(','):
        for label, func, t, extra in FUNCTIONS:
            if only and label not in only:
                continue
            for scen, rows in SCENARIOS:
                if scens and scen not in scens:
                    continue
                for mode in ('per-commit', 'one-commit', 'per-commit+full-compact'):
                    short = {'per-commit': 'pc', 'one-commit': 'oc', 'per-commit+full-compact': 'pcfc'}[mode]
                    name = '%s_%s_%s_%s' % (label, scen, short, variant)
                    print(json.dumps(run_case(cat, name, label, func, t, extra, scen, rows, mode, variant),
                                     sort_keys=True), flush=True)


if __name__ == '__main__':
    main()
