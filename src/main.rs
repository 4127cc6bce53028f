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
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
