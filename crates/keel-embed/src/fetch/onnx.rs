//! The ONNX engine's files: `model.onnx`, written from the weights, and the ONNX Runtime
//! shared library, taken from PyPI's `onnxruntime` wheel (the library inside does not
//! depend on Python).

use std::fs::File;
use std::path::Path;

use super::{find_wheel, install, io, open_wheel, run_pip};
use crate::error::EmbedError;
use crate::onnx::write_graph;
use crate::store::{CONFIG, ModelFiles, ModelStore, ONNX_GRAPH, ONNX_RUNTIME, WEIGHTS, missing};

/// The `onnxruntime` release whose library the fetch installs: the version the engine is
/// measured and tested with (ort's `api-22` needs at least 1.22).
pub const ONNXRUNTIME_REQUIREMENT: &str = "onnxruntime==1.32.0";

/// Where the library sits in the wheel.
const WHEEL_LIBRARY_DIR: &str = "onnxruntime/capi/";

impl ModelStore {
    /// Adds the ONNX engine's files to an installed model: writes `model.onnx` and
    /// fetches the ONNX Runtime library (about 28 MB from PyPI) into a staging directory
    /// inside the model directory, then renames each into place. The candle engine's files
    /// are left alone. Blocks for the whole download.
    pub fn fetch_onnx(&self, mut progress: impl FnMut(&str)) -> Result<ModelFiles, EmbedError> {
        self.locate()?;
        let stage = tempfile::Builder::new()
            .prefix(".onnx.")
            .tempdir_in(self.dir())
            .map_err(io("create staging directory in", self.dir()))?;
        let staged = stage.path().join("files");
        std::fs::create_dir_all(&staged).map_err(io("create directory", &staged))?;
        add_engine_files_from(
            self.dir(),
            &staged,
            stage.path(),
            self.python(),
            &mut progress,
        )?;
        let runtime_dir = |root: &Path| root.join(ONNX_RUNTIME).parent().map(Path::to_path_buf);
        if let (Some(from), Some(to)) = (runtime_dir(&staged), runtime_dir(self.dir())) {
            install(&from, &to, &stage.path().join("previous-runtime"))?;
        }
        install(
            &staged.join(ONNX_GRAPH),
            &self.dir().join(ONNX_GRAPH),
            &stage.path().join("previous-graph"),
        )?;
        progress(&format!("ONNX engine files in {}", self.dir().display()));
        Ok(self.locate()?)
    }
}

/// Writes `model.onnx` and the ONNX Runtime library into `model_dir`, which already holds
/// the model files; `scratch` takes the downloaded wheel.
pub(super) fn add_engine_files(
    model_dir: &Path,
    scratch: &Path,
    python: &std::ffi::OsStr,
    progress: &mut impl FnMut(&str),
) -> Result<(), EmbedError> {
    add_engine_files_from(model_dir, model_dir, scratch, python, progress)
}

/// As [`add_engine_files`], reading the weights from `model_dir` and writing into `out`.
fn add_engine_files_from(
    model_dir: &Path,
    out: &Path,
    scratch: &Path,
    python: &std::ffi::OsStr,
    progress: &mut impl FnMut(&str),
) -> Result<(), EmbedError> {
    progress(&format!("writing {ONNX_GRAPH} from {WEIGHTS}"));
    let bytes = write_graph(
        &model_dir.join(CONFIG),
        &model_dir.join(WEIGHTS),
        &out.join(ONNX_GRAPH),
    )?;
    progress(&format!("  {ONNX_GRAPH} ({bytes} bytes)"));

    let wheel_dir = scratch.join("onnxruntime-wheel");
    progress(&format!("downloading {ONNXRUNTIME_REQUIREMENT} from PyPI"));
    run_pip(python, ONNXRUNTIME_REQUIREMENT, &wheel_dir, progress)?;
    let wheel = find_wheel(&wheel_dir)?;
    extract_library(&wheel, &out.join(ONNX_RUNTIME), progress)
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
    progress: &mut impl FnMut(&str),
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
    progress(&format!("  {ONNX_RUNTIME} ({bytes} bytes, from {entry})"));
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
