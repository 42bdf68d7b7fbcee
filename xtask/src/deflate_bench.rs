//! `cargo xtask deflate-bench` (build with `--release`: `cargo run --release -p xtask --
//! deflate-bench`): what the deflate bit walker costs. For a few kinds of data, deflated at level
//! 6 as `airlock pack` does, times in the same run: the walker alone over the compressed bytes,
//! inflate alone, and a member's full read as `verify` does it (inflate + walker + CRC-32 +
//! SHA-256, `archive::hash_member`) against the same without the walker.

use anyhow::Result;
use std::io::Write;
use std::time::Instant;

const CHUNK: usize = 256 << 10;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// (name, content) of about `size` bytes each.
fn inputs(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words: Vec<String> = (0..4000).map(|i| format!("w{}{}", i * 7919 % 10007, ["", "ing", "ed", "s"][i % 4])).collect();
    let mut text = Vec::with_capacity(size);
    while text.len() < size {
        // Zipf-like: small indices far more often.
        let r = rng.next();
        let idx = ((r % 4000) * ((r >> 32) % 4000) / 4000) as usize;
        text.extend_from_slice(words[idx].as_bytes());
        text.push(if r.is_multiple_of(13) { b'\n' } else { b' ' });
    }
    // Skewed bytes, few repeats: mostly Huffman-coded literals, the walker's worst case.
    let skewed: Vec<u8> = (0..size).map(|_| (rng.next() % 64).min(rng.next() % 64) as u8).collect();
    // Machine code: the binaries of this machine, as artifacts are.
    let mut elf = Vec::with_capacity(size);
    let mut bins: Vec<_> = std::fs::read_dir("/usr/bin").map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    bins.sort();
    for p in bins {
        if elf.len() >= size {
            break;
        }
        if let Ok(b) = std::fs::read(&p)
            && b.starts_with(b"\x7fELF")
        {
            elf.extend_from_slice(&b);
        }
    }
    elf.truncate(size);
    let mut out = vec![("text", text), ("skewed bytes", skewed)];
    if elf.len() == size {
        out.push(("ELF binaries", elf));
    }
    out.push(("zeros", vec![0u8; size]));
    out
}

fn best<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..5 {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    (best, last.expect("ran"))
}

/// Inflate + CRC-32 + SHA-256 over 256 KiB chunks, as `stream_member` reads, without the walker.
fn baseline(stream: &[u8], hash: bool) -> u64 {
    let mut d = flate2::Decompress::new(false);
    let mut out = vec![0u8; 256 << 10];
    let mut h = airlock::digest::StreamHasher::new(false);
    let mut crc = crc32fast::Hasher::new();
    let mut at = 0usize;
    loop {
        let end = (at + CHUNK).min(stream.len());
        let (before_in, before_out) = (d.total_in(), d.total_out());
        let st = d.decompress(&stream[at..end], &mut out, flate2::FlushDecompress::None).expect("valid");
        at += (d.total_in() - before_in) as usize;
        let produced = &out[..(d.total_out() - before_out) as usize];
        if hash {
            crc.update(produced);
            h.update(produced);
        }
        if st == flate2::Status::StreamEnd {
            return d.total_out();
        }
    }
}

/// Prints the table.
pub fn run() -> Result<()> {
    let size = 64 << 20;
    println!("deflate-bench: {} MiB per input, level 6, best of 5", size >> 20);
    println!(
        "{:<13} {:>6} | {:>14} {:>14} | {:>12} {:>12} {:>7}",
        "input", "ratio", "walker MB/s in", "inflate MB/s in", "read before", "read after", "after/before"
    );
    for (name, data) in inputs(size) {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(&data)?;
        let stream = enc.finish()?;
        let mb = stream.len() as f64 / 1e6;
        let (t_walk, end) = best(|| {
            let mut w = airlock::archive::deflate_walk::DeflateWalker::new();
            for c in stream.chunks(CHUNK) {
                w.feed(c).expect("valid");
            }
            w.finish().expect("complete")
        });
        assert_eq!(end.len(), stream.len() as u64);
        let (t_inflate, n) = best(|| baseline(&stream, false));
        assert_eq!(n, data.len() as u64);
        let (t_before, _) = best(|| baseline(&stream, true));
        let entry = airlock::archive::Entry {
            name: "x".into(),
            header_offset: 0,
            data_offset: 0,
            stored_size: stream.len() as u64,
            size: data.len() as u64,
            method: airlock::archive::Method::Deflate,
            crc32: Some(crc32fast::hash(&data)),
        };
        let (t_after, r) = best(|| airlock::archive::hash_member(&stream, &entry, &|_| {}));
        r.expect("the member reads back");
        println!(
            "{:<13} {:>6.1} | {:>14.0} {:>14.0} | {:>10.1}ms {:>10.1}ms {:>7.2}",
            name,
            data.len() as f64 / stream.len() as f64,
            mb / t_walk,
            mb / t_inflate,
            t_before * 1e3,
            t_after * 1e3,
            t_after / t_before
        );
    }
    Ok(())
}
