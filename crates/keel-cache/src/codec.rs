//! The compact binary form of an [`Entry`] stored in Redis.
//!
//! Layout (integers little-endian): version byte `1`; `stored_at` u64; `fresh_for`,
//! `fresh_max`, `stale_for` as u64 milliseconds; tag count u16, then per tag its length u16,
//! its UTF-8 bytes and its generation u64; value length u32 and the value. Nothing may follow.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::entry::Entry;
use crate::key::Tag;

const VERSION: u8 = 1;

/// Why stored bytes are not an entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// The first byte names a layout this build does not know.
    #[error("unknown entry format version {0}")]
    Version(u8),
    /// The bytes end before the entry does.
    #[error("entry truncated")]
    Truncated,
    /// Bytes follow the end of the entry.
    #[error("{0} trailing bytes after entry")]
    Trailing(usize),
    /// A tag is not UTF-8.
    #[error("tag is not UTF-8")]
    TagUtf8,
    /// A field does not fit the layout (too many tags, tag or value too long).
    #[error("entry field too large for the format")]
    TooLarge,
}

/// Encodes `entry` for Redis.
pub fn encode(entry: &Entry) -> Result<Bytes, CodecError> {
    let tag_count = u16::try_from(entry.tags.len()).map_err(|_| CodecError::TooLarge)?;
    let value_len = u32::try_from(entry.value.len()).map_err(|_| CodecError::TooLarge)?;
    let tags_len: usize = entry.tags.iter().map(|tag| tag.as_str().len() + 10).sum();
    let mut out = BytesMut::with_capacity(1 + 32 + 2 + tags_len + 4 + entry.value.len());
    out.put_u8(VERSION);
    out.put_u64_le(entry.stored_at);
    out.put_u64_le(millis(entry.fresh_for));
    out.put_u64_le(millis(entry.fresh_max));
    out.put_u64_le(millis(entry.stale_for));
    out.put_u16_le(tag_count);
    for (index, tag) in entry.tags.iter().enumerate() {
        let name = tag.as_str().as_bytes();
        out.put_u16_le(u16::try_from(name.len()).map_err(|_| CodecError::TooLarge)?);
        out.put_slice(name);
        out.put_u64_le(entry.generations.get(index).copied().unwrap_or(0));
    }
    out.put_u32_le(value_len);
    out.put_slice(&entry.value);
    Ok(out.freeze())
}

/// Decodes bytes written by [`encode`]; the value shares `bytes`' buffer.
pub fn decode(bytes: &Bytes) -> Result<Entry, CodecError> {
    let mut reader = Reader { bytes, at: 0 };
    let version = reader.u8()?;
    if version != VERSION {
        return Err(CodecError::Version(version));
    }
    let stored_at = reader.u64()?;
    let fresh_for = Duration::from_millis(reader.u64()?);
    let fresh_max = Duration::from_millis(reader.u64()?);
    let stale_for = Duration::from_millis(reader.u64()?);
    let tag_count = usize::from(reader.u16()?);
    let mut tags = Vec::with_capacity(tag_count.min(64));
    let mut generations = Vec::with_capacity(tag_count.min(64));
    for _ in 0..tag_count {
        let len = usize::from(reader.u16()?);
        let name = std::str::from_utf8(reader.take(len)?).map_err(|_| CodecError::TagUtf8)?;
        tags.push(Tag(Arc::from(name)));
        generations.push(reader.u64()?);
    }
    let value_len = usize::try_from(reader.u32()?).map_err(|_| CodecError::TooLarge)?;
    let start = reader.at;
    reader.take(value_len)?;
    let value = bytes.slice(start..reader.at);
    let trailing = bytes.len() - reader.at;
    if trailing != 0 {
        return Err(CodecError::Trailing(trailing));
    }
    Ok(Entry {
        value,
        stored_at,
        fresh_for,
        fresh_max,
        stale_for,
        tags,
        generations,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        let end = self.at.checked_add(len).ok_or(CodecError::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(CodecError::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        self.take(N)?.try_into().map_err(|_| CodecError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttl::TtlPolicy;

    fn sample() -> Entry {
        let policy = TtlPolicy::new(Duration::from_secs(5), Duration::from_secs(80));
        let tags = vec![Tag::new("tool:query"), Tag::new("user:é")];
        let mut entry = Entry::new(
            Bytes::from_static(b"{\"ok\":1}"),
            &policy,
            Duration::from_secs(30),
            tags,
        );
        entry.stored_at = 1_700_000_000_123;
        entry.generations = vec![3, 9];
        entry
    }

    #[test]
    fn round_trip() {
        let entry = sample();
        let bytes = encode(&entry).expect("encodes");
        assert_eq!(decode(&bytes), Ok(entry));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encode(&sample()).expect("encodes");
        for len in 0..bytes.len() {
            assert_eq!(
                decode(&bytes.slice(..len)),
                Err(CodecError::Truncated),
                "at {len}"
            );
        }
    }

    #[test]
    fn malformed_input_is_rejected() {
        let bytes = encode(&sample()).expect("encodes");
        let mut trailing = bytes.to_vec();
        trailing.push(0);
        assert_eq!(decode(&Bytes::from(trailing)), Err(CodecError::Trailing(1)));

        let mut version = bytes.to_vec();
        version[0] = 7;
        assert_eq!(decode(&Bytes::from(version)), Err(CodecError::Version(7)));

        // First tag name starts after header (33 bytes) + count (2) + length (2).
        let mut utf8 = bytes.to_vec();
        utf8[37] = 0xff;
        assert_eq!(decode(&Bytes::from(utf8)), Err(CodecError::TagUtf8));

        // A huge tag count or value length runs out of bytes instead of allocating.
        let mut count = bytes.to_vec();
        count[33] = 0xff;
        count[34] = 0xff;
        assert_eq!(decode(&Bytes::from(count)), Err(CodecError::Truncated));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300 {
            let noise: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut framed = noise.clone();
            if let Some(first) = framed.first_mut() {
                *first = VERSION;
            }
            let _ = decode(&Bytes::from(noise));
            let _ = decode(&Bytes::from(framed));
        }
    }
}
