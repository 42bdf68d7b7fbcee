//! Strict zip walker (APPNOTE 6.3.x subset). The archive must be exactly: local entries tiling
//! `[0, cd_offset)` with no gaps, the central directory, optionally a ZIP64 end record and
//! locator when (and only when) needed, and one end-of-central-directory record with no comment
//! ending the file. Every local header must agree with its central directory entry.

use super::{ArchiveError, ArchiveIndex, ByteSource, Entry, Format, Limits, Method, Rule, checked_name, refuse};

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOC64: u32 = 0x0706_4b50;
const SIG_DD: u32 = 0x0807_4b50;
const EOCD_LEN: u64 = 22;
const LOC64_LEN: u64 = 20;
const EOCD64_LEN: u64 = 56;
const M16: u64 = 0xFFFF;
const M32: u64 = 0xFFFF_FFFF;
/// Flag bits allowed: 1-2 (deflate level hints), 11 (UTF-8 names).
const ALLOWED_FLAGS: u16 = 0b0000_1000_0000_0110;

fn u16le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64le(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn read(src: &dyn ByteSource, offset: u64, len: usize) -> Result<Vec<u8>, ArchiveError> {
    let mut buf = vec![0u8; len];
    src.read_exact_at(offset, &mut buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            refuse(Rule::Truncated, None, Some(offset), format!("{len} bytes needed at offset {offset}"))
        } else {
            ArchiveError::Io(e)
        }
    })?;
    Ok(buf)
}

struct Central {
    name: String,
    raw_name: Vec<u8>,
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
    is_dir: bool,
    version_needed: u16,
    /// DOS time and date (both 16-bit fields, as one little-endian u32).
    time: u32,
}

/// Walks a zip archive: the head (no tar polyglot), the end records (ZIP64 when needed), the
/// central directory's place and size, every central directory entry, then the local headers,
/// which must tile `[0, cd_offset)` exactly.
pub fn walk(src: &dyn ByteSource, limits: &Limits) -> Result<ArchiveIndex, ArchiveError> {
    check_head(src)?;
    let end = end_records(src)?;
    check_directory_bounds(src, &end, limits)?;
    let centrals = central_directory(src, &end, limits)?;
    local_entries(src, &centrals, end.cd_offset)
}

/// Where the central directory lies, from the end records.
struct EndRecords {
    /// Offset of the end-of-central-directory record.
    eocd_at: u64,
    /// Entries declared.
    entries: u64,
    /// Central directory size.
    cd_size: u64,
    /// Central directory offset.
    cd_offset: u64,
    /// Where the central directory must end: the ZIP64 end record, else the end record.
    cd_end_limit: u64,
}

/// Long enough for an end record, and not also a tar archive.
fn check_head(src: &dyn ByteSource) -> Result<(), ArchiveError> {
    let size = src.size();
    if size < EOCD_LEN {
        return Err(refuse(Rule::ZipEocdMissing, None, None, "too short to hold an end-of-central-directory record"));
    }
    if size >= 512 && super::tar::checksum_valid(&read(src, 0, 512)?) {
        return Err(refuse(
            Rule::Polyglot,
            None,
            Some(0),
            "the first 512 bytes also form a tar header with a valid checksum: tar readers would read another archive",
        ));
    }
    Ok(())
}

/// The end-of-central-directory record ending the file (no comment, one disk) and, when its
/// locator sits right before it, the ZIP64 end record.
fn end_records(src: &dyn ByteSource) -> Result<EndRecords, ArchiveError> {
    let size = src.size();
    let eocd_at = size - EOCD_LEN;
    let eocd = read(src, eocd_at, EOCD_LEN as usize)?;
    if u32le(&eocd, 0) != SIG_EOCD {
        return Err(locate_misplaced_eocd(src, size)?);
    }
    if u16le(&eocd, 20) != 0 {
        return Err(refuse(Rule::ZipComment, None, Some(eocd_at), "archive comment length is not zero"));
    }
    if u16le(&eocd, 4) != 0 || u16le(&eocd, 6) != 0 {
        return Err(refuse(Rule::ZipMultiDisk, None, Some(eocd_at), "disk numbers are not zero"));
    }
    let (n16, n16_total, cd_size32, cd_off32) =
        (u16le(&eocd, 8) as u64, u16le(&eocd, 10) as u64, u32le(&eocd, 12) as u64, u32le(&eocd, 16) as u64);
    if n16 != n16_total {
        return Err(refuse(Rule::ZipMultiDisk, None, Some(eocd_at), "entries on this disk differ from total entries"));
    }
    let has_loc64 = eocd_at >= LOC64_LEN && u32le(&read(src, eocd_at - LOC64_LEN, 4)?, 0) == SIG_LOC64;
    if has_loc64 {
        return zip64_end_records(src, eocd_at, (n16, cd_size32, cd_off32));
    }
    // Without a ZIP64 end record the fields are the values, 0xFFFF and 0xFFFFFFFF included: the
    // record is needed only for a value that exceeds its field (format-spec/archive-rules-v1.md,
    // "ZIP64"), as the zip crate and Python's zipfile write it (Go, Python and libarchive read
    // the fields as values when no locator precedes the end record).
    Ok(EndRecords { eocd_at, entries: n16, cd_size: cd_size32, cd_offset: cd_off32, cd_end_limit: eocd_at })
}

/// The ZIP64 locator and end record before the end record at `eocd_at`, whose 16/32-bit
/// (count, directory size, directory offset) must agree with it; present only when needed.
fn zip64_end_records(src: &dyn ByteSource, eocd_at: u64, (n16, cd_size32, cd_off32): (u64, u64, u64)) -> Result<EndRecords, ArchiveError> {
    let loc = read(src, eocd_at - LOC64_LEN, LOC64_LEN as usize)?;
    let rec_at = u64le(&loc, 8);
    if u32le(&loc, 4) != 0 || u32le(&loc, 16) != 1 {
        return Err(refuse(Rule::ZipMultiDisk, None, Some(eocd_at - LOC64_LEN), "ZIP64 locator names another disk"));
    }
    if eocd_at < LOC64_LEN + EOCD64_LEN || rec_at != eocd_at - LOC64_LEN - EOCD64_LEN {
        return Err(refuse(Rule::ZipZip64, None, Some(eocd_at - LOC64_LEN), "ZIP64 end record is not immediately before its locator"));
    }
    let rec = read(src, rec_at, EOCD64_LEN as usize)?;
    if u32le(&rec, 0) != SIG_EOCD64 || u64le(&rec, 4) != EOCD64_LEN - 12 {
        return Err(refuse(Rule::ZipZip64, None, Some(rec_at), "ZIP64 end record has a bad signature or carries extensible data"));
    }
    if u32le(&rec, 16) != 0 || u32le(&rec, 20) != 0 || u64le(&rec, 24) != u64le(&rec, 32) {
        return Err(refuse(Rule::ZipMultiDisk, None, Some(rec_at), "ZIP64 end record spans disks"));
    }
    let (n, cs, co) = (u64le(&rec, 32), u64le(&rec, 40), u64le(&rec, 48));
    if n <= M16 && cs <= M32 && co <= M32 {
        return Err(refuse(Rule::ZipZip64, None, Some(rec_at), "ZIP64 end record present although no count, size or offset needs it"));
    }
    if n16 != n.min(M16) || (cd_size32 != M32 && cd_size32 != cs) || cd_off32 != co.min(M32) {
        return Err(refuse(Rule::ZipZip64, None, Some(eocd_at), "end-of-central-directory fields disagree with the ZIP64 end record"));
    }
    Ok(EndRecords { eocd_at, entries: n, cd_size: cs, cd_offset: co, cd_end_limit: rec_at })
}

/// The central directory ends exactly where the end records begin, declares at most
/// `limits.max_members` entries, and is no larger than that many acceptable entries can be
/// (sizes are checked before anything is allocated from them).
fn check_directory_bounds(src: &dyn ByteSource, end: &EndRecords, limits: &Limits) -> Result<(), ArchiveError> {
    let EndRecords { eocd_at, entries, cd_size, cd_offset, cd_end_limit } = *end;
    let cd_end = cd_offset
        .checked_add(cd_size)
        .ok_or_else(|| refuse(Rule::ZipCentralDirectory, None, Some(eocd_at), "central directory offset overflows"))?;
    if cd_end > cd_end_limit {
        return Err(refuse(Rule::ZipOverlap, None, Some(cd_offset), "central directory runs into the end records"));
    }
    if cd_end < cd_end_limit {
        let between = read(src, cd_end, (cd_end_limit - cd_end).min(1 << 20) as usize)?;
        let rule = if between.windows(4).any(|w| u32le(w, 0) == SIG_EOCD) { Rule::ZipMultipleEocd } else { Rule::ZipGap };
        return Err(refuse(
            rule,
            None,
            Some(cd_end),
            format!("{} bytes between the central directory and the end record", cd_end_limit - cd_end),
        ));
    }
    if entries > limits.max_members as u64 {
        return Err(refuse(
            Rule::TooManyMembers,
            None,
            Some(eocd_at),
            format!("{entries} entries declared; at most {}", limits.max_members),
        ));
    }
    // A central directory header is at most 46 bytes, a checked name and a ZIP64 extra field
    // (no comments, no other extras are accepted).
    let max_cd = entries.saturating_mul(46 + super::name::MAX_PATH_LEN as u64 + 1 + 4 + 24);
    if cd_size > max_cd {
        return Err(refuse(
            Rule::ZipCentralDirectory,
            None,
            Some(cd_offset),
            format!("central directory of {cd_size} bytes is larger than {entries} acceptable entries can be ({max_cd})"),
        ));
    }
    Ok(())
}

/// Every central directory entry, checked, in directory order (which must be the order of the
/// local headers); exactly as many as the end record declares.
fn central_directory(src: &dyn ByteSource, end: &EndRecords, limits: &Limits) -> Result<Vec<Central>, ArchiveError> {
    let cd = read(src, end.cd_offset, end.cd_size as usize)?;
    let mut centrals: Vec<Central> = Vec::new();
    let mut declared: u64 = 0;
    let mut p = 0usize;
    while p < cd.len() {
        let at = end.cd_offset + p as u64;
        if cd.len() - p < 46 || u32le(&cd, p) != SIG_CENTRAL {
            return Err(refuse(Rule::ZipCentralDirectory, None, Some(at), "expected a central directory header"));
        }
        if centrals.len() as u64 >= end.entries {
            return Err(refuse(
                Rule::ZipEntryCount,
                None,
                Some(at),
                format!("more central directory entries than the {} declared", end.entries),
            ));
        }
        let (c, len) = central_entry(&cd[p..], at, limits)?;
        // Declared sizes are capped before any local header is read (the set check repeats it
        // for both flavours).
        declared = declared.saturating_add(c.usize);
        if declared > limits.max_total_size {
            return Err(refuse(
                Rule::TotalTooLarge,
                Some(&c.name),
                Some(at),
                format!("members declare more than {} bytes in total", limits.max_total_size),
            ));
        }
        if let Some(prev) = centrals.last()
            && c.offset < prev.offset
        {
            return Err(refuse(
                Rule::ZipCentralDirectory,
                Some(&c.name),
                Some(at),
                format!("central directory order differs from the order of local headers (offset {} after {})", c.offset, prev.offset),
            ));
        }
        centrals.push(c);
        p += len;
    }
    if centrals.len() as u64 != end.entries {
        return Err(refuse(
            Rule::ZipEntryCount,
            None,
            Some(end.eocd_at),
            format!("end record declares {} entries, central directory holds {}", end.entries, centrals.len()),
        ));
    }
    Ok(centrals)
}

/// One central directory entry at the start of `rest` (at offset `at`; at least the 46 fixed
/// bytes and the right signature): the entry and its length in the directory.
fn central_entry(rest: &[u8], at: u64, limits: &Limits) -> Result<(Central, usize), ArchiveError> {
    let h = &rest[..46];
    let (nlen, elen, clen) = (u16le(h, 28) as usize, u16le(h, 30) as usize, u16le(h, 32) as usize);
    if rest.len() < 46 + nlen + elen + clen {
        return Err(refuse(Rule::ZipCentralDirectory, None, Some(at), "central directory header runs past the directory"));
    }
    let raw_name = rest[46..46 + nlen].to_vec();
    let extra = &rest[46 + nlen..46 + nlen + elen];
    let shown = String::from_utf8_lossy(&raw_name).into_owned();
    let flags = u16le(h, 8);
    check_flags(flags, &shown, at)?;
    if clen != 0 {
        return Err(refuse(Rule::ZipEntryComment, Some(&shown), Some(at), "entry comment is not empty"));
    }
    if u16le(h, 34) != 0 {
        return Err(refuse(Rule::ZipMultiDisk, Some(&shown), Some(at), "entry starts on another disk"));
    }
    if !raw_name.is_ascii() && flags & (1 << 11) == 0 {
        return Err(refuse(
            Rule::ZipNonUtf8Flag,
            Some(&shown),
            Some(at),
            "non-ASCII name without the UTF-8 flag (bit 11): other tools read it as CP437",
        ));
    }
    let method = u16le(h, 10);
    let mut sizes = [u32le(h, 24) as u64, u32le(h, 20) as u64, u32le(h, 42) as u64];
    let z64 = parse_extra(extra, &shown, at)?;
    apply_zip64(&mut sizes, z64, &shown, at)?;
    let [usize_, csize, offset] = sizes;
    let is_dir = raw_name.last() == Some(&b'/');
    let name_bytes = if is_dir { &raw_name[..raw_name.len() - 1] } else { &raw_name[..] };
    let name = checked_name(name_bytes, at)?;
    check_type(h, is_dir, &name, at)?;
    check_versions(h, u16le(h, 6), method, z64.is_some(), is_dir, &name, at)?;
    if u16le(h, 36) != 0 {
        return Err(refuse(Rule::ZipAttributes, Some(&name), Some(at), format!("internal attributes {:#06x}; must be 0", u16le(h, 36))));
    }
    check_content(method, usize_, csize, is_dir, limits, &name, at)?;
    let c = Central {
        name,
        raw_name,
        flags,
        method,
        crc: u32le(h, 16),
        csize,
        usize: usize_,
        offset,
        is_dir,
        version_needed: u16le(h, 6),
        time: u32le(h, 12),
    };
    Ok((c, 46 + nlen + elen + clen))
}

/// Replaces each of (size, compressed size, offset) marked 0xFFFFFFFF by the next ZIP64 extra
/// value; the extra must carry exactly the marked values, each too large for 32 bits.
fn apply_zip64(fields: &mut [u64; 3], z64: Option<&[u8]>, name: &str, at: u64) -> Result<(), ArchiveError> {
    let Some(z) = z64 else {
        if fields.contains(&M32) {
            return Err(refuse(Rule::ZipZip64, Some(name), Some(at), "ZIP64 marker without a ZIP64 extra field"));
        }
        return Ok(());
    };
    let mut vals = z.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8")));
    for field in fields.iter_mut() {
        if *field == M32 {
            *field = vals
                .next()
                .ok_or_else(|| refuse(Rule::ZipZip64, Some(name), Some(at), "ZIP64 extra field is missing a value its header marks"))?;
            if *field < M32 {
                return Err(refuse(Rule::ZipZip64, Some(name), Some(at), "ZIP64 value used for a number that fits in 32 bits"));
            }
        }
    }
    if vals.next().is_some() || z.len() % 8 != 0 {
        return Err(refuse(Rule::ZipZip64, Some(name), Some(at), "ZIP64 extra field carries values its header does not mark"));
    }
    Ok(())
}

/// Directories are empty; methods are stored (sizes equal) or deflate; sizes and compression
/// ratios within `limits`.
fn check_content(method: u16, usize_: u64, csize: u64, is_dir: bool, limits: &Limits, name: &str, at: u64) -> Result<(), ArchiveError> {
    if is_dir && (usize_ != 0 || csize != 0 || method != 0) {
        return Err(refuse(Rule::MemberType, Some(name), Some(at), "directory entry with content"));
    }
    match method {
        0 if csize != usize_ => {
            return Err(refuse(
                Rule::ZipCentralDirectory,
                Some(name),
                Some(at),
                format!("stored entry with compressed size {csize} != size {usize_}"),
            ));
        }
        0 | 8 => {}
        m => {
            return Err(refuse(
                Rule::ZipMethod,
                Some(name),
                Some(at),
                format!("compression method {m}; only 0 (stored) and 8 (deflate) are accepted"),
            ));
        }
    }
    if usize_ > limits.max_member_size {
        return Err(refuse(
            Rule::MemberTooLarge,
            Some(name),
            Some(at),
            format!("declares {usize_} bytes; at most {}", limits.max_member_size),
        ));
    }
    if method == 8 && usize_ > (1 << 20) && usize_ / csize.max(1) > limits.max_ratio {
        return Err(refuse(
            Rule::CompressionRatio,
            Some(name),
            Some(at),
            format!("{usize_} bytes from {csize} compressed: ratio above {}", limits.max_ratio),
        ));
    }
    Ok(())
}

/// The local entries, in file order: each local header where the previous entry's data ends
/// (the first at 0), agreeing with its central directory entry, the last data ending exactly at
/// the central directory.
fn local_entries(src: &dyn ByteSource, centrals: &[Central], cd_offset: u64) -> Result<ArchiveIndex, ArchiveError> {
    let mut order: Vec<usize> = (0..centrals.len()).collect();
    order.sort_by_key(|&i| centrals[i].offset);
    let mut expect_at = 0u64;
    let mut entries = Vec::new();
    let mut dirs = Vec::new();
    for &i in &order {
        let c = &centrals[i];
        if c.offset != expect_at {
            let (rule, what) = if expect_at == 0 {
                (Rule::ZipPrependedBytes, "bytes before the first local header")
            } else if c.offset < expect_at {
                (Rule::ZipOverlap, "entry overlaps the previous one")
            } else {
                (Rule::ZipGap, "unaccounted bytes before this entry")
            };
            return Err(refuse(
                rule,
                Some(&c.name),
                Some(c.offset),
                format!("{what}: local header at {}, previous entry ends at {expect_at}", c.offset),
            ));
        }
        let data_offset = local_header(src, c)?;
        let end = data_offset
            .checked_add(c.csize)
            .ok_or_else(|| refuse(Rule::ZipCentralDirectory, Some(&c.name), Some(c.offset), "size overflows"))?;
        if end > cd_offset {
            return Err(refuse(Rule::ZipOverlap, Some(&c.name), Some(c.offset), "entry data runs into the central directory"));
        }
        expect_at = end;
        if c.is_dir {
            dirs.push(c.name.clone());
        } else {
            entries.push(Entry {
                name: c.name.clone(),
                header_offset: c.offset,
                data_offset,
                stored_size: c.csize,
                size: c.usize,
                method: if c.method == 8 { Method::Deflate } else { Method::Stored },
                crc32: Some(c.crc),
            });
        }
    }
    if expect_at != cd_offset {
        let what = if centrals.is_empty() { Rule::ZipPrependedBytes } else { Rule::ZipGap };
        let descriptor = expect_at < cd_offset
            && match read(src, expect_at, 4) {
                Ok(b) => u32le(&b, 0) == SIG_DD,
                Err(e @ ArchiveError::Io(_)) => return Err(e),
                Err(_) => false,
            };
        return Err(refuse(
            if descriptor { Rule::ZipDataDescriptor } else { what },
            None,
            Some(expect_at),
            format!("{} unaccounted bytes before the central directory", cd_offset - expect_at),
        ));
    }
    Ok(ArchiveIndex::new(Format::Zip, entries, dirs))
}

/// The local header of `c` agrees with it field by field (name, versions, time, flags, method,
/// CRC-32, sizes, a ZIP64 extra only when the sizes need it); returns where its data starts.
fn local_header(src: &dyn ByteSource, c: &Central) -> Result<u64, ArchiveError> {
    // One read for the fixed part, the name and a ZIP64 extra (the largest extra accepted):
    // a read per field, and a buffer per read, were a tenth of the walk of 99,000 members.
    let mut buf = [0u8; 30 + 256 + 20];
    let want = (30 + c.raw_name.len() + 20).min(buf.len());
    let mut got = 0;
    while got < want {
        match src.read_at(c.offset + got as u64, &mut buf[got..want])? {
            0 => break,
            n => got += n,
        }
    }
    if got < 30 {
        return Err(refuse(Rule::Truncated, None, Some(c.offset), format!("30 bytes needed at offset {}", c.offset)));
    }
    let lh = &buf[..30];
    if u32le(lh, 0) != SIG_LOCAL {
        return Err(refuse(
            Rule::ZipLocalHeaderMismatch,
            Some(&c.name),
            Some(c.offset),
            "no local file header where the central directory points",
        ));
    }
    let (nlen, elen) = (u16le(lh, 26) as u64, u16le(lh, 28) as u64);
    let more;
    let var = if 30 + (nlen + elen) as usize <= got {
        &buf[30..30 + (nlen + elen) as usize]
    } else {
        more = read(src, c.offset + 30, (nlen + elen) as usize)?;
        &more[..]
    };
    let mismatch = |what: &str| {
        refuse(
            Rule::ZipLocalHeaderMismatch,
            Some(&c.name),
            Some(c.offset),
            format!("local header {what} differs from the central directory"),
        )
    };
    if var[..nlen as usize] != c.raw_name[..] {
        return Err(mismatch(&format!("name {:?}", String::from_utf8_lossy(&var[..nlen as usize]))));
    }
    if u16le(lh, 4) != c.version_needed {
        return Err(mismatch("version needed to extract"));
    }
    if u32le(lh, 10) != c.time {
        return Err(mismatch("modification time"));
    }
    if u16le(lh, 6) != c.flags {
        return Err(mismatch("flags"));
    }
    if u16le(lh, 8) != c.method {
        return Err(mismatch("method"));
    }
    if u32le(lh, 14) != c.crc {
        return Err(mismatch("CRC-32"));
    }
    let (lc, lu) = (u32le(lh, 18) as u64, u32le(lh, 22) as u64);
    match parse_extra(&var[nlen as usize..], &c.name, c.offset)? {
        Some(z) => {
            if lc != M32 || lu != M32 || z.len() != 16 {
                return Err(refuse(
                    Rule::ZipZip64,
                    Some(&c.name),
                    Some(c.offset),
                    "local ZIP64 extra must carry exactly both sizes, with both header fields marked",
                ));
            }
            if u64le(z, 0) != c.usize || u64le(z, 8) != c.csize {
                return Err(mismatch("ZIP64 sizes"));
            }
            if c.usize < M32 && c.csize < M32 {
                return Err(refuse(Rule::ZipZip64, Some(&c.name), Some(c.offset), "local ZIP64 sizes used for sizes that fit in 32 bits"));
            }
        }
        None => {
            if lc != c.csize || lu != c.usize {
                return Err(mismatch(&format!("sizes ({lc}/{lu} vs {}/{})", c.csize, c.usize)));
            }
        }
    }
    Ok(c.offset + 30 + nlen + elen)
}

fn check_flags(flags: u16, name: &str, at: u64) -> Result<(), ArchiveError> {
    if flags & 1 != 0 || flags & (1 << 6) != 0 || flags & (1 << 13) != 0 {
        return Err(refuse(Rule::ZipEncrypted, Some(name), Some(at), "entry is encrypted"));
    }
    if flags & (1 << 3) != 0 {
        return Err(refuse(Rule::ZipDataDescriptor, Some(name), Some(at), "entry uses a data descriptor (sizes after the data)"));
    }
    if flags & !ALLOWED_FLAGS != 0 {
        return Err(refuse(Rule::ZipCentralDirectory, Some(name), Some(at), format!("unsupported general-purpose flags {flags:#06x}")));
    }
    Ok(())
}

/// Returns the ZIP64 extra payload if present; refuses every other extra field.
fn parse_extra<'a>(extra: &'a [u8], name: &str, at: u64) -> Result<Option<&'a [u8]>, ArchiveError> {
    let mut p = 0usize;
    let mut z64 = None;
    while p < extra.len() {
        if extra.len() - p < 4 {
            return Err(refuse(Rule::ZipExtraField, Some(name), Some(at), "truncated extra field"));
        }
        let (id, len) = (u16le(extra, p), u16le(extra, p + 2) as usize);
        if extra.len() - p - 4 < len {
            return Err(refuse(Rule::ZipExtraField, Some(name), Some(at), "extra field runs past its area"));
        }
        if id != 0x0001 {
            return Err(refuse(
                Rule::ZipExtraField,
                Some(name),
                Some(at),
                format!("extra field {id:#06x}; only ZIP64 (0x0001) is accepted (others can rename or re-time members)"),
            ));
        }
        if z64.is_some() {
            return Err(refuse(Rule::ZipZip64, Some(name), Some(at), "two ZIP64 extra fields"));
        }
        z64 = Some(&extra[p + 4..p + 4 + len]);
        p += 4 + len;
    }
    Ok(z64)
}

/// File type and mode from the external attributes. Whatever the host byte says, Info-ZIP and
/// libarchive read the upper 16 bits as a Unix mode when they are non-zero, so they are checked
/// for every host; only the canonical modes are accepted (they are never applied).
fn check_type(h: &[u8], is_dir: bool, name: &str, at: u64) -> Result<(), ArchiveError> {
    let host = h[5];
    let ext = u32le(h, 38);
    let mode = ext >> 16;
    let dos = ext & 0xFFFF;
    if host != 0 && host != 3 {
        return Err(refuse(
            Rule::ZipAttributes,
            Some(name),
            Some(at),
            format!("made by host system {host}; only 0 (MS-DOS) and 3 (Unix) are accepted"),
        ));
    }
    if mode != 0 {
        let kind = mode & 0o170000;
        let ok = match kind {
            0o100000 => !is_dir,
            0o040000 => is_dir,
            _ => false,
        };
        if !ok {
            let what = match kind {
                0o120000 => "symbolic link",
                0o020000 | 0o060000 => "device",
                0o010000 => "FIFO",
                0o140000 => "socket",
                0o040000 => "directory without a trailing slash",
                0o100000 => "regular file with a trailing slash",
                0 => "Unix mode without a file type",
                _ => "unknown file type",
            };
            return Err(refuse(Rule::MemberType, Some(name), Some(at), format!("{what}; only regular files and directories are accepted")));
        }
        check_mode(mode & 0o7777, is_dir, name, at)?;
    } else if host == 3 {
        return Err(refuse(Rule::ZipAttributes, Some(name), Some(at), "Unix host but no Unix mode in the external attributes"));
    }
    let dos_ok = if is_dir { dos == 0x10 || (host == 3 && dos == 0) } else { dos == 0 };
    if !dos_ok {
        let rule = if !is_dir && dos & 0x10 != 0 { Rule::MemberType } else { Rule::ZipAttributes };
        return Err(refuse(
            rule,
            Some(name),
            Some(at),
            format!("MS-DOS attributes {dos:#06x}; a file must have none, a directory only 0x10"),
        ));
    }
    Ok(())
}

/// Permission bits are never applied; only the canonical ones are accepted so that a changed
/// attribute cannot pass unnoticed.
pub(crate) fn check_mode(perm: u32, is_dir: bool, name: &str, at: u64) -> Result<(), ArchiveError> {
    let ok = if is_dir { perm == 0o755 } else { perm == 0o644 || perm == 0o755 };
    if ok {
        return Ok(());
    }
    Err(refuse(
        Rule::MemberMode,
        Some(name),
        Some(at),
        format!(
            "mode {perm:04o}; {} (modes are never applied, other values are refused)",
            if is_dir { "directories must be 0755" } else { "files must be 0644 or 0755" }
        ),
    ))
}

/// Version fields: "needed to extract" must be 10 or 20 (45 with ZIP64) and cover the entry's
/// features; "made by" must name a known APPNOTE version.
fn check_versions(h: &[u8], needed: u16, method: u16, zip64: bool, is_dir: bool, name: &str, at: u64) -> Result<(), ArchiveError> {
    let min = if zip64 {
        45
    } else if method == 8 || is_dir {
        20
    } else {
        10
    };
    let allowed: &[u16] = if zip64 {
        &[45]
    } else if min == 20 {
        &[20]
    } else {
        &[10, 20]
    };
    if !allowed.contains(&needed) {
        return Err(refuse(
            Rule::ZipVersion,
            Some(name),
            Some(at),
            format!("version needed to extract is {needed}; for this entry it must be one of {allowed:?}"),
        ));
    }
    let made_by = u16::from(h[4]);
    if ![10, 20, 30, 45, 46, 63].contains(&made_by) || made_by < needed {
        return Err(refuse(
            Rule::ZipVersion,
            Some(name),
            Some(at),
            format!("version made by is {made_by}; expected one of 10, 20, 30, 45, 46, 63 and at least {needed}"),
        ));
    }
    Ok(())
}

fn locate_misplaced_eocd(src: &dyn ByteSource, size: u64) -> Result<ArchiveError, ArchiveError> {
    let tail_len = size.min(EOCD_LEN + 0xFFFF + 4096);
    let tail = read(src, size - tail_len, tail_len as usize)?;
    let candidates: Vec<usize> =
        (0..tail.len().saturating_sub(EOCD_LEN as usize - 1)).rev().filter(|&i| u32le(&tail, i) == SIG_EOCD).collect();
    // An end record whose comment reaches exactly the end of the file: a commented archive.
    for &i in &candidates {
        let at = size - tail_len + i as u64;
        let comment = u16le(&tail, i + 20) as u64;
        if at + EOCD_LEN + comment == size {
            return Ok(refuse(Rule::ZipComment, None, Some(at), format!("archive comment of {comment} bytes")));
        }
    }
    Ok(match candidates.last() {
        // The earliest candidate: anything after it is data no end record accounts for.
        Some(&i) => {
            let at = size - tail_len + i as u64;
            refuse(
                Rule::ZipTrailingBytes,
                None,
                Some(at + EOCD_LEN),
                format!("{} bytes after the end-of-central-directory record", size - at - EOCD_LEN),
            )
        }
        None => refuse(Rule::ZipEocdMissing, None, None, "no end-of-central-directory record at the end of the file"),
    })
}
