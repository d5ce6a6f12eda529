//! The engine's two sources of nondeterminism, behind seams: the wall clock (snapshot, schema and file times, tag
//! ages) and fresh ids (commit users, file-name prefixes). Everything else the engine does is a function of its
//! inputs and the object store's answers, so a test or a deterministic simulation that replaces these two (with
//! [`FileIO::with_seams`](crate::io::FileIO::with_seams)) replays a run exactly.
//!
//! Elapsed-time measurements (`std::time::Instant`) are not behind the seam: they only feed metrics and timeouts.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_millis(&self) -> i64;
}

/// Fresh, unique ids (UUID-shaped strings, as Paimon writes them into file names and commit users).
pub trait IdSource: Send + Sync {
    fn new_id(&self) -> String;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the engine reads the wall clock
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Random version-4 UUIDs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    #[allow(clippy::disallowed_methods)] // the one place the engine draws random ids
    fn new_id(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// A clock that only moves when told to (or by `step` millis per reading), for deterministic runs.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    step: i64,
}

impl ManualClock {
    pub fn new(start_millis: i64, step_millis: i64) -> Self {
        ManualClock { now: AtomicI64::new(start_millis), step: step_millis }
    }

    pub fn advance(&self, millis: i64) {
        self.now.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.now.fetch_add(self.step, Ordering::SeqCst)
    }
}

/// Ids drawn from a seeded counter: UUID-shaped, unique per source, identical across runs with the same seed.
#[derive(Debug)]
pub struct SeededIds {
    seed: u64,
    next: AtomicU64,
}

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        SeededIds { seed, next: AtomicU64::new(0) }
    }
}

impl IdSource for SeededIds {
    fn new_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        // splitmix64 of (seed, n): distinct for distinct n, spread over the whole id.
        let mix = |mut z: u64| {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let hi = mix(self.seed ^ n.rotate_left(32));
        let lo = n;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xfff,
            (lo >> 48) & 0xfff,
            lo & 0xffff_ffff_ffff
        )
    }
}

/// The clock and the id source a table's I/O carries.
#[derive(Clone)]
pub struct Seams {
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
}

impl Seams {
    /// The system clock and random UUIDs.
    pub fn system() -> Self {
        Seams { clock: Arc::new(SystemClock), ids: Arc::new(RandomIds) }
    }

    /// A manual clock starting at `start_millis` (advancing 1 ms per reading) and ids seeded by `seed`.
    pub fn deterministic(start_millis: i64, seed: u64) -> Self {
        Seams { clock: Arc::new(ManualClock::new(start_millis, 1)), ids: Arc::new(SeededIds::new(seed)) }
    }

    pub fn now_millis(&self) -> i64 {
        self.clock.now_millis()
    }

    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }
}

impl Default for Seams {
    fn default() -> Self {
        Seams::system()
    }
}

impl fmt::Debug for Seams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seams")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_are_unique_and_replay() {
        let a = SeededIds::new(7);
        let b = SeededIds::new(7);
        let xs: Vec<String> = (0..1000).map(|_| a.new_id()).collect();
        let ys: Vec<String> = (0..1000).map(|_| b.new_id()).collect();
        assert_eq!(xs, ys);
        let set: std::collections::HashSet<_> = xs.iter().collect();
        assert_eq!(set.len(), 1000);
        assert!(xs.iter().all(|x| x.len() == 36 && x.as_bytes()[14] == b'4'));
        assert_ne!(SeededIds::new(8).new_id(), xs[0]);
    }

    #[test]
    fn manual_clock_moves_by_step_and_advance() {
        let c = ManualClock::new(1_000, 1);
        assert_eq!(c.now_millis(), 1_000);
        assert_eq!(c.now_millis(), 1_001);
        c.advance(500);
        assert_eq!(c.now_millis(), 1_502);
    }
}
