//! One deflate stream → segments of decoded text and their corrections, each recreated
//! and compared with the original bytes before it is accepted. Shared by the gzip and the
//! PostgreSQL custom-format decoders, which differ only in where the deflate bytes sit.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::{ExitCode, PreflateConfig, PreflateStreamProcessor, RecreateStreamProcessor};

use super::decode::refuse;
use super::SEGMENT_PLAIN;

/// Compressed bytes offered to preflate at a time (doubled while it asks for more).
pub const WINDOW: usize = 1 << 20;

/// Analysis and recreation state of one deflate stream (the recreate side carries the
/// window from segment to segment, as a restore will).
pub struct Stream(Box<(PreflateStreamProcessor, RecreateStreamProcessor)>);

/// A verified segment.
pub struct Analysed {
    pub plain: Vec<u8>,
    pub corrections: Vec<u8>,
    /// Deflate bytes it covers.
    pub compressed: usize,
}

impl Stream {
    pub fn new() -> Stream {
        let cfg = PreflateConfig { max_chain_length: 4096, plain_text_limit: SEGMENT_PLAIN, verify_compression: false };
        Stream(Box::new((PreflateStreamProcessor::new(&cfg), RecreateStreamProcessor::new())))
    }

    /// Analyse the next segment from `input` (the stream's unconsumed bytes); `Ok(None)`:
    /// preflate needs more input than given, and `all` says none will come.
    pub fn next(&mut self, input: &[u8], all: bool) -> std::io::Result<Option<Analysed>> {
        let pp = &mut self.0;
        let res = catch_unwind(AssertUnwindSafe(|| pp.0.decompress(input)))
            .map_err(|_| refuse("preflate panicked while analysing"))?;
        let r = match res {
            Ok(r) => r,
            Err(e) if e.exit_code() == ExitCode::ShortRead && !all => return Ok(None),
            Err(e) => {
                let first = e.message().lines().next().unwrap_or("").to_string();
                return Err(refuse(format!("preflate: {:?} {first}", e.exit_code())));
            }
        };
        let plain = pp.0.plain_text().text().to_vec();
        // Recreate now, from exactly what will be stored, and compare.
        let orig = &input[..r.compressed_size];
        let rec = catch_unwind(AssertUnwindSafe(|| pp.1.recompress(&mut Cursor::new(&plain), &r.corrections)))
            .map_err(|_| refuse("preflate panicked while recreating"))?;
        match rec {
            Ok((bytes, _)) if bytes == orig => {}
            Ok(_) => return Err(refuse("recreated deflate bytes differ from the original")),
            Err(e) => return Err(refuse(format!("recreating: {:?}", e.exit_code()))),
        }
        pp.0.shrink_to_dictionary();
        Ok(Some(Analysed { plain, corrections: r.corrections, compressed: r.compressed_size }))
    }

    /// The deflate stream's final block has been analysed.
    pub fn is_done(&self) -> bool {
        self.0 .0.is_done()
    }
}
