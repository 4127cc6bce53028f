//! kvplan command line. `main` reads like a table of contents: parse, load
//! the built-in catalogue, dispatch to one function per subcommand (in
//! src/cli/), and turn the outcome into an exit code that scripts can branch
//! on: 0 fits / meets the constraints, 1 does not, 2 bad input, 3 environment
//! (any error is one clear line first).

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
    match cli::run(args) {
        Ok(verdict) => std::process::exit(verdict.exit_code()),
        Err(e) => {
            // eprintln! would panic if stderr is closed too; write and ignore.
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "error: {e}");
            // A failed write to stdout is Error::Environment: exit 3.
            std::process::exit(e.exit_code());
        }
    }
}
