//! What an object's ETag says about how it was uploaded. A multipart ETag is
//! `"<md5 of the parts' md5s>-<N>"`; an upload that cuts the same bytes into the same parts
//! gets the same ETag back, so a restored bucket looks unchanged to ETag-based tools
//! (cellar's own incremental backup included).

/// Part sizes common tools use, most likely first: Thanos/Mimir (64 MiB), boto3 and the
/// AWS CLI (8 MiB), rclone (5 MiB), minio-go (16 MiB), s3cmd (15 MiB), 32 and 128 MiB.
const COMMON_PARTS_MIB: [u64; 7] = [64, 8, 5, 16, 15, 32, 128];

/// The smallest part S3 accepts (all parts but the last).
const MIN_PART: u64 = 5 << 20;

/// The part size that reproduces `etag` for an object of `size` bytes: `None` for a
/// single-part ETag (or none at all). With N parts every part but the last has the same
/// size P, so (N-1)·P < size ≤ N·P; of the sizes that fit, a common one is preferred,
/// then the smallest whole number of MiB, then the smallest P.
pub fn part_size_of(size: u64, etag: &str) -> Option<u64> {
    let (_, n) = etag.trim_matches('"').rsplit_once('-')?;
    let n: u64 = n.parse().ok().filter(|&n| n >= 1)?;
    if size == 0 {
        return None;
    }
    let lo = size.div_ceil(n); // the smallest P with N·P ≥ size
    let hi = if n == 1 { u64::MAX } else { (size - 1) / (n - 1) }; // the largest P with (N-1)·P < size
    if lo > hi {
        return None; // not a size S3 could have cut into N parts
    }
    let fits = |p: u64| (lo..=hi).contains(&p) && (n == 1 || p >= MIN_PART);
    let mib = 1 << 20;
    COMMON_PARTS_MIB
        .iter()
        .map(|m| m * mib)
        .find(|&p| fits(p))
        .or_else(|| Some(lo.div_ceil(mib) * mib).filter(|&p| fits(p)))
        .or_else(|| Some(lo.max(MIN_PART)).filter(|&p| fits(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn common_part_sizes_are_recognised() {
        // boto3: 20 MiB in 8 MiB parts → 3 parts.
        assert_eq!(part_size_of(20 * MIB, "\"0123-3\""), Some(8 * MIB));
        // Thanos: 200 MiB in 64 MiB parts → 4 parts.
        assert_eq!(part_size_of(200 * MIB, "abc-4"), Some(64 * MIB));
        // rclone: 12 MiB in 5 MiB parts → 3 parts (8 MiB would make 2).
        assert_eq!(part_size_of(12 * MIB, "x-3"), Some(5 * MIB));
        // A one-part multipart upload.
        assert_eq!(part_size_of(3 * MIB, "x-1"), Some(64 * MIB));
    }

    #[test]
    fn other_sizes_fall_back_to_whole_mebibytes_then_bytes() {
        // 100 MiB in 9 parts: no common size fits (11.2 MiB < P ≤ 12.5 MiB).
        assert_eq!(part_size_of(100 * MIB, "x-9"), Some(12 * MIB));
        // 2 parts: any P from 10 MiB + 3 bytes to 20 MiB + 4 bytes; 16 MiB is common.
        assert_eq!(part_size_of(20 * MIB + 5, "x-2"), Some(16 * MIB));
        // 20 parts: 5 MiB + 7 bytes ≤ P ≤ ~5.26 MiB holds no whole MiB.
        assert_eq!(part_size_of(20 * (5 * MIB + 7), "x-20"), Some(5 * MIB + 7));
    }

    #[test]
    fn single_part_and_impossible_etags_give_none() {
        assert_eq!(part_size_of(10 * MIB, "\"d41d8cd98f00b204e9800998ecf8427e\""), None);
        assert_eq!(part_size_of(0, "x-2"), None);
        assert_eq!(part_size_of(10, "x-20"), None, "20 parts cannot hold 10 bytes");
        assert_eq!(part_size_of(6 * MIB, "x-3"), None, "parts below 5 MiB are not allowed");
    }
}
