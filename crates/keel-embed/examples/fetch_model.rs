//! Fetches all-MiniLM-L6-v2 into the keel cache (or DIR) with `ModelStore::fetch`, what
//! `fetch-model.sh` runs. A model already present is kept; if only the ONNX engine's files
//! are missing, `ModelStore::fetch_onnx` adds them.
//!
//! ```text
//! cargo run -p keel-embed --example fetch_model -- [DIR]    # PYTHON=python3 by default
//! ```

#![allow(clippy::print_stdout, reason = "reports progress on standard output")]

use keel_embed::ModelStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut store = match std::env::args_os().nth(1) {
        Some(dir) => ModelStore::new(dir),
        None => ModelStore::from_env()?,
    };
    if let Some(python) = std::env::var_os("PYTHON").filter(|p| !p.is_empty()) {
        store = store.with_python(python);
    }
    let files = match store.locate() {
        Ok(files) if files.onnx_missing().is_none() => {
            println!("already present in {}", files.dir.display());
            return Ok(());
        }
        Ok(files) => {
            println!(
                "model present in {}; adding the ONNX engine's files",
                files.dir.display()
            );
            store.fetch_onnx(|line| println!("{line}"))?
        }
        Err(_) => store.fetch(|line| println!("{line}"))?,
    };
    match files.onnx_missing() {
        None => println!("ready: {} (ONNX and candle engines)", files.dir.display()),
        Some(file) => println!(
            "ready: {} (candle engine only; {file} is missing)",
            files.dir.display()
        ),
    }
    Ok(())
}
