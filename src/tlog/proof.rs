//! C2SP `tlog-proof` v1 files: `c2sp.org/tlog-proof@v1`, an optional `extra <base64>` line,
//! `index <N>`, the RFC 6962 inclusion proof one base64 hash per line, an empty line, then the
//! checkpoint (a signed note, with any cosignatures) verbatim. Parse, produce, verify.
//!
//! The extra data is carried but never trusted.

use super::checkpoint::{VerifiedCheckpoint, verify_checkpoint};
use super::note::MAX_NOTE_SIZE;
use super::{LogTrust, TlogError, b64, unb64, unb64_hash};
use crate::merkle::{self, Hash};

/// First line of a v1 proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest proof file accepted.
pub const MAX_PROOF_SIZE: usize = MAX_NOTE_SIZE + 16 * 1024;
/// Most hashes an inclusion proof can need (tree sizes are below 2^64).
pub const MAX_PROOF_HASHES: usize = 64;

/// A parsed tlog-proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// Entry index.
    pub index: u64,
    /// Inclusion proof, leaf sibling first.
    pub hashes: Vec<Hash>,
    /// The checkpoint note bytes, verbatim.
    pub checkpoint: Vec<u8>,
}

/// A proof that [`TlogProof::verify`] accepted.
#[derive(Clone, Debug)]
pub struct VerifiedProof {
    /// The authentic checkpoint.
    pub checkpoint: VerifiedCheckpoint,
    /// The entry's index.
    pub index: u64,
    /// The entry's leaf hash.
    pub leaf_hash: Hash,
}

fn decimal(s: &str) -> Option<u64> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse().ok().filter(|_| ok)
}

impl TlogProof {
    /// Parses a proof file.
    pub fn parse(bytes: &[u8]) -> Result<Self, TlogError> {
        let bad = |line: usize, detail: String| TlogError::ProofFormat { line, detail };
        if bytes.len() > MAX_PROOF_SIZE {
            return Err(bad(0, format!("proof is {} bytes; at most {MAX_PROOF_SIZE} accepted", bytes.len())));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| bad(0, format!("not UTF-8 ({e})")))?;
        let mut rest = text;
        let mut n = 0usize;
        let mut next_line = |rest: &mut &str| -> Option<(usize, String)> {
            let (line, tail) = rest.split_once('\n')?;
            *rest = tail;
            n += 1;
            Some((n, line.to_string()))
        };
        let (l, header) = next_line(&mut rest).ok_or_else(|| bad(1, "no header line".into()))?;
        if header != HEADER {
            return Err(bad(l, format!("header is {header:?}, not {HEADER:?}")));
        }
        let (mut l, mut line) = next_line(&mut rest).ok_or_else(|| bad(2, "no index line".into()))?;
        let mut extra = None;
        if let Some(e) = line.strip_prefix("extra ") {
            extra = Some(unb64(e).ok_or_else(|| bad(l, "extra data is not canonical standard base64".into()))?);
            (l, line) = next_line(&mut rest).ok_or_else(|| bad(l + 1, "no index line".into()))?;
        }
        let index = line
            .strip_prefix("index ")
            .and_then(decimal)
            .ok_or_else(|| bad(l, format!("{line:?} is not `index <decimal without leading zeroes>`")))?;
        let mut hashes = Vec::new();
        loop {
            let (l, line) = next_line(&mut rest).ok_or_else(|| bad(l + hashes.len() + 1, "no empty line before the checkpoint".into()))?;
            if line.is_empty() {
                break;
            }
            if hashes.len() == MAX_PROOF_HASHES {
                return Err(bad(l, format!("more than {MAX_PROOF_HASHES} proof hashes")));
            }
            hashes.push(unb64_hash(&line).ok_or_else(|| bad(l, format!("{line:?} is not base64 of a 32-byte hash")))?);
        }
        if rest.is_empty() {
            return Err(bad(n + 1, "no checkpoint after the empty line".into()));
        }
        Ok(TlogProof { extra, index, hashes, checkpoint: rest.as_bytes().to_vec() })
    }

    /// The file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", b64(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            s.push_str(&b64(h));
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Verifies: the checkpoint is authentic under `trust` (log key, witness quorum), and the
    /// inclusion proof puts `leaf_hash` at `index` under the checkpoint's root.
    pub fn verify(&self, leaf_hash: &Hash, trust: &LogTrust) -> Result<VerifiedProof, TlogError> {
        let checkpoint = verify_checkpoint(&self.checkpoint, trust)?;
        let c = &checkpoint.checkpoint;
        merkle::verify_inclusion(leaf_hash, self.index, c.size, &self.hashes, &c.root).map_err(|e| TlogError::Inclusion {
            origin: c.origin.clone(),
            index: self.index,
            size: c.size,
            detail: e.to_string(),
        })?;
        Ok(VerifiedProof { checkpoint, index: self.index, leaf_hash: *leaf_hash })
    }

    /// What can be checked without trusting any log: the checkpoint is a well-formed signed note
    /// and checkpoint, and the inclusion proof puts `entry` at `index` under the root the
    /// checkpoint states. It proves nothing about the log (anyone can write such a file), but a
    /// proof that fails it was damaged or made for other bytes, whoever is trusted.
    pub fn check_unauthenticated(&self, entry: &[u8]) -> Result<(), TlogError> {
        let note = crate::tlog::note::Note::parse(&self.checkpoint)?;
        let c = super::checkpoint::Checkpoint::parse(&note.text)?;
        merkle::verify_inclusion(&merkle::leaf_hash(entry), self.index, c.size, &self.hashes, &c.root).map_err(|e| TlogError::Inclusion {
            origin: c.origin.clone(),
            index: self.index,
            size: c.size,
            detail: e.to_string(),
        })
    }

    /// Verifies for the entry bytes (leaf hash `SHA-256(0x00 || entry)`).
    pub fn verify_entry(&self, entry: &[u8], trust: &LogTrust) -> Result<VerifiedProof, TlogError> {
        self.verify(&merkle::leaf_hash(entry), trust)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format_rules() {
        let cp = b"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 o AAAAAAA=\n".to_vec();
        let p = TlogProof { extra: Some(b"ctx".to_vec()), index: 3, hashes: vec![[1; 32], [2; 32]], checkpoint: cp.clone() };
        assert_eq!(TlogProof::parse(&p.to_bytes()).unwrap(), p);
        let p0 = TlogProof { extra: None, index: 0, hashes: vec![], checkpoint: cp };
        assert_eq!(TlogProof::parse(&p0.to_bytes()).unwrap(), p0);
        let text = String::from_utf8(p.to_bytes()).unwrap();
        for bad in [
            text.replace("tlog-proof@v1", "tlog-proof@v2"),
            text.replace("index 3", "index 03"),
            text.replace("index 3", "index -3"),
            text.replace("extra ", "extra !"),
            text.replace("AQEB", "AQE"),
            text.split("\n\n").next().unwrap().to_string() + "\n\n",
        ] {
            assert_eq!(TlogProof::parse(bad.as_bytes()).unwrap_err().rule(), "proof.format", "{bad:?}");
        }
    }
}
