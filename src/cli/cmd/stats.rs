use indicatif::HumanBytes;

use crate::cli::global::Global;
use crate::cli::output::print_json;

pub fn run(g: &Global) -> anyhow::Result<u8> {
    let repo = g.open()?;
    let s = crate::ops::stats::stats(&repo)?;
    if g.json {
        print_json(&s)?;
        return Ok(0);
    }
    println!("snapshots:      {}", s.snapshots);
    println!("logical size:   {}", HumanBytes(s.logical_bytes));
    println!("stored size:    {}", HumanBytes(s.stored_bytes));
    println!("unique blobs:   {} ({} uncompressed)", s.unique_blobs, HumanBytes(s.unique_bytes));
    println!("ratio:          {:.2}x", s.ratio);
    println!(
        "blobs stored:   {} trees, {} data whole, {} as {} deltas",
        HumanBytes(s.tree_blob_bytes),
        HumanBytes(s.data_blob_bytes),
        HumanBytes(s.delta_blob_bytes),
        s.delta_blobs
    );
    Ok(0)
}
