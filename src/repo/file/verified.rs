//! Verified-packs files (`verified/<id>`, format-spec §14): which packs `check
//! --read-data` read and found intact or damaged, and when. Hints only, like sketch files:
//! they let a nightly `check --read-data --max-age 30d` re-read only what was not verified
//! recently, and let backups store again the blobs whose only copy a check found damaged.
//! A damaged or unknown file is skipped.

use super::{FileType, RepoFile};
use crate::id::Id;

/// One pack's last verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verification {
    pub pack: Id,
    /// Seconds since the Unix epoch.
    pub at: u64,
    /// The pack read back and every blob verified.
    pub intact: bool,
}

/// The plaintext of one verified-packs file: `"CVP1" u32le(n) entry*`, entry = pack id
/// (32) · u64le seconds · u8 (1 intact, 0 damaged) · u32le(k) · k damaged blob ids (32 each).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VerifiedFile {
    pub packs: Vec<(Verification, Vec<Id>)>,
}

impl RepoFile for VerifiedFile {
    const TYPE: FileType = FileType::Verified;

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(8 + self.packs.len() * 45);
        b.extend_from_slice(b"CVP1");
        b.extend_from_slice(&(self.packs.len() as u32).to_le_bytes());
        for (v, bad) in &self.packs {
            b.extend_from_slice(&v.pack.0);
            b.extend_from_slice(&v.at.to_le_bytes());
            b.push(u8::from(v.intact));
            b.extend_from_slice(&(bad.len() as u32).to_le_bytes());
            for id in bad {
                b.extend_from_slice(&id.0);
            }
        }
        b
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        let bad = || "not a verified-packs file".to_string();
        if plain.get(..4) != Some(b"CVP1") {
            return Err(bad());
        }
        let mut r = &plain[4..];
        let mut take = |n: usize| -> Result<&[u8], String> {
            let (a, rest) = r.split_at_checked(n).ok_or_else(bad)?;
            r = rest;
            Ok(a)
        };
        let n = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
        let mut packs = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let pack = Id(take(32)?.try_into().expect("32"));
            let at = u64::from_le_bytes(take(8)?.try_into().expect("8"));
            let intact = match take(1)?[0] {
                0 => false,
                1 => true,
                _ => return Err(bad()),
            };
            let k = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
            let mut ids = Vec::with_capacity(k.min(1 << 16));
            for _ in 0..k {
                ids.push(Id(take(32)?.try_into().expect("32")));
            }
            packs.push((Verification { pack, at, intact }, ids));
        }
        if !r.is_empty() {
            return Err(bad());
        }
        Ok(VerifiedFile { packs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let f = VerifiedFile {
            packs: vec![
                (Verification { pack: Id([1; 32]), at: 1_700_000_000, intact: true }, vec![]),
                (Verification { pack: Id([2; 32]), at: 1_700_000_100, intact: false }, vec![Id([9; 32])]),
            ],
        };
        let b = f.encode();
        assert_eq!(b.len(), 8 + 2 * 45 + 32);
        // The vector of format-spec/vectors.md (§14).
        let hex = hex::encode(&b);
        let want = [
            "43565031",
            "02000000",
            &"01".repeat(32),
            "00f1536500000000",
            "01",
            "00000000",
            &"02".repeat(32),
            "64f1536500000000",
            "00",
            "01000000",
            &"09".repeat(32),
        ]
        .concat();
        assert_eq!(hex, want);
        assert_eq!(VerifiedFile::decode(&b).unwrap(), f);
        for cut in [0, 3, 8, 20, b.len() - 1] {
            assert!(VerifiedFile::decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = b.clone();
        extra.push(0);
        assert!(VerifiedFile::decode(&extra).is_err());
    }
}
