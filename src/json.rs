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
    strict(bytes, true)
}

/// The strict parse; with `keep` false nothing but object keys is kept (the value returned is
/// then a skeleton): the strict rules checked without building the document.
fn strict(bytes: &[u8], keep: bool) -> Result<Value, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::Utf8 { offset: e.valid_up_to() })?;
    let mut p = Parser { s: text.as_bytes(), i: 0, depth: 0, keep };
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

/// Parses strictly, like [`from_slice_strict`], but without a [`Value`] in between: the strict
/// rules are checked by a pass that keeps no value, then `T` is read from the bytes themselves,
/// borrowing its strings where `T` lets it. For documents holding one large string (a DSSE
/// envelope's base64 payload: 20 MB for a 99,000-member manifest), where a value tree would be a
/// second whole copy.
pub fn from_slice_strict_lean<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, JsonError> {
    strict(bytes, false)?;
    serde_json::from_slice(bytes).map_err(|e| JsonError::Schema(e.to_string()))
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

/// RFC 8785 bytes of `t` appended to `out`, serialised straight from the type (no
/// [`Value`] in between; the JCS serializer sorts each object's members itself). For airlock's
/// own types only: their map keys are strings and their numbers integers, where this and
/// [`canonical`] agree (the inventory tests compare the two on whole reports).
pub fn canonical_into<T: serde::Serialize>(t: &T, out: &mut Vec<u8>) {
    serde_json_canonicalizer::to_writer(t, out).expect("airlock's own types always serialise to JSON");
}

/// RFC 8785 bytes of any serialisable value.
pub fn canonical<T: serde::Serialize>(t: &T) -> Vec<u8> {
    let v = serde_json::to_value(t).expect("airlock's own types always serialise to JSON");
    canonical_value(&v)
}

/// One member of an object checked by [`canonical_members`]: its key, and where the member
/// (from the key's opening quote to the value's last byte) and its value lie in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSpan {
    /// The decoded key.
    pub key: String,
    /// Byte range of `"key":value`.
    pub member: std::ops::Range<usize>,
    /// Byte range of the value alone.
    pub value: std::ops::Range<usize>,
}

/// Checks, without building any value, that `bytes` are a strict JSON object exactly in its
/// RFC 8785 form, and returns its members in order.
///
/// Accepts precisely what [`parse_canonical`] accepts for an object (a test holds the two to
/// the same answer): no whitespace; keys strictly increasing in UTF-16 code-unit order (equal
/// keys are a [`JsonError::DuplicateKey`]); strings holding every character literally except
/// `"` `\` and the controls below U+0020, escaped in their short form (`\b \f \n \r \t`) or as
/// lowercase `\u00xx`; integers without a leading zero or `-0`, within ±2^53; other numbers
/// spelled as RFC 8785 (ECMAScript) spells their IEEE-754 value. Since every value inside a
/// canonical document is itself canonical, a member's value bytes are its RFC 8785 form: they
/// can be hashed as they are.
pub fn canonical_members(bytes: &[u8]) -> Result<Vec<MemberSpan>, JsonError> {
    std::str::from_utf8(bytes).map_err(|e| JsonError::Utf8 { offset: e.valid_up_to() })?;
    let mut c = Canon { s: bytes, i: 0, depth: 0, members: Some(Vec::new()) };
    if c.peek() != Some(b'{') {
        return Err(match c.peek() {
            None => c.err("unexpected end of input"),
            Some(b) if Canon::is_ws(b) => c.not_canonical("no whitespace"),
            Some(_) => JsonError::Schema("expected a JSON object".into()),
        });
    }
    c.value()?;
    if c.i != bytes.len() {
        return Err(if bytes[c.i..].iter().all(|b| Canon::is_ws(*b)) {
            c.not_canonical("no whitespace")
        } else {
            c.err("trailing data after the JSON value")
        });
    }
    Ok(c.members.take().unwrap_or_default())
}

/// The validating walker behind [`canonical_members`].
struct Canon<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    /// Collects the top-level object's members; taken (`None`) once inside it.
    members: Option<Vec<MemberSpan>>,
}

impl Canon<'_> {
    fn is_ws(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | b'\r')
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax { offset: self.i, what }
    }

    fn not_canonical_at(&self, offset: usize, expected: &str) -> JsonError {
        let end = (offset + 16).min(self.s.len());
        JsonError::NotCanonical {
            offset,
            expected: expected.to_string(),
            found: String::from_utf8_lossy(&self.s[offset.min(end)..end]).into_owned(),
        }
    }

    fn not_canonical(&self, expected: &str) -> JsonError {
        self.not_canonical_at(self.i, expected)
    }

    /// The byte `want` next; whitespace there is valid JSON but not canonical.
    fn expect(&mut self, want: u8, what: &'static str) -> Result<(), JsonError> {
        match self.peek() {
            Some(b) if b == want => {
                self.i += 1;
                Ok(())
            }
            Some(b) if Self::is_ws(b) => Err(self.not_canonical("no whitespace")),
            None => Err(self.err("unexpected end of input")),
            Some(_) => Err(self.err(what)),
        }
    }

    fn value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(None),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b) if Self::is_ws(b) => Err(self.not_canonical("no whitespace")),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn literal(&mut self, lit: &'static [u8]) -> Result<(), JsonError> {
        if !self.s[self.i..].starts_with(lit) {
            return Err(self.err("unexpected literal"));
        }
        self.i += lit.len();
        Ok(())
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(JsonError::TooDeep { offset: self.i });
        }
        Ok(())
    }

    fn object(&mut self) -> Result<(), JsonError> {
        self.enter()?;
        // Only the outermost object's members are collected: nested objects find `None`.
        let mut members = self.members.take();
        self.i += 1;
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            self.members = members;
            return Ok(());
        }
        let mut prev: Option<String> = None;
        let mut key = String::new();
        loop {
            let key_at = self.i;
            if self.peek() != Some(b'"') {
                return Err(match self.peek() {
                    Some(b) if Self::is_ws(b) => self.not_canonical("no whitespace"),
                    _ => self.err("expected a string key"),
                });
            }
            key.clear();
            self.string(Some(&mut key))?;
            if let Some(p) = &prev {
                match p.encode_utf16().cmp(key.encode_utf16()) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => return Err(JsonError::DuplicateKey { key: key.clone(), offset: key_at }),
                    std::cmp::Ordering::Greater => return Err(self.not_canonical_at(key_at, "keys in UTF-16 code-unit order")),
                }
            }
            self.expect(b':', "expected ':'")?;
            let value_at = self.i;
            self.value()?;
            if let Some(m) = members.as_mut() {
                m.push(MemberSpan { key: key.clone(), member: key_at..self.i, value: value_at..self.i });
            }
            let p = prev.get_or_insert_with(String::new);
            std::mem::swap(p, &mut key);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    self.members = members;
                    return Ok(());
                }
                Some(b) if Self::is_ws(b) => return Err(self.not_canonical("no whitespace")),
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<(), JsonError> {
        self.enter()?;
        self.i += 1;
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.value()?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                Some(b) if Self::is_ws(b) => return Err(self.not_canonical("no whitespace")),
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    /// A string in its one canonical spelling; decoded into `out` when given (keys).
    fn string(&mut self, mut out: Option<&mut String>) -> Result<(), JsonError> {
        self.i += 1; // opening quote
        loop {
            let start = self.i;
            self.i = plain_run_end(self.s, self.i);
            if let Some(o) = out.as_deref_mut() {
                // UTF-8 was checked on entry and the run stops only at ASCII bytes.
                o.push_str(std::str::from_utf8(&self.s[start..self.i]).expect("utf-8 checked on entry"));
            }
            let escape_at = self.i;
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("truncated escape"))?;
                    self.i += 1;
                    let ch = match c {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'/' => return Err(self.not_canonical_at(escape_at, "'/' unescaped")),
                        b'u' => {
                            let h = self.s.get(self.i..self.i + 4).ok_or_else(|| self.err("truncated \\u escape"))?;
                            if !h.iter().all(u8::is_ascii_hexdigit) {
                                return Err(self.err("bad \\u escape"));
                            }
                            let lower = h.iter().all(|b| !b.is_ascii_uppercase());
                            let v = u16::from_str_radix(std::str::from_utf8(h).expect("hex digits"), 16).expect("hex digits");
                            self.i += 4;
                            let short = matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
                            if v >= 0x20 || short || !lower {
                                return Err(self.not_canonical_at(escape_at, "\\u escapes only for other controls, in lowercase"));
                            }
                            char::from(v as u8)
                        }
                        _ => return Err(self.err("unknown escape")),
                    };
                    if let Some(o) = out.as_deref_mut() {
                        o.push(ch);
                    }
                }
                Some(_) => return Err(self.err("raw control character in string")),
            }
        }
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        let mut p = Parser { s: self.s, i: self.i, depth: 0, keep: true };
        let v = p.number()?;
        self.i = p.i;
        let lit = &self.s[start..self.i];
        let integer = !lit.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
        if integer {
            // The parser refused leading zeros and magnitudes beyond 2^53; `-0` is `0`.
            if lit == b"-0" {
                return Err(self.not_canonical_at(start, "0"));
            }
            return Ok(());
        }
        if canonical_value(&v) != lit {
            return Err(self.not_canonical_at(start, &String::from_utf8_lossy(&canonical_value(&v))));
        }
        Ok(())
    }
}

/// The first index at or after `i` holding `"`, `\\` or a byte below 0x20 (or `s.len()`): the
/// end of a run of string bytes that need no attention. Eight bytes at a time (SWAR: a byte of
/// `x ^ c` is zero where `x` has `c`; `(v - 0x01..) & !v & 0x80..` is non-zero exactly when a
/// byte of `v` is zero, and `(x - 0x20..) & !x & 0x80..` when a byte is below 0x20), then bytewise
/// from the word that has one.
pub(crate) fn plain_run_end(s: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(w) = s.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        if zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) | (x.wrapping_sub(ONES * 0x20) & !x & HIGH) != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&b) = s.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    /// Build the values (else only check them; object keys are kept to find duplicates).
    keep: bool,
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
            Some(b'"') => Ok(Value::String(self.string(self.keep)?)),
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
            let key = self.string(true)?;
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
            map.insert(key, if self.keep { v } else { Value::Null });
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
            let v = self.value()?;
            if self.keep {
                out.push(v);
            }
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

    /// A string, decoded when `keep` (else checked, keeping at most what its escapes decode to).
    fn string(&mut self, keep: bool) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            self.i = plain_run_end(self.s, self.i);
            if keep {
                // The input is valid UTF-8 and we stop only at ASCII bytes, so this slice is UTF-8.
                out.push_str(std::str::from_utf8(&self.s[start..self.i]).expect("utf-8 checked on entry"));
            }
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

    /// The lean reader refuses exactly what the strict parser refuses, and borrows what it can.
    #[test]
    fn the_lean_reader_keeps_the_strict_rules() {
        #[derive(serde::Deserialize, Debug)]
        struct Doc<'a> {
            #[serde(borrow)]
            s: std::borrow::Cow<'a, str>,
            #[serde(default)]
            n: Option<serde_json::Value>,
        }
        let hostile: [&[u8]; 6] = [
            br#"{"s":"a","s":"b"}"#,
            br#"{"s":"a","n":{"c":1,"c":2}}"#,
            br#"{"s":"\ud800"}"#,
            br#"{"s":"a","n":9007199254740993}"#,
            b"\xef\xbb\xbf{\"s\":\"a\"}",
            br#"{"s":"a"} x"#,
        ];
        for bytes in hostile {
            let strict = parse_strict(bytes).map(|_| ()).unwrap_err();
            let lean = from_slice_strict_lean::<Doc>(bytes).unwrap_err();
            assert_eq!(std::mem::discriminant(&lean), std::mem::discriminant(&strict), "{:?}", String::from_utf8_lossy(bytes));
        }
        let d: Doc = from_slice_strict_lean(br#"{"n":[1,{"x":null}],"s":"plain"}"#).unwrap();
        assert!(matches!(d.s, std::borrow::Cow::Borrowed("plain")), "{d:?}");
        assert_eq!(d.n, Some(serde_json::json!([1, {"x": null}])));
        let d: Doc = from_slice_strict_lean(br#"{"s":"e\u0301\n"}"#).unwrap();
        assert_eq!(d.s, "e\u{301}\n");
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

    /// `canonical_members` is held to `parse_canonical`'s answer on generated canonical objects
    /// and on thousands of one-byte mutations, insertions and deletions of them.
    #[test]
    fn canonical_members_agrees_with_parse_canonical() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const PIECES: [&str; 12] = ["a", "b", "é", "\u{1F600}", "\u{2028}", "\u{7f}", "\"", "\\", "\n", "\u{1}", "/", "\u{ffff}"];
        fn arb(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
            match next() % if depth > 3 { 5 } else { 7 } {
                0 => Value::Null,
                1 => Value::Bool(next().is_multiple_of(2)),
                2 => Value::from((next() % 2_000_000) as i64 - 1_000_000),
                3 => Value::from([0.5, 1e21, -1.25e-7, 1e300, 0.1, 123456.789][(next() % 6) as usize]),
                4 => Value::String((0..next() % 4).map(|_| PIECES[(next() % 12) as usize]).collect()),
                5 => Value::Array((0..next() % 4).map(|_| arb(next, depth + 1)).collect()),
                _ => Value::Object(
                    (0..next() % 5)
                        .map(|_| (["a", "B", "é", "aa", "\u{1F600}", "\u{ff61}"][(next() % 6) as usize].to_string(), arb(next, depth + 1)))
                        .collect(),
                ),
            }
        }
        const SUBST: &[u8] = b" \\\"{}[],:0-eE.1u/23456789aA+";
        let mut accepted = 0;
        for round in 0..400 {
            let mut obj = Map::new();
            for k in ["command", "hash", "report", "seq", "z\u{e9}"] {
                obj.insert(k.to_string(), arb(&mut next, 1));
            }
            let canon = canonical_value(&Value::Object(obj));
            let members = canonical_members(&canon).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&canon)));
            for m in &members {
                assert_eq!(canonical_value(&parse_strict(&canon[m.value.clone()]).unwrap()), canon[m.value.clone()].to_vec());
            }
            for _ in 0..25 {
                let mut b = canon.clone();
                let at = (next() as usize) % b.len();
                match next() % 4 {
                    0 => b[at] = SUBST[(next() as usize) % SUBST.len()],
                    1 => b.insert(at, SUBST[(next() as usize) % 18]),
                    2 => drop(b.remove(at)),
                    _ => b.swap(at, (next() as usize) % canon.len()),
                }
                let want = parse_canonical(&b).map(|v| v.is_object());
                let got = canonical_members(&b);
                assert_eq!(
                    got.is_ok(),
                    want == Ok(true),
                    "round {round}: {:?}: canonical_members {:?}, parse_canonical {:?}",
                    String::from_utf8_lossy(&b),
                    got.as_ref().err(),
                    want
                );
                accepted += got.is_ok() as usize;
            }
        }
        assert!(accepted > 0, "no mutation stayed canonical: the generator is too narrow");
    }

    #[test]
    fn canonical_members_refuses_each_other_spelling() {
        let ok = br#"{"a":[1,-2,0.5,1e+21,"\u001f\n\"\\/"],"b":{"y":null,"x":true}}"#;
        assert!(canonical_members(ok).is_err(), "nested keys out of order must be refused");
        let ok = br#"{"a":[1,-2,0.5,1e+21,"\u001f\n\"\\/"],"b":{"x":true,"y":null}}"#;
        let m = canonical_members(ok).unwrap();
        assert_eq!(m.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(&ok[m[1].value.clone()], br#"{"x":true,"y":null}"#);
        assert_eq!(&ok[m[1].member.clone()], br#""b":{"x":true,"y":null}"#);
        for bad in [
            &br#"{"a":"\u001F"}"#[..],
            br#"{"a":"\/"}"#,
            br#"{"a":"\u0041"}"#,
            br#"{"a":"\u000a"}"#,
            br#"{"a":-0}"#,
            br#"{"a":1.0}"#,
            br#"{"a":1E+21}"#,
            br#"{"a":1e21}"#,
            br#"{"a": 1}"#,
            br#"{"b":1,"a":2}"#,
            br#"{"a":1} "#,
            br#"[1]"#,
        ] {
            assert!(canonical_members(bad).is_err(), "{} accepted", String::from_utf8_lossy(bad));
            assert!(parse_canonical(bad).map_or(true, |v| !v.is_object()), "{} canonical", String::from_utf8_lossy(bad));
        }
        assert!(matches!(canonical_members(br#"{"a":1,"a":1}"#), Err(JsonError::DuplicateKey { .. })));
        assert!(matches!(canonical_members(b"{\"a\":9007199254740993}"), Err(JsonError::IntegerOutOfRange { .. })));
    }

    #[test]
    fn plain_run_end_agrees_with_a_bytewise_scan() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xa2, 0xdc, 0xff, 0x00, 0x5c ^ 0x80, b'!', b'#', b'[', b']'];
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len).map(|k| alphabet[((seed >> (k % 60)) as usize + k * 7) % alphabet.len()]).collect();
            let start = (seed >> 40) as usize % (len + 1);
            let naive = (start..len).find(|&i| bytes[i] == b'"' || bytes[i] == b'\\' || bytes[i] < 0x20).unwrap_or(len);
            assert_eq!(plain_run_end(&bytes, start), naive, "{bytes:?} from {start}");
        }
    }
}
