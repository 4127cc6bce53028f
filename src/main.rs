//! kvplan command line. `main` reads like a table of contents: parse, load
//! the built-in catalogue, dispatch to one function per subcommand (in
//! src/cli/), and turn any error into one clear line and exit code 2.

use clap::Parser;
use kvplan::cli::{self, Cli};

fn main() {
    // Rust ignores SIGPIPE, so printing into a closed pipe (`kvplan models | head`)
    // would panic; restore the default so the process ends quietly like other tools.
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to SIG_DFL at start-up, before any threads.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = Cli::parse();
    if let Err(e) = cli::run(args) {
        // eprintln! would panic if stderr is closed too; write and ignore.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "error: {e}");
        // A failed write to stdout is the environment's fault (exit 3).
        let code = if cli::OUTPUT_FAILED.load(std::sync::atomic::Ordering::SeqCst) {
            3
        } else {
            2
        };
        std::process::exit(code);
    }
}
