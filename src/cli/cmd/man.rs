use anyhow::Context;
use clap::{Args, CommandFactory};
use std::path::PathBuf;

use crate::cli::Cli;

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write one page per command (cellar.1, cellar-backup.1, …) into this directory;
    /// without it, the main page goes to stdout (`cellar man | man -l -`).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(a: ManArgs) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    match a.out_dir {
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir).with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
    }
    Ok(0)
}
