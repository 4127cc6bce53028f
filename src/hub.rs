//! Edge code: `hf:org/name[@revision]` models from the Hugging Face Hub.
//!
//! Fetches `config.json` (through the `hf-hub` crate, into the standard cache
//! `$HF_HOME/hub/models--org--name/{refs,snapshots,blobs}`), parses it with
//! `spec::hf::parse_config`, and where the repository has safetensors
//! weights reads only their headers (an HTTP Range request for the 8-byte
//! length, then the JSON header) to report the checkpoint's exact parameter
//! count next to kvplan's. `hf_quant_config.json` (NVIDIA ModelOpt) fills
//! in the weight format when config.json has no `quantization_config`.
//!
//! Environment, as the Hugging Face tools read it: `HF_TOKEN` (sent as
//! `Authorization: Bearer`; else `$HF_HOME/token`), `HF_HOME` (default
//! `~/.cache/huggingface`; `HF_HUB_CACHE` overrides the `hub` folder),
//! `HF_HUB_OFFLINE=1` (only the local cache), `HF_ENDPOINT` (default
//! `https://huggingface.co`).
//!
//! This module does I/O by design; the core never calls it (the CLI passes
//! `load` to `request::resolve` as its model loader).

use crate::error::{Error, Result};
use crate::memory::weights::param_counts;
use crate::spec::dtype::WeightFormat;
use crate::spec::hf::parse_config;
use crate::spec::model::ModelSpec;
use crate::units::thousands;
use hf_hub::api::sync::{ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The Hub's address when HF_ENDPOINT is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// Largest safetensors header kvplan will read (the format allows 100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Bytes asked for in the first Range request of a safetensors file: the
/// length prefix plus, usually, the whole header.
const FIRST_RANGE: u64 = 256 * 1024;
/// Parallel header requests (DeepSeek-V3 has 163 shards).
const HEADER_WORKERS: usize = 8;

/// A model on the Hub: `org/name` and a branch, tag or commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    /// Repository id, `org/name` (or a legacy single `name`).
    pub repo: String,
    /// Branch, tag or commit hash (default `main`).
    pub revision: String,
}

impl HubId {
    /// Parse what follows `hf:`: `org/name` or `org/name@revision`.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let (repo, revision) = match t.split_once('@') {
            Some((r, v)) => (r.trim(), v.trim()),
            None => (t, "main"),
        };
        let ok_part = |p: &str| {
            !p.is_empty()
                && !p.starts_with('.')
                && !p.starts_with('-')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| ok_part(p)) {
            return Err(Error::input(
                "model",
                format!("hf:{text}: not a Hugging Face repository id; write hf:org/name or hf:org/name@revision, e.g. hf:Qwen/Qwen2.5-7B-Instruct"),
            ));
        }
        if revision.is_empty()
            || revision.contains("..")
            || revision
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return Err(Error::input(
                "model",
                format!("hf:{text}: '{revision}' is not a revision; give a branch, tag or commit after @, e.g. hf:{repo}@main"),
            ));
        }
        Ok(HubId {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }

    /// `org--name` folder of the cache (`models--org--name`).
    pub fn cache_folder(&self) -> String {
        format!("models--{}", self.repo.replace('/', "--"))
    }

    fn label(&self) -> String {
        if self.revision == "main" {
            format!("hf:{}", self.repo)
        } else {
            format!("hf:{}@{}", self.repo, self.revision)
        }
    }
}

/// Where and how to reach the Hub, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Base URL, no trailing slash.
    pub endpoint: String,
    /// The `hub` cache folder (absolute).
    pub cache_dir: PathBuf,
    /// Access token, if any.
    pub token: Option<String>,
    /// Use only the local cache.
    pub offline: bool,
}

impl HubConfig {
    /// Read HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_TOKEN and HF_HUB_OFFLINE.
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let endpoint = var("HF_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim()
            .trim_end_matches('/')
            .to_string();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(Error::input(
                "HF_ENDPOINT",
                format!("'{endpoint}' is not an http(s) URL; unset it to use {DEFAULT_ENDPOINT}"),
            ));
        }
        let home = match var("HF_HOME") {
            Some(h) => PathBuf::from(h),
            None => {
                let base = var("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .ok_or_else(|| {
                        Error::Environment(
                            "cannot find the Hugging Face cache: HOME is not set; set HF_HOME to a folder".into(),
                        )
                    })?;
                base.join("huggingface")
            }
        };
        let cache = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        // hf-hub links blobs with relative paths computed from absolute ones.
        let cache_dir = std::path::absolute(&cache).map_err(|e| {
            Error::Environment(format!(
                "cannot use the Hugging Face cache folder '{}': {e}",
                cache.display()
            ))
        })?;
        let token = var("HF_TOKEN")
            .or_else(|| var("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                crate::files::read_limited(&home.join("token"), 64 * 1024)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            })
            .map(|t| t.trim().to_string());
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        Ok(HubConfig {
            endpoint,
            cache_dir,
            token,
            offline,
        })
    }
}

/// Load `hf:` + `id` as a model spec, with the environment's settings.
pub fn load(id: &str) -> Result<ModelSpec> {
    let cfg = HubConfig::from_env()?;
    load_with(&cfg, &HubId::parse(id)?)
}

/// The config.json text of `hf:` + `id` and a name for it in messages (for
/// `kvplan import hf:org/name`).
pub fn fetch_config(id: &str) -> Result<(String, String)> {
    let cfg = HubConfig::from_env()?;
    let id = HubId::parse(id)?;
    let (src, _) = open_source(&cfg, &id)?;
    let path = src.config_path(&cfg, &id)?;
    let text = read_text(&path)?;
    Ok((
        text,
        format!("{} config.json ({})", id.label(), path.display()),
    ))
}

/// Load a model from the Hub (or its cache) with explicit settings.
pub fn load_with(cfg: &HubConfig, id: &HubId) -> Result<ModelSpec> {
    let (src, fallback_note) = open_source(cfg, id)?;
    let path = src.config_path(cfg, id)?;
    let commit = commit_of(&path).unwrap_or_else(|| id.revision.clone());
    let text = read_text(&path)?;
    let origin = format!("{} config.json ({})", id.label(), path.display());
    let mut spec = parse_config(&text, &origin)?;
    spec.name = id.repo.clone();
    spec.display_name = id.repo.rsplit('/').next().unwrap_or(&id.repo).to_string();
    spec.hf_repo = Some(id.repo.clone());
    let mut notes: Vec<String> = fallback_note.into_iter().collect();
    if spec.checkpoint_format.is_none() {
        match src.optional("hf_quant_config.json") {
            Ok(Some(p)) => {
                if let Some(note) = apply_modelopt(&mut spec, &p)? {
                    notes.push(note);
                }
            }
            Ok(None) => {}
            Err(e) => notes.push(format!("hf_quant_config.json not read: {e}")),
        }
    }
    match safetensors_summary(src.as_ref(), &commit, spec.checkpoint_format) {
        Ok(Some(st)) => notes.push(st.compare(&spec)),
        Ok(None) => notes.push(src.no_weights_note().into()),
        Err(e) => notes.push(format!("safetensors headers not read: {e}")),
    }
    let short = commit.get(..12).unwrap_or(&commit);
    spec.source = format!(
        "{} (commit {short}) config.json from {}; {}",
        id.label(),
        src.describe(),
        notes.join("; ")
    );
    Ok(spec)
}

/// Largest JSON file (config.json, hf_quant_config.json) read from a
/// repository: real ones are a few KiB, the largest with label maps ~1 MiB.
const MAX_JSON_BYTES: u64 = 8 << 20;

fn read_text(path: &Path) -> Result<String> {
    crate::files::read_limited(path, MAX_JSON_BYTES).map_err(|e| match e {
        crate::files::ReadError::TooLarge(n, limit) => Error::input(
            "model",
            format!(
                "'{}' is {} bytes or more, more than the {} a model's JSON file can plausibly be; this is not a transformers config",
                path.display(),
                thousands(n),
                thousands(limit)
            ),
        ),
        e => Error::Environment(format!(
            "cannot read '{}': {e}; delete it to fetch it again",
            path.display()
        )),
    })
}

/// The commit folder of a snapshot file (`…/snapshots/<commit>/config.json`).
fn commit_of(path: &Path) -> Option<String> {
    let dir = path.parent()?;
    let is_snapshot = dir.parent()?.file_name()? == "snapshots";
    is_snapshot.then(|| dir.file_name().map(|n| n.to_string_lossy().to_string()))?
}

/// Online source, or the cache when offline (or when the network fails and
/// the cache has the file: the note says so).
fn open_source(cfg: &HubConfig, id: &HubId) -> Result<(Box<dyn Source>, Option<String>)> {
    if cfg.offline {
        return Ok((Box::new(Cached::new(cfg, id)), None));
    }
    let online = Online::new(cfg, id)?;
    match online.fetch("config.json") {
        Ok(Some(_)) => Ok((Box::new(online), None)),
        Ok(None) => Err(missing_config(cfg, id)),
        Err(Fail::Network(msg)) => {
            let cached = Cached::new(cfg, id);
            if cached.get("config.json").is_some() {
                Ok((
                    Box::new(cached),
                    Some(format!(
                        "{} unreachable ({msg}); used the local cache",
                        cfg.endpoint
                    )),
                ))
            } else {
                Err(Error::Environment(format!(
                    "cannot reach {} for {}: {msg}; check the network (or HTTPS_PROXY), or set HF_HUB_OFFLINE=1 to use the local cache in {}",
                    cfg.endpoint,
                    id.label(),
                    cfg.cache_dir.display()
                )))
            }
        }
        Err(Fail::Other(e)) => Err(e),
    }
}

fn missing_config(cfg: &HubConfig, id: &HubId) -> Error {
    Error::input(
        "model",
        format!(
            "{} has no config.json at revision '{}' on {}; kvplan needs a transformers-style repository (GGUF-only repositories have no config.json) — pass a local config.json path instead",
            id.label(),
            id.revision,
            cfg.endpoint
        ),
    )
}

/// A safetensors header, None when the file is absent, or why it could not be read.
type HeaderResult = std::result::Result<Option<Vec<u8>>, String>;

/// Why a fetch failed.
enum Fail {
    /// The network (DNS, connection, TLS, timeout): the cache may help.
    Network(String),
    /// Anything else, already phrased for the user.
    Other(Error),
}

/// Where files come from.
trait Source: Sync {
    /// "https://huggingface.co" or "the local cache (offline)".
    fn describe(&self) -> String;
    /// What to say when no safetensors weights were found.
    fn no_weights_note(&self) -> &'static str;
    /// config.json's local path, or a clear error.
    fn config_path(&self, cfg: &HubConfig, id: &HubId) -> Result<PathBuf>;
    /// A file that may be absent from the repository: Ok(None) when absent.
    fn optional(&self, file: &str) -> std::result::Result<Option<PathBuf>, String>;
    /// The JSON header of a safetensors file, Ok(None) when absent.
    fn safetensors_header(
        &self,
        file: &str,
        commit: &str,
    ) -> std::result::Result<Option<Vec<u8>>, String>;
}

/// The standard cache layout, read only.
struct Cached {
    repo_dir: PathBuf,
    revision: String,
}

impl Cached {
    fn new(cfg: &HubConfig, id: &HubId) -> Self {
        Cached {
            repo_dir: cfg.cache_dir.join(id.cache_folder()),
            revision: id.revision.clone(),
        }
    }

    fn ref_path(&self) -> PathBuf {
        self.repo_dir.join("refs").join(&self.revision)
    }

    /// The snapshot commit for the revision: refs/<revision>, or the
    /// revision itself when it names a snapshot folder (a commit hash).
    fn commit(&self) -> Option<String> {
        if let Ok(c) = crate::files::read_limited(&self.ref_path(), 64 * 1024) {
            let c = c.trim().to_string();
            if !c.is_empty() {
                return Some(c);
            }
        }
        let direct = self.repo_dir.join("snapshots").join(&self.revision);
        direct.is_dir().then(|| self.revision.clone())
    }

    fn get(&self, file: &str) -> Option<PathBuf> {
        let p = self
            .repo_dir
            .join("snapshots")
            .join(self.commit()?)
            .join(file);
        p.is_file().then_some(p)
    }
}

impl Source for Cached {
    fn describe(&self) -> String {
        format!("the local cache {}", self.repo_dir.display())
    }

    fn no_weights_note(&self) -> &'static str {
        "no safetensors weights in the local cache to count"
    }

    fn config_path(&self, _cfg: &HubConfig, id: &HubId) -> Result<PathBuf> {
        let Some(commit) = self.commit() else {
            return Err(Error::Environment(format!(
                "HF_HUB_OFFLINE is set and {} is not in the local cache: {} is missing; run once online (unset HF_HUB_OFFLINE), or point HF_HOME at the cache that has it",
                id.label(),
                self.ref_path().display(),
            )));
        };
        let p = self
            .repo_dir
            .join("snapshots")
            .join(&commit)
            .join("config.json");
        if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Environment(format!(
                "HF_HUB_OFFLINE is set and config.json of {} is not in the local cache: looked for {}; run once online (unset HF_HUB_OFFLINE) to fetch it",
                id.label(),
                p.display()
            )))
        }
    }

    fn optional(&self, file: &str) -> std::result::Result<Option<PathBuf>, String> {
        Ok(self.get(file))
    }

    fn safetensors_header(
        &self,
        file: &str,
        _commit: &str,
    ) -> std::result::Result<Option<Vec<u8>>, String> {
        match self.get(file) {
            Some(p) => read_local_header(&p).map(Some),
            // A single-file checkpoint may simply not exist; a listed shard should.
            None if file == "model.safetensors" => Ok(None),
            None => Err(format!(
                "{file} is not in the local cache (weights are counted offline only when downloaded)"
            )),
        }
    }
}

/// Read a safetensors header from a file on disk: a regular file only
/// (never a device or FIFO), and only the 8-byte length plus a header of
/// at most `MAX_HEADER_BYTES` that the file is long enough to hold.
fn read_local_header(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let (mut f, file_len) =
        crate::files::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| format!("{}: not a safetensors file ({e})", path.display()))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER_BYTES || n > file_len.saturating_sub(8) {
        return Err(format!(
            "{}: header length {n} is not plausible",
            path.display()
        ));
    }
    let mut buf = Vec::with_capacity(n as usize);
    f.take(n)
        .read_to_end(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if buf.len() as u64 != n {
        return Err(format!("{}: truncated header", path.display()));
    }
    Ok(buf)
}

/// The Hub over HTTP: hf-hub for whole small files (into the cache), a
/// plain ureq agent for Range requests on safetensors headers.
struct Online {
    repo: ApiRepo,
    cache: Cached,
    endpoint: String,
    repo_id: String,
    label: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// Paths already fetched this run (config.json is fetched once).
    fetched: Mutex<BTreeMap<String, PathBuf>>,
}

impl Online {
    fn new(cfg: &HubConfig, id: &HubId) -> Result<Self> {
        let api = ApiBuilder::from_cache(Cache::new(cfg.cache_dir.clone()))
            .with_endpoint(cfg.endpoint.clone())
            .with_token(cfg.token.clone())
            .with_progress(false)
            .with_user_agent("kvplan", env!("CARGO_PKG_VERSION"))
            .build()
            .map_err(|e| Error::Environment(format!("cannot set up the Hub client: {e}")))?;
        let repo = api.repo(Repo::with_revision(
            id.repo.clone(),
            RepoType::Model,
            id.revision.clone(),
        ));
        let agent = ureq::AgentBuilder::new()
            .try_proxy_from_env(true)
            .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
            .timeout_connect(Duration::from_secs(20))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("kvplan/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Online {
            repo,
            cache: Cached::new(cfg, id),
            endpoint: cfg.endpoint.clone(),
            repo_id: id.repo.clone(),
            label: id.label(),
            token: cfg.token.clone(),
            agent,
            fetched: Mutex::new(BTreeMap::new()),
        })
    }

    /// Download `file` into the cache: Ok(None) when the repository has no such file.
    fn fetch(&self, file: &str) -> std::result::Result<Option<PathBuf>, Fail> {
        if let Some(p) = self.fetched.lock().ok().and_then(|m| m.get(file).cloned()) {
            return Ok(Some(p));
        }
        // hf-hub asserts on some malformed replies; keep a bad server from crashing kvplan.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.repo.download(file)))
            .unwrap_or_else(|_| {
                Err(ApiError::IoError(std::io::Error::other(
                    "the Hub client failed on an unexpected reply",
                )))
            });
        match r {
            Ok(p) => {
                if let Ok(mut m) = self.fetched.lock() {
                    m.insert(file.to_string(), p.clone());
                }
                Ok(Some(p))
            }
            Err(ApiError::RequestError(e)) => self.classify(*e, file),
            Err(ApiError::IoError(e)) => Err(Fail::Other(Error::Environment(format!(
                "{}: cannot store {file} in the Hugging Face cache {}: {e}; set HF_HOME to a writable folder",
                self.label,
                self.cache.repo_dir.display()
            )))),
            Err(e) => Err(Fail::Other(Error::Environment(format!(
                "{}: unexpected reply from {} for {file}: {e}; is HF_ENDPOINT a Hugging Face Hub?",
                self.label, self.endpoint
            )))),
        }
    }

    /// Turn an HTTP failure into "absent" (404 of a file) or a clear error.
    fn classify(&self, e: ureq::Error, file: &str) -> std::result::Result<Option<PathBuf>, Fail> {
        match e {
            ureq::Error::Status(code, resp) => {
                let kind = resp.header("x-error-code").unwrap_or("").to_string();
                let page = format!("{}/{}", self.endpoint, self.repo_id);
                match (code, kind.as_str()) {
                    (404, "EntryNotFound") => Ok(None),
                    (_, "RevisionNotFound") => Err(Fail::Other(Error::input(
                        "model",
                        format!("{}: revision not found (HTTP {code}); check the branch, tag or commit after @ (see {page}/tree/main)", self.label),
                    ))),
                    (401 | 403, "GatedRepo") => Err(Fail::Other(Error::Environment(self.gated_message(code, &page)))),
                    (404, _) | (401, "RepoNotFound") => Err(Fail::Other(Error::input(
                        "model",
                        format!(
                            "{}: repository not found on {} (HTTP {code}); check the spelling (org/name, as on the model page){}",
                            self.label,
                            self.endpoint,
                            if self.token.is_none() { ", or set HF_TOKEN if it is private" } else { "; if it is private, the token in HF_TOKEN has no access" }
                        ),
                    ))),
                    (401 | 403, _) => Err(Fail::Other(Error::Environment(self.gated_message(code, &page)))),
                    (c, _) if c >= 500 => Err(Fail::Network(format!("HTTP {c} from the server for {file}"))),
                    (c, _) => Err(Fail::Other(Error::Environment(format!(
                        "{}: HTTP {c} fetching {file} from {}",
                        self.label, self.endpoint
                    )))),
                }
            }
            ureq::Error::Transport(t) => Err(Fail::Network(t.to_string())),
        }
    }

    fn gated_message(&self, code: u16, page: &str) -> String {
        match &self.token {
            None => format!(
                "{}: access denied (HTTP {code}): the repository is gated or private; set HF_TOKEN to a Hugging Face access token (https://huggingface.co/settings/tokens) of an account that has accepted the model's licence at {page}",
                self.label
            ),
            Some(_) => format!(
                "{}: access denied (HTTP {code}) with the token in HF_TOKEN: check that it is valid and that its account has accepted the model's licence at {page}",
                self.label
            ),
        }
    }

    /// Bytes `start..=end` of `file` at `commit`: Ok(None) on 404.
    fn range(
        &self,
        file: &str,
        commit: &str,
        start: u64,
        end: u64,
    ) -> std::result::Result<Option<Vec<u8>>, String> {
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            self.repo_id,
            commit.replace('/', "%2F"),
            file
        );
        let mut req = self
            .agent
            .get(&url)
            .set("Range", &format!("bytes={start}-{end}"));
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(resp) => {
                // A server that ignores Range sends the whole file: read only what was asked.
                let mut buf = Vec::new();
                resp.into_reader()
                    .take(end - start + 1)
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("{file}: {e}"))?;
                Ok(Some(buf))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(ureq::Error::Status(c, _)) => Err(format!("{file}: HTTP {c}")),
            Err(ureq::Error::Transport(t)) => Err(format!("{file}: {t}")),
        }
    }
}

impl Source for Online {
    fn describe(&self) -> String {
        self.endpoint.clone()
    }

    fn no_weights_note(&self) -> &'static str {
        "the repository has no safetensors weights to count"
    }

    fn config_path(&self, cfg: &HubConfig, id: &HubId) -> Result<PathBuf> {
        match self.fetch("config.json") {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(missing_config(cfg, id)),
            Err(Fail::Network(m)) => Err(Error::Environment(format!(
                "cannot reach {} for {}: {m}",
                cfg.endpoint,
                id.label()
            ))),
            Err(Fail::Other(e)) => Err(e),
        }
    }

    fn optional(&self, file: &str) -> std::result::Result<Option<PathBuf>, String> {
        match self.fetch(file) {
            Ok(p) => Ok(p),
            Err(Fail::Network(m)) => Err(m),
            Err(Fail::Other(e)) => Err(e.to_string()),
        }
    }

    fn safetensors_header(
        &self,
        file: &str,
        commit: &str,
    ) -> std::result::Result<Option<Vec<u8>>, String> {
        // Weights already downloaded (by vLLM, transformers…) are read locally.
        if let Some(p) = self.cache.get(file) {
            return read_local_header(&p).map(Some);
        }
        let Some(first) = self.range(file, commit, 0, FIRST_RANGE - 1)? else {
            return Ok(None);
        };
        if first.len() < 8 {
            return Err(format!(
                "{file}: not a safetensors file (shorter than 8 bytes)"
            ));
        }
        let n = u64::from_le_bytes(first[..8].try_into().unwrap_or([0; 8]));
        if n == 0 || n > MAX_HEADER_BYTES {
            return Err(format!("{file}: header length {n} is not plausible"));
        }
        let have = first.len() as u64 - 8;
        let mut header = first[8..].to_vec();
        if have < n {
            let rest = self
                .range(file, commit, 8 + have, 8 + n - 1)?
                .ok_or_else(|| format!("{file}: vanished between two requests"))?;
            header.extend_from_slice(&rest);
        }
        header.truncate(n as usize);
        if header.len() as u64 != n {
            return Err(format!("{file}: truncated header"));
        }
        Ok(Some(header))
    }
}

/// What the safetensors headers say about the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SafetensorsSummary {
    /// Weight files read.
    pub files: usize,
    /// Tensors in all.
    pub tensors: u64,
    /// Parameters: elements of the weight tensors, with packed 4-bit
    /// integers unpacked; quantization scales, zero points and indices left out.
    pub params: u64,
    /// Stored elements per safetensors dtype (all tensors).
    pub elements_by_dtype: BTreeMap<String, u64>,
    /// Whether packing or auxiliary tensors made `params` an interpretation
    /// rather than a plain element count.
    pub interpreted: bool,
}

/// Whether a tensor holds quantization metadata rather than parameters.
fn is_auxiliary(name: &str) -> bool {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    matches!(
        leaf,
        "scales"
            | "qzeros"
            | "g_idx"
            | "absmax"
            | "quant_map"
            | "nested_absmax"
            | "nested_quant_map"
            | "zeros"
            | "input_scale"
            | "weight_scale"
            | "weight_scale_2"
            | "k_scale"
            | "v_scale"
    ) || leaf.ends_with("_scale")
        || leaf.ends_with("_scale_inv")
        || leaf.ends_with("_scales")
        || leaf.ends_with("_zero_point")
        || name.contains("quant_state")
}

impl SafetensorsSummary {
    /// Add one file's header (JSON: name → {dtype, shape, data_offsets}).
    pub fn add_header(
        &mut self,
        header: &[u8],
        file: &str,
        format: Option<WeightFormat>,
    ) -> std::result::Result<(), String> {
        let v: Value = serde_json::from_slice(header)
            .map_err(|e| format!("{file}: header is not JSON ({e})"))?;
        let map = v
            .as_object()
            .ok_or_else(|| format!("{file}: header is not a JSON object"))?;
        for (name, t) in map {
            if name == "__metadata__" {
                continue;
            }
            let dtype = t
                .get("dtype")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{file}: tensor {name} has no dtype"))?;
            let shape = t
                .get("shape")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{file}: tensor {name} has no shape"))?;
            let mut elements: u64 = 1;
            for d in shape {
                let d = d
                    .as_u64()
                    .ok_or_else(|| format!("{file}: tensor {name} has a bad shape"))?;
                elements = elements.saturating_mul(d);
            }
            self.tensors += 1;
            *self.elements_by_dtype.entry(dtype.to_string()).or_default() += elements;
            if is_auxiliary(name) {
                self.interpreted = true;
                continue;
            }
            let leaf = name.rsplit('.').next().unwrap_or(name);
            // Packed integers: AWQ/GPTQ int4 keep 8 values per I32, int8 GPTQ 4;
            // MXFP4/NVFP4/NF4 keep 2 values per byte.
            let unpack = match (dtype, format) {
                ("I32", Some(WeightFormat::Int8)) if leaf == "qweight" => 4,
                ("I32", _) if leaf == "qweight" => 8,
                ("U8", Some(WeightFormat::Mxfp4 | WeightFormat::Nvfp4 | WeightFormat::Nf4)) => 2,
                ("U8", _) if leaf.ends_with("_blocks") => 2,
                _ => 1,
            };
            if unpack > 1 {
                self.interpreted = true;
            }
            self.params = self.params.saturating_add(elements.saturating_mul(unpack));
        }
        self.files += 1;
        Ok(())
    }

    /// "safetensors headers (N files): P parameters …; kvplan counts …".
    pub fn compare(&self, spec: &ModelSpec) -> String {
        let pc = param_counts(spec);
        let dtypes: Vec<String> = self
            .elements_by_dtype
            .iter()
            .map(|(d, n)| format!("{d} {}", thousands(*n)))
            .collect();
        let with_mtp = pc.total + pc.mtp;
        let verdict = if self.params == pc.total || (pc.mtp > 0 && self.params == with_mtp) {
            "exact match".to_string()
        } else {
            let base = if pc.mtp > 0
                && (self.params as f64 - with_mtp as f64).abs()
                    < (self.params as f64 - pc.total as f64).abs()
            {
                with_mtp
            } else {
                pc.total
            };
            format!(
                "checkpoint differs by {:+.3}%",
                (self.params as f64 - base as f64) / base.max(1) as f64 * 100.0
            )
        };
        format!(
            "safetensors headers ({} file{}, {} tensors): {} parameters{} [{}]; kvplan counts {}{} ({verdict})",
            self.files,
            if self.files == 1 { "" } else { "s" },
            thousands(self.tensors),
            thousands(self.params),
            if self.interpreted {
                " (scales left out, packed 4-bit unpacked)"
            } else {
                ""
            },
            dtypes.join(", "),
            thousands(pc.total),
            if pc.mtp > 0 {
                format!(" + {} MTP = {}", thousands(pc.mtp), thousands(with_mtp))
            } else {
                String::new()
            }
        )
    }
}

/// Read the headers of every safetensors file of the snapshot: Ok(None)
/// when the repository has none.
fn safetensors_summary(
    src: &dyn Source,
    commit: &str,
    format: Option<WeightFormat>,
) -> std::result::Result<Option<SafetensorsSummary>, String> {
    let files: Vec<String> = match src.optional("model.safetensors.index.json")? {
        Some(p) => {
            let text = crate::files::read_limited(&p, crate::files::MAX_INDEX_FILE_BYTES)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("model.safetensors.index.json line {}: {e}", e.line()))?;
            let map = v
                .get("weight_map")
                .and_then(Value::as_object)
                .ok_or("model.safetensors.index.json has no weight_map")?;
            let mut f: Vec<String> = map
                .values()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            f.sort();
            f.dedup();
            if f.iter().any(|n| n.contains("..") || n.starts_with('/')) {
                return Err(
                    "model.safetensors.index.json names a file outside the repository".into(),
                );
            }
            f
        }
        None => vec!["model.safetensors".to_string()],
    };
    let headers: Vec<Mutex<Option<HeaderResult>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..HEADER_WORKERS.min(files.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= files.len() {
                    break;
                }
                let r = src.safetensors_header(&files[i], commit);
                if let Ok(mut slot) = headers[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    let mut summary = SafetensorsSummary::default();
    let single = files.len() == 1 && files[0] == "model.safetensors";
    for (file, slot) in files.iter().zip(headers) {
        let r = slot
            .into_inner()
            .ok()
            .flatten()
            .unwrap_or_else(|| Err(format!("{file}: not read")));
        match r? {
            Some(h) => summary.add_header(&h, file, format)?,
            None if single => return Ok(None),
            None => return Err(format!("{file} is listed in the index but missing")),
        }
    }
    Ok(Some(summary))
}

/// Apply NVIDIA ModelOpt's `hf_quant_config.json` (`quantization.quant_algo`).
fn apply_modelopt(spec: &mut ModelSpec, path: &Path) -> Result<Option<String>> {
    let text = read_text(path)?;
    crate::spec::hf::apply_modelopt_sidecar(spec, &text, &path.display().to_string()).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_headers_are_read_from_regular_files_only_and_bounded() {
        // A device would otherwise give an endless stream of zeros.
        let e = read_local_header(Path::new("/dev/zero")).unwrap_err();
        assert!(e.contains("character device"), "{e}");
        let dir = std::env::temp_dir().join(format!("kvplan-hub-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("model.safetensors");
        // A length prefix that claims more header than the file holds.
        let mut bytes = 1_000u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        std::fs::write(&p, &bytes).unwrap();
        let e = read_local_header(&p).unwrap_err();
        assert!(e.contains("not plausible"), "{e}");
        // A well-formed one is read exactly.
        let mut bytes = 2u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}tensor data");
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(read_local_header(&p).unwrap(), b"{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ids() {
        let id = HubId::parse("Qwen/Qwen2.5-7B-Instruct").unwrap();
        assert_eq!(id.repo, "Qwen/Qwen2.5-7B-Instruct");
        assert_eq!(id.revision, "main");
        assert_eq!(id.cache_folder(), "models--Qwen--Qwen2.5-7B-Instruct");
        let id = HubId::parse("deepseek-ai/DeepSeek-V3@v1.0").unwrap();
        assert_eq!(id.revision, "v1.0");
        assert_eq!(HubId::parse("gpt2").unwrap().repo, "gpt2");
        for bad in [
            "",
            "a/b/c",
            "org/",
            "/name",
            "org/na me",
            "org/name@",
            "../x",
            "o/n@a..b",
        ] {
            let e = HubId::parse(bad).unwrap_err();
            assert_eq!(e.field(), Some("model"), "{bad}");
        }
    }

    #[test]
    fn header_counting() {
        // Two bf16 tensors and an fp8 block-quantized one with its scales.
        let h = br#"{"__metadata__":{"format":"pt"},
            "a.weight":{"dtype":"BF16","shape":[4,8],"data_offsets":[0,64]},
            "b.bias":{"dtype":"BF16","shape":[4],"data_offsets":[64,72]},
            "c.weight":{"dtype":"F8_E4M3","shape":[256,128],"data_offsets":[72,32840]},
            "c.weight_scale_inv":{"dtype":"F32","shape":[2,1],"data_offsets":[32840,32848]}}"#;
        let mut s = SafetensorsSummary::default();
        s.add_header(h, "x.safetensors", None).unwrap();
        assert_eq!(s.tensors, 4);
        assert_eq!(s.params, 32 + 4 + 256 * 128);
        assert_eq!(s.elements_by_dtype["F32"], 2);
        assert!(s.interpreted);
        // AWQ: qweight I32 [in, out/8] holds 8 values each.
        let awq = br#"{"l.qweight":{"dtype":"I32","shape":[64,8],"data_offsets":[0,2048]},
            "l.qzeros":{"dtype":"I32","shape":[1,8],"data_offsets":[0,32]},
            "l.scales":{"dtype":"F16","shape":[1,64],"data_offsets":[0,128]}}"#;
        let mut s = SafetensorsSummary::default();
        s.add_header(awq, "y", Some(WeightFormat::Int4)).unwrap();
        assert_eq!(s.params, 64 * 64);
        let e = s.add_header(b"[1]", "z.safetensors", None).unwrap_err();
        assert!(e.contains("z.safetensors"), "{e}");
    }

    #[test]
    fn commit_from_snapshot_path() {
        let p = Path::new("/c/models--a--b/snapshots/abc123/config.json");
        assert_eq!(commit_of(p).as_deref(), Some("abc123"));
        assert_eq!(commit_of(Path::new("/tmp/config.json")), None);
    }
}
