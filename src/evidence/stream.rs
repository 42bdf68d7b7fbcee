//! Strict JSON evidence read without one tree of the whole document, so that a 64 MiB SBOM or
//! VEX costs little more than its bytes (format-spec/evidence-v1.md, "Memory").
//!
//! Three steps over the same bytes, none building a [`Value`] of the whole document:
//!
//! 1. [`check_strict`] walks the document and refuses exactly what
//!    [`crate::json::parse_strict`] refuses, with the same [`JsonError`] (a differential test
//!    holds the two to the same answer). Duplicate keys are found per object from the key
//!    offsets alone (4 bytes a member), so an object with millions of members stays cheap.
//! 2. [`Node::read`] parses one object's members separately, leaving the large arrays a reader
//!    names in the bytes; [`Elements`] then parses their elements one at a time, each dropped
//!    before the next.
//! 3. [`canonical_digest`] hashes the RFC 8785 form straight from the bytes: arrays in order,
//!    each object's members sorted by their keys' UTF-16 code units, strings and numbers
//!    re-spelled as [`crate::json::canonical_value`] spells them.

use super::EvidenceError;
use crate::digest::Sha256Digest;
use crate::json::{JsonError, MAX_DEPTH, MAX_SAFE_INTEGER, plain_run_end};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::ops::Range;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(|&b| is_ws(b)) {
        i += 1;
    }
    i
}

/// End (one past the closing quote) of the string whose opening quote is at `i`, in a
/// document already checked.
fn string_end(s: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    loop {
        j = plain_run_end(s, j);
        match s.get(j) {
            Some(b'\\') => j += 2,
            Some(b'"') => return j + 1,
            // Only controls remain, and a checked document has none inside strings.
            Some(_) => j += 1,
            None => return j,
        }
    }
}

/// End of the value starting at `i`, in a document already checked.
fn value_end(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        Some(b'"') => string_end(s, i),
        Some(b'{' | b'[') => {
            let (mut depth, mut j) = (0usize, i);
            while let Some(&b) = s.get(j) {
                match b {
                    b'"' => {
                        j = string_end(s, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            j
        }
        _ => {
            let mut j = i;
            while s.get(j).is_some_and(|&b| !matches!(b, b',' | b']' | b'}') && !is_ws(b)) {
                j += 1;
            }
            j
        }
    }
}

/// The raw bytes between the quotes of the string at `i` (escapes not decoded).
fn raw_string(s: &[u8], i: usize) -> &[u8] {
    &s[i + 1..string_end(s, i) - 1]
}

/// Decodes a checked string's raw bytes.
fn decode(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let hex4 = |at: usize| u16::from_str_radix(std::str::from_utf8(&raw[at..at + 4]).expect("checked"), 16).expect("checked");
    while i < raw.len() {
        let start = i;
        while i < raw.len() && raw[i] != b'\\' {
            i += 1;
        }
        out.push_str(std::str::from_utf8(&raw[start..i]).expect("checked"));
        if i == raw.len() {
            break;
        }
        let c = raw[i + 1];
        i += 2;
        out.push(match c {
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(i);
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(i + 2);
                    i += 6;
                    0x10000 + ((u32::from(hi) - 0xD800) << 10) + (u32::from(lo) - 0xDC00)
                } else {
                    u32::from(hi)
                };
                char::from_u32(cp).expect("checked")
            }
            other => char::from(other),
        });
    }
    out
}

/// Orders two checked keys (given by their opening quotes) by UTF-16 code units, as RFC 8785
/// sorts members. Raw bytes compare the same way when neither key has an escape or a character
/// from U+E000 up (where UTF-8 and UTF-16 orders part).
fn key_cmp(s: &[u8], a: u32, b: u32) -> Ordering {
    let (ra, rb) = (raw_string(s, a as usize), raw_string(s, b as usize));
    let plain = |r: &[u8]| !r.iter().any(|&c| c == b'\\' || c >= 0xEE);
    if plain(ra) && plain(rb) {
        return ra.cmp(rb);
    }
    decode(ra).encode_utf16().cmp(decode(rb).encode_utf16())
}

/// Checks `bytes` as [`crate::json::parse_strict`] does, returning its error when it has one.
pub(crate) fn check_strict(bytes: &[u8]) -> Result<(), JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::Utf8 { offset: e.valid_up_to() })?;
    if text.starts_with('\u{feff}') {
        return Err(JsonError::Syntax { offset: 0, what: "byte-order mark" });
    }
    let mut w = Walker { s: bytes, i: 0, depth: 0, keys: Vec::new(), bases: Vec::new() };
    let run = |w: &mut Walker| {
        w.i = skip_ws(w.s, w.i);
        w.value()?;
        w.i = skip_ws(w.s, w.i);
        if w.i != w.s.len() {
            return Err(w.err("trailing data after the JSON value"));
        }
        Ok(())
    };
    // The strict parser checks each member's key against the earlier ones as soon as its value
    // is read; here the check waits for the object's end (or the first error), and then the
    // duplicate it would have met first, the earliest repeated key, is the answer.
    run(&mut w).map_err(|e| w.first_duplicate().unwrap_or(e))
}

/// The validating walker behind [`check_strict`]: the strict parser's grammar, no values built.
struct Walker<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
    /// Offsets of the keys of the open objects' complete members, object after object.
    keys: Vec<u32>,
    /// Where each open object's keys start in `keys`.
    bases: Vec<usize>,
}

impl Walker<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax { offset: self.i, what }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// The earliest repeated key (by offset) among the open objects' complete members.
    fn first_duplicate(&mut self) -> Option<JsonError> {
        let mut bounds = self.bases.clone();
        bounds.push(self.keys.len());
        let s = self.s;
        let mut first: Option<u32> = None;
        for w in bounds.windows(2) {
            let keys = &mut self.keys[w[0]..w[1]];
            keys.sort_unstable_by(|&a, &b| key_cmp(s, a, b).then(a.cmp(&b)));
            for pair in keys.windows(2) {
                if key_cmp(s, pair[0], pair[1]) == Ordering::Equal && first.is_none_or(|f| pair[1] < f) {
                    first = Some(pair[1]);
                }
            }
        }
        first.map(|at| JsonError::DuplicateKey { key: decode(raw_string(s, at as usize)), offset: at as usize })
    }

    fn value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
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
        self.i = skip_ws(self.s, self.i + 1);
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        self.bases.push(self.keys.len());
        loop {
            self.i = skip_ws(self.s, self.i);
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key_at = self.i;
            self.string()?;
            self.i = skip_ws(self.s, self.i);
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i = skip_ws(self.s, self.i + 1);
            self.value()?;
            // Offsets fit: evidence is at most MAX_EVIDENCE_SIZE (64 MiB).
            self.keys.push(u32::try_from(key_at).map_err(|_| JsonError::Syntax { offset: key_at, what: "document beyond 4 GiB" })?);
            self.i = skip_ws(self.s, self.i);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    let base = *self.bases.last().expect("pushed above");
                    let n = self.keys.len() - base;
                    let s = self.s;
                    let keys = &self.keys[base..];
                    // Few keys: compared pairwise; many: sorted by first_duplicate.
                    let repeated = if n <= 16 {
                        (1..n).any(|j| (0..j).any(|i| key_cmp(s, keys[i], keys[j]) == Ordering::Equal))
                    } else {
                        let mut sorted = keys.to_vec();
                        sorted.sort_unstable_by(|&a, &b| key_cmp(s, a, b));
                        sorted.windows(2).any(|p| key_cmp(s, p[0], p[1]) == Ordering::Equal)
                    };
                    if repeated {
                        return Err(self.first_duplicate().expect("a repeated key"));
                    }
                    self.keys.truncate(base);
                    self.bases.pop();
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<(), JsonError> {
        self.enter()?;
        self.i = skip_ws(self.s, self.i + 1);
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.i = skip_ws(self.s, self.i);
            self.value()?;
            self.i = skip_ws(self.s, self.i);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let h = self.s.get(self.i..self.i + 4).ok_or_else(|| self.err("truncated \\u escape"))?;
        if !h.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.err("bad \\u escape"));
        }
        let v = u16::from_str_radix(std::str::from_utf8(h).expect("hex digits"), 16).expect("hex digits");
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<(), JsonError> {
        self.i += 1;
        loop {
            self.i = plain_run_end(self.s, self.i);
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
                    match c {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(self.err("lone high surrogate"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("high surrogate not followed by a low surrogate"));
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("lone low surrogate"));
                            }
                        }
                        _ => return Err(self.err("unknown escape")),
                    }
                }
                Some(_) => return Err(self.err("raw control character in string")),
            }
        }
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let start = self.i;
        let digits = |w: &mut Self| {
            while matches!(w.peek(), Some(b'0'..=b'9')) {
                w.i += 1;
            }
        };
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
            Some(b'1'..=b'9') => digits(self),
            _ => return Err(self.err("expected digit")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.err("expected digit after '.'"));
            }
            digits(self);
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
            digits(self);
        }
        let lit = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        if integer {
            let out_of_range = || JsonError::IntegerOutOfRange { literal: lit.to_string(), offset: start };
            let digits = lit.trim_start_matches('-');
            let mag: u64 = if digits.len() > 16 { return Err(out_of_range()) } else { digits.parse().map_err(|_| out_of_range())? };
            if mag > MAX_SAFE_INTEGER {
                return Err(out_of_range());
            }
            return Ok(());
        }
        let f: f64 = lit.parse().map_err(|_| JsonError::Syntax { offset: start, what: "bad number" })?;
        if !f.is_finite() {
            return Err(JsonError::Syntax { offset: start, what: "number out of range" });
        }
        Ok(())
    }
}

/// SHA-256 of the RFC 8785 form of a document [`check_strict`] accepted: the value
/// [`super::canonical_digest`] gives for its parsed tree.
pub(crate) fn canonical_digest(bytes: &[u8]) -> Sha256Digest {
    let mut c = Canon { s: bytes, buf: Vec::with_capacity(1 << 16), sha: Sha256::new() };
    c.value(skip_ws(bytes, 0));
    c.sha.update(&c.buf);
    Sha256Digest(c.sha.finalize().into())
}

/// The RFC 8785 writer behind [`canonical_digest`], into a hash through a small buffer.
struct Canon<'a> {
    s: &'a [u8],
    buf: Vec<u8>,
    sha: Sha256,
}

impl Canon<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 1 << 16 {
            self.sha.update(&self.buf);
            self.buf.clear();
        }
    }

    /// Writes the value at `i`; returns where it ends.
    fn value(&mut self, i: usize) -> usize {
        let s = self.s;
        match s[i] {
            b'{' => {
                let mut members: Vec<(u32, usize)> = Vec::new();
                let mut j = skip_ws(s, i + 1);
                while s[j] == b'"' {
                    let v = skip_ws(s, skip_ws(s, string_end(s, j)) + 1);
                    members.push((u32::try_from(j).expect("evidence below 4 GiB"), v));
                    j = skip_ws(s, value_end(s, v));
                    if s[j] == b',' {
                        j = skip_ws(s, j + 1);
                    }
                }
                members.sort_unstable_by(|a, b| key_cmp(s, a.0, b.0));
                self.put(b"{");
                for (n, (k, v)) in members.into_iter().enumerate() {
                    if n > 0 {
                        self.put(b",");
                    }
                    self.string(k as usize);
                    self.put(b":");
                    self.value(v);
                }
                self.put(b"}");
                j + 1
            }
            b'[' => {
                self.put(b"[");
                let mut j = skip_ws(s, i + 1);
                let mut first = true;
                while s[j] != b']' {
                    if !first {
                        self.put(b",");
                    }
                    first = false;
                    j = skip_ws(s, self.value(j));
                    if s[j] == b',' {
                        j = skip_ws(s, j + 1);
                    }
                }
                self.put(b"]");
                j + 1
            }
            b'"' => self.string(i),
            _ => {
                let end = value_end(s, i);
                let lit = &s[i..end];
                match lit {
                    b"true" | b"false" | b"null" => self.put(lit),
                    // Numbers are rare in evidence: spelled by the one canonicalizer.
                    _ => {
                        let v = crate::json::parse_strict(lit).expect("a checked number");
                        self.put(&crate::json::canonical_value(&v));
                    }
                }
                end
            }
        }
    }

    /// Writes the string at `i` in its canonical spelling; returns where it ends.
    fn string(&mut self, i: usize) -> usize {
        let s = self.s;
        self.put(b"\"");
        let mut j = i + 1;
        loop {
            let run = plain_run_end(s, j);
            self.put(&s[j..run]);
            j = run;
            if s[j] == b'"' {
                self.put(b"\"");
                return j + 1;
            }
            // An escape (a checked document has no raw controls in strings): `\x`, `\uXXXX`, or
            // a surrogate pair `\uD8XX\uDCXX`.
            let end = match s[j + 1] {
                b'u' if matches!(&s[j + 2..j + 4], [b'd' | b'D', b'8'..=b'9' | b'a' | b'b' | b'A' | b'B']) => j + 12,
                b'u' => j + 6,
                _ => j + 2,
            };
            let ch = decode(&s[j..end]);
            for c in ch.chars() {
                match c {
                    '"' => self.put(b"\\\""),
                    '\\' => self.put(b"\\\\"),
                    '\u{8}' => self.put(b"\\b"),
                    '\u{c}' => self.put(b"\\f"),
                    '\n' => self.put(b"\\n"),
                    '\r' => self.put(b"\\r"),
                    '\t' => self.put(b"\\t"),
                    c if (c as u32) < 0x20 => self.put(format!("\\u{:04x}", c as u32).as_bytes()),
                    c => self.put(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            j = end;
        }
    }
}

/// A value of a checked document, read for a schema: an object's members parsed one by one,
/// except the arrays left in the bytes to be read element by element ([`Node::elements`]).
pub(crate) struct Node<'a> {
    /// The value; a left array is an empty array here.
    pub value: Value,
    left: Vec<(String, Range<usize>)>,
    bytes: &'a [u8],
}

/// What a reader reads of an object: members named `stream` whose value is an array are left in
/// the bytes; with `only`, members it does not name are read as `null` (never parsed), and a
/// value that is not an object is read as `null` too.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    pub stream: &'static [&'static str],
    pub only: Option<&'static [&'static str]>,
}

impl Shape {
    /// Every member parsed.
    pub const WHOLE: Shape = Shape { stream: &[], only: None };
}

impl<'a> Node<'a> {
    /// A value already in memory (the whole-tree path, and small nested values).
    pub fn of(value: Value) -> Node<'static> {
        Node { value, left: Vec::new(), bytes: &[] }
    }

    /// The value at `range` of a document [`check_strict`] accepted.
    pub fn read(bytes: &'a [u8], range: Range<usize>, shape: Shape, format: &'static str) -> Result<Self, EvidenceError> {
        let json = |source| EvidenceError::Json { format, source };
        let s = bytes;
        let i = skip_ws(s, range.start);
        if s.get(i) != Some(&b'{') && shape.only.is_some() {
            // A reader that names members wants an object: anything else it refuses by type.
            return Ok(Node { value: Value::Null, left: Vec::new(), bytes });
        }
        if s.get(i) != Some(&b'{') || (shape.stream.is_empty() && shape.only.is_none()) {
            let value = crate::json::parse_strict(&s[range]).map_err(json)?;
            return Ok(Node { value, left: Vec::new(), bytes });
        }
        let mut map = Map::new();
        let mut left = Vec::new();
        let mut j = skip_ws(s, i + 1);
        while s[j] == b'"' {
            let key = decode(raw_string(s, j));
            let v = skip_ws(s, skip_ws(s, string_end(s, j)) + 1);
            let end = value_end(s, v);
            let value = if shape.stream.contains(&key.as_str()) && s[v] == b'[' {
                left.push((key.clone(), v..end));
                Value::Array(Vec::new())
            } else if shape.only.is_some_and(|o| !o.contains(&key.as_str())) {
                Value::Null
            } else {
                crate::json::parse_strict(&s[v..end]).map_err(json)?
            };
            map.insert(key, value);
            j = skip_ws(s, end);
            if s[j] == b',' {
                j = skip_ws(s, j + 1);
            }
        }
        Ok(Node { value: Value::Object(map), left, bytes })
    }

    /// The elements of the array member `key` as [`Node::elements`] gives them, none when it holds
    /// no array: for readers that checked the member's type first.
    pub fn each(&self, key: &str, shape: Shape, format: &'static str) -> Elements<'_, 'a> {
        self.elements(key, shape, format).unwrap_or(Elements::Values([].iter()))
    }

    /// The elements of the array member `key`, each read with `shape`: from the bytes when the
    /// member was left there, else from the parsed value. `None` when `key` holds no array
    /// (the caller's type check says why).
    pub fn elements(&self, key: &str, shape: Shape, format: &'static str) -> Option<Elements<'_, 'a>> {
        if let Some((_, r)) = self.left.iter().find(|(k, _)| k == key) {
            return Some(Elements::Bytes { bytes: self.bytes, next: skip_ws(self.bytes, r.start + 1), shape, format });
        }
        match self.value.get(key) {
            Some(Value::Array(a)) => Some(Elements::Values(a.iter())),
            _ => None,
        }
    }
}

/// The elements of an array, each parsed when reached (see [`Node::elements`]).
pub(crate) enum Elements<'n, 'a> {
    /// Left in the document bytes: `next` is the next element's first byte (or the `]`).
    Bytes { bytes: &'a [u8], next: usize, shape: Shape, format: &'static str },
    /// Already parsed.
    Values(std::slice::Iter<'n, Value>),
}

impl<'a> Elements<'_, 'a> {
    /// Whether there are no (more) elements.
    pub fn is_empty(&self) -> bool {
        match self {
            Elements::Bytes { bytes, next, .. } => bytes[*next] == b']',
            Elements::Values(it) => it.len() == 0,
        }
    }
}

impl<'a> Iterator for Elements<'_, 'a> {
    type Item = Result<Node<'a>, EvidenceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Elements::Bytes { bytes, next, shape, format } => {
                let s: &'a [u8] = bytes;
                if s[*next] == b']' {
                    return None;
                }
                let start = *next;
                let end = value_end(s, start);
                let mut j = skip_ws(s, end);
                if s[j] == b',' {
                    j = skip_ws(s, j + 1);
                }
                *next = j;
                Some(Node::read(s, start..end, *shape, format))
            }
            Elements::Values(it) => it.next().map(|v| Ok(Node::of(v.clone()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents that exercise every refusal of the strict parser, and acceptances around them.
    fn cases() -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = [
            &b""[..],
            b" ",
            b"\xef\xbb\xbf{}",
            b"{\"a\":1,\"a\":2}",
            b"{\"a\":{\"b\":1,\"b\":2},\"a\":3}",
            b"{\"a\":1,\"a\":{\"b\":1,\"b\":2}}",
            b"{\"a\":1,\"b\":2,\"a\":[1,}",
            b"{\"a\":[1,],\"a\":1}",
            b"{\"x\":1,\"\\u0078\":2}",
            b"{\"\\ud83d\\ude00\":1,\"\\uffff\":2,\"\\ue000\":3,\"\\ud800\\udc00\":4}",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":1 \"b\":2}",
            b"[1,]",
            b"[1 2]",
            b"01",
            b"-",
            b"1.",
            b"1e",
            b"1e999",
            b"-0",
            b"9007199254740992",
            b"9007199254740993",
            b"-9007199254740993",
            b"12345678901234567",
            b"1.5e3",
            b"0.1",
            b"\"\\q\"",
            b"\"\\u12\"",
            b"\"\\uZZZZ\"",
            b"\"\\ud800\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\udc00\"",
            b"\"a\x01\"",
            b"\"abc",
            b"\"\\",
            b"tru",
            b"nul",
            b"{} x",
            b"\xff",
            b"{\"a\xc3\":1}",
            b"[\"\\/\\b\\f\\n\\r\\t\\u0001\\u001F\\u007f\\u2028\\\"\\\\ \xc3\xa9\xf0\x9f\x98\x80\"]",
        ]
        .iter()
        .map(|b| b.to_vec())
        .collect();
        out.push(format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1)).into_bytes());
        out.push(format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH)).into_bytes());
        // Many keys (the sorted path), one repeated late, and an error after it.
        let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 37)).collect();
        out.push(format!("{{{}}}", many.join(",")).into_bytes());
        out.push(format!("{{{},}}", many.join(",")).into_bytes());
        out.push(format!("{{{}}}", many[..37].join(", ")).into_bytes());
        out
    }

    /// Random JSON-ish text: valid documents mutated, so both parsers meet every path.
    fn generated(n: usize) -> Vec<Vec<u8>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let atoms = [
            "\"a\"",
            "\"b\"",
            "\"\\u00e9\"",
            "\"\u{1F600}\"",
            "\"\u{ff61}\"",
            "1",
            "-2.5e-3",
            "0",
            "true",
            "null",
            "\"\\n\\u0007\"",
            "1e400",
        ];
        let keys = ["\"a\"", "\"b\"", "\"\\u0061\"", "\"\u{1F600}\"", "\"\u{ff61}\"", "\"aa\"", "\"\""];
        fn build(next: &mut dyn FnMut() -> u64, atoms: &[&str], keys: &[&str], depth: u32, out: &mut String) {
            match next() % if depth > 4 { 1 } else { 3 } {
                0 => out.push_str(atoms[(next() % atoms.len() as u64) as usize]),
                1 => {
                    out.push('[');
                    for i in 0..next() % 4 {
                        if i > 0 {
                            out.push_str(if next().is_multiple_of(3) { " , " } else { "," });
                        }
                        build(next, atoms, keys, depth + 1, out);
                    }
                    out.push(']');
                }
                _ => {
                    out.push('{');
                    for i in 0..next() % 5 {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(keys[(next() % keys.len() as u64) as usize]);
                        out.push_str(if next().is_multiple_of(4) { " : " } else { ":" });
                        build(next, atoms, keys, depth + 1, out);
                    }
                    out.push('}');
                }
            }
        }
        (0..n)
            .map(|_| {
                let mut s = String::new();
                build(&mut next, &atoms, &keys, 0, &mut s);
                let mut b = s.into_bytes();
                if next().is_multiple_of(3) && !b.is_empty() {
                    let at = (next() % b.len() as u64) as usize;
                    match next() % 3 {
                        0 => {
                            b.remove(at);
                        }
                        1 => b.insert(at, b",}]\"\\ :"[(next() % 7) as usize]),
                        _ => b.truncate(at),
                    }
                }
                b
            })
            .collect()
    }

    #[test]
    fn check_and_digest_agree_with_the_tree() {
        let mut accepted = 0;
        for doc in cases().into_iter().chain(generated(20_000)) {
            let tree = crate::json::parse_strict(&doc);
            let answer = match &tree {
                Ok(_) => Ok(()),
                Err(e) => Err(e.to_string()),
            };
            assert_eq!(check_strict(&doc).map_err(|e| e.to_string()), answer, "{:?}", String::from_utf8_lossy(&doc));
            if let Ok(v) = tree {
                accepted += 1;
                assert_eq!(canonical_digest(&doc), super::super::canonical_digest(&v), "{:?}", String::from_utf8_lossy(&doc));
            }
        }
        assert!(accepted > 1000, "the generator must produce valid documents too ({accepted})");
    }

    #[test]
    fn nodes_leave_named_arrays_in_the_bytes() {
        let doc = br#" { "keep" : [1, {"x":[2]}] , "skip":{"a":1}, "n":"\u0041" } "#;
        check_strict(doc).unwrap();
        let shape = Shape { stream: &["keep"], only: Some(&["keep", "n"]) };
        let n = Node::read(doc, 0..doc.len(), shape, "t").unwrap();
        assert_eq!(n.value, serde_json::json!({"keep": [], "skip": null, "n": "A"}));
        let els: Vec<Value> = n.elements("keep", Shape::WHOLE, "t").unwrap().map(|e| e.unwrap().value).collect();
        assert_eq!(els, vec![serde_json::json!(1), serde_json::json!({"x": [2]})]);
        assert!(n.elements("n", Shape::WHOLE, "t").is_none());
        let empty = b"{\"keep\":[ ]}";
        assert!(Node::read(empty, 0..empty.len(), shape, "t").unwrap().elements("keep", Shape::WHOLE, "t").unwrap().is_empty());
    }

    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// One random change to a document's tree: a value replaced (by another type, an empty or
    /// a digest-like string, a copy of another value), a member or element removed or repeated.
    fn mutate(v: &mut Value, next: &mut dyn FnMut() -> u64) {
        let hex = crate::digest::Sha256Digest::of(b"hello\n").hex();
        let pool = [
            Value::Null,
            serde_json::json!(1),
            serde_json::json!(1.5),
            serde_json::json!(""),
            serde_json::json!("x"),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!(true),
            serde_json::json!(hex),
            serde_json::json!(hex.to_uppercase()),
            serde_json::json!([{"alg": "SHA-256", "content": hex}]),
            serde_json::json!("not_affected"),
            serde_json::json!("SHA-256"),
        ];
        // Walk down at random, then change where the walk stops.
        let go = !next().is_multiple_of(4);
        match v {
            Value::Object(o) if go && !o.is_empty() => {
                let k = o.keys().nth((next() % o.len() as u64) as usize).expect("in range").clone();
                if !next().is_multiple_of(8) {
                    return mutate(o.get_mut(&k).expect("present"), next);
                }
                match next() % 3 {
                    0 => {
                        o.remove(&k);
                    }
                    1 => {
                        o.insert(format!("{k}2"), o[&k].clone());
                    }
                    _ => o[&k] = pool[(next() % pool.len() as u64) as usize].clone(),
                }
            }
            Value::Array(a) if go && !a.is_empty() => {
                let i = (next() % a.len() as u64) as usize;
                if !next().is_multiple_of(8) {
                    return mutate(&mut a[i], next);
                }
                match next() % 3 {
                    0 => {
                        a.remove(i);
                    }
                    1 => a.push(a[i].clone()),
                    _ => a[i] = pool[(next() % pool.len() as u64) as usize].clone(),
                }
            }
            _ => *v = pool[(next() % pool.len() as u64) as usize].clone(),
        }
    }

    /// The evidence vectors, and documents generated from them: tree mutations written compact
    /// or pretty, some with a member repeated textually (a duplicate key) or a byte dropped.
    fn evidence_documents() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/evidence");
        let mut out = Vec::new();
        for kind in ["sbom", "vex"] {
            let mut names: Vec<_> = std::fs::read_dir(dir.join(kind)).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            for p in names {
                out.push((format!("{}", p.display()), std::fs::read(&p).unwrap()));
            }
        }
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let seeds: Vec<(String, Value)> =
            out.iter().filter_map(|(n, b)| crate::json::parse_strict(b).ok().map(|v| (n.clone(), v))).collect();
        for round in 0..600 {
            for (name, seed) in &seeds {
                let mut v = seed.clone();
                for _ in 0..1 + next() % 3 {
                    mutate(&mut v, &mut next);
                }
                let mut b = if next().is_multiple_of(2) { serde_json::to_vec(&v) } else { serde_json::to_vec_pretty(&v) }.unwrap();
                match next() % 10 {
                    0 if b.len() > 2 => {
                        let at = (next() % b.len() as u64) as usize;
                        b.remove(at);
                    }
                    1 => {
                        // The first member of the top-level object again, as its last.
                        let first = serde_json::to_vec(&v.as_object().and_then(|o| o.iter().next())).unwrap();
                        if let (Some(end), true) = (b.iter().rposition(|&c| c == b'}'), first.len() > 6) {
                            let member = &first[1..first.len() - 1];
                            let mut with = b[..end].to_vec();
                            with.extend_from_slice(b",");
                            with.extend_from_slice(member);
                            with.extend_from_slice(&b[end..]);
                            b = with;
                        }
                    }
                    _ => {}
                }
                out.push((format!("{name} mutation {round}"), b));
            }
        }
        out
    }

    #[test]
    fn readers_agree_with_the_whole_tree_path() {
        use super::super::sbom::Sbom;
        use super::super::vex::VexDocument;
        let hello = super::super::ArtifactRef { path: "bin/hello".into(), digest: crate::digest::Sha256Digest::of(b"hello\n") };
        let (mut ok, mut refused) = (0, 0);
        for (name, doc) in evidence_documents() {
            let sbom = Sbom::parse(&doc);
            match (&sbom, Sbom::parse_tree(&doc)) {
                (Ok(s), Ok(t)) => {
                    assert_eq!(s, &t, "{name}");
                    assert_eq!(s.count, s.entries.len(), "{name}");
                    ok += 1;
                }
                (Err(s), Err(t)) => {
                    assert_eq!(s.to_string(), t.to_string(), "{name}");
                    refused += 1;
                }
                (s, t) => panic!("{name}: streamed {s:?}, tree {t:?}"),
            }
            // The gate's reading keeps the entries that matter, counts them all.
            match (&sbom, Sbom::parse_for(&doc, std::slice::from_ref(&hello))) {
                (Ok(s), Ok(f)) => {
                    assert_eq!((s.count, s.canonical_digest, s.format), (f.count, f.canonical_digest, f.format), "{name}");
                    assert_eq!(s.coverage(&hello), f.coverage(&hello), "{name}");
                    assert_eq!(s.ids_of(&hello.digest), f.ids_of(&hello.digest), "{name}");
                }
                (Err(s), Err(f)) => assert_eq!(s.to_string(), f.to_string(), "{name}"),
                (s, f) => panic!("{name}: parse {s:?}, parse_for {f:?}"),
            }
            match (VexDocument::parse(&doc), VexDocument::parse_tree(&doc)) {
                (Ok(s), Ok(t)) => {
                    assert_eq!(s, t, "{name}");
                    ok += 1;
                }
                (Err(s), Err(t)) => {
                    assert_eq!(s.to_string(), t.to_string(), "{name}");
                    refused += 1;
                }
                (s, t) => panic!("{name}: streamed {s:?}, tree {t:?}"),
            }
        }
        // Both answers must occur often, or the comparison says little.
        assert!(ok > 500 && refused > 500, "{ok} accepted, {refused} refused");
    }
}
