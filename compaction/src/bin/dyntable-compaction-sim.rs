//! `dyntable-compaction-sim`: replays a key workload through the universal compaction picker on one modelled
//! bucket (no I/O, see `dyntable_compaction::sim`) and prints write, read and space amplification over time, or,
//! with `--compare`, a summary table of three workloads under several option variants.
//!
//! ```text
//! dyntable-compaction-sim --workload zipfian --rows 1000000 --every 20 --option compaction.size-ratio=10
//! dyntable-compaction-sim --compare
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;

use dyntable_compaction::sim::{
    SimConfig, SimSummary, Simulator, Workload, DEFAULT_SIM_ROW_BYTES, DEFAULT_SIM_WRITE_BUFFER_ROWS,
};
use dyntable_compaction::{CompactionOptions, TARGET_FILE_SIZE};

const USAGE: &str = "\
usage: dyntable-compaction-sim [flags]

  --workload uniform|zipfian|append   key distribution of the writes (default uniform)
  --keys N                            distinct keys for uniform and zipfian (default 200000)
  --rows N                            user writes in total (default 1000000)
  --write-buffer-rows N               writes per flush, merged by key before flushing (default 5000)
  --row-bytes N                       bytes per row on disk (default 100)
  --delete-fraction F                 fraction of writes that are deletes (default 0)
  --zipf-exponent F                   exponent of the zipfian workload (default 0.99)
  --seed N                            seed of the key generator (default 42)
  --compact-every N                   ask for a compaction every N flushes; stalls compact anyway (default 1)
  --option KEY=VALUE                  a table option, repeatable: num-sorted-run.compaction-trigger,
                                      num-sorted-run.stop-trigger, compaction.size-ratio,
                                      compaction.max-size-amplification-percent, num-levels, target-file-size
                                      (default target-file-size: one write buffer of rows)
  --every N                           print a line every N flushes (default: about 20 lines)
  --compare                           run uniform, zipfian and append under several option variants and print
                                      a summary table (the workload flags above still apply)
  --help                              this text
";

#[derive(Debug, Clone)]
struct Args {
    workload: Workload,
    keys: Option<u64>,
    rows: Option<u64>,
    write_buffer_rows: u64,
    row_bytes: u64,
    delete_fraction: f64,
    zipf_exponent: Option<f64>,
    seed: Option<u64>,
    compact_every: u64,
    table_options: BTreeMap<String, String>,
    every: Option<u64>,
    compare: bool,
}

fn parse_args(mut arguments: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        workload: Workload::Uniform,
        keys: None,
        rows: None,
        write_buffer_rows: DEFAULT_SIM_WRITE_BUFFER_ROWS,
        row_bytes: DEFAULT_SIM_ROW_BYTES,
        delete_fraction: 0.0,
        zipf_exponent: None,
        seed: None,
        compact_every: 1,
        table_options: BTreeMap::new(),
        every: None,
        compare: false,
    };
    while let Some(flag) = arguments.next() {
        let (flag, inline_value) = match flag.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (flag, None),
        };
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| arguments.next())
                .ok_or_else(|| format!("flag needs a value. flag=`{flag}`"))
        };
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--compare" => args.compare = true,
            "--workload" => args.workload = value()?.parse().map_err(|error| format!("{error}"))?,
            "--keys" => args.keys = Some(number(&flag, &value()?)?),
            "--rows" => args.rows = Some(number(&flag, &value()?)?),
            "--write-buffer-rows" => args.write_buffer_rows = number(&flag, &value()?)?,
            "--row-bytes" => args.row_bytes = number(&flag, &value()?)?,
            "--delete-fraction" => args.delete_fraction = number(&flag, &value()?)?,
            "--zipf-exponent" => args.zipf_exponent = Some(number(&flag, &value()?)?),
            "--seed" => args.seed = Some(number(&flag, &value()?)?),
            "--compact-every" => args.compact_every = number(&flag, &value()?)?,
            "--every" => args.every = Some(number(&flag, &value()?)?),
            "--option" => {
                let pair = value()?;
                let (key, option_value) =
                    pair.split_once('=').ok_or_else(|| format!("--option takes KEY=VALUE. value=`{pair}`"))?;
                args.table_options.insert(key.trim().to_string(), option_value.trim().to_string());
            }
            _ => return Err(format!("unknown flag. flag=`{flag}`")),
        }
    }
    Ok(Some(args))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| format!("flag has an invalid value. flag=`{flag}`, value=`{text}`"))
}

/// The simulation config for `workload`, the flags' workload settings and `table_options` (plus `extra`).
fn config(args: &Args, workload: Workload, extra: &[(&str, &str)], compact_every: u64) -> Result<SimConfig, String> {
    let mut table_options = args.table_options.clone();
    for (key, value) in extra {
        table_options.insert(key.to_string(), value.to_string());
    }
    let mut options = CompactionOptions::from_table_options(&table_options).map_err(|error| error.to_string())?;
    if !table_options.contains_key(TARGET_FILE_SIZE) {
        options.target_file_size_bytes =
            SimConfig::default_options(args.write_buffer_rows, args.row_bytes).target_file_size_bytes;
    }
    let defaults = SimConfig::new(workload);
    let config = SimConfig {
        workload,
        key_space: args.keys.unwrap_or(defaults.key_space),
        rows: args.rows.unwrap_or(defaults.rows),
        write_buffer_rows: args.write_buffer_rows,
        row_bytes: args.row_bytes,
        delete_fraction: args.delete_fraction,
        zipf_exponent: args.zipf_exponent.unwrap_or(defaults.zipf_exponent),
        seed: args.seed.unwrap_or(defaults.seed),
        compact_every_flushes: compact_every,
        options,
    };
    config.validate().map_err(|error| error.to_string())?;
    Ok(config)
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn run_one(args: &Args) -> Result<(), String> {
    let config = config(args, args.workload, &[], args.compact_every)?;
    let flushes = config.rows.div_ceil(config.write_buffer_rows);
    let every = args.every.unwrap_or_else(|| (flushes / 20).max(1)).max(1);
    println!(
        "workload={} keys={} rows={} write_buffer_rows={} row_bytes={} delete_fraction={} seed={} compact_every={}",
        config.workload,
        config.key_space,
        config.rows,
        config.write_buffer_rows,
        config.row_bytes,
        config.delete_fraction,
        config.seed,
        config.compact_every_flushes
    );
    println!("options={:?}", config.options);
    println!(
        "{:>7} {:>10} {:>8} {:>9} {:>7} {:>7} {:>9} {:>9} {:>10} {:>9} {:>8} {:>5}",
        "flush",
        "user_rows",
        "runs@rd",
        "runs_aft",
        "mw@rd",
        "WA",
        "space@rd",
        "space",
        "stored_MB",
        "live_MB",
        "compacts",
        "stall"
    );
    let mut simulator = Simulator::new(config).map_err(|error| error.to_string())?;
    while let Some(point) = simulator.step().map_err(|error| error.to_string())? {
        if point.flush % every == 0 || point.flush == flushes {
            println!(
                "{:>7} {:>10} {:>8} {:>9} {:>7} {:>7.3} {:>9.3} {:>9.3} {:>10.1} {:>9.1} {:>8} {:>5}",
                point.flush,
                point.user_rows,
                point.sorted_runs_at_read,
                point.sorted_runs_after_compaction,
                point.merge_width_at_read,
                point.write_amplification,
                point.space_amplification_at_read,
                point.space_amplification,
                megabytes(point.stored_bytes),
                megabytes(point.live_bytes),
                point.compactions,
                if point.stalled { "yes" } else { "" }
            );
        }
    }
    let summary = simulator.summary();
    println!("{summary:#?}");
    Ok(())
}

/// One `--compare` variant: its name, the table options it sets, and how many flushes between compactions.
type Variant = (&'static str, &'static [(&'static str, &'static str)], u64);

/// The option variants `--compare` runs.
const VARIANTS: &[Variant] = &[
    ("default", &[], 1),
    ("trigger=3", &[("num-sorted-run.compaction-trigger", "3")], 1),
    ("trigger=10", &[("num-sorted-run.compaction-trigger", "10")], 1),
    ("size-ratio=10", &[("compaction.size-ratio", "10")], 1),
    ("max-size-amp=100", &[("compaction.max-size-amplification-percent", "100")], 1),
    ("max-size-amp=400", &[("compaction.max-size-amplification-percent", "400")], 1),
    ("compact-every=4", &[], 4),
];

fn summary_row(workload: Workload, variant: &str, summary: &SimSummary) -> String {
    format!(
        "{:<8} {:<17} {:>5.2} {:>7.2} {:>6} {:>7.2} {:>6} {:>7.2} {:>6.2} {:>6.2} {:>6.2} {:>8} {:>5} {:>6} {:>7.0}",
        workload.name(),
        variant,
        summary.write_amplification,
        summary.user_write_amplification,
        summary.read_amplification_max,
        summary.read_amplification_mean,
        summary.merge_width_max,
        summary.merge_width_mean,
        summary.space_amplification_final,
        summary.space_amplification_mean,
        summary.space_amplification_max,
        summary.compactions,
        summary.full_compactions,
        summary.stalls,
        megabytes(summary.upgraded_bytes),
    )
}

fn run_compare(args: &Args) -> Result<(), String> {
    println!(
        "{:<8} {:<17} {:>5} {:>7} {:>6} {:>7} {:>6} {:>7} {:>6} {:>6} {:>6} {:>8} {:>5} {:>6} {:>7}",
        "workload",
        "variant",
        "WA",
        "WA/user",
        "rd_max",
        "rd_mean",
        "mw_max",
        "mw_mean",
        "sp_fin",
        "sp_mean",
        "sp_max",
        "compacts",
        "full",
        "stalls",
        "upgr_MB"
    );
    for workload in Workload::ALL {
        for (variant, extra, compact_every) in VARIANTS {
            let config = config(args, workload, extra, *compact_every)?;
            let mut simulator = Simulator::new(config).map_err(|error| error.to_string())?;
            while simulator.step().map_err(|error| error.to_string())?.is_some() {}
            println!("{}", summary_row(workload, variant, &simulator.summary()));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = if args.compare { run_compare(&args) } else { run_one(&args) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
