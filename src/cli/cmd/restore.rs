use clap::Args;
use indicatif::HumanBytes;

use super::blocks::BlockArgs;
use crate::cli::global::Global;
use crate::cli::output::{print_json, ColdRequested};
use crate::cli::select::SnapshotArgs;
use crate::cli::{EXIT_NOTHING, EXIT_PARTIAL};
use crate::ops::restore::{restore_logical, Overwrite, RestoreOptions, Selection, Target};

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot id, unique prefix, or `latest`. `SNAPSHOT:PATH` restores the contents of
    /// one directory at the target's root, e.g. `latest:mimir --target s3://mimir`.
    snapshot: String,
    /// Directory to restore into (created if missing; nothing is written outside it), or
    /// s3://BUCKET/PREFIX. Either way every TSDB meta.json is written last.
    #[arg(long, short = 't')]
    target: String,
    /// Only paths matching this glob (repeatable); a matching directory brings all
    /// below it. Example: --include 'mimir/anonymous/**'
    #[arg(long)]
    include: Vec<String>,
    #[command(flatten)]
    blocks: BlockArgs,
    /// For a shard of a sharded backup: restore only this shard, not its whole group.
    #[arg(long)]
    this_shard_only: bool,
    /// With packs in cold storage (GLACIER …): request their restore, print what was
    /// requested, and exit instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// A file already at a restored file's place: `never` keeps it (and reports it when it
    /// differs), `if-changed` replaces it when it differs, `always` rewrites it. Identical
    /// files are never written again, so an interrupted restore resumes where it stopped.
    /// (Directory targets; into a bucket every selected object is written with verified
    /// bytes.)
    #[arg(long, value_enum, default_value_t = Overwrite::Never)]
    overwrite: Overwrite,
    /// Remove from the target what the snapshot does not hold (within the directories
    /// restored; everywhere in the target for a whole-snapshot restore).
    #[arg(long)]
    delete: bool,
    /// Write every selected `*.gz` file as its decoded bytes, under its name without
    /// `.gz` (what `zcat` prints: a recovery runs `psql -f dop-….dump` at once). The
    /// decoded text of a gzip-transparent dump is read as stored, without recreating the
    /// gzip stream; other gzip files are inflated with every CRC checked. Directory
    /// targets only.
    #[arg(long, short = 'd')]
    decompress: bool,
    #[command(flatten)]
    select: SnapshotArgs,
}

pub fn run(g: &Global, a: RestoreArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let target = Target::resolve(&a.target, &g.s3_config(), &g.user_config()?)?;
    let selective = !a.include.is_empty() || !a.blocks.filter()?.is_empty();
    let selection = Selection { include: a.include, ..Selection::default() };
    let opts = RestoreOptions {
        target,
        selection,
        progress: g.progress(),
        no_wait: a.no_wait,
        overwrite: a.overwrite,
        delete: a.delete,
        decompress: a.decompress,
    };
    let snapshot = a.select.pin(&repo, &a.snapshot)?;
    let (id, r) = restore_logical(&repo, &snapshot, &a.blocks.filter()?, a.this_shard_only, opts)?;
    if !r.cold_packs_requested.is_empty() {
        if g.json {
            print_json(&ColdRequested { cold_packs_requested: &r.cold_packs_requested })?;
        } else {
            println!(
                "requested restore of {} cold packs; run the restore again once they are available",
                r.cold_packs_requested.len()
            );
        }
        return Ok(0);
    }
    if g.json {
        print_json(&r)?;
    } else {
        for d in &r.damaged {
            let mut at = vec![];
            if let Some(p) = d.pack {
                at.push(format!("pack {}", p.short()));
            }
            if let Some(b) = d.blob {
                at.push(format!("blob {}", b.short()));
            }
            let at = if at.is_empty() { String::new() } else { format!(" ({})", at.join(", ")) };
            eprintln!("cellar: damaged, not restored: {}{at}: {}", d.path, d.error);
        }
        for k in &r.kept {
            eprintln!("cellar: kept {k}: it differs from the snapshot (--overwrite if-changed replaces it)");
        }
        for w in &r.withheld {
            eprintln!("cellar: withheld {w}: its block lost a file, so the platform must not see it as complete");
        }
        if !g.quiet || !r.damaged.is_empty() {
            let what = if r.shards > 1 { format!(" ({} shards)", r.shards) } else { String::new() };
            let damaged = if r.damaged.is_empty() { String::new() } else { format!(", {} damaged", r.damaged.len()) };
            println!(
                "restored snapshot {}{what}: {} files restored{damaged}, {} dirs, {}",
                id.short(),
                r.files,
                r.dirs,
                HumanBytes(r.bytes)
            );
        }
    }
    if r.files + r.symlinks == 0 && r.damaged.is_empty() && r.kept.is_empty() && selective {
        if !g.json {
            eprintln!("cellar: nothing restored: no file of snapshot {} matches what was asked for", id.short());
        }
        return Ok(EXIT_NOTHING);
    }
    Ok(if r.damaged.is_empty() && r.kept.is_empty() { 0 } else { EXIT_PARTIAL })
}
