#!/usr/bin/env python3
"""Write a pypaimon 2.1 primary-key table with `changelog-producer=input` for dyntable's change-reading tests.

Usage: $ORACLES/py/bin/python write_pypaimon_changes.py WAREHOUSE
Creates db_py.inp (primary key (id, dt), partitioned by dt, bucket 2, row kinds through rowkind.field `_op`,
changelog-producer input) with four commits: inserts, updates and a delete, more updates, deletes; each key at
most once per commit (pypaimon folds same-key rows of a batch).
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
    schema = pa.schema([pa.field('id', pa.int64(), nullable=False), ('v', pa.string()),
                        pa.field('dt', pa.string(), nullable=False), ('_op', pa.string())])
    cat.create_table('db_py.inp', Schema.from_pyarrow_schema(
        schema, partition_keys=['dt'], primary_keys=['id', 'dt'],
        options={'bucket': '2', 'rowkind.field': '_op', 'changelog-producer': 'input',
                 'metadata.stats-mode': 'full'}), False)
    t = cat.get_table('db_py.inp')
    row = lambda i, v, op: dict(id=i, v=v, dt='d%d' % (i % 2), _op=op)  # noqa: E731
    commit(t, [row(i, 'a%d' % i, '+I') for i in range(8)], schema)
    commit(t, [row(1, 'b1', '+U'), row(2, 'a2', '-D'), row(8, 'a8', '+I')], schema)
    commit(t, [row(1, 'c1', '+U'), row(3, 'b3', '+U'), row(9, 'a9', '+I')], schema)
    commit(t, [row(4, 'a4', '-D'), row(8, 'a8', '-D')], schema)
    print('wrote db_py.inp')


if __name__ == '__main__':
    main(sys.argv[1])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
