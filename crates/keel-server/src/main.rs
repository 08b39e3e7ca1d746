//! The `keel` binary: see `keel --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    keel_server::cli::main(keel_server::cli::Cli::parse())
}
