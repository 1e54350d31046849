//! `dump`: a file's bytes, or a directory as a tar stream, on stdout, so
//! `cellar dump latest dop.dump | psql` needs no disk space. `--decompress` prints a gzip
//! file's decoded bytes instead (`cellar dump --decompress latest dop.dump.gz | psql`):
//! for a gzip-transparent file that is its stored text, so nothing is deflated to be
//! inflated again.

use anyhow::{bail, Context};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::repo::file::snapshot::Snapshot;
use crate::repo::file::tree::{Node, NodeKind};
use crate::repo::Repository;
use crate::vfs::{file_reader, lookup, walk, Entry};

/// Write a file's bytes, or a directory as tar, to `out`; with `decompress`, a gzip
/// file's decoded bytes.
pub fn dump(
    repo: &Repository,
    snap: &Snapshot,
    path: &str,
    decompress: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    repo.load_index()?;
    let node = lookup(repo, snap, path)?;
    if node.kind == NodeKind::File {
        crate::vfs::prepare_cold(repo, std::iter::once(&node), false)?;
    }
    match node.kind {
        NodeKind::File if decompress => write_decoded(repo, &node, path, out)?,
        NodeKind::Dir | NodeKind::Symlink if decompress => {
            bail!("{path} is not a file: --decompress dumps one gzip file")
        }
        NodeKind::File => {
            let n = std::io::copy(&mut file_reader(repo, &node), out)?;
            if n != node.size {
                bail!("{path}: produced {n} bytes, expected {}", node.size);
            }
        }
        NodeKind::Dir => dump_tar(repo, &node, out)?,
        NodeKind::Symlink => bail!("{path} is a symlink; nothing to dump"),
    }
    out.flush()?;
    Ok(())
}

/// The decoded bytes of a gzip file: the stored text of a gzip-transparent one, or the
/// inflated stream of one stored as it is (every member, CRCs checked, as `zcat` does).
pub(crate) fn write_decoded(repo: &Repository, node: &Node, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    if let Some(mut text) = crate::vfs::decoded_reader(repo, node) {
        std::io::copy(&mut text, out)?;
        return Ok(());
    }
    let mut raw = std::io::BufReader::with_capacity(1 << 20, file_reader(repo, node));
    let head = std::io::BufRead::fill_buf(&mut raw)?;
    if !head.starts_with(&[0x1f, 0x8b]) {
        bail!("{path} is not a gzip file (it does not start with the gzip magic bytes); dump it without --decompress");
    }
    std::io::copy(&mut flate2::bufread::MultiGzDecoder::new(raw), out).with_context(|| {
        format!("{path}: the gzip stream is damaged (as stored; the original bytes restore without --decompress)")
    })?;
    Ok(())
}

fn dump_tar(repo: &Repository, dir: &Node, out: &mut dyn Write) -> anyhow::Result<()> {
    let base = PathBuf::from(std::ffi::OsStr::from_bytes(&dir.name));
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    if !dir.name.is_empty() {
        let mut h = header(dir, NodeKind::Dir, 0);
        tar.append_data(&mut h, &base, &b""[..])?;
    }
    let Some(sub) = dir.subtree else {
        return Ok(());
    };
    walk(repo, &sub, |&Entry { rel, node, .. }| {
        let p = Path::new(&base).join(rel);
        let mut h = header(node, node.kind, node.size);
        match node.kind {
            NodeKind::File => tar.append_data(&mut h, &p, file_reader(repo, node)),
            NodeKind::Dir => tar.append_data(&mut h, &p, &b""[..]),
            NodeKind::Symlink => {
                let t = String::from_utf8_lossy(node.target.as_deref().unwrap_or_default()).into_owned();
                tar.append_link(&mut h, &p, t)
            }
        }
        .with_context(|| format!("writing {} to the tar stream", p.display()))
    })?;
    tar.finish()?;
    Ok(())
}

fn header(n: &Node, kind: NodeKind, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(match kind {
        NodeKind::File => tar::EntryType::Regular,
        NodeKind::Dir => tar::EntryType::Directory,
        NodeKind::Symlink => tar::EntryType::Symlink,
    });
    h.set_size(size);
    h.set_mode(if n.mode == 0 { 0o644 } else { n.mode });
    h.set_mtime(n.mtime_ns.div_euclid(1_000_000_000).max(0) as u64);
    h
}
