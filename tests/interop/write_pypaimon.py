#!/usr/bin/env python3
"""Write Paimon tables with pypaimon 2.1 so dyntable's tests can read them.

Usage: $ORACLES/py/bin/python write_pypaimon.py WAREHOUSE
Creates db_py.pk (primary key (id, dt), partitioned by dt, bucket 2, row kinds through rowkind.field `_op`,
three commits of inserts, upserts and deletes) and db_py.append (unbucketed append table, two commits).
"""
import os
import sys

import pyarrow as pa
from pypaimon import CatalogFactory, Schema


def commit(table, rows, schema):
    wb = table.new_batch_write_builder()
    w = wb.new_write()
    c = wb.new_commit()
    w.write_arrow(pa.Table.from_pylist(rows, schema=schema))
    c.commit(w.prepare_commit())
    w.close()
    c.close()


def main(wh):
    cat = CatalogFactory.create({'warehouse': wh})
    cat.create_database('db_py', True)
    pk_schema = pa.schema([
        pa.field('id', pa.int64(), nullable=False), ('name', pa.string()), ('amount', pa.float64()),
        ('d', pa.date32()), pa.field('dt', pa.string(), nullable=False), ('_op', pa.string()),
    ])
    cat.create_table('db_py.pk', Schema.from_pyarrow_schema(
        pk_schema, partition_keys=['dt'], primary_keys=['id', 'dt'],
        options={'bucket': '2', 'rowkind.field': '_op', 'metadata.stats-mode': 'full'}), False)
    t = cat.get_table('db_py.pk')
    import datetime
    day = datetime.date(2024, 3, 1)
    commit(t, [dict(id=i, name='n%d' % i, amount=i * 1.5, d=day, dt='2024-01-0%d' % (1 + i % 2), _op='+I') for i in range(10)], pk_schema)
    commit(t, [dict(id=2, name='n2-new', amount=99.5, d=day, dt='2024-01-01', _op='+U'),
               dict(id=3, name=None, amount=None, d=None, dt='2024-01-02', _op='-D'),
               dict(id=11, name='n11', amount=11.0, d=day, dt='2024-01-02', _op='+I')], pk_schema)
    commit(t, [dict(id=4, name='n4', amount=6.0, d=day, dt='2024-01-01', _op='-D'),
               dict(id=12, name='n12', amount=None, d=None, dt='2024-01-01', _op='+I')], pk_schema)

    ap_schema = pa.schema([('k', pa.int32()), ('v', pa.string()), ('x', pa.float64())])
    cat.create_table('db_py.append', Schema.from_pyarrow_schema(ap_schema, options={}), False)
    t = cat.get_table('db_py.append')
    commit(t, [dict(k=i, v='v%d' % i, x=i / 4) for i in range(7)], ap_schema)
    commit(t, [dict(k=1, v='dup', x=None)], ap_schema)
    print('wrote db_py.pk and db_py.append')


if __name__ == '__main__':
    main(sys.argv[1])
    # Skip interpreter teardown: native threads of pyarrow/pypaimon sometimes abort the process there
    # ("terminate called without an active exception") after all work is done and flushed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
