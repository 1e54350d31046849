//! The integration tests, in one binary (one link, one copy of the dependencies on disk),
//! one module per area. Each runs the real `cellar` binary or library against real
//! components: promtool-written TSDB blocks, a real PostgreSQL, moto and Ceph RGW as S3.

mod append_only;
mod cli;
mod common;
mod crash;
mod dedup;
mod dump_deltas;
mod durability;
mod failures;
mod format_vectors;
mod fuzz;
mod gzip;
mod incremental;
mod integrity;
mod loki;
mod object_lock;
mod operations;
mod postgres;
mod reliability;
mod report;
mod retention;
mod roundtrip;
mod s3;
mod shards;
mod tsdb_blocks;
mod tsdb_compaction;
