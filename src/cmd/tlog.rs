//! `airlock tlog import|status|prove|verify-proof|entry`: the offline transparency-proof cache.
//!
//! Trust: `--log-key VKEY` (repeatable, ad hoc) and/or `--policy FILE` (a C2SP tlog-policy),
//! else the pinned trust root's `tlog` role; every report names the trust used.

use super::{Decided, Ui};
use crate::store::tlog::{DirTiles, ImportRelation, ImportReport, OriginState, TlogStore};
use crate::store::trust::TrustStore;
use crate::time::Timestamp;
use crate::tlog::bundle::{CacheCheck, CacheRelation, InclusionPath, check_against_cache, logged_entry};
use crate::tlog::checkpoint::verify_checkpoint;
use crate::tlog::note::VerifierKey;
use crate::tlog::policy::Policy;
use crate::tlog::proof::{MAX_PROOF_SIZE, TlogProof};
use crate::tlog::tiles::{Exactness, TiledTree};
use crate::tlog::{LogTrust, TlogError, b64};
use crate::{clock, fsio, merkle};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// Transparency-log cache: import mirrors, show state, produce and verify proofs.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit codes: 0 passed, 1 refused (bad signature, bad tile, fork, proof mismatch), 2 could not check.\n\n\
Examples:\n  \
airlock tlog import /media/usb/log-mirror --log-key 'example.com/log+33d7b496+AeHT...'\n  \
airlock tlog status --json\n  \
airlock tlog prove --origin example.com/log --index 12 -o entry12.tlog-proof\n  \
airlock tlog verify-proof entry12.tlog-proof --entry entry12.bin \\\n      \
--log-key 'example.com/log+33d7b496+AeHT...'")]
pub struct Args {
    #[command(subcommand)]
    pub command: Cmd,
}

/// Trust flags shared by every subcommand.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// Trust this log verifier key (`name+hex8+base64`) ad hoc, without the trust store; repeat.
    #[arg(long = "log-key", value_name = "VKEY", global = true)]
    pub log_keys: Vec<String>,
    /// A C2SP tlog-policy file: trusted logs, witnesses and the cosignature quorum.
    #[arg(long, value_name = "FILE", global = true)]
    pub policy: Option<PathBuf>,
}

impl TrustArgs {
    /// The trust these flags describe; without flags, the pinned trust root's `tlog` role
    /// (empty when there is none).
    pub fn load(&self) -> Result<LogTrust> {
        if self.policy.is_none() && self.log_keys.is_empty() {
            let store = TrustStore::open()?;
            let state = store.load_state()?;
            if let Some(root) = store.load_root(&state)?
                && let Some(t) = crate::trust::root_log_trust(&root)?
            {
                return Ok(t);
            }
            return Ok(LogTrust::empty("none"));
        }
        let mut sources = Vec::new();
        let mut trust = match &self.policy {
            Some(p) => {
                let bytes = fsio::read_small(p, 1 << 20)?;
                let pol = Policy::parse(&bytes).with_context(|| format!("{} is not a usable tlog policy", p.display()))?;
                sources.push(format!("--policy {}", p.display()));
                LogTrust::from_policy(pol, "")
            }
            None => LogTrust::empty(""),
        };
        for k in &self.log_keys {
            let vk = VerifierKey::parse(k.trim()).with_context(|| "--log-key is not a signed-note verifier key (name+hex8+base64)")?;
            trust.add_log_key(vk, None);
        }
        if !self.log_keys.is_empty() {
            sources.push(format!("--log-key x{} (ad hoc, not from the trust store)", self.log_keys.len()));
        }
        trust.source = if sources.is_empty() { "none".into() } else { sources.join(" + ") };
        Ok(trust)
    }

    fn require(&self) -> Result<LogTrust> {
        let t = self.load()?;
        if t.is_empty() {
            return Err(super::ShellError::NoLogTrust.into());
        }
        Ok(t)
    }
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Import a tlog-tiles mirror directory (checkpoint, tile/...) into the cache.
    Import {
        /// The mirror directory.
        mirror: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cached origins, sizes, ages, witnesses and fork evidence.
    Status {
        /// Trust (optional: given, each cached checkpoint is re-verified).
        #[command(flatten)]
        trust: TrustArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a C2SP tlog-proof for an entry from the cache.
    Prove {
        /// Log origin.
        #[arg(long)]
        origin: String,
        /// Entry index.
        #[arg(long)]
        index: u64,
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Trust (optional: given, the cached checkpoint is re-verified first).
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Verify a tlog-proof for an entry, and its consistency with the cache.
    VerifyProof {
        /// The .tlog-proof file.
        file: PathBuf,
        /// The logged entry's bytes.
        #[arg(long, value_name = "ENTRY_FILE")]
        entry: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the log entry that stands for a bundle's signed manifest (what to submit to a log).
    Entry {
        /// The bundle (.zip or .tar).
        bundle: PathBuf,
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Exit code for a refusal: 2 when nothing could be checked (missing data, untrusted origin,
/// unusable keys), else 1.
pub fn exit_for(e: &TlogError) -> u8 {
    match e.rule() {
        "tile.missing" | "tile.read" | "checkpoint.origin-untrusted" | "policy.syntax" | "vkey.format" | "vkey.key-id" | "vkey.type" => 2,
        _ => 1,
    }
}

fn refusal(what: &str, e: TlogError, evidence: Option<&PathBuf>, json: bool, command: &str) -> Result<Decided> {
    let code = exit_for(&e);
    let e = anyhow::Error::new(e).context(super::About(what.into()));
    if code == 2 && evidence.is_none() {
        return Err(e);
    }
    let mut doc = super::error_doc(&if code == 1 { super::refusal(e) } else { e }, command, TLOG_REPORT_SCHEMA);
    doc.outcome = if code == 1 { crate::report::Outcome::Fail } else { crate::report::Outcome::Error };
    let mut v = serde_json::to_value(&doc)?;
    v["forkEvidence"] = serde_json::json!(evidence);
    if json {
        super::out_json(&v)?;
    }
    eprintln!("error: {}", doc.error.message);
    if let Some(p) = evidence {
        eprintln!("fork evidence written to {}", p.display());
    }
    eprintln!("hint: {}", doc.error.hint);
    Ok(Decided { code, report: v, subject: Default::default(), time: None })
}

fn write_out(output: &Option<PathBuf>, bytes: &[u8]) -> Result<()> {
    match output {
        Some(p) => fsio::atomic_write(p, bytes, 0o644),
        None => super::out(&String::from_utf8_lossy(bytes)),
    }
}

/// Schema id of the reports of `tlog` subcommands.
pub const TLOG_REPORT_SCHEMA: &str = "airlock/tlog-report/v1";

impl Args {
    /// With `--json`: the subcommand's name and report schema.
    pub fn json_output(&self) -> Option<(&'static str, &'static str)> {
        match &self.command {
            Cmd::Import { json: true, .. } => Some(("tlog import", TLOG_REPORT_SCHEMA)),
            Cmd::Status { json: true, .. } => Some(("tlog status", TLOG_REPORT_SCHEMA)),
            Cmd::VerifyProof { json: true, .. } => Some(("tlog verify-proof", TLOG_REPORT_SCHEMA)),
            _ => None,
        }
    }

    /// `import` changes the cache: its verdict is recorded in the evidence ledger under this name.
    pub fn ledger_name(&self) -> Option<&'static str> {
        matches!(self.command, Cmd::Import { .. }).then_some("tlog import")
    }

    /// Runs the subcommand; the clock is read once, by the subcommands that compare times.
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let plain = |r: Result<u8>| r.map(Decided::plain);
        match self.command {
            Cmd::Import { mirror, trust, json } => import(&mirror, &trust, json, ui),
            Cmd::Status { trust, json } => plain(status(&trust, json)),
            Cmd::Prove { origin, index, output, trust } => plain(prove(&origin, index, &output, &trust, ui)),
            Cmd::VerifyProof { file, entry, trust, json } => plain(verify_proof(&file, &entry, &trust, json)),
            Cmd::Entry { bundle, output } => {
                let (bytes, m) = super::unverified::UnverifiedBundle::open_or_refuse(&bundle)?.manifest()?;
                write_out(&output, &logged_entry(&m, &bytes))?;
                Ok(Decided::plain(0))
            }
        }
    }
}

/// `tlog import`: verifies the mirror and commits it to the cache, or refuses (fork evidence
/// written on a fork).
fn import(mirror: &Path, trust: &TrustArgs, json: bool, ui: Ui) -> Result<Decided> {
    let trust = trust.require()?;
    let now = clock::now_or_refuse()?;
    let store = TlogStore::open_default()?;
    let rep = match store.import(mirror, &trust, now)? {
        Err(r) => return refusal(&format!("import of {}", mirror.display()), r.error, r.evidence.as_ref(), json, "tlog import"),
        Ok(rep) => rep,
    };
    let mut v = serde_json::to_value(&rep)?;
    v["schema"] = "airlock/tlog-import/v1".into();
    v["outcome"] = "pass".into();
    if json {
        super::out_json(&v)?;
    } else if !ui.quiet {
        super::out(&import_text(&rep, &trust))?;
    }
    Ok(Decided { code: 0, report: v, subject: Default::default(), time: Some(crate::trust::state::EvalTime::Clock(now)) })
}

fn import_text(rep: &ImportReport, trust: &LogTrust) -> String {
    let rel = match &rep.relation {
        ImportRelation::First => "first checkpoint of this origin".to_string(),
        ImportRelation::Same => "same as cached".to_string(),
        ImportRelation::Extends { from } => format!("consistent with cached size {from}, replaces it"),
        ImportRelation::Older { cached } => format!("older than cached size {cached}, consistent; cache unchanged"),
    };
    format!(
        "imported  {} size {} ({rel})\nroot      {}\nsigned by {}\nwitnesses {}\ntiles     {} hash tiles, {} entry bundles verified ({} level-0 tiles without entries); {} files written\ntrust     {}\n",
        rep.origin,
        rep.size,
        rep.root,
        rep.log_keys.join(", "),
        if rep.witnesses.is_empty() { format!("none (quorum {})", trust.policy.quorum_name()) } else { rep.witnesses.join(", ") },
        rep.tiles,
        rep.entry_bundles,
        rep.entry_bundles_missing,
        rep.written,
        rep.trust
    )
}

/// `tlog status`: every cached origin, re-verified when trust is given; exit 1 when one does
/// not verify or has fork evidence.
fn status(trust: &TrustArgs, json: bool) -> Result<u8> {
    let trust = trust.load()?;
    let now = clock::now_or_refuse()?;
    let store = TlogStore::open_default()?;
    let mut rows = Vec::new();
    let mut text = format!("trust: {}\n", trust.source);
    for s in store.origins()? {
        let forks = store.forks(&s.origin)?;
        let verifies = (!trust.is_empty()).then(|| verify_checkpoint(s.checkpoint.as_bytes(), &trust).map_err(|e| e.to_string()));
        text.push_str(&status_text(&s, forks.len(), verifies.as_ref(), now));
        rows.push(serde_json::json!({
            "origin": s.origin, "size": s.size, "root": s.root, "importedAt": s.imported_at, "ageSecs": age(now, s.imported_at.0),
            "witnesses": s.witnesses.iter().map(|w| serde_json::json!({"name": w.name, "timestamp": w.timestamp})).collect::<Vec<_>>(),
            "logKeys": s.log_keys, "importedUnder": s.trust_source, "forkEvidence": forks,
            "verifies": verifies.as_ref().map(|r| r.is_ok()),
        }));
    }
    let bad = rows.iter().any(|r| r["verifies"] == serde_json::json!(false) || !r["forkEvidence"].as_array().is_none_or(|a| a.is_empty()));
    if json {
        super::out_json(&serde_json::json!({"schema": "airlock/tlog-status/v1", "trust": trust.source, "origins": rows}))?;
    } else {
        if rows.is_empty() {
            text.push_str("no cached logs; import a mirror with `airlock tlog import DIR --log-key VKEY`\n");
        }
        super::out(&text)?;
    }
    Ok(if bad { 1 } else { 0 })
}

/// Seconds from `then` to `now`, or `None` when `then` is later (a clock set back since, or a
/// witness's clock ahead): an age is never negative.
fn age(now: Timestamp, then: i64) -> Option<u64> {
    u64::try_from(i128::from(now.0) - i128::from(then)).ok()
}

fn age_text(now: Timestamp, then: i64) -> String {
    match age(now, then) {
        Some(a) => format!("{a} s ago"),
        None => "dated after this clock's reading".into(),
    }
}

fn status_text<T>(s: &OriginState, forks: usize, verifies: Option<&Result<T, String>>, now: Timestamp) -> String {
    format!(
        "{}\n  size {}  root {}\n  imported {} ({}) under {}\n  witnesses {}\n  forks {forks}{}\n",
        s.origin,
        s.size,
        s.root,
        s.imported_at.rfc3339(),
        age_text(now, s.imported_at.0),
        s.trust_source,
        if s.witnesses.is_empty() {
            "none".into()
        } else {
            s.witnesses
                .iter()
                .map(|w| format!("{} ({})", w.name, age_text(now, i64::try_from(w.timestamp).unwrap_or(i64::MAX))))
                .collect::<Vec<_>>()
                .join(", ")
        },
        match verifies {
            None => String::new(),
            Some(Ok(_)) => "\n  verifies under the given trust".into(),
            Some(Err(e)) => format!("\n  DOES NOT VERIFY under the given trust: {e}"),
        }
    )
}

/// `tlog prove`: an inclusion proof for entry `index` from the cached tiles, checked against
/// the cached root before it is written.
fn prove(origin: &str, index: u64, output: &Option<PathBuf>, trust: &TrustArgs, ui: Ui) -> Result<u8> {
    let trust = trust.load()?;
    let store = TlogStore::open_default()?;
    let s = store.state(origin)?.with_context(|| format!("the cache holds no checkpoint for {origin:?}; import a mirror first"))?;
    if !trust.is_empty()
        && let Err(e) = verify_checkpoint(s.checkpoint.as_bytes(), &trust)
    {
        return refusal("cached checkpoint", e, None, false, "tlog prove").map(|d| d.code);
    }
    let tiles = DirTiles::cache(&store.origin_dir(origin));
    let tree = TiledTree::new(&tiles, s.size, Exactness::Prefix);
    let (hashes, leaf) = match tree.inclusion_proof(index).and_then(|p| tree.leaf_hash(index).map(|l| (p, l))) {
        Ok(p) => p,
        Err(e) => return refusal("proof", e, None, false, "tlog prove").map(|d| d.code),
    };
    let root = crate::tlog::unb64_hash(&s.root).context("cached root is not base64 of 32 bytes: the cache is corrupt")?;
    merkle::verify_inclusion(&leaf, index, s.size, &hashes, &root)
        .map_err(|e| anyhow::anyhow!("the cache produced a proof that does not verify ({e}): the cache is corrupt"))?;
    let size = s.size;
    let tp = TlogProof { extra: None, index, hashes, checkpoint: s.checkpoint.into_bytes() };
    write_out(output, &tp.to_bytes())?;
    if !ui.quiet {
        eprintln!(
            "proof of entry {index} in {origin} at size {size} (leaf {}){}; checkpoint {}",
            b64(&leaf),
            output.as_ref().map(|p| format!(" written to {}", p.display())).unwrap_or_default(),
            if trust.is_empty() {
                "not re-verified (no --log-key/--policy)".to_string()
            } else {
                format!("re-verified under {}", trust.source)
            }
        );
    }
    Ok(0)
}

/// `tlog verify-proof`: the proof for the entry's bytes under the trusted logs, then its
/// relation to the cache (fork evidence written on a fork).
fn verify_proof(file: &Path, entry: &Path, trust: &TrustArgs, json: bool) -> Result<u8> {
    let trust = trust.require()?;
    let proof_bytes = fsio::read_small(file, MAX_PROOF_SIZE as u64)?;
    let entry_bytes = fsio::read_small(entry, 16 << 20)?;
    let what = file.display().to_string();
    // A file that is not a proof at all could not be checked (exit 2); only a well-formed
    // proof that does not hold is a refusal (exit 1).
    let proof = TlogProof::parse(&proof_bytes).map_err(|e| anyhow::Error::new(e).context(super::About(file.to_path_buf())))?;
    let v = match proof.verify_entry(&entry_bytes, &trust) {
        Ok(v) => v,
        Err(e) => return refusal(&what, e, None, json, "tlog verify-proof").map(|d| d.code),
    };
    let store = TlogStore::open_default()?;
    let path = InclusionPath { index: v.index, leaf: v.leaf_hash, hashes: &proof.hashes };
    let relation = match check_against_cache(&v.checkpoint, Some(&path), &trust, &store) {
        CacheCheck::Related(r) => r,
        CacheCheck::Fork(e, ev) => {
            let p = store.write_fork_evidence(&ev, clock::now_or_refuse()?)?;
            return refusal(&what, e, Some(&p), json, "tlog verify-proof").map(|d| d.code);
        }
        CacheCheck::Unverifiable(why) => {
            return Err(anyhow::Error::new(super::ShellError::CacheUnusable(why)).context(super::About(what.into())));
        }
    };
    let c = &v.checkpoint.checkpoint;
    if json {
        super::out_json(&serde_json::json!({
            "schema": "airlock/tlog-report/v1", "outcome": "pass", "origin": c.origin, "index": v.index,
            "checkpointSize": c.size, "root": b64(&c.root), "leafHash": b64(&v.leaf_hash),
            "logKeys": v.checkpoint.log_keys,
            "witnesses": v.checkpoint.witnesses.iter().map(|w| serde_json::json!({"name": w.witness, "timestamp": w.timestamp})).collect::<Vec<_>>(),
            "cache": relation, "trust": trust.source,
        }))?;
        return Ok(0);
    }
    let cache = match &relation {
        CacheRelation::NotCached => "origin not cached: consistency not checked".to_string(),
        CacheRelation::Consistent { cached_size, .. } => format!("consistent with cached checkpoint of size {cached_size}"),
        CacheRelation::ProofNewer { cached_size, shared_hashes } => format!(
            "newer than cached size {cached_size}: agrees with the cached tree on {shared_hashes} shared hash(es), full consistency not checked"
        ),
        CacheRelation::Unusable { why } => format!("cached checkpoint not used: {why}"),
    };
    super::out(&format!(
        "PASS entry {} included in {} at size {}\nroot      {}\nsigned by {}\nwitnesses {}\ncache     {cache}\ntrust     {}\n",
        v.index,
        c.origin,
        c.size,
        b64(&c.root),
        v.checkpoint.log_keys.join(", "),
        if v.checkpoint.witnesses.is_empty() {
            format!("none (quorum {})", trust.policy.quorum_name())
        } else {
            v.checkpoint.witnesses.iter().map(|w| w.witness.clone()).collect::<Vec<_>>().join(", ")
        },
        trust.source
    ))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tlog::WitnessState;

    /// A cache imported, or cosigned, after the clock's present reading (a clock set back, a
    /// witness's clock ahead) shows no negative age, in text or JSON.
    #[test]
    fn status_never_shows_a_negative_age() {
        let now = Timestamp(1_800_000_000);
        let s = OriginState {
            schema: crate::store::tlog::STATE_SCHEMA.into(),
            origin: "o".into(),
            size: 1,
            root: String::new(),
            checkpoint: String::new(),
            imported_at: Timestamp(now.0 + 100),
            log_keys: vec![],
            witnesses: vec![
                WitnessState { name: "w".into(), timestamp: now.0 as u64 + 50 },
                WitnessState { name: "v".into(), timestamp: 0 },
            ],
            trust_source: String::new(),
        };
        let text = status_text::<()>(&s, 0, None, now);
        assert!(!text.contains("-100") && !text.contains("-50"), "{text}");
        assert!(text.contains("imported 2027-01-15T08:01:40Z (dated after this clock's reading)"), "{text}");
        assert!(text.contains("w (dated after this clock's reading), v (1800000000 s ago)"), "{text}");
        assert_eq!((age(now, now.0 + 1), age(now, now.0 - 7), age(now, i64::MIN)), (None, Some(7), Some(now.0 as u64 + (1 << 63))));
    }
}
