use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;

use crate::cli::global::Global;
use crate::cli::output::{print_json, ImportOutput};
use crate::userconfig::UserConfig;

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Create remotes `mimir`, `loki` and `backup` from the platform's secrets, replacing
    /// the backup guide's jq: `kubectl -n d8-observability-platform get secrets,configmaps
    /// -o json | cellar config import-dop --endpoint https://s3.<baseDomain>`. Credentials
    /// are written to files with mode 0600 and never printed.
    ImportDop {
        /// The platform's S3 endpoint, e.g. https://s3.example.com.
        #[arg(long)]
        endpoint: String,
        /// Directory for the credentials files (default: beside the config file).
        #[arg(long)]
        credentials_dir: Option<PathBuf>,
    },
}

pub fn run(g: &Global, c: ConfigCmd) -> anyhow::Result<u8> {
    let ConfigCmd::ImportDop { endpoint, credentials_dir } = c;
    let path = match &g.config {
        Some(p) => p.clone(),
        None => UserConfig::default_path().context("no --config and no HOME to place the config in")?,
    };
    let creds = credentials_dir.unwrap_or_else(|| path.parent().map(std::path::Path::to_path_buf).unwrap_or_default());
    let mut input = vec![];
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)?;
    let names = crate::userconfig::import_dop(&input, &endpoint, &path, &creds)?;
    if g.json {
        print_json(&ImportOutput { config: path, remotes: names })?;
    } else {
        println!(
            "wrote remotes {} to {} (credentials in {}, mode 0600)",
            names.join(", "),
            path.display(),
            creds.display()
        );
        println!("try: cellar --config {} backup remote:{}", path.display(), names[0]);
    }
    Ok(0)
}
