//! The `keel` binary: see `keel --help`.

use clap::Parser;

// mimalloc returns freed memory to the OS (expired sessions give their memory back, which
// glibc's allocator does not do for many small blocks) and is faster for small allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    keel_server::cli::main(keel_server::cli::Cli::parse())
}
