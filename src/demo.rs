//! The `dyntable demo` job: a table in a local warehouse receiving a stream of upserts and deletes over
//! several commits, then scans, time travel and the snapshot list, printed as it goes.

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dyntable_storage::stream::{ChangeReader, StartFrom};
use dyntable_storage::{Result, ScanFrom};

use dyntable_storage::{Catalog, Identifier, TableSpec};

/// Deterministic pseudo-random numbers (xorshift) so the demo prints the same every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the demo and returns the text it prints.
pub async fn run(warehouse: &str, commits: usize, rows_per_commit: usize, mut out: impl FnMut(&str)) -> Result<()> {
    let catalog = Catalog::open(warehouse, true)?;
    let ident = Identifier::parse("demo.orders")?;
    catalog.drop_table(&ident, true).await?;
    let spec = TableSpec {
        schema: "id BIGINT NOT NULL, customer STRING, amount DOUBLE, updated_at TIMESTAMP(6), dt STRING NOT NULL"
            .into(),
        primary_key: vec!["id".into(), "dt".into()],
        partition: vec!["dt".into()],
        options: [("bucket".to_string(), "2".to_string()), ("log.system".to_string(), "embedded".to_string())].into(),
        comment: Some("dyntable demo".into()),
    };
    let table = catalog.create_table(&ident, &spec, false).await?;
    out(&format!("created table {ident} in warehouse `{warehouse}`: primary key (id, dt), partitioned by dt, 2 buckets, with a changelog"));
    let mut writer = table.writer().await?.with_row_kind_column(Some("_op".into()));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let days = ["2024-01-01", "2024-01-02"];
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("updated_at", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("dt", DataType::Utf8, false),
        Field::new("_op", DataType::Utf8, false),
    ]));
    let key_space = (rows_per_commit as u64 * 2).max(4);
    for c in 0..commits {
        let (mut ids, mut customers, mut amounts, mut ts, mut dts, mut ops) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for r in 0..rows_per_commit {
            let id = (rng.next() % key_space) as i64;
            let op = if c > 0 && rng.next().is_multiple_of(5) {
                "-D"
            } else if c > 0 {
                "+U"
            } else {
                "+I"
            };
            ids.push(id);
            customers.push(format!("customer-{}", rng.next() % 50));
            amounts.push((rng.next() % 100_000) as f64 / 100.0);
            ts.push(1_704_067_200_000_000i64 + (c * rows_per_commit + r) as i64 * 1_000_000);
            dts.push(days[(id % 2) as usize]);
            ops.push(op);
        }
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(customers)),
                Arc::new(Float64Array::from(amounts)),
                Arc::new(TimestampMicrosecondArray::from(ts)),
                Arc::new(StringArray::from(dts)),
                Arc::new(StringArray::from(ops)),
            ],
        )?;
        writer.write(&batch).await?;
        let id = writer.commit().await?;
        out(&format!(
            "commit {}: wrote {rows_per_commit} changes -> snapshot {}",
            c + 1,
            id.map(|i| i.to_string()).unwrap_or_else(|| "-".into())
        ));
    }
    drop(writer);
    // The stream side: the last commit's changes, read back from the changelog at the offsets the snapshots
    // recorded (what `dyntable tail DB.T --from snapshot:N` prints).
    let snapshots = table.snapshot_manager().all().await?;
    let last_append =
        snapshots.iter().rev().find(|s| s.commit_kind == dyntable_storage::CommitKind::Append).map_or(1, |s| s.id);
    let mut reader = ChangeReader::open(&table, StartFrom::FromSnapshot(last_append)).await?;
    let mut changes = Vec::new();
    while let Some(batch) = reader.try_next().await? {
        changes.push(batch.batch);
    }
    let offsets =
        snapshots.iter().find(|s| s.id == last_append).and_then(|s| s.log_offsets.clone()).unwrap_or_default();
    out(&format!(
        "
changelog: snapshot {last_append} recorded log offsets {offsets:?}; its {} changes read back from the log (first rows):",
        changes.iter().map(|b| b.num_rows()).sum::<usize>()
    ));
    if let Some(first) = changes.first() {
        out(&arrow::util::pretty::pretty_format_batches(&[first.slice(0, first.num_rows().min(5))])?.to_string());
    }
    let latest = table.scan_collect(&ScanFrom::Latest, None, None).await?;
    let rows: usize = latest.iter().map(|b| b.num_rows()).sum();
    out(&format!("\nlatest snapshot: {rows} live rows; first rows by id:"));
    let sorted = sort_by_id(&latest)?;
    out(&arrow::util::pretty::pretty_format_batches(&[sorted.slice(0, sorted.num_rows().min(8))])?.to_string());
    let first = table.scan_collect(&ScanFrom::Snapshot(1), None, None).await?;
    out(&format!("\ntime travel to snapshot 1: {} rows", first.iter().map(|b| b.num_rows()).sum::<usize>()));
    let filtered = table
        .scan_collect(
            &ScanFrom::Latest,
            Some(&["id".to_string(), "amount".to_string()]),
            Some(dyntable_storage::Predicate::eq("dt", dyntable_storage::Datum::String("2024-01-02".into()))),
        )
        .await?;
    let plan = table
        .plan(
            &ScanFrom::Latest,
            Some(&dyntable_storage::Predicate::eq("dt", dyntable_storage::Datum::String("2024-01-02".into()))),
        )
        .await?;
    out(&format!(
        "\nscan with dt = '2024-01-02', columns (id, amount): {} rows, {} of {} files pruned",
        filtered.iter().map(|b| b.num_rows()).sum::<usize>(),
        plan.prune.files_pruned,
        plan.prune.files_total
    ));
    let (compacted, metrics) = table.compact(true, None).await?;
    let after = table.scan_collect(&ScanFrom::Latest, None, None).await?;
    let wa =
        dyntable_storage::compact::manifest_write_stats(&table.snapshot_manager(), &table.manifest_store()).await?;
    out(&format!(
        "\nfull compaction -> snapshot {}: rewrote {} files into {} ({} bytes), {} live rows after it (before: {}); write amplification so far {:.2}",
        compacted.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
        metrics.files_rewritten,
        metrics.files_written,
        metrics.bytes_written(),
        after.iter().map(|b| b.num_rows()).sum::<usize>(),
        rows,
        wa.write_amplification()
    ));
    out("\nsnapshots:");
    for s in table.snapshot_manager().all().await? {
        out(&format!(
            "  {:>3} {:<9} total={:<6} delta={:<6} time={}",
            s.id,
            format!("{:?}", s.commit_kind).to_uppercase(),
            s.total_record_count.unwrap_or(0),
            s.delta_record_count.unwrap_or(0),
            dyntable_storage::datum::format_timestamp(s.time_millis, 0, 3)
        ));
    }
    Ok(())
}

fn sort_by_id(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(Schema::empty()));
    let all = arrow::compute::concat_batches(&schema, batches)?;
    if all.num_rows() == 0 {
        return Ok(all);
    }
    let idx = arrow::compute::sort_to_indices(all.column(0), None, None)?;
    Ok(arrow::compute::take_record_batch(&all, &idx)?)
}
