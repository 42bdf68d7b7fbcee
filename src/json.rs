//! Strict JSON: our own parser in front of serde, and RFC 8785 (JCS) canonical output.
//!
//! Every JSON document airlock reads goes through [`parse_strict`], which refuses what serde_json
//! silently accepts: duplicate object keys (serde keeps the last), integers beyond ±2^53 (which
//! lose precision as IEEE doubles, so two implementations could read different values), lone
//! UTF-16 surrogates, a byte-order mark, nesting deeper than [`MAX_DEPTH`]. Canonical output is
//! RFC 8785 via `serde_json_canonicalizer`; [`parse_canonical`] additionally requires the input
//! bytes to already be in that form, so a signed document has exactly one byte representation.

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

/// Maximum nesting of arrays and objects.
pub const MAX_DEPTH: usize = 64;
/// Largest integer magnitude accepted: 2^53, the edge of exact IEEE-754 doubles (I-JSON, RFC 7493).
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// Errors of the strict JSON layer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    /// The bytes are not UTF-8.
    #[error("not UTF-8 at byte {offset}")]
    Utf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Grammar violation.
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax {
        /// Byte offset.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The same key twice in one object.
    #[error("duplicate key {key:?} in one object at byte {offset}; duplicate keys are refused because parsers disagree on which one wins")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Byte offset of the second occurrence.
        offset: usize,
    },
    /// An integer literal beyond ±2^53.
    #[error("integer {literal} at byte {offset} is beyond ±2^53 and cannot be represented exactly")]
    IntegerOutOfRange {
        /// The literal as written.
        literal: String,
        /// Byte offset.
        offset: usize,
    },
    /// Nesting beyond [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} at byte {offset}")]
    TooDeep {
        /// Byte offset.
        offset: usize,
    },
    /// Input was valid JSON but not byte-identical to its RFC 8785 form.
    #[error("not in RFC 8785 canonical form: first difference at byte {offset} (expected {expected:?}, found {found:?})")]
    NotCanonical {
        /// First differing byte offset.
        offset: usize,
        /// Canonical text around the difference.
        expected: String,
        /// Input text around the difference.
        found: String,
    },
    /// Valid JSON that does not match the expected structure.
    #[error("{0}")]
    Schema(String),
}

/// Parses `bytes` strictly into a [`Value`].
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::Utf8 { offset: e.valid_up_to() })?;
    let mut p = Parser { s: text.as_bytes(), i: 0, depth: 0 };
    if text.starts_with('\u{feff}') {
        return Err(JsonError::Syntax { offset: 0, what: "byte-order mark" });
    }
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing data after the JSON value"));
    }
    Ok(v)
}

/// Parses strictly, then maps onto `T` (whose serde derive should `deny_unknown_fields`).
pub fn from_slice_strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let v = parse_strict(bytes)?;
    serde_json::from_value(v).map_err(|e| JsonError::Schema(e.to_string()))
}

/// Parses strictly and requires the bytes to be exactly their RFC 8785 form.
pub fn parse_canonical(bytes: &[u8]) -> Result<Value, JsonError> {
    let v = parse_strict(bytes)?;
    let canon = canonical_value(&v);
    if canon != bytes {
        let offset = canon.iter().zip(bytes).position(|(a, b)| a != b).unwrap_or(canon.len().min(bytes.len()));
        let around = |b: &[u8]| {
            let start = offset.saturating_sub(8);
            String::from_utf8_lossy(&b[start.min(b.len())..(offset + 16).min(b.len())]).into_owned()
        };
        return Err(JsonError::NotCanonical { offset, expected: around(&canon), found: around(bytes) });
    }
    Ok(v)
}

/// RFC 8785 bytes of a value.
pub fn canonical_value(v: &Value) -> Vec<u8> {
    // Serialising a serde_json::Value cannot fail: keys are strings and numbers are finite.
    serde_json_canonicalizer::to_vec(v).expect("a serde_json::Value always canonicalizes")
}

/// RFC 8785 bytes of any serialisable value.
pub fn canonical<T: serde::Serialize>(t: &T) -> Vec<u8> {
    let v = serde_json::to_value(t).expect("airlock's own types always serialise to JSON");
    canonical_value(&v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax { offset: self.i, what }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect_lit(&mut self, lit: &'static [u8], v: Value) -> Result<Value, JsonError> {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            Ok(v)
        } else {
            Err(self.err("unexpected literal"))
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.expect_lit(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_lit(b"false", Value::Bool(false)),
            Some(b'n') => self.expect_lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(JsonError::TooDeep { offset: self.i });
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        self.enter()?;
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key_at = self.i;
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            if map.contains_key(&key) {
                return Err(JsonError::DuplicateKey { key, offset: key_at });
            }
            map.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        self.enter()?;
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Array(out));
        }
        loop {
            self.ws();
            out.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(out));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| self.err("truncated \\u escape"))?;
        let h = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.err("bad \\u escape"));
        }
        let v = u16::from_str_radix(h, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&b) = self.s.get(self.i) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is valid UTF-8 and we stop only at ASCII bytes, so this slice is UTF-8.
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).expect("utf-8 checked on entry"));
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("truncated escape"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone high surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("high surrogate not followed by a low surrogate"));
                                }
                                0x10000 + (((hi as u32) - 0xD800) << 10) + ((lo as u32) - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("lone low surrogate"));
                            } else {
                                hi as u32
                            };
                            out.push(char::from_u32(cp).ok_or_else(|| self.err("invalid code point"))?);
                        }
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                Some(_) => return Err(self.err("raw control character in string")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err("leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return Err(self.err("expected digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("expected digit after '.'"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("expected digit in exponent"));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        let lit = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        if integer {
            let out_of_range = || JsonError::IntegerOutOfRange { literal: lit.to_string(), offset: start };
            let digits = lit.trim_start_matches('-');
            if digits.len() > 16 {
                return Err(out_of_range());
            }
            let mag: u64 = digits.parse().map_err(|_| out_of_range())?;
            if mag > MAX_SAFE_INTEGER {
                return Err(out_of_range());
            }
            let n = if lit.starts_with('-') { Number::from(-(mag as i64)) } else { Number::from(mag) };
            return Ok(Value::Number(n));
        }
        let f: f64 = lit.parse().map_err(|_| JsonError::Syntax { offset: start, what: "bad number" })?;
        let n = Number::from_f64(f).ok_or(JsonError::Syntax { offset: start, what: "number out of range" })?;
        Ok(Value::Number(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicate_keys_even_nested() {
        let e = parse_strict(br#"{"a":1,"b":{"c":1,"c":2}}"#).unwrap_err();
        assert!(matches!(e, JsonError::DuplicateKey { ref key, .. } if key == "c"), "{e}");
    }

    #[test]
    fn integer_limits() {
        assert!(parse_strict(b"9007199254740992").is_ok());
        assert!(parse_strict(b"-9007199254740992").is_ok());
        assert!(matches!(parse_strict(b"9007199254740993"), Err(JsonError::IntegerOutOfRange { .. })));
        assert!(matches!(parse_strict(b"100000000000000000000"), Err(JsonError::IntegerOutOfRange { .. })));
        // A float with an exponent is a float, not an integer literal.
        assert!(parse_strict(b"1e30").is_ok());
    }

    #[test]
    fn grammar_refusals() {
        for bad in [
            &b"01"[..],
            b"[1,]",
            b"{\"a\":1,}",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"a\x01\"",
            b"\xef\xbb\xbf{}",
            b"{} x",
            b"NaN",
            b"1.",
            b"-",
            b"\"\\x\"",
        ] {
            assert!(parse_strict(bad).is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse_strict(deep.as_bytes()), Err(JsonError::TooDeep { .. })));
    }

    #[test]
    fn surrogate_pairs_decode() {
        assert_eq!(parse_strict(br#""\ud83d\ude00""#).unwrap(), Value::String("\u{1F600}".into()));
    }

    #[test]
    fn canonical_check_names_the_difference() {
        assert!(parse_canonical(br#"{"a":1,"b":2}"#).is_ok());
        let e = parse_canonical(br#"{"b":2,"a":1}"#).unwrap_err();
        assert!(matches!(e, JsonError::NotCanonical { offset: 2, .. }), "{e}");
        assert!(parse_canonical(b"{\"a\": 1}").is_err());
    }
}
