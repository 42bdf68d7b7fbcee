//! Trust-root documents and TUF metadata on arbitrary bytes: must never panic. The input is a
//! trust root (airlock's own parser and the self-signature check) and, as the trusted TUF root
//! of a client, whose repository serves the bytes after the first 0xff as `timestamp.json`.
#![no_main]
use airlock::trust::tuf::{Client, FetchError, Limits, Persisted, Repository};

struct Mem<'a>(&'a [u8]);

impl Repository for Mem<'_> {
    fn metadata(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        Ok((name == "timestamp.json" && self.0.len() as u64 <= max_len).then(|| self.0.to_vec()))
    }
    fn target(&self, _path: &str, _max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        Ok(None)
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::trust::root::VerifiedRoot::parse_self_signed(data);
    let (root, rest) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let trusted = Persisted { root: root.to_vec(), timestamp: None, snapshot: None };
    if let Ok(mut c) = Client::new(&trusted, airlock::time::Timestamp(1_800_000_000), Limits::default()) {
        let _ = c.update_root(&Mem(rest));
        let _ = c.update_timestamp(&Mem(rest));
    }
});
