//! The ONNX engine's files: `model.onnx`, written from the weights, and the ONNX Runtime
//! shared library, taken from the pinned `onnxruntime` wheel (the library inside does not
//! depend on Python).

use std::fs::File;
use std::path::Path;

use super::progress::FetchProgress;
use super::wheels::ONNXRUNTIME_WHEEL;
use super::{download, install, io, open_wheel};
use crate::error::EmbedError;
use crate::onnx::write_graph;
use crate::store::{CONFIG, ModelFiles, ModelStore, ONNX_GRAPH, ONNX_RUNTIME, WEIGHTS, missing};

/// Where the library sits in the wheel.
const WHEEL_LIBRARY_DIR: &str = "onnxruntime/capi/";

impl ModelStore {
    /// Adds the ONNX engine's files to an installed model: writes `model.onnx` and
    /// fetches the ONNX Runtime library (the pinned wheel, about 28 MB) into a staging
    /// directory inside the model directory, then renames each into place. The candle
    /// engine's files are left alone. Blocks for the whole download.
    pub fn fetch_onnx(&self, mut progress: impl FetchProgress) -> Result<ModelFiles, EmbedError> {
        self.fetch_onnx_files(&mut progress)
    }

    pub(super) fn fetch_onnx_files(
        &self,
        progress: &mut dyn FetchProgress,
    ) -> Result<ModelFiles, EmbedError> {
        self.locate()?;
        let stage = tempfile::Builder::new()
            .prefix(".onnx.")
            .tempdir_in(self.dir())
            .map_err(io("create staging directory in", self.dir()))?;
        let staged = stage.path().join("files");
        std::fs::create_dir_all(&staged).map_err(io("create directory", &staged))?;
        add_engine_files(self.dir(), &staged, stage.path(), self, progress)?;
        let runtime_dir = |root: &Path| root.join(ONNX_RUNTIME).parent().map(Path::to_path_buf);
        if let (Some(from), Some(to)) = (runtime_dir(&staged), runtime_dir(self.dir())) {
            install(&from, &to, &stage.path().join("previous-runtime"))?;
        }
        install(
            &staged.join(ONNX_GRAPH),
            &self.dir().join(ONNX_GRAPH),
            &stage.path().join("previous-graph"),
        )?;
        progress.step(&format!("ONNX engine files in {}", self.dir().display()));
        Ok(self.locate()?)
    }
}

/// Writes `model.onnx` and the ONNX Runtime library into `out`, reading the weights from
/// `model_dir`; `scratch` takes the downloaded wheel unless `store` has a wheel cache.
pub(super) fn add_engine_files(
    model_dir: &Path,
    out: &Path,
    scratch: &Path,
    store: &ModelStore,
    progress: &mut dyn FetchProgress,
) -> Result<(), EmbedError> {
    let wheel = ONNXRUNTIME_WHEEL.ok_or(EmbedError::NoRuntimeWheel {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    })?;
    progress.step(&format!("writing {ONNX_GRAPH} from {WEIGHTS}"));
    let bytes = write_graph(
        &model_dir.join(CONFIG),
        &model_dir.join(WEIGHTS),
        &out.join(ONNX_GRAPH),
    )?;
    progress.step(&format!("  {ONNX_GRAPH} ({bytes} bytes)"));
    if progress.cancelled() {
        return Err(EmbedError::Cancelled);
    }
    let wheel_path = download::obtain(
        &wheel,
        store.source(),
        store.python(),
        store.wheel_cache(),
        scratch,
        progress,
    )?;
    extract_library(&wheel_path, &out.join(ONNX_RUNTIME), progress)
}

/// Whether a wheel entry is the ONNX Runtime library itself (not the Python extension
/// or the shared-provider stub).
fn is_runtime_library(entry: &str) -> bool {
    entry.strip_prefix(WHEEL_LIBRARY_DIR).is_some_and(|file| {
        file.starts_with("libonnxruntime.so")
            || (file.starts_with("libonnxruntime.") && file.ends_with(".dylib"))
    })
}

/// Copies the library out of the `onnxruntime` wheel to `target`.
fn extract_library(
    wheel: &Path,
    target: &Path,
    progress: &mut dyn FetchProgress,
) -> Result<(), EmbedError> {
    let zip_err = |source| EmbedError::Wheel {
        path: wheel.to_path_buf(),
        source,
    };
    let mut archive = open_wheel(wheel)?;
    let entry = archive
        .file_names()
        .filter_map(Result::ok)
        .find(|name| is_runtime_library(name))
        .map(|name| name.into_owned())
        .ok_or_else(|| EmbedError::WheelEntryMissing {
            wheel: wheel.to_path_buf(),
            entry: format!("{WHEEL_LIBRARY_DIR}libonnxruntime.*"),
        })?;
    let mut source = archive.by_name(&entry).map_err(zip_err)?;
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    }
    let mut sink = File::create(target).map_err(io("create", target))?;
    let bytes = std::io::copy(&mut source, &mut sink).map_err(io("write", target))?;
    sink.sync_all().map_err(io("sync", target))?;
    if bytes == 0 || missing(target).is_some() {
        return Err(EmbedError::WheelEntryMissing {
            wheel: wheel.to_path_buf(),
            entry,
        });
    }
    progress.step(&format!("  {ONNX_RUNTIME} ({bytes} bytes, from {entry})"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn only_the_runtime_library_is_taken_from_the_wheel() {
        assert!(is_runtime_library(
            "onnxruntime/capi/libonnxruntime.so.1.32.0"
        ));
        assert!(is_runtime_library(
            "onnxruntime/capi/libonnxruntime.1.32.0.dylib"
        ));
        assert!(!is_runtime_library(
            "onnxruntime/capi/libonnxruntime_providers_shared.so"
        ));
        assert!(!is_runtime_library(
            "onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so"
        ));
        assert!(!is_runtime_library("other/libonnxruntime.so"));
    }

    #[test]
    fn the_library_is_extracted_and_a_wheel_without_it_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("onnxruntime-1.32.0-cp311-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&wheel).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for (name, bytes) in [
            (
                "onnxruntime/capi/libonnxruntime_providers_shared.so",
                b"stub",
            ),
            ("onnxruntime/capi/libonnxruntime.so.1.32.0", b"\x7fELF"),
        ] {
            zip.start_file(name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        let target = tmp.path().join("out").join(ONNX_RUNTIME);
        extract_library(&wheel, &target, &mut |_: &str| {}).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"\x7fELF");

        let empty = tmp.path().join("empty.whl");
        zip::ZipWriter::new(File::create(&empty).unwrap())
            .finish()
            .unwrap();
        let err = extract_library(&empty, &target, &mut |_: &str| {}).unwrap_err();
        assert!(matches!(err, EmbedError::WheelEntryMissing { .. }), "{err}");
    }
}
