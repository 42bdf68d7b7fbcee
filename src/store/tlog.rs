//! The offline transparency cache under `$AIRLOCK_HOME/tlog/v1/`: per log origin, the latest
//! verified checkpoint and every tile and entry bundle imported from tlog-tiles mirrors.
//!
//! Layout (`<o>` = first 32 hex digits of SHA-256 of the origin line):
//!
//! ```text
//! tlog/v1/<o>/state.json          the commit point: origin, checkpoint note, importedAt, signers
//! tlog/v1/<o>/tile/...            hash tiles and entry bundles, tlog-tiles paths, never rewritten
//! tlog/v1/<o>/forks/*.json        fork evidence (both checkpoints), one file per detection
//! ```
//!
//! An import verifies everything into a staging directory first, fsyncs the staged files, then
//! moves them into place, fsyncs their directories and atomically replaces `state.json`; a refusal (bad signature, bad tile, fork) leaves
//! the previous state untouched. Tile files are immutable: an existing file is never replaced,
//! and one that differs from verified data is reported as cache corruption.

use crate::fsio;
use crate::time::Timestamp;
use crate::tlog::bundle::{CachedLog, CheckpointCache, ForkEvidence};
use crate::tlog::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use crate::tlog::note::MAX_NOTE_SIZE;
use crate::tlog::tiles::{TILE_WIDTH, TileId, TileKind, TileReader, TreeSummary, check_consistency, verify_tree};
use crate::tlog::{LogTrust, TlogError};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Schema of `state.json`.
pub const STATE_SCHEMA: &str = "airlock/tlog-cache-state/v1";
/// Largest entry bundle read: 256 entries of at most 65535 bytes, with their length prefixes.
const MAX_BUNDLE: u64 = TILE_WIDTH * (2 + 65_535);

/// One origin's committed state.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OriginState {
    /// [`STATE_SCHEMA`].
    pub schema: String,
    /// Origin line.
    pub origin: String,
    /// Tree size of the checkpoint.
    pub size: u64,
    /// Root (base64).
    pub root: String,
    /// The checkpoint note, verbatim.
    pub checkpoint: String,
    /// When airlock verified and stored it.
    pub imported_at: Timestamp,
    /// Log keys that verified it then (`name+id`).
    pub log_keys: Vec<String>,
    /// Witness cosignatures that verified then.
    pub witnesses: Vec<WitnessState>,
    /// The trust it was verified under.
    pub trust_source: String,
}

/// A witness cosignature recorded at import.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// Witness name in the policy.
    pub name: String,
    /// Cosignature time (POSIX seconds).
    pub timestamp: u64,
}

/// Reads tiles from a directory laid out as tlog-tiles paths. Symbolic links and non-regular
/// files are refused. In `prefix` mode (the cache) a missing partial tile is served from the
/// full tile or a wider partial of the same index.
pub struct DirTiles {
    root: PathBuf,
    prefix: bool,
}

impl DirTiles {
    /// A mirror: exactly the paths the tree needs.
    pub fn mirror(root: &Path) -> Self {
        DirTiles { root: root.to_path_buf(), prefix: false }
    }

    /// The cache of one origin.
    pub fn cache(root: &Path) -> Self {
        DirTiles { root: root.to_path_buf(), prefix: true }
    }

    fn read(&self, id: &TileId, kind: TileKind, max: u64) -> Result<Option<Vec<u8>>, String> {
        let mut candidates = vec![*id];
        if self.prefix && !id.is_full() {
            candidates.push(id.full());
            candidates.extend((id.width + 1..TILE_WIDTH as u16).map(|w| TileId { width: w, ..*id }));
        }
        for c in candidates {
            // One byte more than the bound: a tile too long is refused by its size (tile.size), as
            // one too short is, rather than as a file that could not be read.
            match fsio::open_under(&self.root, &c.path_of(kind)) {
                Ok(None) => continue,
                Ok(Some((file, _))) => {
                    let p = self.root.join(c.path_of(kind));
                    return fsio::read_prefix(file, max + 1).map(Some).map_err(|e| format!("{}: {e}", p.display()));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(None)
    }
}

impl TileReader for DirTiles {
    fn read_tile(&self, id: &TileId) -> Result<Option<Vec<u8>>, String> {
        self.read(id, TileKind::Hashes, TILE_WIDTH * 32)
    }
    fn read_entries(&self, id: &TileId) -> Result<Option<Vec<u8>>, String> {
        self.read(id, TileKind::Entries, MAX_BUNDLE)
    }
}

/// Removes the partial tiles and entry bundles that the newly committed ones supersede: for a
/// full tile its whole `.p/` directory, for a partial of width `w` the narrower partials of the
/// same index. The cache reader serves a partial from the full tile or a wider partial (a
/// partial tile is a prefix of every wider one, tlog-tiles), so older tree sizes stay provable.
fn prune_partials(odir: &Path, committed: &[String]) -> Result<()> {
    for rel in committed {
        let Ok((kind, id)) = crate::tlog::tiles::TileId::parse(rel) else { continue };
        let full = odir.join(id.full().path_of(kind));
        let mut partials = full.into_os_string();
        partials.push(".p");
        let partials = PathBuf::from(partials);
        if id.is_full() {
            match fs::remove_dir_all(&partials) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove superseded partial tiles {}", partials.display())),
            }
        } else {
            for w in 1..id.width {
                let p = partials.join(w.to_string());
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("cannot remove superseded partial tile {}", p.display())),
                }
            }
        }
    }
    Ok(())
}

/// The transparency-log cache directory: per origin, its verified checkpoint state, tiles and
/// fork evidence.
pub struct TlogStore {
    root: PathBuf,
}

/// A refused import: the rule that failed, and the fork-evidence file when one was written.
#[derive(Debug)]
pub struct Refusal {
    /// What failed.
    pub error: TlogError,
    /// Where the evidence of a fork was written.
    pub evidence: Option<PathBuf>,
}

/// How the imported checkpoint relates to what the cache held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum ImportRelation {
    /// Nothing was cached for this origin.
    First,
    /// Same size and root as the cache: nothing new.
    Same,
    /// Proven consistent with the smaller cached checkpoint, which it replaces.
    Extends {
        /// The previous size.
        from: u64,
    },
    /// The mirror is older than the cache, and consistent with it; the cache is unchanged.
    Older {
        /// The cached size.
        cached: u64,
    },
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    /// Origin.
    pub origin: String,
    /// Imported tree size.
    pub size: u64,
    /// Root (base64).
    pub root: String,
    /// Relation to the previous state.
    pub relation: ImportRelation,
    /// Log keys that verified the checkpoint.
    pub log_keys: Vec<String>,
    /// Witnesses whose cosignatures verified.
    pub witnesses: Vec<String>,
    /// Hash tiles verified.
    pub tiles: u64,
    /// Entry bundles verified.
    pub entry_bundles: u64,
    /// Level-0 tiles without an entry bundle in the mirror.
    pub entry_bundles_missing: u64,
    /// Files newly written to the cache.
    pub written: u64,
    /// Trust source.
    pub trust: String,
}

fn origin_key(origin: &str) -> String {
    crate::digest::Sha256Digest::of(origin.as_bytes()).hex()[..32].to_string()
}

fn random_hex() -> Result<String> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(hex::encode(r))
}

/// Writes a staged file (not yet synced: [`sync_files`] does that before anything is committed).
fn write_file(dest: &Path, bytes: &[u8]) -> Result<()> {
    let dir = dest.parent().context("tile path has a parent")?;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    f.write_all(bytes).with_context(|| format!("cannot write {}", dest.display()))
}

/// fsyncs files from several threads: thousands of tiles are written per import, and the
/// filesystem journal commits concurrent fsyncs together.
fn sync_files(paths: &[PathBuf]) -> Result<()> {
    const THREADS: usize = 16;
    if paths.is_empty() {
        return Ok(());
    }
    let chunk = paths.len().div_ceil(THREADS);
    std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || -> Result<()> {
                    for p in part {
                        fs::File::open(p).and_then(|f| f.sync_all()).with_context(|| format!("fsync {}", p.display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("an fsync thread panicked"))?)
    })
}

impl TlogStore {
    /// The cache under [`super::home`].
    pub fn open_default() -> Result<Self> {
        Ok(TlogStore { root: super::home()?.join("tlog/v1") })
    }

    /// A cache rooted at `root` (tests, benchmark).
    pub fn at(root: &Path) -> Self {
        TlogStore { root: root.to_path_buf() }
    }

    /// The directory of one origin.
    pub fn origin_dir(&self, origin: &str) -> PathBuf {
        self.root.join(origin_key(origin))
    }

    /// The committed state of `origin`, if any.
    pub fn state(&self, origin: &str) -> Result<Option<OriginState>> {
        let p = self.origin_dir(origin).join("state.json");
        if !fsio::present(&p)? {
            return Ok(None);
        }
        let s = Self::read_state(&p)?;
        if s.origin != origin {
            bail!("{} holds origin {:?}, not {origin:?}: the cache is corrupt", p.display(), s.origin);
        }
        Ok(Some(s))
    }

    fn read_state(p: &Path) -> Result<OriginState> {
        let bytes = fsio::read_own(p, 4 * MAX_NOTE_SIZE as u64)?;
        let s: OriginState =
            crate::json::from_slice_strict(&bytes).with_context(|| format!("{} is not a tlog cache state", p.display()))?;
        if s.schema != STATE_SCHEMA {
            bail!("{}: schema {:?} is not {STATE_SCHEMA:?}", p.display(), s.schema);
        }
        Ok(s)
    }

    /// Every cached origin, sorted by origin.
    pub fn origins(&self) -> Result<Vec<OriginState>> {
        let mut out = Vec::new();
        let rd = match fs::read_dir(&self.root) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            r => r.with_context(|| format!("cannot list {}", self.root.display()))?,
        };
        for ent in rd {
            let ent = ent.with_context(|| format!("cannot list {}", self.root.display()))?;
            // Origins are directories; the cache's lock file sits beside them.
            if !ent.file_type().with_context(|| format!("cannot stat {}", ent.path().display()))?.is_dir() {
                continue;
            }
            let p = ent.path().join("state.json");
            if fsio::present(&p)? {
                out.push(Self::read_state(&p)?);
            }
        }
        out.sort_by(|a, b| a.origin.cmp(&b.origin));
        Ok(out)
    }

    /// Fork-evidence files recorded for `origin`.
    pub fn forks(&self, origin: &str) -> Result<Vec<PathBuf>> {
        let d = self.origin_dir(origin).join("forks");
        let mut out = Vec::new();
        let rd = match fs::read_dir(&d) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            r => r.with_context(|| format!("cannot list fork evidence in {}", d.display()))?,
        };
        for ent in rd {
            out.push(ent.with_context(|| format!("cannot list fork evidence in {}", d.display()))?.path());
        }
        out.sort();
        Ok(out)
    }

    /// The tile reader over an origin's cached tiles.
    pub fn tiles(&self, origin: &str) -> DirTiles {
        DirTiles::cache(&self.origin_dir(origin))
    }

    /// Writes fork evidence and returns its path.
    pub fn write_fork_evidence(&self, ev: &ForkEvidence, now: Timestamp) -> Result<PathBuf> {
        let dir = self.origin_dir(&ev.origin).join("forks");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = format!("{}-{}.json", now.rfc3339().replace(':', ""), random_hex()?);
        let p = dir.join(name);
        fsio::write_new(&p, &ev.to_json(now), 0o644)?;
        Ok(p)
    }

    /// Imports a tlog-tiles mirror directory (`checkpoint`, `tile/...`). `Ok(Err(_))` is a
    /// refusal by a verification rule (state unchanged); `Err` is an I/O failure.
    pub fn import(&self, mirror: &Path, trust: &LogTrust, now: Timestamp) -> Result<std::result::Result<ImportReport, Refusal>> {
        let refuse = |error: TlogError| Ok(Err(Refusal { error, evidence: None }));
        let cp_path = mirror.join("checkpoint");
        let note =
            fsio::read_own(&cp_path, MAX_NOTE_SIZE as u64).with_context(|| format!("{} is not a tlog-tiles mirror", mirror.display()))?;
        let vc = match verify_checkpoint(&note, trust).and_then(|v| v.check_times(now).map(|()| v)) {
            Ok(v) => v,
            Err(e) => return refuse(e),
        };
        let cp = vc.checkpoint.clone();
        let reader = DirTiles::mirror(mirror);
        // One import per cache at a time: the consistency check and the state swap must see the
        // same previous checkpoint.
        std::fs::create_dir_all(&self.root).with_context(|| format!("cannot create {}", self.root.display()))?;
        let lock_path = self.root.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open the tlog cache lock {}", lock_path.display()))?;
        lock.lock().with_context(|| format!("cannot lock the tlog cache {}", self.root.display()))?;
        let prev = self.state(&cp.origin)?;
        let mut relation = ImportRelation::First;
        if let Some(prev) = &prev {
            let pv = verify_checkpoint(prev.checkpoint.as_bytes(), trust).map_err(|e| {
                anyhow::anyhow!(
                    "the cached checkpoint of {:?} (imported {} under {}) does not verify under the current trust: {e}; \
                     pass the key it was imported with, or move {} away to start over",
                    prev.origin,
                    prev.imported_at.rfc3339(),
                    prev.trust_source,
                    self.origin_dir(&prev.origin).display()
                )
            })?;
            let old = &pv.checkpoint;
            let result = if old.size <= cp.size {
                check_consistency(old, &cp, &reader)
            } else {
                check_consistency(&cp, old, &self.tiles(&cp.origin))
            };
            match result {
                Ok(()) => {}
                Err(e @ TlogError::Fork { .. }) => {
                    let ev = ForkEvidence {
                        origin: cp.origin.clone(),
                        cached: prev.checkpoint.clone().into_bytes(),
                        presented: note.clone(),
                        detail: e.to_string(),
                    };
                    let path = self.write_fork_evidence(&ev, now)?;
                    return Ok(Err(Refusal { error: e, evidence: Some(path) }));
                }
                Err(e) => return refuse(e),
            }
            relation = if old.size == cp.size {
                ImportRelation::Same
            } else if old.size < cp.size {
                ImportRelation::Extends { from: old.size }
            } else {
                ImportRelation::Older { cached: old.size }
            };
        }
        if let ImportRelation::Older { .. } = relation {
            // Verify the mirror fully all the same, then keep the newer cached state.
            return match verify_tree(&reader, &cp, &mut |_, _, _| Ok(())) {
                Ok(sum) => Ok(Ok(self.report(&vc, relation, &sum, 0, trust))),
                Err(e) => refuse(e),
            };
        }
        let odir = self.origin_dir(&cp.origin);
        let staging = odir.join(format!(".staging-{}", random_hex()?));
        let result = self.stage_and_commit(&reader, &vc, &odir, &staging, trust, now);
        let _ = fs::remove_dir_all(&staging);
        match result? {
            Ok((sum, written)) => Ok(Ok(self.report(&vc, relation, &sum, written, trust))),
            Err(e) => {
                if prev.is_none() {
                    let _ = fs::remove_dir(&odir);
                }
                refuse(e)
            }
        }
    }

    fn stage_and_commit(
        &self,
        reader: &DirTiles,
        vc: &VerifiedCheckpoint,
        odir: &Path,
        staging: &Path,
        trust: &LogTrust,
        now: Timestamp,
    ) -> Result<std::result::Result<(TreeSummary, u64), TlogError>> {
        let mut staged: Vec<String> = Vec::new();
        let mut io_error: Option<anyhow::Error> = None;
        let verified = verify_tree(reader, &vc.checkpoint, &mut |kind, id, bytes| {
            let rel = id.path_of(kind);
            let dest = odir.join(&rel);
            let r = (|| -> Result<bool> {
                if fsio::present(&dest)? {
                    let have = fsio::read_own(&dest, MAX_BUNDLE)?;
                    if have != bytes {
                        bail!("cached {} differs from the verified tile of the same path: the cache is corrupt", dest.display());
                    }
                    return Ok(false);
                }
                write_file(&staging.join(&rel), bytes)?;
                Ok(true)
            })();
            match r {
                Ok(true) => {
                    staged.push(rel);
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(e) => {
                    let msg = format!("{e:#}");
                    io_error = Some(e);
                    Err(msg)
                }
            }
        });
        if let Some(e) = io_error {
            return Err(e);
        }
        let sum = match verified {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        // Everything verified: make the staged files durable, move them into place, sync the
        // directories, then commit the state.
        sync_files(&staged.iter().map(|rel| staging.join(rel)).collect::<Vec<_>>())?;
        let mut dirs = BTreeSet::new();
        for rel in &staged {
            let dest = odir.join(rel);
            let parent = dest.parent().context("tile path has a parent")?.to_path_buf();
            fs::create_dir_all(&parent).with_context(|| format!("cannot create {}", parent.display()))?;
            fs::rename(staging.join(rel), &dest).with_context(|| format!("cannot move {rel} into the cache"))?;
            dirs.insert(parent);
        }
        for d in &dirs {
            fsio::sync_dir(d)?;
        }
        let c = &vc.checkpoint;
        let state = OriginState {
            schema: STATE_SCHEMA.into(),
            origin: c.origin.clone(),
            size: c.size,
            root: c.root_b64(),
            checkpoint: String::from_utf8(vc.bytes.clone()).expect("a parsed note is UTF-8"),
            imported_at: now,
            log_keys: vc.log_keys.clone(),
            witnesses: vc.witnesses.iter().map(|w| WitnessState { name: w.witness.clone(), timestamp: w.timestamp }).collect(),
            trust_source: trust.source.clone(),
        };
        let mut bytes = crate::json::canonical(&state);
        bytes.push(b'\n');
        fs::create_dir_all(odir).with_context(|| format!("cannot create {}", odir.display()))?;
        fsio::atomic_write(&odir.join("state.json"), &bytes, 0o644)?;
        // After the commit (a crash before this leaves extra files, never missing ones).
        prune_partials(odir, &staged)?;
        Ok(Ok((sum, staged.len() as u64)))
    }

    fn report(&self, vc: &VerifiedCheckpoint, relation: ImportRelation, sum: &TreeSummary, written: u64, trust: &LogTrust) -> ImportReport {
        let c = &vc.checkpoint;
        ImportReport {
            origin: c.origin.clone(),
            size: c.size,
            root: c.root_b64(),
            relation,
            log_keys: vc.log_keys.clone(),
            witnesses: vc.witnesses.iter().map(|w| w.witness.clone()).collect(),
            tiles: sum.tiles,
            entry_bundles: sum.entry_bundles,
            entry_bundles_missing: sum.entry_bundles_missing,
            written,
            trust: trust.source.clone(),
        }
    }
}

impl CheckpointCache for TlogStore {
    fn latest(&self, origin: &str) -> std::result::Result<Option<CachedLog>, String> {
        match self.state(origin) {
            Err(e) => Err(format!("{e:#}")),
            Ok(None) => Ok(None),
            Ok(Some(s)) => {
                Ok(Some(CachedLog { note: s.checkpoint.into_bytes(), imported_at: s.imported_at, tiles: Box::new(self.tiles(origin)) }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::checkpoint::MAX_COSIGNATURE_TIME;

    fn state(timestamp: u64) -> Vec<u8> {
        let s = OriginState {
            schema: STATE_SCHEMA.into(),
            origin: "o".into(),
            size: 1,
            root: String::new(),
            checkpoint: String::new(),
            imported_at: Timestamp(253_402_300_799),
            log_keys: vec![],
            witnesses: vec![WitnessState { name: "w".into(), timestamp }],
            trust_source: String::new(),
        };
        crate::json::canonical(&s)
    }

    /// The largest cosignature time import accepts is read back exactly; above it the stored
    /// value would not round-trip, which is why import refuses it first.
    #[test]
    fn the_largest_stored_times_round_trip_through_the_strict_reader() {
        let back: OriginState = crate::json::from_slice_strict(&state(MAX_COSIGNATURE_TIME)).unwrap();
        assert_eq!((back.witnesses[0].timestamp, back.imported_at), (MAX_COSIGNATURE_TIME, Timestamp(253_402_300_799)));
        // Above it, canonical JSON (numbers as IEEE doubles) cannot keep the value: 2^53 + 1 is
        // not read back, or not as written.
        let above = (1u64 << 53) + 1;
        let back = crate::json::from_slice_strict::<OriginState>(&state(above)).map(|s| s.witnesses[0].timestamp);
        assert_ne!(back.ok(), Some(above));
    }
}
