//! Chunking. The chunker is chosen per object from profiles fixed in the repository
//! settings: content-defined chunking (FastCDC) for any bytes, with a binary and a text
//! profile, and record-aware cutting for TSDB chunk segment files ([`tsdb_records`]). Gzip
//! objects are decoded first ([`crate::gzip`]) and their text cut like any text.

mod fastcdc2020;
mod profile;
pub mod similar;
mod stream;
pub mod tsdb_records;

pub use fastcdc2020::Cutter;
pub use profile::{
    looks_like_text, Chunking, Profiles, PROFILE_DEFAULT, PROFILE_TEXT, PROFILE_TSDB_SEGMENT, SNIFF_LEN,
};
pub use stream::{Batch, WindowedChunker};
pub use tsdb_records::RecordCutter;

/// FastCDC, the content-defined chunker for any bytes.
pub const ALGO_FASTCDC: &str = "fastcdc-v2020";
/// Record-aware cutting of TSDB chunk segment files ([`tsdb_records`]); only `max` is used.
pub const ALGO_TSDB_RECORDS: &str = "tsdb-records-v1";

use anyhow::{bail, ensure};
use serde::{Deserialize, Serialize};

/// Parameters of one chunker profile, stored sealed in the repository settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChunkerParams {
    /// [`ALGO_FASTCDC`], or [`ALGO_TSDB_RECORDS`] for the `tsdb-segment` profile.
    pub algorithm: String,
    pub min: u32,
    pub avg: u32,
    pub max: u32,
    /// FastCDC normalization level (0..=3); 1 in new repositories.
    pub normalization: u32,
    /// XORed into every gear table entry, chosen at random at init so chunk boundaries
    /// (and thus chunk sizes) do not fingerprint known content.
    pub seed: u64,
}

impl ChunkerParams {
    /// Profile `default` (binary objects: TSDB segments and index files, Loki chunks, gzip):
    /// 256 KiB / 1 MiB / 4 MiB. Smaller chunks find no more duplicates in such data but
    /// multiply the index (format-spec/chunking.md has the measurements).
    pub fn default_for_new_repo() -> Self {
        Self::with_sizes(256 << 10, 1 << 20, 4 << 20)
    }

    /// Profile `text` (SQL dumps, logs, JSON): 1 KiB / 4 KiB / 16 KiB, where scattered
    /// small changes leave most small chunks intact.
    pub fn text_for_new_repo() -> Self {
        Self::with_sizes(1 << 10, 4 << 10, 16 << 10)
    }

    /// Profile `text` in repositories with delta blobs: 64 KiB / 256 KiB / 1 MiB. Deltas
    /// store a changed chunk in a few hundred bytes, so small chunks no longer pay; large
    /// ones compress better and keep trees small (format-spec/chunking.md).
    pub fn text_with_deltas_for_new_repo() -> Self {
        Self::with_sizes(64 << 10, 256 << 10, 1 << 20)
    }

    /// Profile `tsdb-segment`: TSDB chunk records grouped per series and 2h range, at most
    /// 64 KiB a group (format-spec/chunking.md).
    pub fn tsdb_records_for_new_repo() -> Self {
        ChunkerParams { algorithm: ALGO_TSDB_RECORDS.into(), min: 0, avg: 0, max: 64 << 10, normalization: 0, seed: 0 }
    }

    pub fn with_sizes(min: u32, avg: u32, max: u32) -> Self {
        ChunkerParams { algorithm: ALGO_FASTCDC.into(), min, avg, max, normalization: 1, seed: 0 }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.algorithm == ALGO_TSDB_RECORDS {
            ensure!(
                (4 << 10..=4 << 20).contains(&self.max),
                "record group size {} out of range 4 KiB..=4 MiB",
                self.max
            );
            return Ok(());
        }
        if self.algorithm != ALGO_FASTCDC {
            bail!("unknown chunker algorithm {:?} (made by a newer cellar?)", self.algorithm);
        }
        use fastcdc::v2020::{AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN};
        ensure!(
            (MINIMUM_MIN..=MINIMUM_MAX).contains(&self.min),
            "min chunk size {} out of range {MINIMUM_MIN}..={MINIMUM_MAX}",
            self.min
        );
        ensure!(
            (AVERAGE_MIN..=AVERAGE_MAX).contains(&self.avg),
            "average chunk size {} out of range {AVERAGE_MIN}..={AVERAGE_MAX}",
            self.avg
        );
        ensure!(
            (MAXIMUM_MIN..=MAXIMUM_MAX).contains(&self.max),
            "max chunk size {} out of range {MAXIMUM_MIN}..={MAXIMUM_MAX}",
            self.max
        );
        ensure!(self.min <= self.avg && self.avg <= self.max, "chunk sizes must satisfy min <= avg <= max");
        ensure!(self.avg.is_power_of_two(), "average chunk size must be a power of two");
        ensure!(self.normalization <= 3, "normalization level must be 0..=3");
        Ok(())
    }
}
