//! The one way kvplan reads a file: regular files only, up to a size limit.
//!
//! Every user-named path (a model config.json or spec .yaml, a calibration
//! profile, an imported config, Hub cache files) goes through [`read_text`],
//! so `kvplan estimate /dev/zero`, a FIFO or a 10 GB file fails at once with
//! a clear error instead of reading forever or filling memory.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Largest model spec, config.json or calibration profile kvplan reads.
/// Real config.json files are 1–10 KiB and the largest built-in profile is
/// tens of KiB; 4 MiB leaves room for anything plausible.
pub const MAX_SPEC_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Largest engine log or benchmark output `kvplan reconcile` reads (a
/// day of a busy server's log is tens of MiB).
pub const MAX_LOG_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Largest auxiliary Hub file read (`model.safetensors.index.json` lists
/// every tensor: ~9 MB for a 90,000-tensor checkpoint).
pub const MAX_INDEX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a read failed, before it is worded for the caller's field.
#[derive(Debug)]
pub enum ReadError {
    /// Opening or reading failed (missing file, permissions, …).
    Io(std::io::Error),
    /// The path is a directory, device, FIFO or socket.
    NotRegular(&'static str),
    /// The file is larger than the limit (bytes seen, limit).
    TooLarge(u64, u64),
    /// The bytes are not UTF-8 text.
    NotText,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(kind) => write!(f, "it is a {kind}, not a regular file"),
            ReadError::TooLarge(n, limit) => write!(
                f,
                "it is larger than {} ({} bytes or more); a config or spec file is a few KiB",
                crate::units::thousands(*limit),
                crate::units::thousands(*n)
            ),
            ReadError::NotText => write!(f, "it is not UTF-8 text"),
        }
    }
}

/// What kind of file system object `ft` is, for messages.
fn kind(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_char_device() {
            return "character device";
        }
        if ft.is_block_device() {
            return "block device";
        }
        if ft.is_fifo() {
            return "FIFO (named pipe)";
        }
        if ft.is_socket() {
            return "socket";
        }
    }
    if ft.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Open `path` for reading if it is a regular file, without blocking on a
/// FIFO; also returns its size. For readers of a bounded part of a large
/// file (a safetensors header); whole files go through [`read_limited`].
pub fn open_regular(path: &Path) -> std::result::Result<(std::fs::File, u64), ReadError> {
    // stat first (does not block, unlike opening a FIFO for reading).
    let meta = std::fs::metadata(path).map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        // If the path was swapped for a FIFO after the stat, do not block.
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path).map_err(ReadError::Io)?;
    let meta = f.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind(meta.file_type())));
    }
    Ok((f, meta.len()))
}

/// Read `path` as UTF-8 text if it is a regular file of at most `max_bytes`.
/// Never blocks on a FIFO and never reads past `max_bytes + 1`.
pub fn read_limited(path: &Path, max_bytes: u64) -> std::result::Result<String, ReadError> {
    let (f, len) = open_regular(path)?;
    if len > max_bytes {
        return Err(ReadError::TooLarge(len, max_bytes));
    }
    let meta_len = len;
    let mut buf = Vec::with_capacity(meta_len.min(max_bytes) as usize);
    f.take(max_bytes + 1)
        .read_to_end(&mut buf)
        .map_err(ReadError::Io)?;
    if buf.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge(buf.len() as u64, max_bytes));
    }
    String::from_utf8(buf).map_err(|_| ReadError::NotText)
}

impl ReadError {
    /// The error for the option or field `field`, naming `path` and ending
    /// with `hint`: a file that cannot be opened is the environment's
    /// (exit 3); a device, FIFO, oversized or binary file is bad input (exit 2).
    pub fn for_field(self, field: &str, path: &str, hint: &str) -> Error {
        let message = format!("cannot read '{path}': {self}{hint}");
        match self {
            ReadError::Io(_) => Error::file(field, message),
            _ => Error::input(field, message),
        }
    }
}

/// Read a user-named file for the option or field `field` (see
/// [`ReadError::for_field`] for the errors).
pub fn read_text(path: &str, field: &str, max_bytes: u64) -> Result<String> {
    read_limited(Path::new(path), max_bytes).map_err(|e| e.for_field(field, path, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_and_directories_at_once() {
        let e = read_limited(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular(_)), "{e}");
        assert!(e.to_string().contains("character device"), "{e}");
        let e = read_limited(Path::new("/"), 1024).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let e = open_regular(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, ReadError::NotRegular(_)), "{e}");
    }

    #[test]
    fn refuses_files_over_the_limit() {
        let dir = std::env::temp_dir().join(format!("kvplan-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("big.json");
        std::fs::write(&p, vec![b' '; 2048]).unwrap();
        assert!(matches!(
            read_limited(&p, 1024),
            Err(ReadError::TooLarge(2048, 1024))
        ));
        assert_eq!(read_limited(&p, 4096).unwrap().len(), 2048);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
