//! `checksums.txt`: GNU coreutils `sha256sum` text format, one line per payload member in
//! manifest order: 64 lowercase hex, two spaces, the path, LF. Member names never need
//! coreutils' backslash escaping (the name rules forbid `\`, CR and LF).

use crate::digest::Sha256Digest;

/// Renders the file for `(path, digest)` pairs, in the order given.
pub fn render<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Sha256Digest)>) -> Vec<u8> {
    let mut out = String::new();
    for (path, d) in entries {
        out.push_str(&d.hex());
        out.push_str("  ");
        out.push_str(path);
        out.push('\n');
    }
    out.into_bytes()
}

/// Whether `bytes` are exactly [`render`] of `entries`, compared line by line without rendering
/// the whole file (a 99,000-member `checksums.txt` is 10 MB).
pub fn renders_as<'a>(entries: impl IntoIterator<Item = (&'a str, &'a Sha256Digest)>, bytes: &[u8]) -> bool {
    let mut c = Comparer::new(entries);
    c.feed(bytes);
    c.matches()
}

/// Compares a `checksums.txt` given in pieces (as it is read from an archive) with [`render`]
/// of `entries`, keeping one rendered line: the file is never held whole.
pub struct Comparer<'a, I: Iterator<Item = (&'a str, &'a Sha256Digest)>> {
    entries: I,
    line: Vec<u8>,
    /// How much of `line` the input matched so far.
    at: usize,
    same: bool,
}

impl<'a, I: Iterator<Item = (&'a str, &'a Sha256Digest)>> Comparer<'a, I> {
    /// A comparer expecting the rendering of `entries`.
    pub fn new(entries: impl IntoIterator<IntoIter = I>) -> Self {
        Comparer { entries: entries.into_iter(), line: Vec::new(), at: 0, same: true }
    }

    /// The next piece of the file.
    pub fn feed(&mut self, mut piece: &[u8]) {
        while self.same && !piece.is_empty() {
            if self.at == self.line.len() {
                let Some((path, d)) = self.entries.next() else {
                    self.same = false;
                    return;
                };
                self.line.clear();
                let mut hex = [0u8; 64];
                hex::encode_to_slice(d.0, &mut hex).expect("64 hex digits for 32 bytes");
                self.line.extend_from_slice(&hex);
                self.line.extend_from_slice(b"  ");
                self.line.extend_from_slice(path.as_bytes());
                self.line.push(b'\n');
                self.at = 0;
            }
            let n = piece.len().min(self.line.len() - self.at);
            self.same = piece[..n] == self.line[self.at..self.at + n];
            self.at += n;
            piece = &piece[n..];
        }
    }

    /// Whether everything fed is exactly the rendering.
    pub fn matches(mut self) -> bool {
        self.same && self.at == self.line.len() && self.entries.next().is_none()
    }
}

/// One parsed line, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `<hex>  <path>`.
    Entry {
        /// Path.
        path: String,
        /// Digest.
        digest: Sha256Digest,
    },
    /// A line not in the exact format; the 1-based line number and its text.
    Malformed {
        /// Line number.
        line: usize,
        /// Text, lossily decoded.
        text: String,
    },
}

/// Parses best-effort, so that disagreements can be reported line by line.
pub fn parse(bytes: &[u8]) -> Vec<Line> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let terminated = lines.last() == Some(&"");
    if terminated {
        lines.pop();
    }
    let n = lines.len();
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let malformed = || Line::Malformed { line: i + 1, text: l.to_string() };
            if i + 1 == n && !terminated {
                return malformed();
            }
            match (l.get(..64), l.get(64..66), l.get(66..)) {
                (Some(h), Some("  "), Some(p)) if !p.is_empty() => match Sha256Digest::from_hex(h) {
                    Ok(digest) => Line::Entry { path: p.to_string(), digest },
                    Err(_) => malformed(),
                },
                _ => malformed(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed_lines() {
        let d = Sha256Digest::of(b"x");
        let text = render([("artifacts/a", &d), ("sbom/b.json", &d)]);
        let lines = parse(&text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], Line::Entry { path: "artifacts/a".into(), digest: d });
        assert!(renders_as([("artifacts/a", &d), ("sbom/b.json", &d)], &text));
        for other in [&text[..text.len() - 1], &[text.as_slice(), b"x"].concat(), &text.to_ascii_uppercase()] {
            assert!(!renders_as([("artifacts/a", &d), ("sbom/b.json", &d)], other));
        }
        assert!(!renders_as([("artifacts/a", &d)], &text));
        assert!(!renders_as([("artifacts/a", &d), ("sbom/b.json", &d), ("vex/c", &d)], &text));
        assert!(renders_as([], b""));
        // In pieces of any size, the same answers.
        for size in [1, 3, 64, 67, 1000] {
            let mut c = Comparer::new([("artifacts/a", &d), ("sbom/b.json", &d)]);
            text.chunks(size).for_each(|p| c.feed(p));
            assert!(c.matches(), "pieces of {size}");
            let mut c = Comparer::new([("artifacts/a", &d), ("sbom/b.jsoN", &d)]);
            text.chunks(size).for_each(|p| c.feed(p));
            assert!(!c.matches(), "pieces of {size}");
        }
        let bad = format!("{} *artifacts/a\n{}  x", d.hex(), d.hex());
        let lines = parse(bad.as_bytes());
        assert!(matches!(lines[0], Line::Malformed { line: 1, .. }));
        assert!(matches!(lines[1], Line::Malformed { line: 2, .. }), "missing final LF");
    }
}
