//! Decoded text + recipe → the original gzip bytes.

use std::io::{Cursor, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};

use preflate_rs::RecreateStreamProcessor;

use super::framing::Framer;
use super::Recipe;
use crate::id::Id;

type Fetch<'a> = Box<dyn Fn(&Id) -> Result<Vec<u8>, crate::error::RepoError> + Send + 'a>;

/// Yields the original bytes of a gzip object from its decoded content (`content`) and
/// recipe, one segment at a time; `fetch` reads a corrections blob.
pub struct Rebuilder<'a, R> {
    content: R,
    recipe: &'a Recipe,
    fetch: Fetch<'a>,
    member: usize,
    segment: usize,
    rec: Option<RecreateStreamProcessor>,
    /// The member's frames, when its stream is framed (a pg_dump archive).
    framer: Option<Framer<'a>>,
    out: Vec<u8>,
    out_pos: usize,
    tail: bool,
}

impl<'a, R: Read> Rebuilder<'a, R> {
    pub fn new(content: R, recipe: &'a Recipe, fetch: Fetch<'a>) -> Self {
        Rebuilder {
            content,
            recipe,
            fetch,
            member: 0,
            segment: 0,
            rec: None,
            framer: None,
            out: vec![],
            out_pos: 0,
            tail: false,
        }
    }

    fn step(&mut self) -> std::io::Result<bool> {
        if self.tail {
            self.out.resize(1 << 20, 0);
            let n = self.content.read(&mut self.out)?;
            self.out.truncate(n);
            return Ok(n > 0);
        }
        let Some(m) = self.recipe.members.get(self.member) else {
            self.tail = true;
            self.out.clear();
            return Ok(true);
        };
        let Some(rec) = self.rec.as_mut() else {
            self.rec = Some(RecreateStreamProcessor::new());
            self.out = m.header.clone();
            if let Some(f) = &m.framed {
                let mut framer = Framer::new(f);
                framer.push(&f.head, &mut self.out)?;
                self.framer = Some(framer);
            }
            return Ok(true);
        };
        let Some(s) = m.segments.get(self.segment) else {
            self.out.clear();
            if let (Some(mut framer), Some(f)) = (self.framer.take(), &m.framed) {
                framer.push(&f.tail, &mut self.out)?;
                framer.finish()?;
            }
            self.out.extend_from_slice(&m.trailer);
            self.rec = None;
            self.member += 1;
            self.segment = 0;
            return Ok(true);
        };
        let mut plain = vec![0; s.plain as usize];
        self.content.read_exact(&mut plain)?;
        let corrections = (self.fetch)(&s.corrections).map_err(std::io::Error::other)?;
        let r = catch_unwind(AssertUnwindSafe(|| rec.recompress(&mut Cursor::new(&plain), &corrections)))
            .map_err(|_| std::io::Error::other("preflate panicked while recreating a gzip stream"))?;
        let deflate = r
            .map_err(|e| std::io::Error::other(format!("recreating gzip stream: {:?} {}", e.exit_code(), e.message())))?
            .0;
        match self.framer.as_mut() {
            Some(framer) => {
                self.out.clear();
                framer.push(&deflate, &mut self.out)?;
            }
            None => self.out = deflate,
        }
        self.segment += 1;
        Ok(true)
    }
}

impl<R: Read> Read for Rebuilder<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.out_pos == self.out.len() {
            self.out_pos = 0;
            if !self.step()? {
                self.out.clear();
                return Ok(0);
            }
        }
        let n = out.len().min(self.out.len() - self.out_pos);
        out[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}
