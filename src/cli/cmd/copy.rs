use clap::Args;
use indicatif::HumanBytes;
use std::path::PathBuf;

use crate::cli::global::Global;
use crate::cli::output::print_json;
use crate::cli::select::SnapshotArgs;

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (ids, prefixes or `latest`); all when none are given.
    snapshots: Vec<String>,
    /// Destination repository: a directory, s3://BUCKET/PREFIX or remote:NAME/PREFIX.
    #[arg(long)]
    to_repo: String,
    /// Password file of the destination (else CELLAR_TO_PASSWORD, else the source's password).
    #[arg(long)]
    to_password_file: Option<PathBuf>,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: CopyArgs) -> anyhow::Result<u8> {
    let src = g.open()?;
    let dst = g.open_other(&a.to_repo, a.to_password_file.as_deref())?;
    let r = crate::ops::copy::copy_named(&src, dst, &a.snapshots, &a.select.filter())?;
    if g.json {
        print_json(&r)?;
    } else {
        println!(
            "copied {} ({} already present): {} blobs stored, {} added",
            crate::cli::output::count(r.snapshots_copied.len(), "snapshot", "snapshots"),
            r.snapshots_already_present,
            r.blobs_stored,
            HumanBytes(r.bytes_added)
        );
    }
    Ok(0)
}
