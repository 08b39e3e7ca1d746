//! The process's one ONNX Runtime environment, from the shared library in the model
//! directory. ort binds the first library it loads for the life of the process, so the
//! environment is created once and shared by every session.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use ort::environment::Environment;

use crate::error::EmbedError;

static ENVIRONMENT: Mutex<Option<Environment>> = Mutex::new(None);

/// The shared environment, loading `library` first if no library is loaded yet. A failed
/// load leaves nothing behind, so a later call may try again.
pub(crate) fn environment(library: &Path) -> Result<Environment, EmbedError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(env) = slot.as_ref() {
        return Ok(env.clone());
    }
    // ort resolves relative paths against the executable's directory; the model directory
    // is meant relative to the working directory.
    let library = std::path::absolute(library).map_err(|source| EmbedError::Io {
        action: "resolve",
        path: library.to_path_buf(),
        source,
    })?;
    let env = ort::init_from(&library)
        .map_err(|source| EmbedError::RuntimeLoad {
            path: library.clone(),
            source,
        })?
        .with_name("keel-embed")
        .with_telemetry(false)
        .build()
        .map_err(EmbedError::Runtime)?;
    *slot = Some(env.clone());
    Ok(env)
}
