//! SHA-256 digests: the `sha256:<64 lowercase hex>` text form used everywhere in the format,
//! and a streaming hasher that also computes the zip CRC-32 when asked.

use sha2::{Digest as _, Sha256};
use std::fmt;

/// Errors parsing a digest string.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    /// The string did not start with `sha256:`.
    #[error("digest {0:?} does not start with \"sha256:\"; only sha256 digests are defined in format v1")]
    Algorithm(String),
    /// The hex part was not 64 lowercase hex characters.
    #[error("digest {0:?} is not \"sha256:\" followed by 64 lowercase hex characters")]
    Hex(String),
}

/// A SHA-256 digest value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Hashes a byte slice in one go.
    pub fn of(bytes: &[u8]) -> Self {
        Sha256Digest(Sha256::digest(bytes).into())
    }

    /// Lowercase hex without prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 lowercase hex characters (no prefix), as in `checksums.txt`.
    pub fn from_hex(s: &str) -> Result<Self, DigestError> {
        // Lowercase only; one pass (the evidence ledger decodes three per record).
        let nibble = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(DigestError::Hex(s.to_string()));
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            match (nibble(pair[0]), nibble(pair[1])) {
                (Some(h), Some(l)) => *o = h << 4 | l,
                _ => return Err(DigestError::Hex(s.to_string())),
            }
        }
        Ok(Sha256Digest(out))
    }

    /// Parses the prefixed form `sha256:<hex>`.
    pub fn parse_prefixed(s: &str) -> Result<Self, DigestError> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| DigestError::Algorithm(s.to_string()))?;
        Self::from_hex(hex).map_err(|_| DigestError::Hex(s.to_string()))
    }

    /// The prefixed form `sha256:<hex>`.
    pub fn prefixed(&self) -> String {
        format!("sha256:{}", self.hex())
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl serde::Serialize for Sha256Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.prefixed())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256Digest::parse_prefixed(&s).map_err(serde::de::Error::custom)
    }
}

/// Streaming SHA-256 (and optionally CRC-32) over a member's bytes.
pub struct StreamHasher {
    sha: Sha256,
    crc: Option<crc32fast::Hasher>,
    len: u64,
}

impl StreamHasher {
    /// A hasher; `with_crc` also computes the zip CRC-32.
    pub fn new(with_crc: bool) -> Self {
        StreamHasher { sha: Sha256::new(), crc: with_crc.then(crc32fast::Hasher::new), len: 0 }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        if let Some(c) = &mut self.crc {
            c.update(bytes);
        }
        self.len += bytes.len() as u64;
    }

    /// Number of bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Digest, CRC-32 (0 when not requested) and length.
    pub fn finish(self) -> (Sha256Digest, u32, u64) {
        let crc = self.crc.map(|c| c.finalize()).unwrap_or(0);
        (Sha256Digest(self.sha.finalize().into()), crc, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_round_trip_and_refusals() {
        let d = Sha256Digest::of(b"abc");
        assert_eq!(d.prefixed(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(Sha256Digest::parse_prefixed(&d.prefixed()), Ok(d));
        assert!(matches!(Sha256Digest::parse_prefixed(&d.hex()), Err(DigestError::Algorithm(_))));
        let upper = format!("sha256:{}", d.hex().to_uppercase());
        assert!(matches!(Sha256Digest::parse_prefixed(&upper), Err(DigestError::Hex(_))));
        assert!(Sha256Digest::parse_prefixed("sha256:abcd").is_err());
    }

    #[test]
    fn stream_matches_one_shot() {
        let mut h = StreamHasher::new(true);
        h.update(b"a");
        h.update(b"bc");
        let (d, crc, len) = h.finish();
        assert_eq!(d, Sha256Digest::of(b"abc"));
        assert_eq!(crc, 0x352441c2);
        assert_eq!(len, 3);
    }
}
