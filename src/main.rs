//! kvplan command line. `main` reads like a table of contents: parse, load
//! the built-in catalogue, dispatch to one function per subcommand (in
//! src/cli/), and turn any error into one clear line and exit code 2.

use clap::Parser;
use kvplan::cli::{self, Cli};

fn main() {
    let args = Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}
