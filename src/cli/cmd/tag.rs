use clap::Args;

use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::cli::select::SnapshotArgs;
use crate::cli::UsageError;
use crate::ops::tag::{tag, TagChange};

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Snapshots to change (ids or prefixes); without them, every snapshot the
    /// `--host`/`--tag`/`--path` filters select (at least one filter is needed).
    snapshots: Vec<String>,
    /// Add this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    add: Vec<String>,
    /// Remove this tag (repeatable).
    #[arg(long, value_name = "TAG")]
    remove: Vec<String>,
    /// Replace all tags with these (repeatable; `--set ''` clears them), before --add/--remove.
    #[arg(long, value_name = "TAG", num_args = 1)]
    set: Vec<String>,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: TagArgs) -> anyhow::Result<u8> {
    let set = if a.set.is_empty() { None } else { Some(a.set.into_iter().filter(|t| !t.is_empty()).collect()) };
    let change = TagChange { set, add: a.add, remove: a.remove };
    if change.is_empty() {
        return Err(UsageError("nothing to change: give --add, --remove or --set".into()).into());
    }
    let filter = a.select.filter();
    if a.snapshots.is_empty() && filter.is_empty() {
        return Err(UsageError("which snapshots? give ids, or --host/--tag/--path".into()).into());
    }
    let repo = g.open()?;
    let snaps = repo.select_snapshots(&a.snapshots, &filter)?;
    let r = tag(&repo, &snaps, &change)?;
    if g.json {
        print_json(&r)?;
    } else {
        for (old, new) in &r.changed {
            println!("{} → {}", old.short(), new.short());
        }
        println!("{} changed, {} already as asked", count(r.changed.len(), "snapshot", "snapshots"), r.unchanged);
    }
    Ok(0)
}
