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
    let stem = component.split('.').next().unwrap_or("").to_ascii_lowercase();
    let stem = stem.trim_end_matches(' ');
    if RESERVED.contains(&stem) {
        return true;
    }
    let rest: Vec<char> = stem.chars().skip(3).collect();
    (stem.starts_with("com") || stem.starts_with("lpt")) && rest.len() == 1 && matches!(rest[0], '0'..='9' | '¹' | '²' | '³')
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
    /// Name bytes folded into collision keys (each component folded once per pass).
    pub folded_bytes: u64,
    /// Lookups in the tree of folded components (one per component, per pass).
    pub lookups: u64,
    /// Passes over the names: 1, or 2 when a file/directory conflict exists and the first
    /// name showing it is looked for.
    pub passes: u32,
}

const NONE: u32 = u32::MAX;

/// The folded names as a tree: a node per distinct folded path prefix, each child keyed by its
/// parent and its folded piece, so that a name costs one lookup per component and its folded
/// bytes once, whatever its depth.
struct Tree {
    children: std::collections::HashMap<Vec<u8>, u32>,
    /// Per node: the index of the name whose typed key ends there (files; directory entries
    /// end in an extra empty piece, as their typed key ends in `/`), or `NONE`.
    slot: Vec<u32>,
    /// Per node: whether the name in `slot` is a file.
    file: Vec<bool>,
    /// Per node: whether some name uses it as a directory (a component boundary before its end).
    boundary: Vec<bool>,
    key: Vec<u8>,
    fold: String,
    work: SetWork,
}

impl Tree {
    fn new() -> Self {
        Tree {
            children: std::collections::HashMap::new(),
            slot: vec![NONE],
            file: vec![false],
            boundary: vec![false],
            key: Vec::new(),
            fold: String::new(),
            work: SetWork::default(),
        }
    }

    /// The child of `parent` under `piece`: created when `insert`, else `None` when absent.
    fn child(&mut self, parent: u32, piece: &str, insert: bool) -> Option<u32> {
        self.work.lookups += 1;
        self.key.clear();
        self.key.extend_from_slice(&parent.to_le_bytes());
        self.key.extend_from_slice(piece.as_bytes());
        if let Some(&id) = self.children.get(self.key.as_slice()) {
            return Some(id);
        }
        if !insert {
            return None;
        }
        let id = u32::try_from(self.slot.len()).expect("fewer than 2^32 nodes");
        self.children.insert(self.key.clone(), id);
        self.slot.push(NONE);
        self.file.push(false);
        self.boundary.push(false);
        Some(id)
    }

    /// Walks `name` (a directory entry when `is_dir`), calling `at_boundary` with the node of
    /// every prefix it uses as a directory (every component of a directory entry, all but the
    /// last of a file), and returns the node of its typed key. Each component is folded on its
    /// own: the key of `a/b` is the key of `a`, `/`, the key of `b` (`/` is a starter that
    /// composes with nothing and is neither cased nor case-ignorable), and a folded component
    /// may itself hold `/` (U+2100 folds to `a/c`), so it is split into pieces.
    fn walk(&mut self, name: &str, is_dir: bool, insert: bool, at_boundary: &mut dyn FnMut(&mut Self, u32)) -> Option<u32> {
        let mut node = 0u32;
        let mut comps = name.split('/').peekable();
        while let Some(comp) = comps.next() {
            self.work.folded_bytes += comp.len() as u64;
            let mut fold = std::mem::take(&mut self.fold);
            fold.clear();
            if comp.is_ascii() {
                fold.push_str(comp);
                fold.make_ascii_lowercase();
            } else {
                fold.push_str(&collision_key(comp));
            }
            let mut found = Some(node);
            for piece in fold.split('/') {
                found = found.and_then(|n| self.child(n, piece, insert));
            }
            self.fold = fold;
            node = found?;
            if is_dir || comps.peek().is_some() {
                at_boundary(self, node);
            }
        }
        if is_dir { self.child(node, "", insert) } else { Some(node) }
    }
}

/// The rules over a whole member set, in O(total name bytes): no name twice, no two names with
/// the same [`collision_key`] (a directory entry's key ends in `/`), and no file used as a
/// directory after folding (`a` and `a/b`, a file `a` and a directory entry `a`). `names` are
/// the files, then the directory entries (`true`), in archive order; the first name in that order
/// that breaks a rule is reported, duplicates and collisions before conflicts.
pub fn check_set<'a>(names: &[(&'a str, bool)], work: &mut SetWork) -> Result<(), SetError<'a>> {
    let mut tree = Tree::new();
    tree.work.passes = 1;
    let mut conflict = false;
    let result = (|| {
        for (i, &(name, is_dir)) in names.iter().enumerate() {
            let at = tree
                .walk(name, is_dir, true, &mut |t, n| {
                    t.boundary[n as usize] = true;
                    conflict |= t.file[n as usize];
                })
                .expect("inserting walks always end at a node");
            let prev = tree.slot[at as usize];
            if prev != NONE {
                let first = names[prev as usize].0;
                return Err(if first == name { SetError::Duplicate { name } } else { SetError::Collision { name, first } });
            }
            tree.slot[at as usize] = u32::try_from(i).expect("fewer than 2^32 names");
            tree.file[at as usize] = !is_dir;
            conflict |= !is_dir && tree.boundary[at as usize];
        }
        if !conflict {
            return Ok(());
        }
        // Some file is used as a directory: find the first name doing so, as it is reported.
        tree.work.passes = 2;
        for &(name, is_dir) in names {
            let mut file = None;
            tree.walk(name, is_dir, false, &mut |t, n| {
                if file.is_none() && t.file[n as usize] {
                    file = Some(t.slot[n as usize]);
                }
            });
            if let Some(f) = file {
                return Err(SetError::FileDirConflict { name, file: names[f as usize].0 });
            }
        }
        unreachable!("a node is both a file and a directory, so some name uses a file as a directory")
    })();
    *work = tree.work;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The cost pin: the set rules fold each name's bytes and look each component up at most
    /// twice (two passes only when a conflict is reported), however deep the names are. The
    /// first implementation folded every prefix again: depth × length per name.
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
        assert_eq!(work.passes, 1);
        assert!(work.folded_bytes <= bytes, "{work:?} for {bytes} name bytes");
        assert_eq!(work.lookups, comps, "one lookup per component");
        // A conflict at the very end costs a second pass, no more.
        let mut with_conflict = set.clone();
        with_conflict.push(("a/a/a", false));
        let mut work = SetWork::default();
        assert!(matches!(check_set(&with_conflict, &mut work), Err(SetError::FileDirConflict { name, file: "a/a/a" }) if name == names[0]));
        assert_eq!(work.passes, 2);
        assert!(work.folded_bytes <= 2 * (bytes + 5), "{work:?}");
        assert!(work.lookups <= 2 * (comps + 3), "{work:?}");
    }
}
