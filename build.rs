//! Records what `cellar version` reports about the build: the commit and the compiler.
//! (A bug report that names them can be reproduced.)

use std::path::Path;
use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    for p in [".git/HEAD", ".git/refs/heads"] {
        if Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
    let commit = output("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown rustc".into());
    println!("cargo:rustc-env=CELLAR_COMMIT={commit}");
    println!("cargo:rustc-env=CELLAR_RUSTC={rustc}");
    println!("cargo:rustc-env=CELLAR_TARGET={}", std::env::var("TARGET").unwrap_or_default());
    println!("cargo:rustc-env=CELLAR_PROFILE={}", std::env::var("PROFILE").unwrap_or_default());
}
