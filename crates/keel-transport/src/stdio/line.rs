//! Newline-delimited input read with a bounded buffer.
//!
//! `AsyncBufReadExt::read_until` appends until it meets the delimiter, so a line without a
//! newline grows the buffer with the input. tokio-util's `AnyDelimiterCodec` has a length
//! limit, but `FramedRead` ends the stream after a decode error, and a refused line must not
//! end the session; hence this small reader over `fill_buf` / `consume`.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Capacity the line buffer may keep between messages: a larger line's allocation is
/// released before the next read, so an idle server holds no past message's worth of memory.
const KEEP: usize = 1024 * 1024;

/// One line of input, as [`LineReader::next`] found it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// A message line with its newline (`\r\n` or `\n`), or without one when input ended.
    Message(&'a [u8]),
    /// A line longer than the limit; its bytes were discarded through its newline.
    TooLong,
}

/// Reads lines of at most `max` bytes (not counting the `\n`) from a buffered reader,
/// holding at most `max + 1` bytes of any line.
pub(super) struct LineReader<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
    /// `buf` holds a line already returned; it is cleared on the next read.
    returned: bool,
    /// The current line went past `max`: its bytes are dropped up to the next newline.
    discarding: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader refusing lines longer than `max` bytes.
    pub(super) fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            max,
            buf: Vec::new(),
            returned: false,
            discarding: false,
        }
    }

    /// The next line, or `None` at the end of input. Cancel safe: a partly read line stays
    /// buffered for the next call.
    pub(super) async fn next(&mut self) -> io::Result<Option<Line<'_>>> {
        if std::mem::take(&mut self.returned) {
            self.buf.clear();
            self.buf.shrink_to(KEEP);
        }
        loop {
            let chunk = self.reader.fill_buf().await?;
            if chunk.is_empty() {
                // End of input: a last line without its newline is still served.
                self.returned = true;
                if std::mem::take(&mut self.discarding) {
                    return Ok(Some(Line::TooLong));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Line::Message(&self.buf)));
            }
            let newline = memchr::memchr(b'\n', chunk);
            let content = newline.unwrap_or(chunk.len());
            let used = newline.map_or(chunk.len(), |i| i + 1);
            if !self.discarding {
                if self.buf.len() + content > self.max {
                    self.discarding = true;
                    self.buf.clear();
                    self.buf.shrink_to(KEEP);
                } else {
                    let wanted = self.buf.len() + used;
                    if wanted > self.buf.capacity() {
                        // Doubling as `Vec` does, but never past the longest line kept.
                        let cap = wanted.max(self.buf.capacity() * 2).min(self.max + 1);
                        self.buf.reserve_exact(cap - self.buf.len());
                    }
                    self.buf.extend_from_slice(&chunk[..used]);
                }
            }
            self.reader.consume(used);
            if newline.is_some() {
                self.returned = true;
                if std::mem::take(&mut self.discarding) {
                    return Ok(Some(Line::TooLong));
                }
                return Ok(Some(Line::Message(&self.buf)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use tokio::io::{AsyncWriteExt, BufReader};

    use super::*;

    /// A reader over `input` whose `fill_buf` hands out `chunk` bytes at a time.
    fn reader(input: &[u8], chunk: usize, max: usize) -> LineReader<BufReader<&[u8]>> {
        LineReader::new(BufReader::with_capacity(chunk, input), max)
    }

    async fn message<R: AsyncBufRead + Unpin>(r: &mut LineReader<R>) -> Vec<u8> {
        match r.next().await.expect("read") {
            Some(Line::Message(m)) => m.to_vec(),
            other => panic!("a message expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn line_of_exactly_the_limit_is_served() {
        for chunk in [1, 3, 64] {
            let mut r = reader(b"12345678\n{}\n", chunk, 8);
            assert_eq!(message(&mut r).await, b"12345678\n");
            assert_eq!(message(&mut r).await, b"{}\n");
            assert_eq!(r.next().await.expect("read"), None);
        }
    }

    #[tokio::test]
    async fn one_byte_over_the_limit_is_refused_and_the_next_line_served() {
        for chunk in [1, 3, 64] {
            let mut r = reader(b"123456789\n{}\n", chunk, 8);
            assert_eq!(r.next().await.expect("read"), Some(Line::TooLong));
            assert_eq!(message(&mut r).await, b"{}\n");
            assert_eq!(r.next().await.expect("read"), None);
        }
    }

    #[tokio::test]
    async fn long_line_is_dropped_through_its_newline_without_being_kept() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\n{\"a\":1}\n");
        let mut r = reader(&input, 7, 16);
        assert_eq!(r.next().await.expect("read"), Some(Line::TooLong));
        assert!(r.buf.capacity() <= 17, "kept {}", r.buf.capacity());
        assert_eq!(message(&mut r).await, b"{\"a\":1}\n");
    }

    #[tokio::test]
    async fn crlf_lines_keep_their_ending_and_blank_lines_are_lines() {
        let mut r = reader(b"{}\r\n\r\n\n[1]\r\n", 2, 8);
        assert_eq!(message(&mut r).await, b"{}\r\n");
        assert_eq!(message(&mut r).await, b"\r\n");
        assert_eq!(message(&mut r).await, b"\n");
        assert_eq!(message(&mut r).await, b"[1]\r\n");
        assert_eq!(r.next().await.expect("read"), None);
    }

    #[tokio::test]
    async fn input_ending_mid_line_serves_that_line_then_ends() {
        let mut r = reader(b"{}\n{\"last\":1}", 4, 16);
        assert_eq!(message(&mut r).await, b"{}\n");
        assert_eq!(message(&mut r).await, b"{\"last\":1}");
        assert_eq!(r.next().await.expect("read"), None);
        assert_eq!(r.next().await.expect("read"), None);
    }

    #[tokio::test]
    async fn input_ending_mid_oversized_line_refuses_it_then_ends() {
        let input = vec![b'x'; 1000];
        let mut r = reader(&input, 5, 16);
        assert_eq!(r.next().await.expect("read"), Some(Line::TooLong));
        assert_eq!(r.next().await.expect("read"), None);
        assert_eq!(reader(b"", 5, 16).next().await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_large_line_does_not_grow_the_buffer_past_the_limit_nor_keep_it() {
        let max = 3 * KEEP;
        let mut input = vec![b' '; max];
        input.extend_from_slice(b"\n{}\n");
        let mut r = reader(&input, 8192, max);
        assert_eq!(message(&mut r).await.len(), max + 1);
        assert!(r.buf.capacity() <= max + 1, "grew to {}", r.buf.capacity());
        assert_eq!(message(&mut r).await, b"{}\n");
        assert!(r.buf.capacity() <= KEEP, "kept {}", r.buf.capacity());
    }

    #[tokio::test]
    async fn a_cancelled_read_loses_nothing() {
        let (mut tx, rx) = tokio::io::duplex(64);
        let mut r = LineReader::new(BufReader::new(rx), 16);
        tx.write_all(b"{\"a\"").await.expect("write");
        assert!(r.next().now_or_never().is_none(), "no line yet");
        tx.write_all(b":1}\n").await.expect("write");
        assert_eq!(message(&mut r).await, b"{\"a\":1}\n");
        drop(tx);
        assert_eq!(r.next().await.expect("read"), None);
    }
}
