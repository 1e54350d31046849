//! Retention logs (`retention/<id>`, format-spec §15): which locked files a lock extension
//! moved to which date. S3 lists a file's write time but not its lock, so without them
//! every extension would have to ask for every file's lock (one request per pack). Hints
//! only: a lost or damaged log makes the next extension extend more than needed, never
//! less. Not locked themselves; each extension writes one log holding every entry still in
//! force and removes the older logs.

use super::{FileType, RepoFile};
use crate::id::Id;

/// One locked file and the date its lock was extended to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Extended {
    pub kind: FileType,
    /// Zero for `config`.
    pub id: Id,
    /// Seconds since the Unix epoch.
    pub until: i64,
}

/// The plaintext: `"CRL1" u32le(n) entry*`, entry = u8 kind (0 config, 1 key, 2 pack,
/// 3 index, 4 snapshot, 5 session (format v4)) · id (32 bytes) · i64le until.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RetentionLog {
    pub entries: Vec<Extended>,
}

const KINDS: [FileType; 6] =
    [FileType::Config, FileType::Key, FileType::Pack, FileType::Index, FileType::Snapshot, FileType::Session];

impl Extended {
    /// The file's storage name.
    pub fn name(&self) -> String {
        self.kind.name(&self.id)
    }
}

impl RepoFile for RetentionLog {
    const TYPE: FileType = FileType::RetentionLog;

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(8 + self.entries.len() * 41);
        b.extend_from_slice(b"CRL1");
        b.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for e in &self.entries {
            let code = KINDS.iter().position(|k| *k == e.kind).expect("only locked kinds are logged");
            b.push(code as u8);
            b.extend_from_slice(&e.id.0);
            b.extend_from_slice(&e.until.to_le_bytes());
        }
        b
    }

    fn decode(plain: &[u8]) -> Result<Self, String> {
        let rest = plain.strip_prefix(b"CRL1").ok_or("not a retention log (magic)")?;
        let (n, mut rest) = rest.split_first_chunk::<4>().ok_or("truncated header")?;
        let n = u32::from_le_bytes(*n) as usize;
        if rest.len() != n.checked_mul(41).ok_or("entry count overflows")? {
            return Err(format!("{} bytes of entries for {n} entries", rest.len()));
        }
        let mut entries = Vec::with_capacity(n);
        while let Some((code, r)) = rest.split_first() {
            let kind = *KINDS.get(usize::from(*code)).ok_or_else(|| format!("unknown file kind {code}"))?;
            let (id, r) = r.split_first_chunk::<32>().ok_or("truncated entry")?;
            let (until, r) = r.split_first_chunk::<8>().ok_or("truncated entry")?;
            entries.push(Extended { kind, id: Id(*id), until: i64::from_le_bytes(*until) });
            rest = r;
        }
        Ok(RetentionLog { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_damage() {
        let log = RetentionLog {
            entries: vec![
                Extended { kind: FileType::Config, id: Id([0; 32]), until: 1_800_000_000 },
                Extended { kind: FileType::Pack, id: Id([0x11; 32]), until: 1_800_086_400 },
            ],
        };
        let b = log.encode();
        assert_eq!(b.len(), 8 + 2 * 41);
        // The vector of format-spec/vectors.md (§15).
        let want = [
            "43524c31",
            "02000000",
            "00",
            &"00".repeat(32),
            "00d2496b00000000",
            "02",
            &"11".repeat(32),
            "80234b6b00000000",
        ]
        .concat();
        assert_eq!(hex::encode(&b), want);
        assert_eq!(RetentionLog::decode(&b).unwrap(), log);
        assert!(RetentionLog::decode(&b[..b.len() - 1]).is_err());
        let mut bad = b.clone();
        bad[8] = 9;
        assert!(RetentionLog::decode(&bad).unwrap_err().contains("unknown file kind"));
    }
}
