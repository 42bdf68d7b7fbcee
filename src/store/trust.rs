//! The trust store under `$AIRLOCK_HOME/trust/`: the pinned trust root (`root.json`, the exact
//! bytes accepted), every root ever installed (`history/N.root.json`), the anti-rollback state
//! (`state.json`), and per pinned TUF root the TUF client's trusted metadata
//! (`tuf/<fingerprint>/`). Every write is atomic and durable ([`fsio::atomic_write`]).
//!
//! Crash order for an install: history, then `root.json`, then `state.json`. A crash between
//! leaves a root newer than the state's highest version, which loading reconciles; a
//! `root.json` older than the state's highest version is a rolled-back store and is refused.

use crate::fsio;
use crate::time::Timestamp;
use crate::trust::root::{MAX_ROOT_SIZE, TrustRoot, VerifiedRoot};
use crate::trust::state::{STATE_FORMAT, State};
use crate::trust::tuf;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The trust store directory.
pub struct TrustStore {
    dir: PathBuf,
}

/// Largest state file read.
const MAX_STATE_SIZE: u64 = 16 << 20;

impl TrustStore {
    /// The store in [`super::home`] (not created).
    pub fn open() -> Result<Self> {
        Ok(TrustStore { dir: super::home()?.join("trust") })
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `trust import-tuf --target trusted_root.json` keeps the Sigstore trusted root it
    /// verified: `sigstore verify`'s default.
    pub fn sigstore_root_path(&self) -> PathBuf {
        self.dir.join("sigstore").join("trusted_root.json")
    }

    /// Keeps a verified Sigstore trusted root as the default one.
    pub fn save_sigstore_root(&self, bytes: &[u8]) -> Result<()> {
        self.ensure()?;
        let p = self.sigstore_root_path();
        let d = p.parent().expect("has a parent");
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        fsio::atomic_write(&p, bytes, 0o644)
    }

    fn root_path(&self) -> PathBuf {
        self.dir.join("root.json")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn ensure(&self) -> Result<()> {
        super::ensure_home()?;
        for d in [self.dir.clone(), self.dir.join("history")] {
            if !d.exists() {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&d)
                    .with_context(|| format!("cannot create {}", d.display()))?;
            }
        }
        Ok(())
    }

    /// The pinned root, if the store was initialised. Re-checked on every load: structure, its
    /// own root-role signatures, and not older than the highest version installed.
    pub fn load_root(&self, state: &State) -> Result<Option<VerifiedRoot>> {
        let p = self.root_path();
        if !fsio::present(&p)? {
            return Ok(None);
        }
        let bytes = fsio::read_own(&p, MAX_ROOT_SIZE)?;
        let root = TrustRoot::parse(&bytes).with_context(|| format!("trust store {} is damaged", p.display()))?;
        let root = VerifiedRoot::self_signed(root).with_context(|| format!("trust store {} is not self-signed", p.display()))?;
        if root.version() < state.highest_root_version {
            bail!(
                "trust store root is v{} but v{} was installed before: the store was rolled back (rule trust.root-version); pin v{1} or later with `airlock trust init --force` (the store keeps it in history/), see trust-root/README.md §8",
                root.version(),
                state.highest_root_version
            );
        }
        Ok(Some(root))
    }

    /// Takes the store's exclusive lock (released when the file is dropped), so that two
    /// processes updating the anti-rollback state cannot lose each other's update.
    pub fn lock(&self) -> Result<std::fs::File> {
        self.ensure()?;
        let p = self.dir.join("lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .with_context(|| format!("cannot open lock file {}", p.display()))?;
        f.lock().with_context(|| format!("cannot lock {}", p.display()))?;
        Ok(f)
    }

    /// The stored root of `version` (`history/N.root.json`): `None` when absent (the history
    /// ends there), an error when the file cannot be read or is not a trust-root document (a
    /// damaged store is reported, never read as a shorter history).
    pub fn history_root(&self, version: u64) -> Result<Option<TrustRoot>> {
        let p = self.dir.join("history").join(format!("{version}.root.json"));
        if !fsio::present(&p)? {
            return Ok(None);
        }
        let bytes = fsio::read_own(&p, MAX_ROOT_SIZE).with_context(|| format!("cannot read trust history {}", p.display()))?;
        let root = TrustRoot::parse(&bytes).with_context(|| {
            format!("trust history {} is damaged; expected the v{version} trust-root document\nhint: restore it from offline media, or re-pin with `airlock trust init --force`", p.display())
        })?;
        Ok(Some(root))
    }

    /// The verified history leading to `root` (oldest first, `root` last) from the stored roots
    /// (see [`crate::trust::root::linked_history`], which also checks every link's signatures
    /// and stops at a root that does not chain). A damaged history file is an error.
    pub fn history(&self, root: &TrustRoot) -> Result<Vec<TrustRoot>> {
        let mut damaged = None;
        let history = crate::trust::root::linked_history(root, |v| match self.history_root(v) {
            Ok(r) => r,
            Err(e) => {
                damaged = Some(e);
                None
            }
        });
        match damaged {
            Some(e) => Err(e),
            None => Ok(history),
        }
    }

    /// The anti-rollback state (default when absent).
    pub fn load_state(&self) -> Result<State> {
        let p = self.state_path();
        if !fsio::present(&p)? {
            return Ok(State::default());
        }
        let bytes = fsio::read_own(&p, MAX_STATE_SIZE)?;
        let mut s: State = crate::json::from_slice_strict(&bytes).with_context(|| format!("trust state {} is damaged", p.display()))?;
        if s.format != STATE_FORMAT {
            bail!("trust state {} has format {:?}; this airlock reads {STATE_FORMAT:?}", p.display(), s.format);
        }
        // `root.json` is the commit point of an install (written before the state): a crash
        // between the two leaves the new root with the old state, which reads as the new one.
        if let Some(v) = self.pinned_version() {
            s.highest_root_version = s.highest_root_version.max(v);
        }
        Ok(s)
    }

    /// The version `root.json` declares, when it reads and parses (unverified: it only ever
    /// raises the highest version seen; [`TrustStore::load_root`] verifies it).
    fn pinned_version(&self) -> Option<u64> {
        let p = self.root_path();
        let bytes = fsio::read_own(&p, MAX_ROOT_SIZE).ok()?;
        TrustRoot::parse(&bytes).ok().map(|r| r.version())
    }

    /// Writes the state.
    pub fn save_state(&self, s: &State) -> Result<()> {
        self.ensure()?;
        let mut b = crate::json::canonical(s);
        b.push(b'\n');
        fsio::atomic_write(&self.state_path(), &b, 0o600)
    }

    /// Installs roots (in order, the last becomes current) and the state that goes with them.
    /// History first, then `root.json` (the commit point), then the state: a crash leaves the
    /// old store or one that reads as the new ([`TrustStore::load_state`]); `cargo xtask
    /// crashtest-trust` SIGKILLs `trust update` to check it.
    pub fn install(&self, roots: &[(&[u8], u64)], state: &State) -> Result<()> {
        self.ensure()?;
        for (bytes, version) in roots {
            fsio::atomic_write(&self.dir.join("history").join(format!("{version}.root.json")), bytes, 0o644)?;
        }
        if let Some((bytes, _)) = roots.last() {
            fsio::atomic_write(&self.root_path(), bytes, 0o644)?;
        }
        self.save_state(state)
    }

    /// When the store root was installed, from the state.
    pub fn installed_at(state: &State) -> Option<Timestamp> {
        state.root_installed_at
    }

    fn tuf_dir(&self, pinned: &str) -> PathBuf {
        self.dir.join("tuf").join(pinned)
    }

    /// Trusted TUF metadata persisted for the pinned root with this fingerprint (hex).
    pub fn load_tuf(&self, pinned: &str) -> Result<Option<tuf::Persisted>> {
        let d = self.tuf_dir(pinned);
        let read = |n: &str| -> Result<Option<Vec<u8>>> {
            let p = d.join(n);
            if fsio::present(&p)? { Ok(Some(fsio::read_own(&p, 8 << 20)?)) } else { Ok(None) }
        };
        let Some(root) = read("root.json")? else { return Ok(None) };
        Ok(Some(tuf::Persisted { root, timestamp: read("timestamp.json")?, snapshot: read("snapshot.json")? }))
    }

    /// Persists trusted TUF metadata (root first, as TUF §5.3.8 orders).
    pub fn save_tuf(&self, pinned: &str, p: &tuf::Persisted) -> Result<()> {
        self.ensure()?;
        let d = self.tuf_dir(pinned);
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        fsio::atomic_write(&d.join("root.json"), &p.root, 0o644)?;
        for (name, b) in [("timestamp.json", &p.timestamp), ("snapshot.json", &p.snapshot)] {
            match b {
                Some(b) => fsio::atomic_write(&d.join(name), b, 0o644)?,
                None => {
                    let path = d.join(name);
                    if path.exists() {
                        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                        fsio::sync_dir(&d)?;
                    }
                }
            }
        }
        Ok(())
    }
}
