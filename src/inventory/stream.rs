//! A top-level JSON object read member by member, so that a 100,000-endpoint export never
//! becomes one tree in memory: each member's value, and each element of the arrays asked for,
//! is parsed by the strict parser separately. Finding where a value ends is only a scan; every
//! byte of every value still goes through [`crate::json::parse_strict`]. When the scan or a
//! piece's parse fails, the whole document is parsed strictly once more so that the error is
//! the strict parser's own, with its line and column in the file.

use super::{InventoryError, json_offset, line_column, parse_json};
use crate::json::{self, JsonError, MAX_DEPTH};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::ops::Range;

/// The byte ranges of an array's elements.
type Spans = Vec<Range<usize>>;

/// A document read as a top-level object.
pub struct Doc<'a> {
    what: String,
    bytes: &'a [u8],
    /// Members other than the streamed arrays, parsed.
    pub top: Map<String, Value>,
    /// The streamed arrays: where each lies and, when one scan could split it, its elements.
    arrays: HashMap<String, (Range<usize>, Option<Spans>)>,
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The elements of the array starting at `i` (`[`), found in one scan: their ranges, where the
/// array ends and how deep it nests, as [`value_end`] on the whole array and then
/// [`Doc::spans`] on its elements would find them. `None` when the array is not a plain list of
/// values separated by commas (the caller then takes the slower path that names the fault).
fn split_array(b: &[u8], start: usize) -> Option<(Vec<Range<usize>>, usize, usize)> {
    let mut spans = vec![];
    let mut i = ws(b, start + 1);
    let mut max = 0;
    if b.get(i) == Some(&b']') {
        return Some((spans, i + 1, 1));
    }
    loop {
        let (vend, depth) = value_end(b, i)?;
        spans.push(i..vend);
        max = max.max(depth);
        let next = ws(b, vend);
        match b.get(next)? {
            b',' => i = ws(b, next + 1),
            b']' => return Some((spans, next + 1, max + 1)),
            _ => return None,
        }
    }
}

/// Where the value starting at `i` ends, and how deep it nests.
fn value_end(b: &[u8], i: usize) -> Option<(usize, usize)> {
    match *b.get(i)? {
        b'"' => string_end(b, i).map(|e| (e, 0)),
        b'{' | b'[' => {
            let (mut depth, mut max, mut j) = (0usize, 0usize, i);
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        max = max.max(depth);
                    }
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some((j + 1, max));
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            (j > i).then_some((j, 0))
        }
    }
}

impl<'a> Doc<'a> {
    /// The strict parser's error for the whole document (the scan found something wrong), or
    /// `fallback` when the whole document parses.
    fn strict_error(what: &str, bytes: &[u8], fallback: InventoryError) -> InventoryError {
        match parse_json(what, bytes, 1) {
            Err(e) => e,
            Ok(_) => fallback,
        }
    }

    /// A piece of the document parsed strictly; an error names its place in the file.
    fn piece(what: &str, bytes: &[u8], r: Range<usize>) -> Result<Value, InventoryError> {
        json::parse_strict(&bytes[r.clone()]).map_err(|e| {
            let shifted = shift(e, r.start);
            let (line, column) = line_column(bytes, json_offset(&shifted));
            InventoryError::Json { what: what.to_string(), line, column, source: shifted }
        })
    }

    /// Reads `bytes` as an object whose members named in `arrays` are streamed. `Ok(None)` when
    /// the document is strict JSON but not an object (the caller names the shape).
    pub fn read(what: &str, bytes: &'a [u8], arrays: &[&str]) -> Result<Option<Self>, InventoryError> {
        let syntax = |at: usize| InventoryError::Json {
            what: what.into(),
            line: line_column(bytes, at).0,
            column: line_column(bytes, at).1,
            source: JsonError::Syntax { offset: at, what: "unexpected byte" },
        };
        let fail = |at: usize| Err(Self::strict_error(what, bytes, syntax(at)));
        let mut i = ws(bytes, 0);
        if bytes.get(i) != Some(&b'{') {
            // Not an object (or not JSON): the strict parser decides which.
            parse_json(what, bytes, 1)?;
            return Ok(None);
        }
        let mut doc = Doc { what: what.into(), bytes, top: Map::new(), arrays: HashMap::new() };
        i = ws(bytes, i + 1);
        if bytes.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                if bytes.get(i) != Some(&b'"') {
                    return fail(i);
                }
                let Some(kend) = string_end(bytes, i) else { return fail(i) };
                let key = match Self::piece(what, bytes, i..kend)? {
                    Value::String(k) => k,
                    _ => return fail(i),
                };
                i = ws(bytes, kend);
                if bytes.get(i) != Some(&b':') {
                    return fail(i);
                }
                i = ws(bytes, i + 1);
                let streamed = arrays.contains(&key.as_str()) && bytes[i] == b'[';
                let split = if streamed { split_array(bytes, i) } else { None };
                let Some((vend, depth)) = split.as_ref().map(|(_, e, d)| (*e, *d)).or_else(|| value_end(bytes, i)) else { return fail(i) };
                if depth + 1 > MAX_DEPTH || doc.top.contains_key(&key) || doc.arrays.contains_key(&key) {
                    return fail(i);
                }
                if streamed {
                    doc.arrays.insert(key, (i..vend, split.map(|(spans, _, _)| spans)));
                } else {
                    let v = Self::piece(what, bytes, i..vend)?;
                    doc.top.insert(key, v);
                }
                i = ws(bytes, vend);
                match bytes.get(i) {
                    Some(b',') => i = ws(bytes, i + 1),
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return fail(i),
                }
            }
        }
        if ws(bytes, i) != bytes.len() {
            return fail(i);
        }
        Ok(Some(doc))
    }

    /// Whether the member `key` is a streamed array.
    pub fn has_array(&self, key: &str) -> bool {
        self.arrays.contains_key(key)
    }

    /// The elements of the streamed array `key`, each parsed strictly on its own.
    pub fn elements(&self, key: &str) -> impl Iterator<Item = Result<Value, InventoryError>> + '_ {
        let mut failed = false;
        self.spans(key).map_while(move |r| {
            if failed {
                return None;
            }
            let item = r.and_then(|r| self.parse(r));
            failed = item.is_err();
            Some(item)
        })
    }

    /// The byte ranges of the elements of the streamed array `key`, found by the scan alone (a
    /// caller that reads an element some other way must still [`Doc::parse`] it when that way
    /// fails, for the strict parser's error). After an error the iterator ends.
    pub fn spans(&self, key: &str) -> Box<dyn Iterator<Item = Result<Range<usize>, InventoryError>> + '_> {
        let (range, split) = self.arrays.get(key).map_or((0..0, None), |(r, s)| (r.clone(), s.as_ref()));
        if let Some(split) = split {
            return Box::new(split.iter().cloned().map(Ok));
        }
        let mut i = if range.is_empty() { range.end } else { ws(self.bytes, range.start + 1) };
        let end = range.end.saturating_sub(1);
        let mut done = range.is_empty() || i >= end;
        Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let b = self.bytes;
            match value_end(b, i) {
                Some((vend, _)) if vend <= end => {
                    let r = i..vend;
                    let next = ws(b, vend);
                    match b.get(next) {
                        Some(b',') if next < end => i = ws(b, next + 1),
                        _ if next == end => done = true,
                        _ => {
                            done = true;
                            return Some(Err(Self::strict_error(&self.what, b, InventoryError::Observations(format!("byte {next}")))));
                        }
                    }
                    Some(Ok(r))
                }
                _ => {
                    done = true;
                    Some(Err(Self::strict_error(&self.what, b, InventoryError::Observations(format!("byte {i}")))))
                }
            }
        }))
    }

    /// The bytes of a span [`Doc::spans`] gave.
    pub fn bytes(&self, r: Range<usize>) -> &'a [u8] {
        &self.bytes[r]
    }

    /// A span parsed strictly. On error, the whole document's error when it has one (the one a
    /// reader of the file expects), else the span's own, placed in the file.
    pub fn parse(&self, r: Range<usize>) -> Result<Value, InventoryError> {
        Self::piece(&self.what, self.bytes, r).map_err(|e| Self::strict_error(&self.what, self.bytes, e))
    }
}

/// The error with its offset moved by `by` bytes.
fn shift(e: JsonError, by: usize) -> JsonError {
    match e {
        JsonError::Utf8 { offset } => JsonError::Utf8 { offset: offset + by },
        JsonError::Syntax { offset, what } => JsonError::Syntax { offset: offset + by, what },
        JsonError::DuplicateKey { key, offset } => JsonError::DuplicateKey { key, offset: offset + by },
        JsonError::IntegerOutOfRange { literal, offset } => JsonError::IntegerOutOfRange { literal, offset: offset + by },
        JsonError::TooDeep { offset } => JsonError::TooDeep { offset: offset + by },
        JsonError::NotCanonical { offset, expected, found } => JsonError::NotCanonical { offset: offset + by, expected, found },
        JsonError::Schema(s) => JsonError::Schema(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-scan split finds the elements, the end and the depth that the whole-array scan
    /// and the element-by-element scan find; where it gives up, the slow path reports.
    #[test]
    fn one_scan_split_agrees_with_the_element_scan() {
        let docs: [&[u8]; 9] = [
            br#"{"l":[]}"#,
            br#"{"l":[ ] }"#,
            br#"{"l":[1]}"#,
            br#"{"l":[ {"a":[1,{"b":"]\"["}]} , "x" ,[[]],true ], "z": 1}"#,
            br#"{"l":[1 2]}"#,
            br#"{"l":[1,]}"#,
            br#"{"l":[,1]}"#,
            br#"{"l":[[1],{"a":2}}]}"#,
            br#"{"l":[1,2}"#,
        ];
        let mut split_used = 0;
        for b in docs {
            let start = b.iter().position(|&c| c == b'[').unwrap();
            let whole = value_end(b, start);
            if let Some((spans, end, depth)) = split_array(b, start) {
                split_used += 1;
                assert_eq!(Some((end, depth)), whole, "{}", String::from_utf8_lossy(b));
                let d = Doc::read("t", b, &["l"]).unwrap().unwrap();
                let lazy = Doc { arrays: [("l".to_string(), (start..end, None))].into(), ..Doc::read("t", b, &["z"]).unwrap().unwrap() };
                let from_lazy: Vec<Range<usize>> = lazy.spans("l").map(Result::unwrap).collect();
                assert_eq!(spans, from_lazy);
                assert_eq!(d.spans("l").map(Result::unwrap).collect::<Vec<_>>(), spans);
            } else {
                let d = Doc::read("t", b, &["l"]);
                let e = match d {
                    Err(e) => e,
                    Ok(d) => d.unwrap().spans("l").find_map(Result::err).expect("an error"),
                };
                assert!(matches!(e, InventoryError::Json { .. }), "{e}");
            }
        }
        assert_eq!(split_used, 4);
    }

    #[test]
    fn members_and_streamed_elements_read_as_the_whole_document_does() {
        let b = br#" {"a": 1, "list": [ {"x": "y]}\"z"}, [1,[2]], "s" ], "b": {"c": [true]} } "#;
        let d = Doc::read("t", b, &["list"]).unwrap().unwrap();
        assert_eq!(d.top.len(), 2);
        let items: Vec<Value> = d.elements("list").map(Result::unwrap).collect();
        assert_eq!(items, vec![serde_json::json!({"x": "y]}\"z"}), serde_json::json!([1, [2]]), serde_json::json!("s")]);
        assert_eq!(Doc::read("t", br#"{"list": []}"#, &["list"]).unwrap().unwrap().elements("list").count(), 0);
        for bad in [&br#"{"a":1,"a":2}"#[..], br#"{"list":[1,}"#, br#"{"list":[1 2]}"#, br#"{"a":1} x"#, br#"{"list":[{"k":1,"k":2}]}"#] {
            let d = Doc::read("t", bad, &["list"]);
            let e = match d {
                Err(e) => e,
                Ok(d) => d.unwrap().elements("list").find_map(Result::err).expect("an error"),
            };
            let whole = parse_json("t", bad, 1).unwrap_err();
            assert_eq!(e.to_string(), whole.to_string(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(Doc::read("t", b"[1]", &["list"]).unwrap().is_none());
    }
}
