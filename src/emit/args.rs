//! The command-line flags each supported engine release defines, copied from
//! the engines' sources at release tags into tests/fixtures/engine-args/
//! (each file's first line names its source) and compiled in, so every
//! emitted command is checked against the flags its engine version accepts.

/// One engine command's flag list for one release.
#[derive(Debug, Clone, Copy)]
pub struct ArgList {
    /// Engine id (`vllm`, `sglang`, `trtllm`).
    pub engine: &'static str,
    /// Release the list was taken from (e.g. `0.11.0`).
    pub version: &'static str,
    /// The command these flags belong to (`vllm serve`, `vllm bench serve`, …).
    pub command: &'static str,
    /// The list file's text: `#` comment lines (the first names the source), then one flag a line.
    pub text: &'static str,
}

impl ArgList {
    /// The source line (repository, path, tag) without its `# `.
    pub fn source(&self) -> &'static str {
        self.text
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches('#')
            .trim()
    }

    /// Whether `flag` (e.g. `--tensor-parallel-size`, or `yaml:enable_attention_dp`) is listed.
    pub fn has(&self, flag: &str) -> bool {
        self.text
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .any(|l| l == flag)
    }
}

/// Every compiled-in list.
pub const ARG_LISTS: &[ArgList] = &[
    ArgList {
        engine: "vllm",
        version: "0.11.0",
        command: "vllm serve",
        text: include_str!("../../tests/fixtures/engine-args/vllm-0.11.0-serve.txt"),
    },
    ArgList {
        engine: "vllm",
        version: "0.11.0",
        command: "vllm bench serve",
        text: include_str!("../../tests/fixtures/engine-args/vllm-0.11.0-bench-serve.txt"),
    },
    ArgList {
        engine: "sglang",
        version: "0.5.3",
        command: "python -m sglang.launch_server",
        text: include_str!("../../tests/fixtures/engine-args/sglang-0.5.3-launch-server.txt"),
    },
    ArgList {
        engine: "sglang",
        version: "0.5.3",
        command: "python -m sglang.bench_serving",
        text: include_str!("../../tests/fixtures/engine-args/sglang-0.5.3-bench-serving.txt"),
    },
    ArgList {
        engine: "sglang",
        version: "0.4.10.post2",
        command: "python -m sglang.launch_server",
        text: include_str!(
            "../../tests/fixtures/engine-args/sglang-0.4.10.post2-launch-server.txt"
        ),
    },
    ArgList {
        engine: "sglang",
        version: "0.4.10.post2",
        command: "python -m sglang.bench_serving",
        text: include_str!(
            "../../tests/fixtures/engine-args/sglang-0.4.10.post2-bench-serving.txt"
        ),
    },
    ArgList {
        engine: "trtllm",
        version: "1.x (00209af)",
        command: "trtllm-serve",
        text: include_str!("../../tests/fixtures/engine-args/trtllm-serve-00209af.txt"),
    },
];

/// The list for `engine`'s `command` at `version`.
pub fn list(engine: &str, version: &str, command: &str) -> Option<&'static ArgList> {
    ARG_LISTS
        .iter()
        .find(|a| a.engine == engine && a.version == version && a.command == command)
}

/// The flags of `argv` (words starting with `-`, value after `=` cut off)
/// that `list` does not define.
pub fn unknown_flags(list: &ArgList, argv: &[String]) -> Vec<String> {
    argv.iter()
        .filter(|w| w.starts_with('-'))
        .map(|w| w.split('=').next().unwrap_or(w).to_string())
        .filter(|f| !list.has(f))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_name_their_source() {
        for a in ARG_LISTS {
            assert!(
                a.source().contains(a.version) || a.source().contains("00209af"),
                "{} {}: {}",
                a.engine,
                a.version,
                a.source()
            );
            assert!(a.text.lines().filter(|l| l.starts_with("--")).count() >= 20);
        }
        let v = list("vllm", "0.11.0", "vllm serve").unwrap();
        assert!(v.has("--tensor-parallel-size"));
        assert!(!v.has("--tp-size"));
        assert!(!v.has("# vllm"));
    }
}
