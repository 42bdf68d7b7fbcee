//! The deflate bit walker on arbitrary bytes, fed in two chunks (the first byte picks the
//! split): it must never panic, and wherever zlib-rs finds the end of a stream, the walker must
//! find it in the same byte.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else { return };
    let cut = split as usize * stream.len() / 255;
    let mut w = airlock::archive::deflate_walk::DeflateWalker::new();
    let walked = w.feed(&stream[..cut]).and_then(|()| w.feed(&stream[cut..])).and_then(|()| w.finish());
    let mut d = flate2::Decompress::new(false);
    let mut out = vec![0u8; 1 << 16];
    let zlib_end = loop {
        let (before_in, before_out) = (d.total_in(), d.total_out());
        match d.decompress(&stream[d.total_in() as usize..], &mut out, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) => break Some(d.total_in()),
            Ok(_) if d.total_out() < 8 << 20 && (d.total_in(), d.total_out()) != (before_in, before_out) => {}
            _ => break None,
        }
    };
    if let Some(n) = zlib_end {
        assert_eq!(walked.map(|e| e.len()), Ok(n), "zlib-rs ends the stream after {n} bytes");
    }
});
