//! Transparency logs, offline (sans-I/O): C2SP signed notes, checkpoints, cosignatures, the
//! tlog-policy witness quorum, tlog-tiles, tlog-proof files, and how a bundle proves that its
//! signed manifest was logged. Normative text: `format-spec/transparency-v1.md`.
//!
//! Nothing here opens a file or reads the clock: tiles come through [`tiles::TileReader`], time
//! comes in as a [`crate::time::Timestamp`], and trust comes in as a [`LogTrust`] value (filled
//! from the trust root's `tlog` role, a tlog-policy file, or `--log-key` for ad-hoc use).
//!
//! Every refusal is a [`TlogError`] whose [`TlogError::rule`] names the rule that failed.

pub mod bundle;
pub mod checkpoint;
pub mod cosig;
pub mod note;
pub mod policy;
pub mod proof;
pub mod tiles;

use note::VerifierKey;
use policy::Policy;

/// Errors of the transparency layer. Each names the object, the rule, expected vs actual.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TlogError {
    /// A signed note larger than [`note::MAX_NOTE_SIZE`].
    #[error("signed note is {size} bytes; at most {max} accepted (rule note.size)")]
    NoteSize {
        /// Size received.
        size: usize,
        /// Cap.
        max: usize,
    },
    /// Not UTF-8, or an ASCII control character other than newline.
    #[error("signed note is not valid: {detail} (rule note.encoding)")]
    NoteEncoding {
        /// What was wrong.
        detail: String,
    },
    /// No blank line before the signatures, no final newline, or no signature.
    #[error("signed note is malformed: {detail} (rule note.format)")]
    NoteFormat {
        /// What was wrong.
        detail: String,
    },
    /// A signature line that is not `— <name> <base64(keyid||sig)>`.
    #[error("signed note signature line {line} is malformed: {detail} (rule note.signature-line)")]
    SignatureLine {
        /// 1-based line number among the signature lines.
        line: usize,
        /// What was wrong.
        detail: String,
    },
    /// More signature lines than [`note::MAX_SIGNATURES`].
    #[error("signed note carries {count} signatures; at most {max} accepted (rule note.signature-count)")]
    TooManySignatures {
        /// Lines found.
        count: usize,
        /// Cap.
        max: usize,
    },
    /// A signature by a known key (name and key id match) that does not verify: the whole note
    /// is rejected (C2SP signed-note).
    #[error("signature by known key {name} ({key_id:08x}) does not verify; the note is rejected (rule note.signature-invalid)")]
    BadSignature {
        /// Key name.
        name: String,
        /// Key id.
        key_id: u32,
    },
    /// A signature line that a known key verifies under another name or key id: the line was
    /// altered (a flipped name or key id would otherwise turn a trusted signature into an
    /// "unknown signer" and hide the change).
    #[error(
        "signature line {name} ({key_id:08x}) is verified by known key {known} ({known_id:08x}), whose name or key id it does not carry; the note is rejected (rule note.signature-mislabelled)"
    )]
    MislabelledSignature {
        /// Name on the line.
        name: String,
        /// Key id on the line.
        key_id: u32,
        /// The known key that verifies it.
        known: String,
        /// Its key id.
        known_id: u32,
    },
    /// The checkpoint falls short of the trust policy (no log signature or no witness quorum)
    /// and carries a line in the name of a trusted log or witness whose key id is not one held.
    #[error(
        "the checkpoint lacks a trusted log signature or the witness quorum, and its signature line {name} ({key_id:08x}) names a trusted signer under a key id this verifier does not hold (held: {held}); altered, or the signer rotated its key (then update the trust root's tlog role) (rule note.signature-unknown-key-for-known-name)"
    )]
    UnverifiedKnownName {
        /// Name on the line.
        name: String,
        /// Key id on the line.
        key_id: u32,
        /// Key ids held for that name.
        held: String,
    },
    /// A verifier key string that is not `name+hex8+base64`.
    #[error("verifier key {key:?} is malformed: {detail} (rule vkey.format)")]
    VerifierKey {
        /// The key text (truncated).
        key: String,
        /// What was wrong.
        detail: String,
    },
    /// The key id in a verifier key is not the one computed from its name and key.
    #[error("verifier key {name}: key id {stated:08x} stated, {computed:08x} computed from the key (rule vkey.key-id)")]
    KeyIdMismatch {
        /// Key name.
        name: String,
        /// In the text.
        stated: u32,
        /// Computed.
        computed: u32,
    },
    /// A signature type this binary does not verify, or not allowed in this role.
    #[error("verifier key {name}: signature type 0x{sig_type:02x} is not accepted {role} (rule vkey.type)")]
    KeyType {
        /// Key name.
        name: String,
        /// Type byte.
        sig_type: u8,
        /// Where it was used, e.g. "for a log (0x01 Ed25519, 0x02 ECDSA P-256)".
        role: &'static str,
    },
    /// A checkpoint body that breaks C2SP tlog-checkpoint.
    #[error("checkpoint is malformed: {detail} (rule checkpoint.format)")]
    CheckpointFormat {
        /// What was wrong.
        detail: String,
    },
    /// The checkpoint's origin is not a trusted log.
    #[error("checkpoint origin {origin:?} is not a trusted log (trusted: {known}) (rule checkpoint.origin-untrusted)")]
    UntrustedOrigin {
        /// Origin line.
        origin: String,
        /// Trusted origins, comma-separated.
        known: String,
    },
    /// No signature by a trusted key of the log verified.
    #[error("checkpoint for {origin:?} carries no valid signature by a trusted log key ({keys}) (rule checkpoint.unsigned)")]
    NotSignedByLog {
        /// Origin line.
        origin: String,
        /// Trusted key names and ids.
        keys: String,
    },
    /// The witness policy's quorum is not met.
    #[error("checkpoint for {origin:?}: witness quorum {quorum:?} not met; valid cosignatures from [{got}] (rule witness.quorum)")]
    QuorumNotMet {
        /// Origin line.
        origin: String,
        /// The quorum name.
        quorum: String,
        /// Witnesses whose cosignatures verified.
        got: String,
    },
    /// A trusted witness's cosignature timestamp above 2^53 − 1: no JSON reader round-trips it.
    #[error(
        "cosignature by {witness} is dated {timestamp}, above 2^53 - 1 (9007199254740991), the largest time airlock stores (rule cosignature.time-range)"
    )]
    CosignatureRange {
        /// The witness.
        witness: String,
        /// Its timestamp.
        timestamp: u64,
    },
    /// A trusted witness's cosignature dated after the evaluation time plus the allowed skew.
    #[error(
        "cosignature by {witness} is dated {timestamp}, {ahead} s after the evaluation time {now} (at most {skew} s of clock skew allowed); a checkpoint from the future is never fresh (rule cosignature.future)"
    )]
    CosignatureFuture {
        /// The witness.
        witness: String,
        /// Its timestamp.
        timestamp: u64,
        /// The evaluation time.
        now: i64,
        /// Seconds ahead of `now`.
        ahead: u64,
        /// The allowed skew.
        skew: u64,
    },
    /// A cosignature by a known witness key that is not a 72-byte timestamped signature.
    #[error("cosignature by {name} is {len} bytes; a v1 Ed25519 cosignature is 72 (rule cosignature.format)")]
    CosignatureFormat {
        /// Witness key name.
        name: String,
        /// Length after the key id.
        len: usize,
    },
    /// A tlog-policy document that breaks C2SP tlog-policy.
    #[error("tlog policy line {line}: {detail} (rule policy.syntax)")]
    Policy {
        /// 1-based line number (0: the document as a whole).
        line: usize,
        /// What was wrong.
        detail: String,
    },
    /// A path that is not a tlog-tiles tile or entry bundle path.
    #[error("{path:?} is not a tlog-tiles path: {detail} (rule tile.path)")]
    TilePath {
        /// The path.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// A tile needed for the tree is absent.
    #[error("{path} is needed for tree size {size} but is missing (rule tile.missing)")]
    TileMissing {
        /// Tile path.
        path: String,
        /// Tree size.
        size: u64,
    },
    /// The tile reader failed (I/O in the shell).
    #[error("cannot read {path}: {detail} (rule tile.read)")]
    TileRead {
        /// Tile path.
        path: String,
        /// The reader's message.
        detail: String,
    },
    /// A tile of the wrong length.
    #[error("{path} is {actual} bytes; {expected} expected (rule tile.size)")]
    TileSize {
        /// Tile path.
        path: String,
        /// Expected bytes.
        expected: usize,
        /// Actual bytes.
        actual: usize,
    },
    /// A full tile whose Merkle hash differs from its entry in the tile above.
    #[error("{path} hashes to {actual}, but the tile above records {expected} (rule tile.hash-mismatch)")]
    TileHash {
        /// Tile path.
        path: String,
        /// Hex recorded above.
        expected: String,
        /// Hex computed.
        actual: String,
    },
    /// An entry bundle that does not parse as `u16 BE length || entry` records of the right count.
    #[error("{path}: {detail} (rule entries.format)")]
    EntryBundle {
        /// Bundle path.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// An entry whose leaf hash differs from the level-0 tile.
    #[error("{path}: entry {index} hashes to {actual}, but the level-0 tile records {expected} (rule entries.hash-mismatch)")]
    EntryHash {
        /// Bundle path.
        path: String,
        /// Global entry index.
        index: u64,
        /// Hex in the tile.
        expected: String,
        /// Hex computed.
        actual: String,
    },
    /// The root computed from the tiles is not the checkpoint's root.
    #[error("tiles of {origin:?} at size {size} give root {computed}, the signed checkpoint says {expected} (rule tree.root-mismatch)")]
    RootMismatch {
        /// Origin.
        origin: String,
        /// Tree size.
        size: u64,
        /// Root in the checkpoint (base64).
        expected: String,
        /// Root computed (base64).
        computed: String,
    },
    /// A tlog-proof file that breaks C2SP tlog-proof.
    #[error("tlog-proof line {line}: {detail} (rule proof.format)")]
    ProofFormat {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        detail: String,
    },
    /// An inclusion proof that does not lead to the checkpoint's root.
    #[error("inclusion of entry {index} in {origin:?} at size {size} does not verify: {detail} (rule proof.inclusion)")]
    Inclusion {
        /// Origin.
        origin: String,
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
        /// The Merkle error.
        detail: String,
    },
    /// Two validly signed checkpoints of one log that cannot both be true: a split view.
    #[error(
        "FORK: {origin:?} signed size {old_size} (root {old_root}) and size {new_size} (root {new_root}), which are inconsistent: {detail} (rule tlog.fork)"
    )]
    Fork {
        /// Origin.
        origin: String,
        /// The smaller (or cached) size.
        old_size: u64,
        /// Its root (base64).
        old_root: String,
        /// The larger (or presented) size.
        new_size: u64,
        /// Its root (base64).
        new_root: String,
        /// Why.
        detail: String,
    },
}

impl TlogError {
    /// The stable rule id, e.g. `tile.hash-mismatch`.
    pub fn rule(&self) -> &'static str {
        match self {
            TlogError::NoteSize { .. } => "note.size",
            TlogError::NoteEncoding { .. } => "note.encoding",
            TlogError::NoteFormat { .. } => "note.format",
            TlogError::SignatureLine { .. } => "note.signature-line",
            TlogError::TooManySignatures { .. } => "note.signature-count",
            TlogError::BadSignature { .. } => "note.signature-invalid",
            TlogError::MislabelledSignature { .. } => "note.signature-mislabelled",
            TlogError::UnverifiedKnownName { .. } => "note.signature-unknown-key-for-known-name",
            TlogError::VerifierKey { .. } => "vkey.format",
            TlogError::KeyIdMismatch { .. } => "vkey.key-id",
            TlogError::KeyType { .. } => "vkey.type",
            TlogError::CheckpointFormat { .. } => "checkpoint.format",
            TlogError::UntrustedOrigin { .. } => "checkpoint.origin-untrusted",
            TlogError::NotSignedByLog { .. } => "checkpoint.unsigned",
            TlogError::QuorumNotMet { .. } => "witness.quorum",
            TlogError::CosignatureFormat { .. } => "cosignature.format",
            TlogError::CosignatureRange { .. } => "cosignature.time-range",
            TlogError::CosignatureFuture { .. } => "cosignature.future",
            TlogError::Policy { .. } => "policy.syntax",
            TlogError::TilePath { .. } => "tile.path",
            TlogError::TileMissing { .. } => "tile.missing",
            TlogError::TileRead { .. } => "tile.read",
            TlogError::TileSize { .. } => "tile.size",
            TlogError::TileHash { .. } => "tile.hash-mismatch",
            TlogError::EntryBundle { .. } => "entries.format",
            TlogError::EntryHash { .. } => "entries.hash-mismatch",
            TlogError::RootMismatch { .. } => "tree.root-mismatch",
            TlogError::ProofFormat { .. } => "proof.format",
            TlogError::Inclusion { .. } => "proof.inclusion",
            TlogError::Fork { .. } => "tlog.fork",
        }
    }

    /// One line saying what to try.
    pub fn hint(&self) -> &'static str {
        match self {
            TlogError::UntrustedOrigin { .. } | TlogError::NotSignedByLog { .. } => {
                "check the log's verifier key (--log-key NAME+ID+KEY or the trust root's tlog role); never trust a checkpoint whose key you did not pin"
            }
            TlogError::QuorumNotMet { .. } => "bring a checkpoint cosigned by enough witnesses of the policy",
            TlogError::VerifierKey { .. } | TlogError::KeyIdMismatch { .. } | TlogError::KeyType { .. } | TlogError::Policy { .. } => {
                "copy the verifier key or policy again from its publisher"
            }
            TlogError::TileMissing { .. } | TlogError::TileRead { .. } => "copy the whole mirror (checkpoint and tile/ tree) again",
            TlogError::Fork { .. } => {
                "the log showed two different histories: keep the evidence file, stop trusting this log, and report it to the log operator and witnesses"
            }
            TlogError::Inclusion { .. } => "the proof does not match this entry or checkpoint; obtain the proof again",
            TlogError::CosignatureFuture { .. } => {
                "check this machine's clock; if it is right, the witness's clock is not: do not count this checkpoint as fresh"
            }
            _ => "the data was altered or is not from this log; obtain it again from the log or a mirror you trust",
        }
    }
}

/// One trusted log: its origin line and the verifier keys whose signature makes a checkpoint of
/// that origin authentic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedLog {
    /// The checkpoint origin line (usually the key name; Rekor v1 differs).
    pub origin: String,
    /// Log keys (signature type 0x01 or 0x02).
    pub keys: Vec<VerifierKey>,
}

/// What the transparency code trusts: logs and the witness policy. The trust root's `tlog` role
/// (a C2SP tlog-policy document) fills it with [`LogTrust::from_policy`]; `--log-key` fills it
/// ad hoc with [`LogTrust::add_log_key`].
#[derive(Clone, Debug)]
pub struct LogTrust {
    /// Trusted logs.
    pub logs: Vec<TrustedLog>,
    /// Witnesses and quorum (`quorum none` when no witnessing is required).
    pub policy: Policy,
    /// Where this trust came from, for reports (e.g. `--log-key`, `trust root tlog role`).
    pub source: String,
}

impl LogTrust {
    /// No logs, no witnesses, quorum none.
    pub fn empty(source: impl Into<String>) -> Self {
        LogTrust { logs: Vec::new(), policy: Policy::none(), source: source.into() }
    }

    /// From a tlog-policy: every `log` line is a trusted log whose origin is its key name.
    pub fn from_policy(policy: Policy, source: impl Into<String>) -> Self {
        let mut t = LogTrust { logs: Vec::new(), policy: Policy::none(), source: source.into() };
        for k in &policy.logs {
            t.add_log_key(k.clone(), None);
        }
        t.policy = policy;
        t
    }

    /// Trusts a log key for `origin` (default: the key's name).
    pub fn add_log_key(&mut self, key: VerifierKey, origin: Option<&str>) {
        let origin = origin.unwrap_or(&key.name).to_string();
        match self.logs.iter_mut().find(|l| l.origin == origin) {
            Some(l) if l.keys.contains(&key) => {}
            Some(l) => l.keys.push(key),
            None => self.logs.push(TrustedLog { origin, keys: vec![key] }),
        }
    }

    /// The trusted log with this origin.
    pub fn log(&self, origin: &str) -> Option<&TrustedLog> {
        self.logs.iter().find(|l| l.origin == origin)
    }

    /// Whether nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }
}

/// Standard base64 (RFC 4648 §4), padded, canonical.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard padded base64, refusing non-canonical encodings.
pub(crate) fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    (b64(&v) == s).then_some(v)
}

/// A 32-byte hash from base64.
pub(crate) fn unb64_hash(s: &str) -> Option<crate::merkle::Hash> {
    unb64(s)?.try_into().ok()
}
