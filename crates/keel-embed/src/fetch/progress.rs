//! How a fetch reports what it does, and how its caller stops it.

/// Receives a fetch's progress; says whether to stop.
///
/// Any `FnMut(&str)` is one: it receives the steps and ignores byte counts.
pub trait FetchProgress {
    /// One step of the fetch, as a line of text.
    fn step(&mut self, line: &str);

    /// `done` of `total` bytes of the file `name` have been downloaded (called per chunk).
    fn download(&mut self, name: &str, done: u64, total: u64) {
        let _ = (name, done, total);
    }

    /// Whether the caller wants the fetch stopped; checked between steps and downloaded
    /// chunks. A stopped fetch fails with [`EmbedError::Cancelled`](crate::EmbedError) and
    /// leaves nothing behind.
    fn cancelled(&self) -> bool {
        false
    }
}

impl<F: FnMut(&str)> FetchProgress for F {
    fn step(&mut self, line: &str) {
        self(line);
    }
}
