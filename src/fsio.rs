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

/// A file as a [`ByteSource`] (pread: safe to share between hashing threads).
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Opens a regular file for reading.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let md = file.metadata().with_context(|| format!("cannot stat {}", path.display()))?;
        if !md.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        Ok(FileSource { file, len: md.len() })
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
    f.write_all(bytes)?;
    f.sync_all()?;
    sync_dir(&parent_dir(dest))
}

/// Reads a small file, refusing ones larger than `max`.
pub fn read_small(path: &Path, max: u64) -> Result<Vec<u8>> {
    let md = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if md.len() > max {
        bail!("{} is {} bytes; at most {max} expected", path.display(), md.len());
    }
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
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
