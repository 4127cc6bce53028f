//! `hf:org/name` models, end to end with the real binary and no internet:
//! (a) a local cache in the standard layout under a temporary HF_HOME with
//! HF_HUB_OFFLINE=1; (b) a tiny HTTP/1.1 server on 127.0.0.1 that answers
//! like the Hub's `/{repo}/resolve/{revision}/{file}` endpoint (the headers
//! hf-hub 0.4 reads: `etag`, `x-repo-commit`, `content-range`; the Hub's
//! `x-error-code` on errors), with HF_ENDPOINT pointing at it.
//!
//! The model is Qwen2.5-0.5B-Instruct (tests/fixtures/hf-configs/), whose
//! parameter count is derived independently below from its config:
//! embeddings 151,936 × 896; per layer q (896×896 + 896 bias), k and v
//! (2 heads × 64 = 128 rows × 896 + 128 bias each), o (896×896), gated MLP
//! 3 × 896 × 4,864, two RMSNorms (2 × 896); final norm 896; tied lm_head.
//! = 494,032,768 (the "0.49B" of the model card).
#![cfg(all(feature = "hub", feature = "plot"))]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const REPO: &str = "Qwen/Qwen2.5-0.5B-Instruct";
const COMMIT: &str = "7ae557604adf67be50417f59c2c2f167def9a775";
const TOKEN: &str = "hf_test_sekrit";

// Qwen2.5-0.5B-Instruct dimensions (config.json).
const HIDDEN: u64 = 896;
const LAYERS: u64 = 24;
const INTER: u64 = 4864;
const VOCAB: u64 = 151_936;
const KV_HEADS: u64 = 2;
const HEAD_DIM: u64 = 64;

fn qwen_params() -> u64 {
    let kv = KV_HEADS * HEAD_DIM;
    let per_layer = (HIDDEN * HIDDEN + HIDDEN)
        + 2 * (kv * HIDDEN + kv)
        + HIDDEN * HIDDEN
        + 3 * HIDDEN * INTER
        + 2 * HIDDEN;
    VOCAB * HIDDEN + LAYERS * per_layer + HIDDEN
}

fn config_text() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf-configs/Qwen--Qwen2.5-0.5B-Instruct.json");
    std::fs::read_to_string(p).unwrap()
}

/// The checkpoint's tensors (name, shape), in two shards.
fn qwen_tensors() -> Vec<Vec<(String, Vec<u64>)>> {
    let kv = KV_HEADS * HEAD_DIM;
    let mut shards = vec![vec![], vec![]];
    shards[0].push(("model.embed_tokens.weight".to_string(), vec![VOCAB, HIDDEN]));
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        let s = &mut shards[if i < LAYERS / 2 { 0 } else { 1 }];
        for (n, shape) in [
            ("input_layernorm.weight", vec![HIDDEN]),
            ("post_attention_layernorm.weight", vec![HIDDEN]),
            ("self_attn.q_proj.weight", vec![HIDDEN, HIDDEN]),
            ("self_attn.q_proj.bias", vec![HIDDEN]),
            ("self_attn.k_proj.weight", vec![kv, HIDDEN]),
            ("self_attn.k_proj.bias", vec![kv]),
            ("self_attn.v_proj.weight", vec![kv, HIDDEN]),
            ("self_attn.v_proj.bias", vec![kv]),
            ("self_attn.o_proj.weight", vec![HIDDEN, HIDDEN]),
            ("mlp.gate_proj.weight", vec![INTER, HIDDEN]),
            ("mlp.up_proj.weight", vec![INTER, HIDDEN]),
            ("mlp.down_proj.weight", vec![HIDDEN, INTER]),
        ] {
            s.push((format!("{p}.{n}"), shape));
        }
    }
    shards[1].push(("model.norm.weight".to_string(), vec![HIDDEN]));
    shards
}

/// A safetensors file cut after its header (kvplan reads only the header):
/// 8-byte little-endian length, then the JSON. `pad` bytes of metadata make
/// the header longer than kvplan's first Range request.
fn safetensors_bytes(tensors: &[(String, Vec<u64>)], pad: usize) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut meta = serde_json::Map::new();
    meta.insert("format".into(), "pt".into());
    if pad > 0 {
        meta.insert("padding".into(), "x".repeat(pad).into());
    }
    header.insert("__metadata__".into(), meta.into());
    let mut off = 0u64;
    for (name, shape) in tensors {
        let bytes = shape.iter().product::<u64>() * 2;
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "BF16", "shape": shape, "data_offsets": [off, off + bytes]}),
        );
        off += bytes;
    }
    let json = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out
}

fn index_json(shards: &[Vec<(String, Vec<u64>)>]) -> String {
    let mut map = BTreeMap::new();
    for (i, s) in shards.iter().enumerate() {
        for (name, _) in s {
            map.insert(
                name.clone(),
                format!("model-{:05}-of-{:05}.safetensors", i + 1, shards.len()),
            );
        }
    }
    serde_json::json!({"metadata": {"total_size": 988065536u64}, "weight_map": map}).to_string()
}

// ---------------------------------------------------------------- temp dirs

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "kvplan-hub-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ------------------------------------------------------------ the fake Hub

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    range: Option<String>,
    auth: Option<String>,
}

#[derive(Default)]
struct FakeHub {
    /// (repo, file) → bytes.
    files: HashMap<(String, String), Vec<u8>>,
    /// Repositories that need `Authorization: Bearer TOKEN`.
    gated: HashSet<String>,
    /// Revisions other than "main" and COMMIT that exist.
    tags: HashSet<String>,
    seen: Mutex<Vec<Seen>>,
}

impl FakeHub {
    fn add(&mut self, repo: &str, file: &str, bytes: Vec<u8>) {
        self.files.insert((repo.into(), file.into()), bytes);
    }
    fn has_repo(&self, repo: &str) -> bool {
        self.files.keys().any(|(r, _)| r == repo)
    }
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Serve `hub` on 127.0.0.1:0; returns the base URL.
fn serve(hub: Arc<FakeHub>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let hub = hub.clone();
            std::thread::spawn(move || {
                let _ = handle(&hub, conn);
            });
        }
    });
    format!("http://{addr}")
}

fn respond(
    mut conn: &TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn error(conn: &TcpStream, status: &str, code: &str, msg: &str) -> std::io::Result<()> {
    respond(
        conn,
        status,
        &[
            ("X-Error-Code", code.to_string()),
            ("X-Error-Message", msg.to_string()),
            ("Content-Type", "text/plain".to_string()),
        ],
        msg.as_bytes(),
    )
}

fn handle(hub: &FakeHub, conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(&conn);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = path.split('?').next().unwrap_or("").to_string();
    hub.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: headers.get("range").cloned(),
        auth: headers.get("authorization").cloned(),
    });
    // /{org}/{name}/resolve/{revision}/{file}
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
    if parts.len() != 5 || parts[2] != "resolve" {
        return error(&conn, "404 Not Found", "EntryNotFound", "no such route");
    }
    let repo = format!("{}/{}", parts[0], parts[1]);
    let (rev, file) = (parts[3], parts[4]);
    if !hub.has_repo(&repo) {
        return error(
            &conn,
            "404 Not Found",
            "RepoNotFound",
            "Repository not found",
        );
    }
    if hub.gated.contains(&repo)
        && headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {TOKEN}"))
    {
        return error(
            &conn,
            "401 Unauthorized",
            "GatedRepo",
            "Access to model is restricted. You must have access to it and be authenticated to access it. Please log in.",
        );
    }
    if rev != "main" && rev != COMMIT && !hub.tags.contains(rev) {
        return error(&conn, "404 Not Found", "RevisionNotFound", "Invalid rev id");
    }
    let Some(bytes) = hub.files.get(&(repo.clone(), file.to_string())) else {
        return error(&conn, "404 Not Found", "EntryNotFound", "Entry not found");
    };
    let size = bytes.len() as u64;
    let etag = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (file, bytes).hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let mut hdrs = vec![
        ("ETag", format!("\"{etag}\"")),
        ("X-Repo-Commit", COMMIT.to_string()),
        ("Accept-Ranges", "bytes".to_string()),
        ("Content-Type", "application/octet-stream".to_string()),
    ];
    match headers.get("range").and_then(|r| r.strip_prefix("bytes=")) {
        Some(r) => {
            let (a, b) = r.split_once('-').unwrap_or((r, ""));
            let start: u64 = a.parse().unwrap_or(0).min(size.saturating_sub(1));
            let end: u64 = b
                .parse()
                .unwrap_or(size.saturating_sub(1))
                .min(size.saturating_sub(1));
            hdrs.push(("Content-Range", format!("bytes {start}-{end}/{size}")));
            respond(
                &conn,
                "206 Partial Content",
                &hdrs,
                &bytes[start as usize..=end as usize],
            )
        }
        None => respond(&conn, "200 OK", &hdrs, bytes),
    }
}

/// The Qwen repository, with two shards (the second with a header longer
/// than kvplan's first Range request).
fn qwen_hub() -> FakeHub {
    let mut hub = FakeHub::default();
    let shards = qwen_tensors();
    hub.add(REPO, "config.json", config_text().into_bytes());
    hub.add(
        REPO,
        "model.safetensors.index.json",
        index_json(&shards).into_bytes(),
    );
    hub.add(
        REPO,
        "model-00001-of-00002.safetensors",
        safetensors_bytes(&shards[0], 0),
    );
    hub.add(
        REPO,
        "model-00002-of-00002.safetensors",
        safetensors_bytes(&shards[1], 400_000),
    );
    hub
}

// --------------------------------------------------------------- running

fn kvplan(args: &[&str], hf_home: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvplan"));
    c.args(args).env("HF_HOME", hf_home);
    for k in [
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "HF_HUB_CACHE",
        "HF_ENDPOINT",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run kvplan")
}

fn estimate(model: &str, hf_home: &Path, env: &[(&str, &str)]) -> Output {
    kvplan(
        &[
            "estimate", model, "--gpus", "H100", "--ctx", "4k", "--format", "json",
        ],
        hf_home,
        env,
    )
}

fn json_ok(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "kvplan failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

fn stderr_fail(o: &Output) -> String {
    stderr_fail_code(o, 2)
}

/// A failure of the environment (no network, nothing cached, a refused
/// token): exit 3, as `kvplan --help` documents.
fn stderr_fail_env(o: &Output) -> String {
    stderr_fail_code(o, 3)
}

fn stderr_fail_code(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "expected exit {code}; stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(e.starts_with("error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

/// Check the numbers kvplan derives from the Qwen config.
fn check_qwen(j: &serde_json::Value) {
    assert_eq!(qwen_params(), 494_032_768);
    assert_eq!(j["model"]["params_total"], qwen_params());
    // KV per token: K and V × 2 KV heads × 64 × 24 layers × 2 bytes (bf16).
    assert_eq!(
        j["kv_cache"]["bytes_per_token"],
        2 * KV_HEADS * HEAD_DIM * LAYERS * 2
    );
    assert_eq!(j["model"]["name"], REPO);
    assert_eq!(j["workload"]["context"], 4000);
}

/// Write the standard cache layout: blobs/<etag>, snapshots/<commit>/<file>
/// → ../../blobs/<etag>, refs/main = commit.
fn write_cache(hf_home: &Path, files: &[(&str, Vec<u8>)], with_ref: bool) -> PathBuf {
    let repo_dir = hf_home
        .join("hub")
        .join("models--Qwen--Qwen2.5-0.5B-Instruct");
    let snap = repo_dir.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(repo_dir.join("blobs")).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    for (i, (name, bytes)) in files.iter().enumerate() {
        let blob = format!("{i:040x}");
        std::fs::write(repo_dir.join("blobs").join(&blob), bytes).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(format!("../../blobs/{blob}"), snap.join(name)).unwrap();
        #[cfg(not(unix))]
        std::fs::write(snap.join(name), bytes).unwrap();
    }
    if with_ref {
        std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
        std::fs::write(repo_dir.join("refs").join("main"), COMMIT).unwrap();
    }
    repo_dir
}

// ------------------------------------------------------------ (a) offline

#[test]
fn offline_cache_in_standard_layout() {
    let home = TempDir::new("offline");
    let all: Vec<(String, Vec<u64>)> = qwen_tensors().concat();
    write_cache(
        &home.0,
        &[
            ("config.json", config_text().into_bytes()),
            ("model.safetensors", safetensors_bytes(&all, 0)),
        ],
        true,
    );
    // Nothing listens on port 9: any network use would fail the run.
    let env = [
        ("HF_HUB_OFFLINE", "1"),
        ("HF_ENDPOINT", "http://127.0.0.1:9"),
    ];
    let j = json_ok(&estimate(&format!("hf:{REPO}"), &home.0, &env));
    check_qwen(&j);
    let source = j["model"]["source"].as_str().unwrap();
    assert!(source.contains("the local cache"), "{source}");
    assert!(
        source.contains("494,032,768 parameters") && source.contains("exact match"),
        "{source}"
    );
    // The same cache by commit hash, and through `plot` and `import`.
    let j = json_ok(&estimate(&format!("hf:{REPO}@{COMMIT}"), &home.0, &env));
    check_qwen(&j);
    let out = home.0.join("a.svg");
    let o = kvplan(
        &[
            "plot",
            "attention",
            &format!("hf:{REPO}"),
            "--gpus",
            "H100",
            "--out",
            out.to_str().unwrap(),
        ],
        &home.0,
        &env,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("Qwen2.5-0.5B-Instruct"));
    let o = kvplan(
        &["import", &format!("hf:{REPO}"), "--name", "qwen-small"],
        &home.0,
        &env,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("num_kv_heads: 2"));
}

#[test]
fn offline_with_nothing_cached_names_the_missing_file() {
    let home = TempDir::new("empty");
    let env = [("HF_HUB_OFFLINE", "1")];
    let e = stderr_fail_env(&estimate(&format!("hf:{REPO}"), &home.0, &env));
    let refs = home
        .0
        .join("hub/models--Qwen--Qwen2.5-0.5B-Instruct/refs/main");
    assert!(e.contains("HF_HUB_OFFLINE"), "{e}");
    assert!(e.contains(refs.to_str().unwrap()), "{e}");
    // A ref without its snapshot: the message names config.json's path.
    let repo_dir = write_cache(&home.0, &[], true);
    let e = stderr_fail_env(&estimate(&format!("hf:{REPO}"), &home.0, &env));
    let want = repo_dir.join("snapshots").join(COMMIT).join("config.json");
    assert!(e.contains(want.to_str().unwrap()), "{e}");
}

#[test]
fn malformed_cached_config_names_file_and_line() {
    let home = TempDir::new("malformed");
    write_cache(
        &home.0,
        &[(
            "config.json",
            b"{\n  \"hidden_size\": 896,\n  oops\n}".to_vec(),
        )],
        true,
    );
    let e = stderr_fail(&estimate(
        &format!("hf:{REPO}"),
        &home.0,
        &[("HF_HUB_OFFLINE", "1")],
    ));
    assert!(e.contains("config.json") && e.contains("line 3"), "{e}");
}

// ------------------------------------------------------- (b) HTTP server

#[test]
fn fetches_config_and_safetensors_headers() {
    let hub = Arc::new(qwen_hub());
    let url = serve(hub.clone());
    let home = TempDir::new("online");
    let j = json_ok(&estimate(
        &format!("hf:{REPO}"),
        &home.0,
        &[("HF_ENDPOINT", &url)],
    ));
    check_qwen(&j);
    let source = j["model"]["source"].as_str().unwrap();
    assert!(source.contains(&url), "{source}");
    assert!(source.contains("2 files"), "{source}");
    assert!(
        source.contains("494,032,768 parameters") && source.contains("exact match"),
        "{source}"
    );
    // What was asked: config.json through hf-hub (a 1-byte metadata probe,
    // then the file), the index, and only Range requests on the weights.
    let seen = hub.seen();
    let config_path = format!("/{REPO}/resolve/main/config.json");
    assert!(seen
        .iter()
        .any(|s| s.path == config_path && s.range.as_deref() == Some("bytes=0-0")));
    let shard2: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("model-00002-of-00002.safetensors"))
        .collect();
    assert_eq!(shard2.len(), 2, "{shard2:?}");
    assert!(shard2.iter().all(|s| s.range.is_some()));
    assert!(shard2[0].path.contains(&format!("/resolve/{COMMIT}/")));
    assert!(seen.iter().all(|s| s.auth.is_none()));
    // The standard cache layout was written.
    let repo_dir = home.0.join("hub/models--Qwen--Qwen2.5-0.5B-Instruct");
    assert_eq!(
        std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(),
        COMMIT
    );
    let cached = repo_dir.join("snapshots").join(COMMIT).join("config.json");
    assert_eq!(std::fs::read_to_string(cached).unwrap(), config_text());
    assert!(std::fs::read_dir(repo_dir.join("blobs")).unwrap().count() >= 2);
    // Offline afterwards: served from that cache; the weights were never
    // downloaded, so the count is skipped with a reason.
    let j = json_ok(&estimate(
        &format!("hf:{REPO}"),
        &home.0,
        &[
            ("HF_HUB_OFFLINE", "1"),
            ("HF_ENDPOINT", "http://127.0.0.1:9"),
        ],
    ));
    check_qwen(&j);
    let source = j["model"]["source"].as_str().unwrap();
    assert!(source.contains("not in the local cache"), "{source}");
}

#[test]
fn unknown_repository_is_a_clear_error() {
    let url = serve(Arc::new(qwen_hub()));
    let home = TempDir::new("404");
    let e = stderr_fail(&estimate(
        "hf:nobody/no-such-model",
        &home.0,
        &[("HF_ENDPOINT", &url)],
    ));
    assert!(e.contains("hf:nobody/no-such-model"), "{e}");
    assert!(
        e.contains("repository not found") && e.contains("404"),
        "{e}"
    );
    // A repository without config.json (GGUF-only, say).
    let mut hub = FakeHub::default();
    hub.add("someone/gguf-only", "model.gguf", vec![0; 16]);
    let url = serve(Arc::new(hub));
    let e = stderr_fail(&estimate(
        "hf:someone/gguf-only",
        &home.0,
        &[("HF_ENDPOINT", &url)],
    ));
    assert!(e.contains("no config.json"), "{e}");
}

#[test]
fn gated_repository_needs_hf_token() {
    let mut hub = FakeHub::default();
    let repo = "meta-llama/Gated-Model";
    hub.add(repo, "config.json", config_text().into_bytes());
    hub.add(
        repo,
        "model.safetensors",
        safetensors_bytes(&qwen_tensors().concat(), 0),
    );
    hub.gated.insert(repo.into());
    let hub = Arc::new(hub);
    let url = serve(hub.clone());
    let home = TempDir::new("gated");
    let id = format!("hf:{repo}");
    let e = stderr_fail_env(&estimate(&id, &home.0, &[("HF_ENDPOINT", &url)]));
    assert!(e.contains("401"), "{e}");
    assert!(
        e.contains("HF_TOKEN") && e.contains("licence") && e.contains(&format!("{url}/{repo}")),
        "{e}"
    );
    // A wrong token: the message says the token was refused.
    let e = stderr_fail_env(&estimate(
        &id,
        &home.0,
        &[("HF_ENDPOINT", &url), ("HF_TOKEN", "hf_wrong")],
    ));
    assert!(e.contains("with the token in HF_TOKEN"), "{e}");
    // The right token: sent as a bearer token, also on the Range requests.
    let j = json_ok(&estimate(
        &id,
        &home.0,
        &[("HF_ENDPOINT", &url), ("HF_TOKEN", TOKEN)],
    ));
    assert_eq!(j["model"]["params_total"], qwen_params());
    let bearer = format!("Bearer {TOKEN}");
    let seen = hub.seen();
    let weights: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.path.ends_with("model.safetensors"))
        .collect();
    assert!(!weights.is_empty());
    assert!(weights.iter().all(|s| s.auth.as_deref() == Some(&bearer)));
    assert!(j["model"]["source"].as_str().unwrap().contains("1 file,"));
}

#[test]
fn revisions_and_modelopt_quantization() {
    let mut hub = qwen_hub();
    hub.tags.insert("v1".into());
    let fp4 = "nvidia/Qwen-FP4";
    hub.add(fp4, "config.json", config_text().into_bytes());
    hub.add(
        fp4,
        "hf_quant_config.json",
        br#"{"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "NVFP4", "kv_cache_quant_algo": null}}"#.to_vec(),
    );
    let hub = Arc::new(hub);
    let url = serve(hub.clone());
    let home = TempDir::new("rev");
    let env = [("HF_ENDPOINT", url.as_str())];
    let j = json_ok(&estimate(&format!("hf:{REPO}@v1"), &home.0, &env));
    check_qwen(&j);
    assert!(hub
        .seen()
        .iter()
        .any(|s| s.path == format!("/{REPO}/resolve/v1/config.json")));
    let e = stderr_fail(&estimate(&format!("hf:{REPO}@nope"), &home.0, &env));
    assert!(e.contains("revision not found"), "{e}");
    // ModelOpt NVFP4 checkpoint: the default weight format follows it.
    let j = json_ok(&kvplan(
        &[
            "estimate",
            &format!("hf:{fp4}"),
            "--gpus",
            "B200",
            "--ctx",
            "4k",
            "--format",
            "json",
        ],
        &home.0,
        &env,
    ));
    assert_eq!(j["deployment"]["weights_dtype"], "nvfp4");
    assert_eq!(j["model"]["checkpoint_format"], "nvfp4");
}

#[test]
fn unreachable_endpoint_suggests_offline_mode() {
    let home = TempDir::new("unreachable");
    // Bind then drop a listener: the port is (almost certainly) closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let e = stderr_fail_env(&estimate(
        &format!("hf:{REPO}"),
        &home.0,
        &[("HF_ENDPOINT", &url)],
    ));
    assert!(
        e.contains("cannot reach") && e.contains("HF_HUB_OFFLINE=1"),
        "{e}"
    );
    // With the config cached, the network failure falls back to the cache.
    write_cache(
        &home.0,
        &[("config.json", config_text().into_bytes())],
        true,
    );
    let j = json_ok(&estimate(
        &format!("hf:{REPO}"),
        &home.0,
        &[("HF_ENDPOINT", &url)],
    ));
    check_qwen(&j);
    assert!(j["model"]["source"]
        .as_str()
        .unwrap()
        .contains("used the local cache"));
}
