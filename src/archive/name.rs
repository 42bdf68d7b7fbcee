//! Member-name rules shared by the archive walkers and the manifest: one function decides
//! whether a name is acceptable, one function decides which names a filesystem would merge.

use unicode_normalization::UnicodeNormalization;

/// Default maximum path length in bytes.
pub const MAX_PATH_LEN: usize = 240;
/// Default maximum length of one path component in bytes.
pub const MAX_COMPONENT_LEN: usize = 128;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Not UTF-8.
    #[error("name is not UTF-8")]
    NotUtf8,
    /// Empty name.
    #[error("name is empty")]
    Empty,
    /// Leading `/`.
    #[error("absolute path")]
    Absolute,
    /// A drive letter or UNC prefix.
    #[error("drive or UNC prefix")]
    DrivePrefix,
    /// A backslash anywhere.
    #[error("backslash in name (a path separator on Windows)")]
    Backslash,
    /// A colon anywhere (drive letters, NTFS streams).
    #[error("colon in name (drive letters and NTFS alternate streams)")]
    Colon,
    /// `.` or `..` as a component.
    #[error("'.' or '..' component")]
    DotComponent,
    /// `a//b` or a trailing slash on a file.
    #[error("empty path component")]
    EmptyComponent,
    /// NUL, C0/C1 control or DEL.
    #[error("control character U+{0:04X}")]
    Control(u32),
    /// Bidirectional override/isolate/mark characters that make names display differently.
    #[error("bidirectional-text control character U+{0:04X}")]
    Bidi(u32),
    /// Invisible format characters (zero-width space/joiners, word joiner, BOM) that some
    /// filesystems ignore when comparing names and that hide differences on screen.
    #[error("invisible format character U+{0:04X}")]
    Invisible(u32),
    /// A component ending in `.` or space (Windows strips them).
    #[error("component ends with a dot or space (Windows strips it)")]
    TrailingDotOrSpace,
    /// CON, PRN, AUX, NUL, COM1-9, LPT1-9 (with any extension).
    #[error("Windows reserved device name {0:?}")]
    Reserved(String),
    /// Path too long.
    #[error("path is {len} bytes; at most {max}")]
    TooLong {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Component too long.
    #[error("a component is {len} bytes; at most {max}")]
    ComponentTooLong {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
}

fn is_bidi(c: char) -> bool {
    matches!(c as u32, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069)
}

fn is_invisible(c: char) -> bool {
    matches!(c as u32, 0x00AD | 0x034F | 0x180E | 0x200B..=0x200D | 0x2060..=0x2064 | 0x206A..=0x206F | 0xFE00..=0xFE0F | 0xFEFF)
}

const RESERVED: &[&str] = &["con", "prn", "aux", "nul", "conin$", "conout$", "clock$"];

fn is_reserved(component: &str) -> bool {
    // Compared without allocating: this runs for every component of every member.
    let stem = component.split('.').next().unwrap_or("").trim_end_matches(' ');
    if RESERVED.iter().any(|r| stem.eq_ignore_ascii_case(r)) {
        return true;
    }
    let b = stem.as_bytes();
    if b.len() < 4 || !(b[..3].eq_ignore_ascii_case(b"com") || b[..3].eq_ignore_ascii_case(b"lpt")) {
        return false;
    }
    let mut rest = stem[3..].chars();
    matches!((rest.next(), rest.next()), (Some('0'..='9' | '¹' | '²' | '³'), None))
}

/// Checks a member name (a file path with `/` separators, no trailing slash).
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_PATH_LEN {
        return Err(NameError::TooLong { len: name.len(), max: MAX_PATH_LEN });
    }
    if name.starts_with('/') {
        return Err(NameError::Absolute);
    }
    if name.starts_with("//")
        || name.starts_with("\\\\")
        || (name.len() >= 2 && name.as_bytes()[1] == b':' && name.as_bytes()[0].is_ascii_alphabetic())
    {
        return Err(NameError::DrivePrefix);
    }
    for c in name.chars() {
        if c.is_control() {
            return Err(NameError::Control(c as u32));
        }
        if is_bidi(c) {
            return Err(NameError::Bidi(c as u32));
        }
        if is_invisible(c) {
            return Err(NameError::Invisible(c as u32));
        }
        if c == '\\' {
            return Err(NameError::Backslash);
        }
        if c == ':' {
            return Err(NameError::Colon);
        }
    }
    for comp in name.split('/') {
        if comp.is_empty() {
            return Err(NameError::EmptyComponent);
        }
        if comp == "." || comp == ".." {
            return Err(NameError::DotComponent);
        }
        if comp.len() > MAX_COMPONENT_LEN {
            return Err(NameError::ComponentTooLong { len: comp.len(), max: MAX_COMPONENT_LEN });
        }
        if comp.ends_with('.') || comp.ends_with(' ') {
            return Err(NameError::TrailingDotOrSpace);
        }
        if is_reserved(comp) {
            return Err(NameError::Reserved(comp.to_string()));
        }
    }
    Ok(())
}

/// The key under which case-insensitive or normalising filesystems (NTFS, APFS, HFS+, exFAT)
/// would store a name: NFKC, then upper- and lower-cased (a full case fold: `ß` and `ss`, `K`
/// and the Kelvin sign meet), then NFKC again. Two members with the same key collide. The key
/// merges more than any one filesystem does: refusing too much is the safe side.
pub fn collision_key(name: &str) -> String {
    if name.is_ascii() {
        // NFKC leaves ASCII alone and its full case fold is the ASCII one.
        return name.to_ascii_lowercase();
    }
    let folded: String = name.nfkc().collect::<String>().to_uppercase().to_lowercase();
    folded.nfkc().collect()
}

/// Why a member set is refused by [`check_set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetError<'a> {
    /// `name` appears twice (as a file twice, or as a directory entry twice).
    Duplicate {
        /// The later name.
        name: &'a str,
    },
    /// `name` and the earlier `first` have the same [`collision_key`].
    Collision {
        /// The later name.
        name: &'a str,
        /// The earlier one.
        first: &'a str,
    },
    /// `file` is a file, and `name` uses it (after folding) as a directory.
    FileDirConflict {
        /// The name using `file` as a directory.
        name: &'a str,
        /// The file.
        file: &'a str,
    },
}

/// The work [`check_set`] did, for tests that pin its cost to the bytes of the names.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SetWork {
    /// Name bytes folded into collision keys: each name is folded once per pass, two passes.
    pub folded_bytes: u64,
    /// Hash-map lookups: one per name and one per prefix used as a directory.
    pub lookups: u64,
    /// Whole collision keys computed to confirm that equal hashes are equal keys: one per
    /// refusal (and astronomically rarely more, on a true 64-bit collision of the keyed hash).
    pub confirmations: u64,
}

/// A keyed SipHash (std's `RandomState`, random per process, so keys cannot be chosen to
/// collide) over a byte stream, fed in whole 8-byte words whatever pieces the stream arrives in,
/// so that equal streams hash equally however they were split. Cloned at a prefix to hash it.
#[derive(Clone)]
struct StreamHash {
    h: std::collections::hash_map::DefaultHasher,
    word: u64,
    len: u64,
}

impl StreamHash {
    fn new(seed: &std::collections::hash_map::RandomState) -> Self {
        use std::hash::BuildHasher;
        StreamHash { h: seed.build_hasher(), word: 0, len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        use std::hash::Hasher;
        for &b in bytes {
            self.word |= u64::from(b) << (8 * (self.len % 8));
            self.len += 1;
            if self.len.is_multiple_of(8) {
                self.h.write_u64(self.word);
                self.word = 0;
            }
        }
    }

    fn finish(&self) -> u64 {
        use std::hash::Hasher;
        let mut h = self.h.clone();
        h.write_u64(self.word);
        h.write_u64(self.len);
        h.finish()
    }
}

/// Folds `name` component by component into `h` (the bytes of its [`collision_key`]: the key
/// of `a/b` is the key of `a`, `/`, the key of `b`, because `/` is a starter that composes with
/// nothing under NFKC and is neither cased nor case-ignorable), calling `at_boundary` with the
/// hash of every prefix the name uses as a directory (every component of a directory entry, all
/// but the last of a file). ASCII components fold to ASCII lower case without normalising.
fn fold_hash(
    name: &str,
    is_dir: bool,
    h: &mut StreamHash,
    work: &mut SetWork,
    at_boundary: &mut dyn FnMut(&mut SetWork, u64, usize) -> bool,
) -> bool {
    let mut lower = [0u8; MAX_COMPONENT_LEN];
    let mut comps = name.split('/').peekable();
    let mut end = 0;
    let mut first = true;
    while let Some(comp) = comps.next() {
        if !first {
            h.push(b"/");
        }
        first = false;
        work.folded_bytes += comp.len() as u64;
        if comp.is_ascii() && comp.len() <= lower.len() {
            let l = &mut lower[..comp.len()];
            l.copy_from_slice(comp.as_bytes());
            l.make_ascii_lowercase();
            h.push(l);
        } else {
            h.push(collision_key(comp).as_bytes());
        }
        end += comp.len();
        if (is_dir || comps.peek().is_some()) && !at_boundary(work, h.finish(), end) {
            return false;
        }
        end += 1;
    }
    true
}

/// The typed collision key: a directory entry's ends in `/`, so that a file `a` and a directory
/// entry `a/` are a file/directory conflict, not a duplicate.
fn typed_key(name: &str, is_dir: bool) -> String {
    let mut k = collision_key(name);
    if is_dir {
        k.push('/');
    }
    k
}

/// Hashes a `u64` that is already a keyed hash to itself: hashing it again with SipHash was
/// a tenth of the walk's name rules over 99,000 members.
#[derive(Default, Clone, Copy)]
pub(crate) struct BuildPassThrough;

/// The hasher of [`BuildPassThrough`]: only `write_u64` is used.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `u64` keys; a fold, so that any other key still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl std::hash::BuildHasher for BuildPassThrough {
    type Hasher = PassThrough;
    fn build_hasher(&self) -> PassThrough {
        PassThrough(0)
    }
}

/// The names of a set by the keyed hash of a key, confirming every equal hash by the keys
/// themselves: `first` holds the first name of each hash, `more` the later names whose hash an
/// earlier, different key already had (empty unless SipHash collides by chance).
struct ByHash {
    first: std::collections::HashMap<u64, u32, BuildPassThrough>,
    more: Vec<(u64, u32)>,
}

impl ByHash {
    fn new() -> Self {
        ByHash { first: std::collections::HashMap::default(), more: Vec::new() }
    }

    /// The name already filed under `hash` whose key equals `key()`, if any.
    fn find(&self, hash: u64, key: &dyn Fn() -> String, key_of: &dyn Fn(u32) -> String, work: &mut SetWork) -> Option<u32> {
        work.lookups += 1;
        let &i = self.first.get(&hash)?;
        let key = key();
        work.confirmations += 1;
        if key_of(i) == key {
            return Some(i);
        }
        self.more.iter().filter(|m| m.0 == hash).map(|m| m.1).find(|&j| {
            work.confirmations += 1;
            key_of(j) == key
        })
    }

    fn insert(&mut self, hash: u64, i: u32) {
        if let Some(prev) = self.first.insert(hash, i) {
            self.first.insert(hash, prev);
            self.more.push((hash, i));
        }
    }
}

/// The rules over a whole member set, in O(total name bytes) time and O(members) memory: no
/// name twice, no two names with the same [`collision_key`] (a directory entry's key ends in
/// `/`), and no file used as a directory after folding (`a` and `a/b`, a file `a` and a directory
/// entry `a`). `names` are the files, then the directory entries (`true`), in archive order; the
/// first name in that order that breaks a rule is reported, duplicates and collisions before
/// conflicts.
///
/// Keys are compared by a keyed 64-bit hash and confirmed whole when the hashes are equal. Pass 1
/// files every typed key's hash (a duplicate or collision is an equal key already filed) and every
/// file's; pass 2 hashes each name's prefixes as it folds the name once more, and looks each up
/// among the files.
pub fn check_set<'a>(names: &[(&'a str, bool)], work: &mut SetWork) -> Result<(), SetError<'a>> {
    let seed = std::collections::hash_map::RandomState::new();
    let idx = |i: usize| u32::try_from(i).expect("fewer than 2^32 names");
    let mut typed = ByHash::new();
    let mut files = ByHash::new();
    for (i, &(name, is_dir)) in names.iter().enumerate() {
        let mut h = StreamHash::new(&seed);
        fold_hash(name, is_dir, &mut h, work, &mut |_, _, _| true);
        let file_hash = h.finish();
        if is_dir {
            h.push(b"/");
        }
        let hash = h.finish();
        let found = typed.find(hash, &|| typed_key(name, is_dir), &|j| typed_key(names[j as usize].0, names[j as usize].1), work);
        if let Some(j) = found {
            let first = names[j as usize].0;
            return Err(if first == name { SetError::Duplicate { name } } else { SetError::Collision { name, first } });
        }
        typed.insert(hash, idx(i));
        if !is_dir {
            files.insert(file_hash, idx(i));
        }
    }
    for &(name, is_dir) in names {
        let mut h = StreamHash::new(&seed);
        let mut file = None;
        fold_hash(name, is_dir, &mut h, work, &mut |work, hash, end| {
            let prefix = &name[..end];
            file = files.find(hash, &|| collision_key(prefix), &|j| collision_key(names[j as usize].0), work);
            file.is_none()
        });
        if let Some(j) = file {
            return Err(SetError::FileDirConflict { name, file: names[j as usize].0 });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// format-spec/bundle-v1.md §3 pins the Unicode data of the collision key: case mappings of
    /// Unicode 17.0.0 (std), NFKC of 18.0.0 (unicode-normalization). A toolchain or dependency
    /// update that changes either must change the spec with it.
    #[test]
    fn collision_key_unicode_versions_are_the_specified_ones() {
        assert_eq!(char::UNICODE_VERSION, (17, 0, 0), "update bundle-v1.md §3 with the new case-mapping version");
        assert_eq!(unicode_normalization::UNICODE_VERSION, (18, 0, 0), "update bundle-v1.md §3 with the new NFKC version");
    }

    /// The key is NFKC(lower(upper(NFKC(name)))), with full mappings and Final_Sigma.
    #[test]
    fn collision_key_is_the_specified_formula() {
        let same = [
            ("other/straße", "other/STRASSE"),
            ("other/\u{212A}elvin", "other/kelvin"),
            ("other/\u{FB01}le", "other/FILE"),
            ("other/cafe\u{301}", "other/CAF\u{C9}"),
            ("other/ΟΔΟΣ", "other/οδοσ"),
            ("other/ς", "other/Σ"),
        ];
        for (a, b) in same {
            assert_eq!(collision_key(a), collision_key(b), "{a} / {b}");
        }
        // Upper then lower, not case folding: ẞ (U+1E9E) is its own upper case and lowers to ß,
        // while ß uppers to SS; so ẞ's key is ß, apart from ß's and ss's key (the spec says so).
        assert_eq!(collision_key("other/\u{1E9E}"), "other/\u{DF}");
        assert_ne!(collision_key("other/\u{1E9E}"), collision_key("other/ss"));
        assert_eq!(collision_key("other/ΟΔΟΣ"), "other/οδος", "Final_Sigma at the end of a word");
    }

    #[test]
    fn accepts_ordinary_names() {
        for n in ["artifacts/airlock-linux-amd64", "sbom/app.spdx.json", "a/b/c.d", "release/ünïcode.txt"] {
            assert_eq!(check_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_each_rule() {
        let cases: &[(&str, NameError)] = &[
            ("", NameError::Empty),
            ("/etc/passwd", NameError::Absolute),
            ("C:/x", NameError::DrivePrefix),
            ("a\\b", NameError::Backslash),
            ("ab:c", NameError::Colon),
            ("a/../b", NameError::DotComponent),
            ("./a", NameError::DotComponent),
            ("a//b", NameError::EmptyComponent),
            ("a/", NameError::EmptyComponent),
            ("a\u{0}b", NameError::Control(0)),
            ("a\u{7f}", NameError::Control(0x7f)),
            ("evil\u{202e}txt.exe", NameError::Bidi(0x202e)),
            ("a/b.", NameError::TrailingDotOrSpace),
            ("a/b ", NameError::TrailingDotOrSpace),
            ("a/CON.txt", NameError::Reserved("CON.txt".into())),
            ("lpt9", NameError::Reserved("lpt9".into())),
            ("com0.log", NameError::Reserved("com0.log".into())),
            ("a\u{200b}b", NameError::Invisible(0x200b)),
        ];
        for (n, want) in cases {
            assert_eq!(check_name(n).as_ref(), Err(want), "{n:?}");
        }
        assert!(matches!(check_name(&"a".repeat(MAX_PATH_LEN + 1)), Err(NameError::TooLong { .. })));
        assert!(matches!(check_name(&"a".repeat(MAX_COMPONENT_LEN + 1)), Err(NameError::ComponentTooLong { .. })));
    }

    #[test]
    fn reserved_device_names_in_any_case_and_with_any_extension() {
        for n in ["CON", "cOn.txt", "con .tar.gz", "Com1", "LPT\u{b2}.log", "nul", "CONIN$", "clock$.x", "aux  .c"] {
            assert!(is_reserved(n), "{n:?}");
        }
        for n in ["cons", "com", "com10", "lpt\u{b9}0", "xcon", "conx.txt", "compare", "\u{e7}om1"] {
            assert!(!is_reserved(n), "{n:?}");
        }
    }

    #[test]
    fn collisions_fold_case_and_normalisation() {
        assert_eq!(collision_key("A/README"), collision_key("a/readme"));
        assert_eq!(collision_key("caf\u{e9}"), collision_key("cafe\u{301}"));
        assert_eq!(collision_key("\u{FB01}le"), collision_key("file"));
        assert_eq!(collision_key("stra\u{df}e"), collision_key("STRASSE"));
        assert_eq!(collision_key("\u{212A}elvin"), collision_key("kelvin"));
        assert_ne!(collision_key("a"), collision_key("b"));
    }

    /// The member-set rules as first written (a map of whole keys, then every prefix of every
    /// name folded again): the reference [`check_set`] must agree with.
    fn reference<'a>(names: &[(&'a str, bool)]) -> Result<(), SetError<'a>> {
        use std::collections::HashMap;
        let typed = |n: &str, d: bool| if d { collision_key(n) + "/" } else { collision_key(n) };
        let mut seen: HashMap<String, &str> = HashMap::new();
        for &(name, is_dir) in names {
            if let Some(&first) = seen.get(&typed(name, is_dir)) {
                return Err(if first == name { SetError::Duplicate { name } } else { SetError::Collision { name, first } });
            }
            seen.insert(typed(name, is_dir), name);
        }
        let files: HashMap<String, &str> = names.iter().filter(|n| !n.1).map(|n| (collision_key(n.0), n.0)).collect();
        for &(name, is_dir) in names {
            let comps: Vec<&str> = name.split('/').collect();
            let upto = if is_dir { comps.len() } else { comps.len() - 1 };
            for k in 1..=upto {
                if let Some(&file) = files.get(&collision_key(&comps[..k].join("/"))) {
                    return Err(SetError::FileDirConflict { name, file });
                }
            }
        }
        Ok(())
    }

    #[test]
    fn component_keys_join_to_the_whole_key() {
        for n in ["A/b", "\u{2100}/x", "x\u{FF0F}", "a/\u{301}b", "\u{1100}/\u{1161}", "\u{3A3}A\u{3A3}/\u{3A3}", "caf\u{e9}/\u{FB01}le"] {
            let joined: Vec<String> = n.split('/').map(collision_key).collect();
            assert_eq!(joined.join("/"), collision_key(n), "{n:?}");
        }
    }

    #[test]
    fn set_rules_agree_with_the_reference() {
        let f = |n| (n, false);
        let d = |n| (n, true);
        let cases: Vec<Vec<(&str, bool)>> = vec![
            vec![f("a/b"), f("a/c"), d("a")],
            vec![f("a/b"), f("a/b")],
            vec![f("A/b"), f("a/B")],
            vec![d("a"), d("a")],
            vec![f("a"), f("a/b")],
            vec![f("a/b"), f("A")],
            vec![f("x/y/z"), f("q"), d("X/Y")],
            vec![f("x/y/z"), f("X/y"), f("q")],
            vec![f("a"), d("A")],
            vec![f("\u{2100}"), f("a/c")],
            vec![f("a"), f("\u{2100}")],
            vec![f("a/c"), f("\u{2100}/x")],
            vec![f("x\u{FF0F}"), d("x")],
            vec![f("stra\u{df}e/f"), f("STRASSE")],
            vec![f("k/1"), f("\u{212A}/2"), d("K")],
            vec![f("p/q/r"), f("p/q/s"), d("p/q"), d("p")],
        ];
        for names in &cases {
            let mut work = SetWork::default();
            assert_eq!(check_set(names, &mut work), reference(names), "{names:?}");
        }
    }

    /// The cost pin: the set rules fold each name's bytes twice (two passes) and make one
    /// lookup per name and per prefix used as a directory, however deep the names are, and
    /// compute whole keys only to confirm a refusal. The first implementation folded every prefix
    /// of every name again: depth × length per name.
    #[test]
    fn set_rules_cost_is_linear_in_name_bytes() {
        let deep = "a/".repeat(MAX_PATH_LEN / 2 - 8);
        let names: Vec<String> = (0..2_000).map(|i| format!("{deep}{i:06}")).collect();
        assert!(names.iter().all(|n| n.len() <= MAX_PATH_LEN && check_name(n).is_ok()));
        let set: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), false)).collect();
        let bytes: u64 = names.iter().map(|n| n.len() as u64).sum();
        let comps: u64 = names.iter().map(|n| n.split('/').count() as u64).sum();
        let mut work = SetWork::default();
        assert_eq!(check_set(&set, &mut work), Ok(()));
        assert!(work.folded_bytes <= 2 * bytes, "{work:?} for {bytes} name bytes");
        assert_eq!(work.lookups, comps, "one lookup per name and per directory prefix");
        assert_eq!(work.confirmations, 0);
        // A conflict at the very end costs one confirmation, no more.
        let mut with_conflict = set.clone();
        with_conflict.push(("a/a/a", false));
        let mut work = SetWork::default();
        assert!(matches!(check_set(&with_conflict, &mut work), Err(SetError::FileDirConflict { name, file: "a/a/a" }) if name == names[0]));
        assert_eq!(work.confirmations, 1);
        assert!(work.folded_bytes <= 2 * (bytes + 5), "{work:?}");
        assert!(work.lookups <= comps + 4, "{work:?}");
    }
}
