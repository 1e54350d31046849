//! Sketch files (`sketches/<id>`, format-spec §13): resemblance sketches of the text chunks
//! a backup stored, the hints later backups use to find delta bases by content. Never
//! needed to read anything: a damaged or unknown one is skipped.

use super::{FileType, RepoFile};
use crate::chunk::similar::{Sketch, SKETCH_LEN};
use crate::id::Id;

const ENTRY: usize = 32 + 8 * SKETCH_LEN;

/// The plaintext of one sketch file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SketchFile {
    /// Writer's clock, ns since the epoch (`CSK2`); 0 for `CSK1` files.
    pub written_at: u64,
    pub entries: Vec<(Id, Sketch)>,
}

impl RepoFile for SketchFile {
    const TYPE: FileType = FileType::Sketch;

    /// Always `CSK2`.
    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.entries.len() * ENTRY);
        b.extend_from_slice(b"CSK2");
        b.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        b.extend_from_slice(&self.written_at.to_le_bytes());
        for (id, s) in &self.entries {
            b.extend_from_slice(&id.0);
            for f in s {
                b.extend_from_slice(&f.to_le_bytes());
            }
        }
        b
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        let (written_at, body) = match plain.get(..4) {
            Some(b"CSK1") => (0, &plain[8.min(plain.len())..]),
            Some(b"CSK2") if plain.len() >= 16 => {
                (u64::from_le_bytes(plain[8..16].try_into().expect("8 bytes")), &plain[16..])
            }
            _ => return Err("not a sketch file".into()),
        };
        let n = plain.get(4..8).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize);
        if n != Some(body.len() / ENTRY) || body.len() % ENTRY != 0 {
            return Err("not a sketch file (its length does not match its entry count)".into());
        }
        let entries = body
            .chunks_exact(ENTRY)
            .map(|e| {
                let id = Id(e[..32].try_into().expect("32 bytes"));
                (id, std::array::from_fn(|i| u64::from_le_bytes(e[32 + 8 * i..40 + 8 * i].try_into().expect("8"))))
            })
            .collect();
        Ok(SketchFile { written_at, entries })
    }
}
