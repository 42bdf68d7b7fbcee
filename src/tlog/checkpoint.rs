//! C2SP `tlog-checkpoint`: the note text `origin\nsize\nbase64(root)\n[extension lines]`, and the
//! one function that decides whether a checkpoint is authentic under a [`LogTrust`]: signed by a
//! trusted key of the log named by its origin, and cosigned by the witness quorum.

use super::note::{Note, VerifierKey, sign_ed25519};
use super::{LogTrust, TlogError, b64, unb64_hash};
use crate::keys::SecretKey;
use crate::merkle::Hash;

/// A parsed checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// RFC 6962 root hash at that size.
    pub root: Hash,
    /// Extension lines (opaque, non-empty).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Parses a checkpoint note text (which ends in a newline).
    pub fn parse(text: &str) -> Result<Self, TlogError> {
        let bad = |d: String| TlogError::CheckpointFormat { detail: d };
        let body = text.strip_suffix('\n').ok_or_else(|| bad("text does not end with a newline".into()))?;
        let lines: Vec<&str> = body.split('\n').collect();
        if lines.len() < 3 {
            return Err(bad(format!("{} lines; origin, size and root hash are required", lines.len())));
        }
        let origin = lines[0];
        if origin.is_empty() {
            return Err(bad("origin line is empty".into()));
        }
        let size_s = lines[1];
        let size_ok = !size_s.is_empty() && size_s.bytes().all(|b| b.is_ascii_digit()) && (size_s == "0" || !size_s.starts_with('0'));
        let size = size_s
            .parse::<u64>()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| bad(format!("tree size {size_s:?} is not a decimal number without leading zeroes")))?;
        let root = unb64_hash(lines[2]).ok_or_else(|| bad(format!("root hash {:?} is not base64 of 32 bytes", lines[2])))?;
        let extensions: Vec<String> = lines[3..].iter().map(|s| s.to_string()).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an extension line is empty".into()));
        }
        Ok(Checkpoint { origin: origin.into(), size, root, extensions })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, b64(&self.root));
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// The root as base64.
    pub fn root_b64(&self) -> String {
        b64(&self.root)
    }

    /// A signed note of this checkpoint by an Ed25519 log key named `name` (fixtures, benchmark).
    pub fn sign(&self, name: &str, key: &SecretKey) -> Note {
        let text = self.to_text();
        let sig = sign_ed25519(&text, name, key);
        Note { text, signatures: vec![sig] }
    }
}

/// A valid witness cosignature on a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessSig {
    /// The witness's name in the policy.
    pub witness: String,
    /// The cosignature timestamp (POSIX seconds).
    pub timestamp: u64,
}

/// A checkpoint that [`verify_checkpoint`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note as received.
    pub note: Note,
    /// The exact bytes received.
    pub bytes: Vec<u8>,
    /// Log keys whose signature verified (`name+id`).
    pub log_keys: Vec<String>,
    /// Trusted witnesses whose cosignature verified (one entry per witness).
    pub witnesses: Vec<WitnessSig>,
    /// Signature lines from keys not in the trust (ignored).
    pub ignored: usize,
}

/// The largest cosignature time airlock accepts: 2^53 − 1, so that every stored time is a JSON
/// integer every reader (and airlock's strict one) reads back exactly.
pub const MAX_COSIGNATURE_TIME: u64 = (1 << 53) - 1;

/// How far a trusted cosignature may be dated after the evaluation time (clock skew between a
/// witness and this machine): 300 s. Beyond it the checkpoint is refused, never counted fresh.
pub const MAX_COSIGNATURE_SKEW: u64 = 300;

impl VerifiedCheckpoint {
    /// The newest trusted cosignature time, if any.
    pub fn newest_cosignature(&self) -> Option<u64> {
        self.witnesses.iter().map(|w| w.timestamp).max()
    }

    /// Refuses a trusted cosignature dated more than [`MAX_COSIGNATURE_SKEW`] after `now` (the
    /// evaluation time): a signed but untrusted time cannot make a checkpoint younger than now.
    pub fn check_times(&self, now: crate::time::Timestamp) -> Result<(), TlogError> {
        let limit = i128::from(now.0) + i128::from(MAX_COSIGNATURE_SKEW);
        match self.witnesses.iter().find(|w| i128::from(w.timestamp) > limit) {
            Some(w) => Err(TlogError::CosignatureFuture {
                witness: w.witness.clone(),
                timestamp: w.timestamp,
                now: now.0,
                ahead: (i128::from(w.timestamp) - i128::from(now.0)) as u64,
                skew: MAX_COSIGNATURE_SKEW,
            }),
            None => Ok(()),
        }
    }
}

/// Verifies a checkpoint note under `trust` (transparency-v1 §3): parse; every line from a
/// known key (any trusted log's keys, the policy's witnesses) must verify and none may be
/// mislabelled; the origin must be a trusted log; at least one of its keys must have signed; the
/// witness quorum must hold; a short note with a line in a trusted signer's name under an
/// unknown key id is refused.
pub fn verify_checkpoint(bytes: &[u8], trust: &LogTrust) -> Result<VerifiedCheckpoint, TlogError> {
    let note = Note::parse(bytes)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    // Every key this verifier trusts is a known key (C2SP signed-note): a line that names one and
    // does not verify rejects the note, even before the origin is looked up, so an altered
    // origin line cannot turn a bad signature by a trusted log into an "untrusted origin".
    // One verification; each verified line is then attributed to this origin's log or a witness.
    let known: Vec<&VerifierKey> =
        trust.logs.iter().flat_map(|l| l.keys.iter()).chain(trust.policy.witnesses.iter().map(|w| &w.key)).collect();
    let verified = note.verify(&known)?;
    let log = trust.log(&checkpoint.origin).ok_or_else(|| TlogError::UntrustedOrigin {
        origin: checkpoint.origin.clone(),
        known: if trust.logs.is_empty() {
            "none".into()
        } else {
            trust.logs.iter().map(|l| format!("{:?}", l.origin)).collect::<Vec<_>>().join(", ")
        },
    })?;
    let mut log_keys: Vec<String> = Vec::new();
    let mut witnesses: Vec<WitnessSig> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut counted = 0;
    for (i, ts) in &verified {
        let key = known[*i];
        let witness = trust.policy.witnesses.iter().find(|w| w.key == *key);
        if !log.keys.contains(key) && witness.is_none() {
            continue; // another trusted log's key: verified, but says nothing about this origin
        }
        counted += 1;
        if !seen.insert(*i) {
            continue;
        }
        if log.keys.contains(key) {
            log_keys.push(format!("{}+{:08x}", key.name, key.key_id));
        } else if let (Some(w), Some(ts)) = (witness, ts) {
            if *ts > MAX_COSIGNATURE_TIME {
                return Err(TlogError::CosignatureRange { witness: w.name.clone(), timestamp: *ts });
            }
            witnesses.push(WitnessSig { witness: w.name.clone(), timestamp: *ts });
        }
    }
    let names: Vec<&str> = witnesses.iter().map(|w| w.witness.as_str()).collect();
    let quorum = trust.policy.quorum_met(&names);
    // A note that falls short (no log signature, no quorum) while carrying a line in the name of
    // this log or a policy witness that no key held for that name verifies is refused outright:
    // an altered line is indistinguishable from a key rotated away from the one trusted, and
    // either way the verifier's trust must change before this proof can count.
    let relevant: Vec<&VerifierKey> = log.keys.iter().chain(trust.policy.witnesses.iter().map(|w| &w.key)).collect();
    if (log_keys.is_empty() || !quorum)
        && let Some(line) = note.signatures.iter().find(|sig| {
            relevant.iter().any(|k| k.name == sig.name) && !relevant.iter().any(|k| k.name == sig.name && k.key_id == sig.key_id)
        })
    {
        return Err(TlogError::UnverifiedKnownName {
            name: line.name.clone(),
            key_id: line.key_id,
            held: relevant.iter().filter(|k| k.name == line.name).map(|k| format!("{:08x}", k.key_id)).collect::<Vec<_>>().join(", "),
        });
    }
    if log_keys.is_empty() {
        return Err(TlogError::NotSignedByLog {
            origin: checkpoint.origin.clone(),
            keys: log.keys.iter().map(|k| format!("{}+{:08x}", k.name, k.key_id)).collect::<Vec<_>>().join(", "),
        });
    }
    if !quorum {
        return Err(TlogError::QuorumNotMet {
            origin: checkpoint.origin.clone(),
            quorum: trust.policy.quorum_name(),
            got: names.join(", "),
        });
    }
    let ignored = note.signatures.len() - counted;
    Ok(VerifiedCheckpoint { checkpoint, note, bytes: bytes.to_vec(), log_keys, witnesses, ignored })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_rules() {
        let root = b64(&[7u8; 32]);
        let ok = format!("example.com/log\n12\n{root}\nTimestamp: 5\n");
        let c = Checkpoint::parse(&ok).unwrap();
        assert_eq!((c.size, c.extensions.len()), (12, 1));
        assert_eq!(c.to_text(), ok);
        assert_eq!(Checkpoint::parse(&format!("o\n0\n{root}\n")).unwrap().size, 0);
        for bad in [
            format!("o\n012\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("\n1\n{root}\n"),
            "o\n1\nAAAA\n".to_string(),
            format!("o\n1\n{root}\n\nx\n"),
            format!("o\n1\n{root}"),
            "o\n1\n".to_string(),
        ] {
            assert_eq!(Checkpoint::parse(&bad).unwrap_err().rule(), "checkpoint.format", "{bad:?}");
        }
    }

    /// Log key rotation under one name, as signed-note intends it: a note signed by the old and
    /// the new key verifies for a verifier holding only the old one (the new line is unknown);
    /// a note signed by the new key alone is refused for that verifier with the rule that says
    /// "update your trust" (not left unverifiable); a line whose key id was altered but whose
    /// signature the known key verifies is mislabelled.
    #[test]
    fn rotation_under_one_name_and_altered_lines() {
        use crate::keys::SecretKey;
        use crate::tlog::note::VerifierKey;
        let (old, new) = (SecretKey::from_seed(&[1; 32]), SecretKey::from_seed(&[2; 32]));
        let cp = Checkpoint { origin: "log.example".into(), size: 1, root: [7; 32], extensions: vec![] };
        let mut trust = LogTrust::empty("test");
        trust.add_log_key(VerifierKey::ed25519("log.example", old.public()).unwrap(), None);
        let by_old = cp.sign("log.example", &old);
        let by_new = cp.sign("log.example", &new);
        let mut both = by_old.clone();
        both.signatures.extend(by_new.signatures.clone());
        let v = verify_checkpoint(&both.to_bytes(), &trust).unwrap();
        assert_eq!((v.log_keys.len(), v.ignored), (1, 1));
        let e = verify_checkpoint(&by_new.to_bytes(), &trust).unwrap_err();
        assert_eq!(e.rule(), "note.signature-unknown-key-for-known-name", "{e}");
        assert!(e.to_string().contains("update the trust root"), "{e}");
        let mut relabelled = by_old.clone();
        relabelled.signatures[0].key_id ^= 1;
        assert_eq!(verify_checkpoint(&relabelled.to_bytes(), &trust).unwrap_err().rule(), "note.signature-mislabelled");
        let mut renamed = by_old;
        renamed.signatures[0].name = "log.exampla".into();
        assert_eq!(verify_checkpoint(&renamed.to_bytes(), &trust).unwrap_err().rule(), "note.signature-mislabelled");
    }
}
