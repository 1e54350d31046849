use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

use crate::cli::global::Global;
use crate::cli::output::print_json;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Write the report as one self-contained HTML file (inline SVG, nothing fetched):
    /// snapshot timeline, metric coverage per tenant with gaps, growth of stored versus
    /// held bytes, blocks left out, the last data check. With --json the same data is
    /// printed instead.
    #[arg(long, value_name = "OUT.html", required_unless_present = "json")]
    html: Option<PathBuf>,
}

pub fn run(g: &Global, a: ReportArgs) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let data = crate::ops::report::gather(&repo)?;
    if let Some(out) = &a.html {
        let html = crate::ops::report::render(&data);
        let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing {}", out.display()))?;
        std::io::Write::write_all(&mut tmp, html.as_bytes())?;
        tmp.persist(out).map_err(|e| e.error).with_context(|| format!("writing {}", out.display()))?;
        if !g.json {
            println!("wrote {} ({} snapshots, {} tenants)", out.display(), data.snapshots.len(), data.coverage.len());
        }
    }
    if g.json {
        print_json(&data)?;
    }
    Ok(0)
}
