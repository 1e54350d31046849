use clap::Subcommand;

use crate::cli::global::Global;
use crate::cli::output::print_json;

#[derive(Subcommand, Debug)]
pub enum RepairCmd {
    /// Rebuild the index from the intact index files and the packs' own headers: after a
    /// damaged or deleted index file, or packs no index knows. Entries of missing packs
    /// are dropped.
    Index {
        /// Report what would be rebuilt; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
    /// For each damaged snapshot, write a new one without its damaged files (whole TSDB
    /// blocks where a block lost a file), recording what was left out. The damaged
    /// originals stay until forgotten. Run `check --read-data` first so damage inside
    /// packs is known.
    Snapshots {
        /// Report what would be left out; change nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
    },
}

pub fn run(g: &Global, c: RepairCmd) -> anyhow::Result<u8> {
    let repo = g.open()?;
    match c {
        RepairCmd::Index { dry_run } => {
            let r = crate::ops::repair::index(&repo, dry_run)?;
            if g.json {
                print_json(&r)?;
                return Ok(0);
            }
            for p in &r.packs_unreadable {
                eprintln!("cellar: warning: {p}: its blobs are lost");
            }
            let would = if dry_run { "would be " } else { "" };
            println!(
                "index {would}rebuilt: {} packs from intact index files, {} from their headers, {} missing packs dropped, {} unreadable; {} index files {would}written, {} {would}replaced",
                r.packs_from_index,
                r.packs_from_headers,
                r.packs_missing,
                r.packs_unreadable.len(),
                r.index_files_written,
                r.index_files_removed
            );
        }
        RepairCmd::Snapshots { dry_run } => {
            let r = crate::ops::repair::snapshots(&repo, dry_run)?;
            if g.json {
                print_json(&r)?;
                return Ok(0);
            }
            for s in &r.repaired {
                let to = match s.repaired {
                    Some(n) => format!("→ {}", n.short()),
                    None => "would be rewritten".into(),
                };
                println!("snapshot {} {to} without {} damaged paths:", s.original.short(), s.dropped.len());
                for d in &s.dropped {
                    println!("  {d}");
                }
            }
            for u in &r.unrepairable {
                println!("snapshot {}: its root tree is lost, nothing to save", u.short());
            }
            println!("{} snapshots intact, {} repaired", r.intact, r.repaired.len());
        }
    }
    Ok(0)
}
