//! Filesystem side of the shell: positional file reads for the core, atomic durable writes
//! (temp file + fsync + rename + directory fsync), and walking a pack input directory without
//! following links.

use crate::archive::ByteSource;
use anyhow::{Context, Result, bail};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Whether `path` exists: `false` only when it is absent. A path that cannot be checked (a
/// permission error, a file where a directory should be) is an error, never taken as absent:
/// state read as "absent" would reset what it records.
pub fn present(path: &Path) -> Result<bool> {
    path.try_exists().with_context(|| format!("cannot check whether {} exists", path.display()))
}

/// `O_NONBLOCK`: opening a FIFO never waits for a writer; for a regular file it changes nothing.
/// `O_NOFOLLOW`: the last path component must not be a symbolic link. Named constants for the
/// targets airlock ships on, rather than a `libc` dependency for two numbers.
#[cfg(all(target_os = "linux", not(any(target_arch = "aarch64", target_arch = "arm"))))]
const O_NONBLOCK_NOFOLLOW: (i32, i32) = (0o4000, 0o400000);
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm")))]
const O_NONBLOCK_NOFOLLOW: (i32, i32) = (0o4000, 0o100000);
#[cfg(target_os = "macos")]
const O_NONBLOCK_NOFOLLOW: (i32, i32) = (0x4, 0x100);

/// Whether the last component of an input path may be a symbolic link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// A path the user named: a link to a regular file is read (the opened file is checked).
    Follow,
    /// A path airlock chose (inside a mirror, the store): a link is refused, never followed.
    Refuse,
}

/// Why an input file was not read: the shell's one way to read an input refuses these before
/// any byte is parsed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The opened file is not a regular file (a FIFO, a device, a directory, a socket).
    #[error("{}: is {what}, not a regular file; airlock reads inputs from regular files only", path.display())]
    NotRegular {
        /// The path as given.
        path: PathBuf,
        /// What it is ("a FIFO (named pipe)", "a character device", ...).
        what: &'static str,
    },
    /// A path airlock chose has a symbolic link in it.
    #[error("{}: is a symbolic link (or passes through one); links inside {} are refused, never followed", path.display(), inside.display())]
    Symlink {
        /// The link.
        path: PathBuf,
        /// The directory the path was to stay in.
        inside: PathBuf,
    },
    /// The file holds more than this kind of input may.
    #[error("{}: larger than {max} bytes, the most this kind of input may hold", path.display())]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// The bound.
        max: u64,
    },
    /// Opening failed (absent, no permission).
    #[error("cannot open {}: {cause}", path.display())]
    Open {
        /// The path as given.
        path: PathBuf,
        /// The cause (in the message, so that callers that keep only the text keep it).
        cause: io::Error,
    },
    /// Reading failed.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The cause (in the message, so that callers that keep only the text keep it).
        cause: io::Error,
    },
}

impl InputError {
    /// Whether the file is simply absent.
    pub fn is_not_found(&self) -> bool {
        matches!(self, InputError::Open { cause, .. } if cause.kind() == io::ErrorKind::NotFound)
    }
}

fn file_kind(ft: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens an input file: never blocks on open (`O_NONBLOCK`), does not follow a final symbolic
/// link when `links` is [`Links::Refuse`] (`O_NOFOLLOW`), and checks the *open handle* (fstat)
/// is a regular file, so nothing can swap the path between the check and the read.
pub fn open_input(path: &Path, links: Links) -> Result<(File, u64), InputError> {
    let io = |cause: io::Error| InputError::Io { path: path.to_path_buf(), cause };
    let (nonblock, nofollow) = O_NONBLOCK_NOFOLLOW;
    let flags = if links == Links::Refuse { nonblock | nofollow } else { nonblock };
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        // ELOOP when O_NOFOLLOW met a link, ENXIO for a socket: name what the path is, not the errno.
        Err(e) => match fs::symlink_metadata(path) {
            Ok(md) if md.is_symlink() && links == Links::Refuse => {
                return Err(InputError::Symlink { path: path.to_path_buf(), inside: parent_dir(path) });
            }
            Ok(md) if !md.is_file() && !md.is_symlink() && e.kind() != io::ErrorKind::PermissionDenied => {
                return Err(InputError::NotRegular { path: path.to_path_buf(), what: file_kind(md.file_type()) });
            }
            _ => return Err(InputError::Open { path: path.to_path_buf(), cause: e }),
        },
    };
    let md = file.metadata().map_err(io)?;
    if !md.is_file() {
        return Err(InputError::NotRegular { path: path.to_path_buf(), what: file_kind(md.file_type()) });
    }
    Ok((file, md.len()))
}

/// Reads an input file whole through `max` (see [`open_input`]): a file that grows past `max`
/// while being read is refused too.
pub fn read_input(path: &Path, max: u64, links: Links) -> Result<Vec<u8>, InputError> {
    use std::io::Read;
    let (file, len) = open_input(path, links)?;
    if len > max {
        return Err(InputError::TooLarge { path: path.to_path_buf(), max });
    }
    let mut buf = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut buf).map_err(|cause| InputError::Io { path: path.to_path_buf(), cause })?;
    if buf.len() as u64 > max {
        return Err(InputError::TooLarge { path: path.to_path_buf(), max });
    }
    Ok(buf)
}

/// Opens `rel` (a `/`-separated relative path) inside `root`, a directory airlock reads as a
/// mirror or a store: no component under `root` may be a symbolic link (each directory is
/// checked, the file is opened with `O_NOFOLLOW`), and the file must be a regular one.
/// `Ok(None)` when it is absent.
pub fn open_under(root: &Path, rel: &str) -> Result<Option<(File, u64)>, InputError> {
    let mut p = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for dir in &parts[..parts.len() - 1] {
        p.push(dir);
        match fs::symlink_metadata(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => return Err(InputError::Open { path: p, cause }),
            Ok(md) if md.is_symlink() => return Err(InputError::Symlink { path: p, inside: root.to_path_buf() }),
            Ok(md) if !md.is_dir() => return Err(InputError::NotRegular { path: p, what: "not a directory" }),
            Ok(_) => {}
        }
    }
    p.push(parts[parts.len() - 1]);
    match open_input(&p, Links::Refuse) {
        Err(InputError::Symlink { path, .. }) => Err(InputError::Symlink { path, inside: root.to_path_buf() }),
        Err(e) if e.is_not_found() => Ok(None),
        r => r.map(Some),
    }
}

/// Reads `rel` inside `root` ([`open_under`]) whole through `max`.
pub fn read_under(root: &Path, rel: &str, max: u64) -> Result<Option<Vec<u8>>, InputError> {
    let path = root.join(rel);
    let Some((file, len)) = open_under(root, rel)? else { return Ok(None) };
    if len > max {
        return Err(InputError::TooLarge { path, max });
    }
    let buf = read_prefix(file, max + 1).map_err(|cause| InputError::Io { path: path.clone(), cause })?;
    if buf.len() as u64 > max {
        return Err(InputError::TooLarge { path, max });
    }
    Ok(Some(buf))
}

/// At most `max` bytes from the start of an open file.
pub fn read_prefix(file: File, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A file as a [`ByteSource`] (pread: safe to share between hashing threads).
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Opens a regular file for reading (see [`open_input`]; a link the user named is followed).
    pub fn open(path: &Path) -> Result<Self> {
        let (file, len) = open_input(path, Links::Follow)?;
        Ok(FileSource { file, len })
    }
}

impl ByteSource for FileSource {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let max = ((self.len - offset).min(buf.len() as u64)) as usize;
        self.file.read_at(&mut buf[..max], offset)
    }
}

/// A file being written next to its final path; [`AtomicFile::commit`] makes it appear whole.
/// Dropped without commit, the temp file is removed and the destination never changes.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates the temp file (mode `mode`) in the destination's directory.
    pub fn create(dest: &Path, mode: u32) -> Result<Self> {
        let dir = parent_dir(dest);
        let name = dest.file_name().with_context(|| format!("{} has no file name", dest.display()))?;
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| anyhow::anyhow!("no randomness for a temp name: {e}"))?;
        let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), hex::encode(rnd)));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(AtomicFile { tmp, dest: dest.to_path_buf(), file: Some(file) })
    }

    /// The open temp file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("present until commit")
    }

    /// Where the temp file lives until commit.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// fsync, rename over the destination, fsync the directory.
    pub fn commit(mut self) -> Result<()> {
        let f = self.file.take().expect("present until commit");
        f.sync_all().with_context(|| format!("fsync {}", self.tmp.display()))?;
        drop(f);
        fs::rename(&self.tmp, &self.dest).with_context(|| format!("rename to {}", self.dest.display()))?;
        sync_dir(&parent_dir(&self.dest))?;
        Ok(())
    }

    /// fsync, then make the file appear at the destination only if nothing is there yet (a hard
    /// link, atomic against a concurrent creator), fsync the directory. `Ok(false)`: another
    /// process created the destination first; it is left as it is.
    pub fn commit_new(mut self) -> Result<bool> {
        let f = self.file.take().expect("present until commit");
        f.sync_all().with_context(|| format!("fsync {}", self.tmp.display()))?;
        drop(f);
        let linked = match fs::hard_link(&self.tmp, &self.dest) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => {
                let _ = fs::remove_file(&self.tmp);
                return Err(e).with_context(|| format!("cannot create {}", self.dest.display()));
            }
        };
        let _ = fs::remove_file(&self.tmp);
        sync_dir(&parent_dir(&self.dest))?;
        Ok(linked)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("fsync directory {}", dir.display()))
}

/// Writes `bytes` to `dest` atomically and durably.
pub fn atomic_write(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = AtomicFile::create(dest, mode)?;
    f.file().write_all(bytes).with_context(|| format!("write {}", dest.display()))?;
    f.commit()
}

/// Creates a new file that must not exist yet (no clobbering of keys).
pub fn write_new(dest: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dest)
        .with_context(|| format!("cannot create {} (it must not exist yet)", dest.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("cannot write {}", dest.display()))?;
    sync_dir(&parent_dir(dest))
}

/// Reads a small input file the user named, refusing one larger than `max` and anything but a
/// regular file ([`read_input`]).
pub fn read_small(path: &Path, max: u64) -> Result<Vec<u8>> {
    Ok(read_input(path, max, Links::Follow)?)
}

/// Reads a small file at a path airlock chose (the store): as [`read_small`], and a symbolic
/// link is refused.
pub fn read_own(path: &Path, max: u64) -> Result<Vec<u8>> {
    Ok(read_input(path, max, Links::Refuse)?)
}

/// Regular files under `root`, as `/`-separated relative paths, sorted. Symbolic links, devices,
/// FIFOs and sockets are refused, never followed.
pub fn collect_tree(root: &Path) -> Result<Vec<(String, PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?;
        for ent in rd {
            let ent = ent?;
            let name = ent.file_name();
            let name = name.to_str().with_context(|| format!("{}: file name is not UTF-8", ent.path().display()))?.to_string();
            let rel_name = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let ft = ent.file_type()?;
            if ft.is_symlink() {
                bail!("{} is a symbolic link; bundles hold regular files only (copy the target in instead)", ent.path().display());
            } else if ft.is_dir() {
                stack.push((ent.path(), rel_name));
            } else if ft.is_file() {
                out.push((rel_name, ent.path(), ent.metadata()?.len()));
            } else {
                bail!("{} is not a regular file or directory", ent.path().display());
            }
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}
