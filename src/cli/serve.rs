//! `kvplan serve`: the web calculator (page + JSON API) on a local address.

use crate::error::{Error, Result};
use clap::Args;

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Also take `hf:org/name[@revision]` model ids on the page, fetched from the Hugging Face Hub
    /// into the standard HF cache (HF_HOME, HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE as for the CLI).
    /// Off by default, because with it the server downloads on behalf of whoever can reach it.
    #[arg(long)]
    pub allow_hub: bool,
    /// With --allow-hub: Hub lookups allowed per minute, all clients together (answers kept in
    /// memory for 10 minutes do not count).
    #[arg(long, default_value_t = 20, requires = "allow_hub", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub hub_lookups_per_minute: u64,
}

/// `serve` in a build without the `server` feature: say what is missing.
#[cfg(not(feature = "server"))]
pub fn run(_a: &ServeArgs) -> Result<()> {
    Err(Error::missing_feature("server", "`kvplan serve`"))
}

/// Run `serve` until Ctrl-C. Prints the bound URL first, so scripts (and the
/// browser test) can start it on port 0 and read where it listens.
#[cfg(feature = "server")]
pub fn run(a: &ServeArgs) -> Result<()> {
    let env = |what: &str, e: std::io::Error| Error::Environment(format!("{what}: {e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| env("cannot start the async runtime", e))?;
    let hub = if a.allow_hub {
        Some(crate::server::HubOptions::from_env(
            a.hub_lookups_per_minute as usize,
        )?)
    } else {
        None
    };
    let router = crate::server::router_with_hub(crate::server::Limits::default(), hub)?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&a.addr)
            .await
            .map_err(|e| Error::input("addr", format!("cannot listen on {}: {e}", a.addr)))?;
        let local = listener
            .local_addr()
            .map_err(|e| env("cannot read the bound address", e))?;
        crate::outln!("kvplan web calculator on http://{local}/  (Ctrl-C stops)");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        crate::server::serve(listener, router)
            .await
            .map_err(|e| env("server error", e))
    })
}
