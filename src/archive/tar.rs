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
            break;
        }
        if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
            return Err(refuse(Rule::TarHeader, None, Some(at), "not a POSIX ustar header (GNU and v7 headers are refused)"));
        }
        let stated = octal(&h[148..156], "header checksum", at, Rule::TarChecksum)?;
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
        let shown = String::from_utf8_lossy(&full).into_owned();
        match typeflag {
            b'0' | 0 | b'5' => {}
            b'x' | b'g' => {
                return Err(refuse(Rule::TarPax, Some(&shown), Some(at), "PAX extended header (can rename members or override sizes)"));
            }
            b'L' | b'K' => return Err(refuse(Rule::TarGnuLongName, Some(&shown), Some(at), "GNU long-name/long-link header")),
            b'1' => {
                return Err(refuse(Rule::MemberType, Some(&shown), Some(at), "hard link; only regular files and directories are accepted"));
            }
            b'2' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown),
                    Some(at),
                    "symbolic link; only regular files and directories are accepted",
                ));
            }
            b'3' | b'4' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown),
                    Some(at),
                    "device node; only regular files and directories are accepted",
                ));
            }
            b'6' => return Err(refuse(Rule::MemberType, Some(&shown), Some(at), "FIFO; only regular files and directories are accepted")),
            b'S' => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown),
                    Some(at),
                    "GNU sparse file; only regular files and directories are accepted",
                ));
            }
            t => {
                return Err(refuse(
                    Rule::MemberType,
                    Some(&shown),
                    Some(at),
                    format!("entry type {:?}; only regular files and directories are accepted", t as char),
                ));
            }
        }
        if h[157..257].iter().any(|&c| c != 0) {
            return Err(refuse(Rule::TarHeader, Some(&shown), Some(at), "link name set on a non-link entry"));
        }
        let member_size = octal(&h[124..136], "size", at, Rule::TarSize)?;
        let is_dir = typeflag == b'5';
        let name_bytes = if is_dir { full.strip_suffix(b"/").unwrap_or(&full) } else { &full[..] };
        let name = checked_name(name_bytes, at)?;
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
        if entries.len() > limits.max_members {
            return Err(refuse(Rule::TooManyMembers, None, Some(at), format!("more than {} members", limits.max_members)));
        }
        at = data + padded;
    }
    Ok(ArchiveIndex { format: Format::Tar, entries, dirs })
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
