//! The gzip container (RFC 1952) around a deflate stream. Only the layout matters here:
//! header bytes are kept verbatim, so every flag combination round-trips.

/// Length of the gzip member header at the start of `buf`: `Ok(Some(n))`, `Ok(None)` when
/// `buf` ends inside a header that looks valid so far, `Err(())` when it is not a header.
#[allow(clippy::result_unit_err)]
pub fn header_len(buf: &[u8]) -> Result<Option<usize>, ()> {
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let magic = [0x1f, 0x8b, 0x08];
    let n = buf.len().min(3);
    if buf[..n] != magic[..n] {
        return Err(());
    }
    let Some(&flags) = buf.get(3) else { return Ok(None) };
    if flags & 0xe0 != 0 {
        return Err(()); // reserved flag bits must be zero
    }
    let mut p = 10;
    if flags & FEXTRA != 0 {
        let Some(x) = buf.get(10..12) else { return Ok(None) };
        p += 2 + u16::from_le_bytes([x[0], x[1]]) as usize;
    }
    for bit in [FNAME, FCOMMENT] {
        if flags & bit != 0 {
            match buf.get(p..).and_then(|r| r.iter().position(|&b| b == 0)) {
                Some(z) => p += z + 1,
                None if buf.len() - p.min(buf.len()) > MAX_STRING => return Err(()),
                None => return Ok(None),
            }
        }
    }
    if flags & FHCRC != 0 {
        p += 2;
    }
    Ok((p <= buf.len()).then_some(p))
}

/// File name and comment longer than this are taken as "not gzip".
const MAX_STRING: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        let plain = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(header_len(&plain), Ok(Some(10)));
        assert_eq!(header_len(&plain[..5]), Ok(None));
        let mut named = vec![0x1f, 0x8b, 8, 0x08 | 0x04 | 0x02, 0, 0, 0, 0, 0, 3, 2, 0, b'x', b'y'];
        named.extend_from_slice(b"dump.sql\0");
        named.extend_from_slice(&[0xaa, 0xbb]);
        assert_eq!(header_len(&named), Ok(Some(named.len())));
        assert_eq!(header_len(&named[..15]), Ok(None));
        assert_eq!(header_len(b"BZh91AY&SY"), Err(()));
        assert_eq!(header_len(&[0x1f, 0x8b, 8, 0x20]), Err(()));
        assert_eq!(header_len(&[0x1f, 0x8b, 7]), Err(()));
    }
}
