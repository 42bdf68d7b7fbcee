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
    let folded: String = name.nfkc().collect::<String>().to_uppercase().to_lowercase();
    folded.nfkc().collect()
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
}
