//! Gzip-transparent storage. Gzip scrambles every byte after a change, so two daily dumps
//! that differ in a few rows share no chunk. A gzip object is therefore stored as its
//! decoded text (chunked and deduplicated like any text) plus a small [`Recipe`]: the
//! member headers and trailers verbatim and, per decoded segment, preflate's correction
//! data, which recreates the exact original deflate bytes from the text.
//!
//! [`Decoder`] turns a gzip stream into text while building the recipe, and recreates
//! every segment right away, comparing it with the original bytes: a stream that does
//! not come back bit-exact is refused ([`NotReproducible`]) and stored as raw bytes.
//! [`Rebuilder`] turns text and recipe back into the original bytes. Both work segment by
//! segment, so memory is bounded whatever the object size (format-spec/README.md §8).

mod analyse;
mod container;
mod decode;
mod framing;
mod input;
mod pg_custom;
mod rebuild;

pub use container::header_len;
pub use decode::{Decoded, DecodedMember, Decoder, NotReproducible};
pub use framing::Framed;
pub use pg_custom::{is_pg_custom, PgCustomDecoder};
pub use rebuild::Rebuilder;

use serde::{Deserialize, Serialize};

use crate::id::Id;

/// A decoder of a compressed container (gzip, a pg_dump archive): yields the decoded
/// content, then tells how to recreate the original from it.
pub trait Decode: std::io::Read {
    /// Decoded bytes returned so far.
    fn emitted(&self) -> u64;
    /// The recipe parts and counts; call after `read` returned 0.
    fn finish(self: Box<Self>) -> Decoded;
}

/// Decoded bytes per segment: the unit of preflate analysis and recreation. Bounds the
/// memory of backup and restore (preflate holds about 10× this while analysing).
pub const SEGMENT_PLAIN: usize = 4 << 20;

/// How to recreate a gzip object from its decoded content. Stored in the file's tree node;
/// the node's `content` is the decoded text of every member in order, followed by any
/// bytes after the last member (kept verbatim).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Recipe {
    /// Bytes of the node's content: decoded text plus the raw tail.
    pub content_len: u64,
    pub members: Vec<Member>,
}

/// One gzip member (RFC 1952): header, deflate stream, CRC-32 and ISIZE trailer. Or, with
/// `framed` (format v5), one zlib stream of a PostgreSQL custom-format archive: `header` is
/// every archive byte before it, and the stream's bytes are cut into length-prefixed frames.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Member {
    /// The header bytes exactly as found (name, comment, extra field and all).
    #[serde(with = "b64")]
    pub header: Vec<u8>,
    /// How the deflate bytes sit in the object when they are not one contiguous run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framed: Option<Framed>,
    pub segments: Vec<Segment>,
    /// The 8 trailer bytes (empty for a framed member).
    #[serde(with = "b64")]
    pub trailer: Vec<u8>,
}

/// A run of decoded bytes and the corrections that recreate its deflate bytes (preflate
/// continues from the previous segment of the member: segments are recreated in order).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Segment {
    pub plain: u64,
    /// Data blob holding preflate's correction bytes for this segment.
    pub corrections: Id,
}

impl Recipe {
    /// Bytes of decoded text at the start of the content (the rest is the raw tail).
    pub fn decoded_len(&self) -> u64 {
        self.members.iter().flat_map(|m| &m.segments).map(|s| s.plain).sum()
    }

    /// Whether the object is a PostgreSQL custom-format archive rather than gzip: its
    /// content is then not what `zcat` prints, and only format v5 repositories hold it.
    pub fn framed(&self) -> bool {
        self.members.iter().any(|m| m.framed.is_some())
    }

    /// Blobs the recipe references (besides the node's content).
    pub fn blobs(&self) -> impl Iterator<Item = &Id> {
        self.members.iter().flat_map(|m| &m.segments).map(|s| &s.corrections)
    }
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}
