//! A bundle file opened *without* verification: walked by the strict archive reader (so what it
//! holds means what `verify` would read), nothing trusted. The one way the shell reads a bundle
//! it has not verified: `inspect`, `tlog entry`, member minisign checks and the demo's tamper
//! step. Commands that act on a bundle verify it first (`verify::TrustArgs::check`).

use crate::archive::{self, ArchiveError, ArchiveIndex, ByteSource, Entry, Limits};
use crate::bundle::manifest::Manifest;
use crate::bundle::{ENVELOPE, MANIFEST, MAX_CONTROL_SIZE};
use crate::dsse::Envelope;
use crate::fsio::FileSource;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// A bundle file and its strict archive index; nothing in it is trusted.
pub struct UnverifiedBundle {
    path: PathBuf,
    /// The file, read positionally.
    pub src: FileSource,
    /// The members, as the strict walker reads them.
    pub index: ArchiveIndex,
}

impl UnverifiedBundle {
    /// Opens and walks `path`. `Err`: the file cannot be opened; `Ok(Err)`: the walker refused
    /// the archive or could not read it (as `verify` would, with the same rule).
    pub fn open(path: &Path) -> Result<Result<Self, ArchiveError>> {
        let src = FileSource::open(path)?;
        Ok(archive::walk(&src, &Limits::default()).map(|index| UnverifiedBundle { path: path.to_path_buf(), src, index }))
    }

    /// [`Self::open`], a refusal being an error that names the file and the rule.
    pub fn open_or_refuse(path: &Path) -> Result<Self> {
        Self::open(path)?.with_context(|| format!("{} was refused by the strict archive reader", path.display()))
    }

    /// The member `name`, or an error naming the bundle and the member.
    pub fn entry(&self, name: &str) -> Result<&Entry> {
        self.index.get(name).with_context(|| format!("{} has no {name}", self.path.display()))
    }

    /// The bytes of member `name`, at most `max`.
    pub fn read(&self, name: &str, max: u64) -> Result<Vec<u8>> {
        archive::read_member(&self.src, self.entry(name)?, max).with_context(|| format!("reading {name} from {}", self.path.display()))
    }

    /// `manifest.json`: its bytes as stored and as parsed (not verified).
    pub fn manifest(&self) -> Result<(Vec<u8>, Manifest)> {
        let bytes = self.read(MANIFEST, MAX_CONTROL_SIZE)?;
        let m = Manifest::parse(&bytes).with_context(|| format!("{MANIFEST} of {}", self.path.display()))?;
        Ok((bytes, m))
    }

    /// The DSSE envelope `manifest.dsse.json`, parsed (signatures not checked).
    pub fn envelope(&self) -> Result<Envelope> {
        Envelope::parse(&self.read(ENVELOPE, MAX_CONTROL_SIZE)?).with_context(|| format!("{ENVELOPE} of {}", self.path.display()))
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.src.size()
    }
}
