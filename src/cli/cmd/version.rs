use serde::Serialize;

use crate::cli::global::Global;
use crate::cli::output::print_json;

/// What a bug report needs: the program, the build, and the repository formats it reads
/// and writes.
#[derive(Serialize)]
struct Version {
    version: &'static str,
    commit: &'static str,
    rustc: &'static str,
    target: &'static str,
    profile: &'static str,
    /// The newest repository format this build writes (format-spec/README.md §10).
    format_version: u32,
    /// Every format version it reads.
    reads_format_versions: Vec<u32>,
}

pub fn run(g: &Global) -> anyhow::Result<u8> {
    let v = Version {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("CELLAR_COMMIT"),
        rustc: env!("CELLAR_RUSTC"),
        target: env!("CELLAR_TARGET"),
        profile: env!("CELLAR_PROFILE"),
        format_version: crate::repo::file::config::FORMAT_VERSION,
        reads_format_versions: (1..=crate::repo::file::config::FORMAT_VERSION).collect(),
    };
    if g.json {
        print_json(&v)?;
    } else {
        println!("cellar {} (commit {}, {}, {} build)", v.version, v.commit, v.target, v.profile);
        println!("built with {}", v.rustc);
        println!(
            "repository format {} (reads versions {})",
            v.format_version,
            v.reads_format_versions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(0)
}
