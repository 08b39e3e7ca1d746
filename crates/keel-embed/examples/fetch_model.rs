//! Fetches all-MiniLM-L6-v2 into the keel cache (or DIR) with `ModelStore::fetch`: the
//! Rust counterpart of `fetch-model.sh`.
//!
//! ```text
//! cargo run -p keel-embed --example fetch_model -- [DIR]
//! ```

#![allow(clippy::print_stdout, reason = "reports progress on standard output")]

use keel_embed::ModelStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = match std::env::args_os().nth(1) {
        Some(dir) => ModelStore::new(dir),
        None => ModelStore::from_env()?,
    };
    if let Ok(files) = store.locate() {
        println!("already present in {}", files.dir.display());
        return Ok(());
    }
    let files = store.fetch(|line| println!("{line}"))?;
    println!("ready: {}", files.weights.display());
    Ok(())
}
