//! C2SP `tlog-cosignature` v1 (Ed25519, signature type 0x04): a witness's statement that, at a
//! POSIX time, the checkpoint was the largest consistent tree head it had observed for the log.
//!
//! The signature line carries `key id || u64 BE timestamp || Ed25519 signature` over
//! `"cosignature/v1\n" || "time <decimal>\n" || checkpoint note text`. Verification lives with
//! the other note key types in [`super::note::VerifierKey::verify`].

use super::note::{NoteSignature, TYPE_COSIGNATURE, key_id};
use crate::keys::SecretKey;

/// The message a v1 cosignature signs.
pub fn signed_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// Cosigns a checkpoint text as witness `name` at `timestamp` (for tests, fixtures and the
/// benchmark generator; airlock itself never witnesses).
pub fn cosign(text: &str, name: &str, key: &SecretKey, timestamp: u64) -> NoteSignature {
    let mut sig = timestamp.to_be_bytes().to_vec();
    sig.extend_from_slice(&key.sign(&signed_message(timestamp, text.as_bytes())));
    NoteSignature { name: name.into(), key_id: key_id(name, TYPE_COSIGNATURE, &key.public().to_bytes()), sig }
}

#[cfg(test)]
mod tests {
    use super::super::note::{Note, VerifierKey};
    use super::*;

    #[test]
    fn cosignature_round_trip_and_tamper() {
        let w = SecretKey::from_seed(&[4; 32]);
        let vk = VerifierKey::cosigner("witness.example/w1", w.public()).unwrap();
        let text = "example.com/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let mut n = Note { text: text.into(), signatures: vec![cosign(text, "witness.example/w1", &w, 1_679_315_147)] };
        let parsed = Note::parse(&n.to_bytes()).unwrap();
        assert_eq!(parsed.verify(&[&vk]).unwrap(), vec![(0, Some(1_679_315_147))]);
        n.signatures[0].sig[7] ^= 1; // the timestamp is signed
        assert_eq!(n.verify(&[&vk]).unwrap_err().rule(), "note.signature-invalid");
        n.signatures[0].sig.pop();
        assert_eq!(n.verify(&[&vk]).unwrap_err().rule(), "cosignature.format");
        // The same key as a plain Ed25519 log key has another key id: the line is ignored.
        let as_log = VerifierKey::ed25519("witness.example/w1", w.public()).unwrap();
        assert_ne!(as_log.key_id, vk.key_id);
    }
}
