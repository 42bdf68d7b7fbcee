//! Strict tar walker: POSIX ustar only. Refuses PAX and GNU extension headers (they can rename
//! members or change sizes behind the ustar fields), links, devices, FIFOs and sparse files,
//! bad header checksums, non-zero padding, and anything but zeros after the end blocks.

use super::{ArchiveError, ArchiveIndex, ByteSource, Entry, Format, Limits, Method, Rule, checked_name, refuse};

const BLOCK: u64 = 512;

fn read_block(src: &dyn ByteSource, at: u64) -> Result<[u8; 512], ArchiveError> {
    let mut b = [0u8; 512];
    src.read_exact_at(at, &mut b).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            refuse(Rule::Truncated, None, Some(at), "archive ends inside a header or without the two end blocks")
        } else {
            ArchiveError::Io(e)
        }
    })?;
    Ok(b)
}

/// A NUL-terminated field whose bytes after the terminator are all NUL.
fn field<'a>(b: &'a [u8], what: &str, at: u64) -> Result<&'a [u8], ArchiveError> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    if b[end..].iter().any(|&c| c != 0) {
        return Err(refuse(Rule::TarHeader, None, Some(at), format!("{what} field has bytes after its terminator")));
    }
    Ok(&b[..end])
}

/// Strict octal: optional leading spaces... no: digits, then NUL or space terminators only.
fn octal(b: &[u8], what: &str, at: u64, rule: Rule) -> Result<u64, ArchiveError> {
    if b.first().is_some_and(|c| c & 0x80 != 0) {
        return Err(refuse(rule, None, Some(at), format!("{what} uses base-256 encoding; only octal is accepted")));
    }
    let digits_end = b.iter().position(|&c| c == 0 || c == b' ').unwrap_or(b.len());
    let (digits, rest) = b.split_at(digits_end);
    if digits.is_empty() || !digits.iter().all(|c| (b'0'..=b'7').contains(c)) || !rest.iter().all(|&c| c == 0 || c == b' ') {
        return Err(refuse(rule, None, Some(at), format!("{what} is not an octal number: {:?}", String::from_utf8_lossy(b))));
    }
    digits
        .iter()
        .try_fold(0u64, |acc, d| acc.checked_mul(8).map(|v| v + u64::from(d - b'0')))
        .ok_or_else(|| refuse(rule, None, Some(at), format!("{what} overflows")))
}

/// How far from the end zip readers look for an end-of-central-directory record (Python reads
/// the last 65,557 bytes, Go the last 65 KiB); a tar holding one there is refused as a polyglot,
/// and [`super::write::write_tar`] pads with zero blocks so it never writes one.
pub const ZIP_TAIL_WINDOW: u64 = 128 << 10;

/// Whether a 512-byte block carries a valid tar header checksum (as GNU tar and libarchive
/// accept it, whatever the magic says).
pub(crate) fn checksum_valid(h: &[u8]) -> bool {
    if h.len() < 512 || h.iter().all(|&c| c == 0) {
        return false;
    }
    let field = &h[148..156];
    let digits_start = field.iter().position(|&c| c != b' ').unwrap_or(field.len());
    let digits_end = field[digits_start..].iter().position(|&c| c == 0 || c == b' ').map_or(field.len(), |e| digits_start + e);
    let digits = &field[digits_start..digits_end];
    if digits.is_empty() || !digits.iter().all(|c| (b'0'..=b'7').contains(c)) {
        return false;
    }
    let stated = digits.iter().fold(0u64, |acc, d| acc * 8 + u64::from(d - b'0'));
    let unsigned: u64 = h[..512].iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { u64::from(c) }).sum();
    let signed: i64 = h[..512].iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { i64::from(c as i8) }).sum();
    stated == unsigned || i64::try_from(stated).is_ok_and(|s| s == signed)
}

/// The size field: octal, or GNU base-256 only for sizes octal cannot hold (8 GiB and more).
/// Negative base-256 values are refused.
fn size_field(b: &[u8], at: u64) -> Result<u64, ArchiveError> {
    match b[0] {
        0x80 => {
            if b[1..4].iter().any(|&c| c != 0) {
                return Err(refuse(Rule::TarSize, None, Some(at), "base-256 size above 2^64"));
            }
            let v = u64::from_be_bytes(b[4..12].try_into().expect("8 bytes"));
            if v <= 0o77777777777 {
                return Err(refuse(Rule::TarSize, None, Some(at), format!("base-256 size {v} that octal can hold")));
            }
            Ok(v)
        }
        c if c & 0x80 != 0 => Err(refuse(Rule::TarSize, None, Some(at), "negative base-256 size")),
        _ => octal(b, "size", at, Rule::TarSize),
    }
}

/// Walks a ustar archive.
pub fn walk(src: &dyn ByteSource, limits: &Limits) -> Result<ArchiveIndex, ArchiveError> {
    let size = src.size();
    let mut at = 0u64;
    let mut entries = Vec::new();
    let mut dirs = Vec::new();
    loop {
        let h = read_block(src, at)?;
        if h.iter().all(|&c| c == 0) {
            let second = read_block(src, at + BLOCK)?;
            if second.iter().any(|&c| c != 0) {
                return Err(refuse(Rule::TarTrailingData, None, Some(at + BLOCK), "a single zero block followed by data"));
            }
            check_zero_tail(src, at + 2 * BLOCK, size)?;
            check_no_zip_tail(src, size)?;
            break;
        }
        if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
            return Err(refuse(Rule::TarHeader, None, Some(at), "not a POSIX ustar header (GNU and v7 headers are refused)"));
        }
        // Canonical forms only: six digits, NUL, space (POSIX, GNU tar, Python) or seven digits,
        // NUL (the tar crate). The terminators are outside the sum, so any other form could
        // change unnoticed.
        let digits = match (h[154], h[155]) {
            (0, b' ') => &h[148..154],
            (b'0'..=b'7', 0) => &h[148..155],
            _ => {
                return Err(refuse(
                    Rule::TarChecksum,
                    None,
                    Some(at),
                    "header checksum is not 6 octal digits, NUL, space or 7 digits, NUL",
                ));
            }
        };
        let stated = octal(digits, "header checksum", at, Rule::TarChecksum)?;
        let computed: u64 = h.iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { u64::from(c) }).sum();
        if stated != computed {
            return Err(refuse(Rule::TarChecksum, None, Some(at), format!("header checksum says {stated:o}, computed {computed:o}")));
        }
        let typeflag = h[156];
        let name_raw = field(&h[0..100], "name", at)?;
        let prefix = field(&h[345..500], "prefix", at)?;
        let mut full = Vec::with_capacity(prefix.len() + 1 + name_raw.len());
        if !prefix.is_empty() {
            full.extend_from_slice(prefix);
            full.push(b'/');
        }
        full.extend_from_slice(name_raw);
        // Built only for a refusal: one allocation per member less on the accepted path.
        let shown = || String::from_utf8_lossy(&full).into_owned();
        match typeflag {
            b'0' | 0 | b'5' => {}
            b'x' | b'g' => {
                return Err(refuse(Rule::TarPax, Some(&shown()), Some(at), "PAX extended header (can rename members or override sizes)"));
            }
            b'L' | b'K' => return Err(refuse(Rule::TarGnuLongName, Some(&shown()), Some(at), "GNU long-name/long-link header")),
            b'1' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown()),
                    Some(at),
                    "hard link; only regular files and directories are accepted",
                ));
            }
            b'2' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown()),
                    Some(at),
                    "symbolic link; only regular files and directories are accepted",
                ));
            }
            b'3' | b'4' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown()),
                    Some(at),
                    "device node; only regular files and directories are accepted",
                ));
            }
            b'6' => {
                return Err(refuse(Rule::MemberType, Some(&shown()), Some(at), "FIFO; only regular files and directories are accepted"));
            }
            b'S' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown()),
                    Some(at),
                    "GNU sparse file; only regular files and directories are accepted",
                ));
            }
            t => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown()),
                    Some(at),
                    format!("entry type {:?}; only regular files and directories are accepted", t as char),
                ));
            }
        }
        if h[157..257].iter().any(|&c| c != 0) {
            return Err(refuse(Rule::TarHeader, Some(&shown()), Some(at), "link name set on a non-link entry"));
        }
        // Fields nobody applies must still be well formed: another reader refuses or misreads
        // a malformed one (Python's tarfile raises on a non-octal mode, uid, gid or mtime).
        let mode = octal(&h[100..108], "mode", at, Rule::TarHeader)?;
        octal(&h[108..116], "uid", at, Rule::TarHeader)?;
        octal(&h[116..124], "gid", at, Rule::TarHeader)?;
        octal(&h[136..148], "mtime", at, Rule::TarHeader)?;
        field(&h[265..297], "uname", at)?;
        field(&h[297..329], "gname", at)?;
        for (range, what) in [(329..337, "devmajor"), (337..345, "devminor")] {
            if h[range.clone()].iter().any(|&c| c != 0) {
                octal(&h[range], what, at, Rule::TarHeader)?;
            }
        }
        if h[500..512].iter().any(|&c| c != 0) {
            return Err(refuse(Rule::TarHeader, Some(&shown()), Some(at), "non-zero bytes in the unused end of the header"));
        }
        let member_size = size_field(&h[124..136], at)?;
        let is_dir = typeflag == b'5';
        let name_bytes = if is_dir { full.strip_suffix(b"/").unwrap_or(&full) } else { &full[..] };
        let name = checked_name(name_bytes, at)?;
        if mode > 0o7777 {
            return Err(refuse(Rule::MemberMode, Some(&name), Some(at), format!("mode {mode:o} carries file-type bits")));
        }
        super::zip::check_mode(mode as u32, is_dir, &name, at)?;
        if entries.len() + dirs.len() >= limits.max_members {
            return Err(refuse(Rule::TooManyMembers, Some(&name), Some(at), format!("more than {} members", limits.max_members)));
        }
        if is_dir {
            if member_size != 0 {
                return Err(refuse(Rule::TarSize, Some(&name), Some(at), "directory entry with a non-zero size"));
            }
            dirs.push(name);
            at += BLOCK;
            continue;
        }
        if member_size > limits.max_member_size {
            return Err(refuse(
                Rule::MemberTooLarge,
                Some(&name),
                Some(at),
                format!("declares {member_size} bytes; at most {}", limits.max_member_size),
            ));
        }
        let data = at + BLOCK;
        let padded = member_size.div_ceil(BLOCK) * BLOCK;
        if data.checked_add(padded).is_none_or(|end| end > size) {
            return Err(refuse(Rule::Truncated, Some(&name), Some(at), format!("declares {member_size} bytes but the archive ends first")));
        }
        if padded > member_size {
            let mut pad = vec![0u8; (padded - member_size) as usize];
            src.read_exact_at(data + member_size, &mut pad)?;
            if pad.iter().any(|&c| c != 0) {
                return Err(refuse(
                    Rule::TarPadding,
                    Some(&name),
                    Some(data + member_size),
                    "non-zero bytes in the padding after the member",
                ));
            }
        }
        entries.push(Entry {
            name,
            header_offset: at,
            data_offset: data,
            stored_size: member_size,
            size: member_size,
            method: Method::Stored,
            crc32: None,
        });
        at = data + padded;
    }
    Ok(ArchiveIndex::new(Format::Tar, entries, dirs))
}

fn check_no_zip_tail(src: &dyn ByteSource, size: u64) -> Result<(), ArchiveError> {
    let from = size.saturating_sub(ZIP_TAIL_WINDOW);
    let mut tail = vec![0u8; (size - from) as usize];
    src.read_exact_at(from, &mut tail)?;
    if let Some(i) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") {
        return Err(refuse(
            Rule::Polyglot,
            None,
            Some(from + i as u64),
            format!(
                "a zip end-of-central-directory signature lies within the last {ZIP_TAIL_WINDOW} bytes: zip readers may open this tar as a zip"
            ),
        ));
    }
    Ok(())
}

fn check_zero_tail(src: &dyn ByteSource, from: u64, size: u64) -> Result<(), ArchiveError> {
    let mut buf = vec![0u8; 64 << 10];
    let mut at = from;
    while at < size {
        let n = ((size - at) as usize).min(buf.len());
        src.read_exact_at(at, &mut buf[..n])?;
        if let Some(i) = buf[..n].iter().position(|&c| c != 0) {
            return Err(refuse(Rule::TarTrailingData, None, Some(at + i as u64), "data after the end-of-archive blocks"));
        }
        at += n as u64;
    }
    Ok(())
}
