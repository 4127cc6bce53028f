//! The repository is self-contained: no text file may point at a file that
//! is not in it. Facts are cited as `docs/sources/<file>.md` (in the
//! repository) or by their original public source (a vendor page, a paper, a
//! repository path at a commit). This test scans every tracked text file and
//! fails on
//! - a name of the planning notes that lived outside the repository (built
//!   below from parts, so this file does not match itself),
//! - a path into a folder outside the checkout (the shared notes folder
//!   one level up, or an absolute path on the build machine),
//! - a bare upper-case `*.md` file name that no file in the repository has,
//! - a `docs/sources/…` path that does not exist.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Tracked (and untracked, not ignored) files from git; without git, a walk
/// of the checkout that skips build output and hidden folders.
fn repo_files(root: &Path) -> Vec<PathBuf> {
    let git = Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .output();
    if let Ok(out) = git {
        if out.status.success() {
            let list = String::from_utf8_lossy(&out.stdout);
            return list
                .lines()
                .map(|l| root.join(l))
                .filter(|p| p.is_file())
                .collect();
        }
    }
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                let skip = name == "target" || (name.starts_with('.') && name != ".ci");
                if !skip {
                    stack.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn is_upper_md(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".md") else {
        return false;
    };
    let mut chars = stem.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// True when `line` holds `dir` as the start of a path, not as the tail of
/// someone else's path: a quoted third-party log may say
/// `/home/user/work/models`, which names nothing on this machine.
fn names_outside_dir(line: &str, dir: &str) -> bool {
    line.match_indices(dir).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        !matches!(before, Some(c) if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            || dir.starts_with("..")
    })
}

#[test]
fn names_outside_dir_tells_a_sandbox_path_from_a_quoted_one() {
    let sandbox = format!("/{}/", "work");
    assert!(names_outside_dir(
        &format!("see {sandbox}shared/x"),
        &sandbox
    ));
    assert!(names_outside_dir(&format!("{sandbox}x"), &sandbox));
    assert!(!names_outside_dir(
        &format!("vllm serve /home/zp{sandbox}models"),
        &sandbox
    ));
    let shared = format!("../{}", "shared");
    assert!(names_outside_dir(&format!("in {shared}/x"), &shared));
}

#[test]
fn no_text_file_names_a_file_outside_the_repository() {
    let root = repo_root();
    let files = repo_files(&root);
    assert!(
        files.len() > 50,
        "expected the whole checkout, found {} files",
        files.len()
    );
    let relative: HashSet<String> = files
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let basenames: HashSet<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    // The notes that used to sit next to the repository; their facts now live
    // in docs/sources/ with the original public sources.
    let outside_names: Vec<String> = ["GPUS", "MODELS", "ENGINES", "DESIGN", "GPU-NOTES"]
        .iter()
        .map(|n| format!("{n}.md"))
        .chain(["gpus".to_string() + ".csv"])
        .collect();
    let outside_dirs = [format!("../{}", "shared"), format!("/{}/", "work")];

    let mut bad = Vec::new();
    for path in &files {
        let Ok(meta) = std::fs::metadata(path) else {
            continue;
        };
        if meta.len() > 4 << 20 {
            continue; // large data files (CSV fixtures) hold no prose references
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // binary (images, fonts)
        };
        let rel = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for (line_no, line) in text.lines().enumerate() {
            let mut complain = |why: String| bad.push(format!("{rel}:{}: {why}", line_no + 1));
            for dir in &outside_dirs {
                if names_outside_dir(line, dir) {
                    complain(format!("path outside the repository ({dir}…)"));
                }
            }
            let tokens = line.split(|c: char| {
                !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
            });
            for raw in tokens {
                let token = raw.trim_end_matches('.');
                let base = token.rsplit('/').next().unwrap_or(token);
                if outside_names.iter().any(|n| n == base) && !relative.contains(token) {
                    complain(format!(
                        "`{token}` is not in the repository; cite docs/sources/ instead"
                    ));
                } else if !token.contains('/') && is_upper_md(token) && !basenames.contains(token) {
                    complain(format!("`{token}`: no file of that name in the repository"));
                } else if token.starts_with("docs/sources/")
                    && token.ends_with(".md")
                    && !relative.contains(token)
                {
                    complain(format!("`{token}` does not exist"));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} reference(s) to files outside the repository:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn the_sources_pages_exist_and_name_original_sources() {
    let root = repo_root().join("docs/sources");
    // Each page must carry at least one original public source of the kind
    // the standards ask for: a URL, an arXiv id, or a repository path.
    for (page, must_mention) in [
        ("gpus.md", "https://www.nvidia.com/"),
        ("models.md", "arXiv 2405.04434"),
        ("engines.md", "vllm/v1/core/kv_cache_utils.py"),
        ("gpu-notes.md", "cudarc"),
        ("design.md", "vllm/v1/kv_cache_interface.py"),
    ] {
        let text = std::fs::read_to_string(root.join(page))
            .unwrap_or_else(|e| panic!("docs/sources/{page}: {e}"));
        assert!(
            text.contains(must_mention),
            "docs/sources/{page} should cite {must_mention}"
        );
    }
}
