//! A minimal strict DER reader: tag, definite minimal length, content. Used where the signed
//! bytes must be taken exactly as received (a certificate's TBS, CMS signed attributes, an SCT's
//! precertificate) and for the RFC 3161 structures, which `x509-cert` does not cover.

/// One DER element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (single-byte tags only; every tag Sigstore uses is one).
    pub tag: u8,
    /// The content octets.
    pub content: &'a [u8],
    /// The whole element: identifier, length and content.
    pub raw: &'a [u8],
}

/// Reads one element from the front of `input`; returns it and the rest.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), String> {
    let (&tag, rest) = input.split_first().ok_or("DER: unexpected end of input")?;
    if tag & 0x1f == 0x1f {
        return Err(format!("DER: multi-byte tag 0x{tag:02x} not supported"));
    }
    let (&first, rest) = rest.split_first().ok_or("DER: missing length")?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err("DER: indefinite or oversized length".into());
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        if rest[0] == 0 || len < 0x80 {
            return Err("DER: non-minimal length".into());
        }
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err(format!("DER: element of {len} bytes, {} left", rest.len()));
    }
    let header = input.len() - rest.len();
    let (content, tail) = rest.split_at(len);
    Ok((Tlv { tag, content, raw: &input[..header + len] }, tail))
}

/// Reads one element with the expected tag.
pub fn expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(Tlv<'a>, &'a [u8]), String> {
    let (t, rest) = read(input)?;
    if t.tag != tag {
        return Err(format!("{what}: tag 0x{:02x}, expected 0x{tag:02x}", t.tag));
    }
    Ok((t, rest))
}

/// All elements of a constructed value's content.
pub fn children(content: &[u8]) -> Result<Vec<Tlv<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (t, r) = read(rest)?;
        out.push(t);
        rest = r;
    }
    Ok(out)
}

/// Encodes a length in DER.
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes `tag || len || content`.
pub fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    encode_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// DER tags used here.
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE.
    pub const SEQUENCE: u8 = 0x30;
    /// SET.
    pub const SET: u8 = 0x31;
    /// `[0]` constructed, context-specific.
    pub const CTX0: u8 = 0xa0;
    /// `[3]` constructed, context-specific.
    pub const CTX3: u8 = 0xa3;
}

/// GeneralizedTime `YYYYMMDDHHMMSS[.f+]Z` to nanoseconds since the epoch.
pub fn generalized_time(content: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(content).map_err(|_| "GeneralizedTime is not ASCII")?;
    let body = s.strip_suffix('Z').ok_or_else(|| format!("GeneralizedTime {s:?} is not in UTC (Z)"))?;
    let (main, frac) = match body.split_once('.') {
        Some((m, f)) => (m, f),
        None => (body, ""),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err(format!("GeneralizedTime {s:?} is not YYYYMMDDHHMMSS[.fff]Z"));
    }
    let rfc = format!("{}-{}-{}T{}:{}:{}Z", &main[..4], &main[4..6], &main[6..8], &main[8..10], &main[10..12], &main[12..14]);
    let secs = crate::time::Timestamp::parse(&rfc).map_err(|e| e.0)?.0;
    let nanos = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse::<i64>().map_err(|e| e.to_string())? };
    Ok(secs * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_long_lengths_and_refuses_non_minimal() {
        let mut v = vec![0x04, 0x81, 0x80];
        v.extend(std::iter::repeat_n(7u8, 0x80));
        let (t, rest) = read(&v).unwrap();
        assert_eq!((t.tag, t.content.len(), rest.len()), (0x04, 0x80, 0));
        assert!(read(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).unwrap_err().contains("non-minimal"));
        assert!(read(&[0x04, 0x80]).unwrap_err().contains("indefinite"));
        assert_eq!(encode(0x04, &v[3..]), v);
    }

    #[test]
    fn generalized_time_with_fraction() {
        assert_eq!(generalized_time(b"19700101000001.5Z").unwrap(), 1_500_000_000);
        assert!(generalized_time(b"19700101000001+0100").is_err());
    }
}
