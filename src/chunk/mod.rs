//! Content-defined chunking. The chunker is chosen per object kind from profiles fixed in
//! the repository settings, so format-aware cutters (TSDB segment files, gzip streams) can
//! be added later without touching the pipeline.

mod fastcdc2020;
mod stream;

pub use fastcdc2020::Cutter;
pub use stream::{Batch, WindowedChunker};

use anyhow::{bail, ensure};
use serde::{Deserialize, Serialize};

/// Parameters of one chunker profile, stored sealed in the repository settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChunkerParams {
    /// `"fastcdc-v2020"` is the only algorithm of format v1.
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
    /// 16 KiB / 64 KiB / 256 KiB: see format-spec/chunking.md for the measurements behind
    /// this choice (dedup of daily dumps vs. index size on TSDB blocks).
    pub fn default_for_new_repo() -> Self {
        ChunkerParams { algorithm: "fastcdc-v2020".into(), min: 16 << 10, avg: 64 << 10, max: 256 << 10, normalization: 1, seed: 0 }
    }

    pub fn with_sizes(min: u32, avg: u32, max: u32) -> Self {
        ChunkerParams { min, avg, max, ..Self::default_for_new_repo() }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        if self.algorithm != "fastcdc-v2020" {
            bail!("unknown chunker algorithm {:?}", self.algorithm);
        }
        use fastcdc::v2020::*;
        ensure!((MINIMUM_MIN..=MINIMUM_MAX).contains(&self.min), "min chunk size {} out of range {MINIMUM_MIN}..={MINIMUM_MAX}", self.min);
        ensure!((AVERAGE_MIN..=AVERAGE_MAX).contains(&self.avg), "average chunk size {} out of range {AVERAGE_MIN}..={AVERAGE_MAX}", self.avg);
        ensure!((MAXIMUM_MIN..=MAXIMUM_MAX).contains(&self.max), "max chunk size {} out of range {MAXIMUM_MIN}..={MAXIMUM_MAX}", self.max);
        ensure!(self.min <= self.avg && self.avg <= self.max, "chunk sizes must satisfy min <= avg <= max");
        ensure!(self.avg.is_power_of_two(), "average chunk size must be a power of two");
        ensure!(self.normalization <= 3, "normalization level must be 0..=3");
        Ok(())
    }
}
