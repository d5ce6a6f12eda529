//! The table lifecycle subcommands: `expire-snapshots`, `rollback`, `remove-orphan-files`.

use dyntable_storage::{Error, ExpireConfig, Result, RollbackTarget};

use super::Cx;

pub(super) fn parse_older_than(t: &str) -> Result<i64> {
    Ok(dyntable_storage::datum::parse_timestamp(t).map_err(|e| Error::invalid(format!("--older-than `{t}`: {e}")))?.0)
}

pub(super) async fn rollback(cx: &mut Cx, table: &str, target: RollbackTarget) -> Result<()> {
    let t = cx.table(table).await?;
    let r = t.rollback_to(target).await?;
    let mut out = format!(
        "rolled back {table} to snapshot {}; removed snapshots {:?}, tags {:?}; deleted {} data files, {} changelog files, {} manifest files",
        r.snapshot, r.removed_snapshots, r.removed_tags, r.deleted_data_files, r.deleted_changelog_files, r.deleted_manifests
    );
    if let Some(tag) = &r.recreated_from_tag {
        out.push_str(&format!("; snapshot {} recreated from tag `{tag}`", r.snapshot));
    }
    for c in &r.reset_consumers {
        out.push_str(&format!(
            "\nconsumer `{}` reset from snapshot {} to {}: it had read past the target",
            c.consumer, c.from_snapshot, c.to_snapshot
        ));
    }
    cx.emit(&out)
}

pub(super) async fn remove_orphan_files(
    cx: &mut Cx,
    table: &str,
    older_than: Option<i64>,
    dry_run: bool,
) -> Result<()> {
    let t = cx.table(table).await?;
    let r = t.remove_orphan_files(older_than, dry_run).await?;
    let mut out = String::new();
    for f in &r.orphans {
        out.push_str(&format!("{} {}\n", if dry_run { "would delete" } else { "deleted" }, f.path));
    }
    out.push_str(&format!(
        "{} orphan files ({} bytes) in {table}{}; {} unreferenced files kept as younger than the cutoff",
        r.orphans.len(),
        r.bytes,
        if dry_run { ", dry run: nothing deleted" } else { "" },
        r.kept_young
    ));
    cx.emit(&out)
}

pub(super) async fn expire_snapshots(cx: &mut Cx, table: &str, config: &ExpireConfig) -> Result<()> {
    let t = cx.table(table).await?;
    let r = t.expire_snapshots_report(config).await?;
    let earliest = r.earliest.map_or("none".to_string(), |e| e.to_string());
    cx.emit(&format!(
        "expired {} snapshots of {table} (earliest snapshot now {earliest}); deleted {} data files, {} changelog files, {} manifest files",
        r.expired_snapshots, r.deleted_data_files, r.deleted_changelog_files, r.deleted_manifests
    ))
}
