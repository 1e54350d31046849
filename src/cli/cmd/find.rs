use clap::Args;

use crate::cli::global::Global;
use crate::cli::output::{count, print_json};
use crate::cli::select::SnapshotArgs;
use crate::error::RepoError;

#[derive(Args, Debug)]
pub struct FindArgs {
    /// A name, path or block ULID; a glob (`*` within a path segment, `**` across them),
    /// matched against each entry's name and its whole path. E.g. `01JDEMA*`,
    /// `'dop-2025042*.dump.gz'`, `'mimir/*/01J*'`.
    pattern: String,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: FindArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let filter = a.select.filter();
    let snaps = repo.list_snapshots_matching(&filter)?;
    let found = crate::ops::find::find(&repo, &snaps, &a.pattern)?;
    if g.json {
        print_json(&found)?;
    } else {
        for f in &found {
            let t = crate::cli::clock::show_named(&f.time);
            println!("{}  {t}  {:>12}  {}", f.snapshot.short(), f.size, f.path);
        }
    }
    if found.is_empty() {
        let e = RepoError::NothingSelected(format!(
            "no entry of {} matches {:?}",
            count(snaps.len(), "snapshot", "snapshots"),
            a.pattern
        ));
        return Err(e.into());
    }
    Ok(0)
}
