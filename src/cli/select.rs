//! Snapshot selection (restic's `--host`, `--tag`, `--path`), shared by every command that
//! reads snapshots, so that `latest` can mean "the newest backup of the mimir bucket" in
//! a repository that also holds nightly `pg_dump` streams.

use clap::Args;

use crate::repo::{Repository, SnapshotFilter};

#[derive(Args, Debug, Default, Clone)]
#[command(next_help_heading = "Snapshot selection")]
pub struct SnapshotArgs {
    /// Only snapshots taken on this host (repeatable: any of them).
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,
    /// Only snapshots with this tag (repeatable: any of them; `a,b` asks for both).
    #[arg(long = "tag", value_name = "TAG[,TAG]")]
    tags: Vec<String>,
    /// Only snapshots of this source, as given to backup (`s3://dop-mimir`, `/data/loki`,
    /// `stdin:dop.sql`) or by the name it is stored under (`dop-mimir`). Repeatable: all.
    #[arg(long = "path", value_name = "SOURCE")]
    paths: Vec<String>,
}

impl SnapshotArgs {
    pub fn filter(&self) -> SnapshotFilter {
        SnapshotFilter {
            hosts: self.hosts.clone(),
            tags: self.tags.iter().map(|t| t.split(',').map(str::to_string).collect()).collect(),
            paths: self.paths.clone(),
        }
    }

    /// `SPEC[:PATH]` with `latest` replaced by the id of the newest snapshot the filter
    /// matches (an id or prefix is kept as given).
    pub fn pin(&self, repo: &Repository, spec: &str) -> anyhow::Result<String> {
        let (snapshot, path) = crate::vfs::split_spec(spec);
        if snapshot != "latest" {
            return Ok(spec.to_string());
        }
        let (id, _) = repo.select_snapshot(snapshot, &self.filter())?;
        Ok(if spec.contains(':') { format!("{}:{path}", id.to_hex()) } else { id.to_hex() })
    }
}
