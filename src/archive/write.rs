//! Deterministic archive writers over the `zip` and `tar` crates. Same members, same bytes and
//! same time → byte-identical output: members in the given (sorted) order, one fixed timestamp,
//! mode 0644, uid/gid 0, no owner names, no extra fields, no data descriptors, no comments.

use crate::time::Timestamp;
use std::io::{self, Read, Seek, Write};

/// One member to write.
#[derive(Clone, Debug)]
pub struct PlannedMember {
    /// Archive name.
    pub name: String,
    /// Exact size in bytes; the writer refuses a source that yields a different count.
    pub size: u64,
    /// Deflate it (zip only; tar members are always stored).
    pub deflate: bool,
}

/// Opens a member's bytes by name.
pub type Opener<'a> = dyn FnMut(&str) -> io::Result<Box<dyn Read + 'a>> + 'a;

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The piece size in which member bytes reach the deflate encoder. zlib-rs's output depends on
/// how its input is split (11,520 bytes of text: 362 bytes in one piece, 363 in 8 KiB pieces),
/// so the writer and [`deflate_stream_digest`] both feed exactly these pieces, whatever sizes
/// the source's reads return.
const FEED: usize = 64 << 10;

/// Copies `r` to `w` in full [`FEED`]-sized pieces (the last one shorter); returns the count.
fn feed(r: impl Read, w: &mut impl Write, limit: u64) -> io::Result<u64> {
    // One buffer per thread, not one per member: zeroing 64 KiB for each of 99,000 1 KiB
    // members was 6 GB of memset in a pack.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut buf = BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    buf.resize(FEED, 0);
    let r = feed_with(r, w, limit, &mut buf);
    BUF.with(|b| *b.borrow_mut() = buf);
    r
}

fn feed_with(mut r: impl Read, w: &mut impl Write, limit: u64, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        while filled < FEED && total + (filled as u64) < limit {
            let want = (FEED - filled).min((limit - total - filled as u64).min(FEED as u64) as usize);
            match r.read(&mut buf[filled..filled + want]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..filled])?;
        total += filled as u64;
    }
}

/// Counts bytes and refuses a source that changes size under us.
fn copy_exact(mut r: impl Read, w: &mut impl Write, size: u64, name: &str) -> io::Result<()> {
    let n = feed(r.by_ref(), w, size)?;
    let mut probe = [0u8; 1];
    if n != size || r.read(&mut probe)? != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{name} changed size while being packed (expected {size} bytes)")));
    }
    Ok(())
}

/// The zip timestamp: DOS time covers 1980..=2107 with 2-second resolution; clamp into it.
fn dos_time(t: Timestamp) -> zip::DateTime {
    let (y, m, d, h, mi, s) = t.civil();
    let (y, m, d, h, mi, s) = if y < 1980 {
        (1980, 1, 1, 0, 0, 0)
    } else if y > 2107 {
        (2107, 12, 31, 23, 59, 58)
    } else {
        (y, m, d, h, mi, s)
    };
    zip::DateTime::from_date_and_time(y as u16, m as u8, d as u8, h as u8, mi as u8, (s - s % 2) as u8).unwrap_or(zip::DateTime::DEFAULT)
}

/// The compression level of deflated zip members: part of the bundle's byte-for-byte
/// reproducibility, and of the signed `deflateStreams` the manifest carries.
pub const DEFLATE_LEVEL: u32 = 6;

/// The raw deflate stream [`write_zip`] stores for these bytes, as its SHA-256 and length,
/// without keeping it: the same encoder (flate2 over zlib-rs) at the same level, fed the same
/// pieces, so a packer can
/// sign the stream before the archive is written. `airlock pack` verifies what it wrote, so an
/// encoder that ever disagreed would be caught before the bundle appears.
pub fn deflate_stream_digest(r: impl Read) -> io::Result<(crate::digest::Sha256Digest, u64)> {
    let mut enc =
        flate2::write::DeflateEncoder::new(HashWriter(crate::digest::StreamHasher::new(false)), flate2::Compression::new(DEFLATE_LEVEL));
    feed(r, &mut enc, u64::MAX)?;
    let (digest, _, len) = enc.finish()?.0.finish();
    Ok((digest, len))
}

struct HashWriter(crate::digest::StreamHasher);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes a deterministic zip.
pub fn write_zip<W: Write + Seek>(out: W, members: &[PlannedMember], time: Timestamp, open: &mut Opener<'_>) -> io::Result<W> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(SeekBuf::new(out)?);
    for m in members {
        let large = m.size >= 0xFFFF_FFFF;
        let opts = SimpleFileOptions::default()
            .compression_method(if m.deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored })
            .compression_level(if m.deflate { Some(DEFLATE_LEVEL as i64) } else { None })
            .last_modified_time(dos_time(time))
            .unix_permissions(0o644)
            .large_file(large);
        z.start_file(m.name.as_str(), opts).map_err(other)?;
        copy_exact(open(&m.name)?, &mut z, m.size, &m.name)?;
    }
    z.finish().map_err(other)?.into_inner()
}

/// How many buffered bytes [`SeekBuf`] holds before it writes them out.
const SEEK_BUF: usize = 4 << 20;

/// Buffers writes to a seekable writer and answers a seek that lands inside its buffer without
/// touching the writer. The zip writer asks for its position at each member and seeks back to
/// the member's local header to fill in the CRC and sizes; through a `BufWriter` each of those
/// flushes (a write and two seeks per member: 12 % of packing 99,000 small files). A seek outside
/// the buffer writes it out first, so any pattern of seeks and writes gives the writer's bytes.
struct SeekBuf<W: Write + Seek> {
    inner: W,
    /// Bytes from `base` on, not yet written to `inner` (whose position is always `base`).
    buf: Vec<u8>,
    base: u64,
    pos: u64,
}

impl<W: Write + Seek> SeekBuf<W> {
    fn new(mut inner: W) -> io::Result<Self> {
        let base = inner.stream_position()?;
        Ok(SeekBuf { inner, buf: Vec::new(), base, pos: base })
    }

    /// Writes the buffer out; `inner` is then at `base`, the buffer empty.
    fn spill(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.buf)?;
        self.base += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    fn into_inner(mut self) -> io::Result<W> {
        self.spill()?;
        self.inner.seek(io::SeekFrom::Start(self.pos))?;
        Ok(self.inner)
    }
}

impl<W: Write + Seek> Write for SeekBuf<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.pos == self.base + self.buf.len() as u64 && self.buf.len() >= SEEK_BUF {
            self.spill()?;
        }
        let at = (self.pos - self.base) as usize;
        let over = (self.buf.len() - at).min(data.len());
        self.buf[at..at + over].copy_from_slice(&data[..over]);
        self.buf.extend_from_slice(&data[over..]);
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.spill()?;
        self.inner.seek(io::SeekFrom::Start(self.pos))?;
        self.base = self.pos;
        self.inner.flush()
    }
}

impl<W: Write + Seek> Seek for SeekBuf<W> {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(n) => n,
            io::SeekFrom::Current(d) => self
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a seek before the start of the archive"))?,
            io::SeekFrom::End(_) => {
                self.spill()?;
                self.pos = self.inner.seek(to)?;
                self.base = self.pos;
                return Ok(self.pos);
            }
        };
        if (self.base..=self.base + self.buf.len() as u64).contains(&target) {
            self.pos = target;
        } else {
            self.spill()?;
            self.pos = self.inner.seek(io::SeekFrom::Start(target))?;
            self.base = self.pos;
        }
        Ok(self.pos)
    }
}

/// Writes a deterministic POSIX ustar archive. When a zip end-of-central-directory signature
/// lands near the end (e.g. the last member is itself a zip), zero blocks are appended so that no
/// zip reader finds it (see [`super::tar::ZIP_TAIL_WINDOW`]).
pub fn write_tar<W: Write>(out: W, members: &[PlannedMember], time: Timestamp, open: &mut Opener<'_>) -> io::Result<W> {
    let mut b = tar::Builder::new(SigTracker { inner: out, written: 0, last: [0; 3], sig_at: None });
    for m in members {
        let mut h = tar::Header::new_ustar();
        h.set_path(&m.name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: cannot be stored in a ustar header: {e}", m.name)))?;
        h.set_size(m.size);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(time.0.max(0) as u64);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_username("").map_err(other)?;
        h.set_groupname("").map_err(other)?;
        h.set_cksum();
        // tar::Builder::append needs the exact bytes; stream through a size-checking reader.
        let r = open(&m.name)?;
        let checked = ExactReader { inner: r, left: m.size, name: &m.name };
        b.append(&h, checked)?;
    }
    let mut t = b.into_inner()?;
    if let Some(at) = t.sig_at {
        let need = (at + super::tar::ZIP_TAIL_WINDOW + 1).saturating_sub(t.written);
        let zeros = vec![0u8; need.div_ceil(512) as usize * 512];
        t.write_all(&zeros)?;
    }
    Ok(t.inner)
}

/// Counts bytes written and remembers where the last `PK\x05\x06` began.
struct SigTracker<W> {
    inner: W,
    written: u64,
    last: [u8; 3],
    sig_at: Option<u64>,
}

impl<W: Write> Write for SigTracker<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let buf = &buf[..n];
        let mut joined = self.last.to_vec();
        joined.extend_from_slice(&buf[..buf.len().min(3)]);
        if let Some(i) = joined.windows(4).rposition(|w| w == b"PK\x05\x06") {
            self.sig_at = Some(self.written + i as u64 - 3);
        }
        if let Some(i) = buf.windows(4).rposition(|w| w == b"PK\x05\x06") {
            self.sig_at = Some(self.written + i as u64);
        }
        if n >= 3 {
            self.last.copy_from_slice(&buf[n - 3..]);
        } else {
            let mut l = self.last.to_vec();
            l.extend_from_slice(buf);
            self.last.copy_from_slice(&l[l.len() - 3..]);
        }
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct ExactReader<'n, R> {
    inner: R,
    left: u64,
    name: &'n str,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? != 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} grew while being packed", self.name)));
            }
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} shrank while being packed", self.name)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {

    /// Any sequence of writes and seeks through [`SeekBuf`] (with spills forced by a long
    /// buffer and seeks outside it) leaves the bytes and position a plain cursor does.
    #[test]
    fn seek_buf_writes_what_the_writer_would() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..200 {
            let mut plain = io::Cursor::new(Vec::new());
            let mut buffered = SeekBuf::new(io::Cursor::new(Vec::new())).unwrap();
            for step in 0..60 {
                let len = plain.get_ref().len() as u64;
                match next(4) {
                    0 => {
                        let to = io::SeekFrom::Start(next(len + 1));
                        assert_eq!(plain.seek(to).unwrap(), buffered.seek(to).unwrap(), "round {round} step {step}");
                    }
                    1 => {
                        let back = -(next(plain.position() + 1) as i64);
                        let to = io::SeekFrom::Current(back);
                        assert_eq!(plain.seek(to).unwrap(), buffered.seek(to).unwrap());
                    }
                    2 => {
                        let to = io::SeekFrom::End(-(next(len + 1) as i64));
                        assert_eq!(plain.seek(to).unwrap(), buffered.seek(to).unwrap());
                    }
                    _ => {
                        // Now and then more than the buffer holds, to force a spill.
                        let n = if next(10) == 0 { SEEK_BUF + next(5000) as usize } else { next(3000) as usize };
                        let data: Vec<u8> = (0..n).map(|i| (i as u64 + round) as u8).collect();
                        plain.write_all(&data).unwrap();
                        buffered.write_all(&data).unwrap();
                    }
                }
                assert_eq!(buffered.stream_position().unwrap(), plain.position());
            }
            let pos = plain.position();
            let inner = buffered.into_inner().unwrap();
            assert_eq!(inner.position(), pos);
            assert!(inner.get_ref() == plain.get_ref(), "round {round}: the bytes differ");
        }
    }
    use super::*;
    use crate::archive::{Method, walk};
    use crate::digest::Sha256Digest;

    /// A source that returns at most `step` bytes per read, as pipes and some filesystems do.
    struct Dribble<'a>(&'a [u8], usize);

    impl Read for Dribble<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let n = b.len().min(self.0.len()).min(self.1);
            b[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The stream a packer signs is the stream the zip writer stores, however the source's
    /// reads are sized (zlib-rs's output depends on how its input is split).
    #[test]
    fn signed_stream_equals_written_stream_for_any_read_sizes() {
        let text: Vec<u8> = (0..30_000u32).flat_map(|i| format!("line {} of the app {}\n", i % 17, i * 7 % 5).into_bytes()).collect();
        let whole = deflate_stream_digest(text.as_slice()).unwrap();
        for step in [1usize, 777, 8192, 100_000] {
            assert_eq!(deflate_stream_digest(Dribble(&text, step)).unwrap(), whole, "reads of {step} bytes");
            let planned = [PlannedMember { name: "artifacts/app".into(), size: text.len() as u64, deflate: true }];
            let mut open = |_: &str| -> io::Result<Box<dyn Read + '_>> { Ok(Box::new(Dribble(&text, step))) };
            let zip = write_zip(io::Cursor::new(Vec::new()), &planned, Timestamp(0), &mut open).unwrap().into_inner();
            let e = walk(&zip, &Default::default()).unwrap().entries.remove(0);
            assert_eq!(e.method, Method::Deflate);
            let stream = &zip[e.data_offset as usize..(e.data_offset + e.stored_size) as usize];
            assert_eq!((Sha256Digest::of(stream), stream.len() as u64), whole, "reads of {step} bytes");
        }
    }

    /// The end record's thresholds (format-spec/bundle-v1.md §8, "ZIP64, end of the archive"):
    /// 65,535 entries fit its 16-bit count, so the writer writes no ZIP64 end record and the
    /// walker reads 0xFFFF as the count; 65,536 need the ZIP64 end record. Both walk.
    #[test]
    fn entry_counts_at_the_zip64_threshold_walk() {
        for (n, zip64) in [(0xFFFF_usize, false), (0x1_0000, true)] {
            let planned: Vec<PlannedMember> =
                (0..n).map(|i| PlannedMember { name: format!("other/{i:05x}"), size: 0, deflate: false }).collect();
            let mut open = |_: &str| -> io::Result<Box<dyn Read + '_>> { Ok(Box::new(io::empty())) };
            let zip = write_zip(io::Cursor::new(Vec::new()), &planned, Timestamp(0), &mut open).unwrap().into_inner();
            let eocd = &zip[zip.len() - 22..];
            assert_eq!(u16::from_le_bytes([eocd[10], eocd[11]]), n.min(0xFFFF) as u16, "{n} entries: end-record count");
            let locator = &zip[zip.len() - 42..zip.len() - 38];
            assert_eq!(locator == b"PK\x06\x07", zip64, "{n} entries: ZIP64 end record present");
            assert_eq!(walk(&zip, &Default::default()).unwrap().entries.len(), n, "{n} entries walk");
        }
    }
}
