use clap::Subcommand;
use std::path::PathBuf;

use super::init::KdfArgs;
use crate::cli::global::Global;
use crate::cli::output::{print_json, KeyAdded};
use crate::cli::password::PasswordSource;

#[derive(Subcommand, Debug)]
pub enum KeyCmd {
    /// Add a key: a new password that opens the repository.
    ///
    /// With --append-only the key can only back up (format v4 repositories): its holder
    /// deduplicates against everything stored but cannot read any stored data, tree,
    /// snapshot or dump, and never deletes anything, so it can live in the nightly backup
    /// job while a full key stays offline for restores and prune.
    Add {
        /// Make an append-only key (see above; format-spec §16 has the threat model).
        #[arg(long)]
        append_only: bool,
        /// Read the new password from this file (else CELLAR_NEW_PASSWORD, else prompt).
        #[arg(long)]
        new_password_file: Option<PathBuf>,
        /// The new key has an empty password (tests only).
        #[arg(long)]
        new_insecure_no_password: bool,
        #[command(flatten)]
        kdf: KdfArgs,
    },
    /// Change the password of the key in use (the other keys keep theirs).
    Passwd {
        /// Read the new password from this file (else CELLAR_NEW_PASSWORD, else prompt).
        #[arg(long)]
        new_password_file: Option<PathBuf>,
        #[command(flatten)]
        kdf: KdfArgs,
    },
    /// List keys.
    List,
    /// Remove a key (not the one in use, not the last).
    Remove {
        /// Key id or unique prefix.
        id: String,
    },
}

pub fn run(g: &Global, k: KeyCmd) -> anyhow::Result<u8> {
    let repo = g.open()?;
    match k {
        KeyCmd::Passwd { new_password_file, kdf } => {
            let pw = new_password(false, new_password_file.as_deref())?;
            let id = repo.change_password(&pw, kdf.params())?;
            if g.json {
                print_json(&KeyAdded { id })?;
            } else {
                println!("password changed: key {} replaces the one in use", id.short());
            }
        }
        KeyCmd::Add { append_only, new_password_file, new_insecure_no_password, kdf } => {
            repo.require_full_key("add keys")?;
            let pw = new_password(new_insecure_no_password, new_password_file.as_deref())?;
            let id = repo.add_key(&pw, kdf.params(), append_only)?;
            if g.json {
                print_json(&KeyAdded { id })?;
            } else if append_only {
                println!("added append-only key {}: it can back up, nothing else", id.short());
            } else {
                println!("added key {}", id.short());
            }
        }
        KeyCmd::List => {
            let keys = crate::ops::keys::list(&repo)?;
            if g.json {
                print_json(&keys)?;
            } else {
                for k in keys {
                    let cur = if k.current { "*" } else { " " };
                    let kind = if k.append_only { "append-only" } else { "full" };
                    println!("{cur} {}  {kind:<11}  {}  {}@{}", k.id.short(), k.created, k.user, k.host);
                }
            }
        }
        KeyCmd::Remove { id } => {
            let id = repo.remove_key(&id)?;
            if !g.json {
                println!("removed key {}", id.short());
            }
        }
    }
    Ok(0)
}

fn new_password(insecure_no_password: bool, file: Option<&std::path::Path>) -> anyhow::Result<Vec<u8>> {
    PasswordSource {
        insecure_no_password,
        file,
        env: "CELLAR_NEW_PASSWORD",
        flags: ("--new-password-file", "--new-insecure-no-password"),
        prompt: "new password: ",
    }
    .get(true)
}
