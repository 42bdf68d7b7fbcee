//! Signed notes, checkpoints, verifier keys, tlog-proof files and tlog-policy documents on
//! arbitrary bytes: must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::tlog::note::Note::parse(data);
    let _ = airlock::tlog::proof::TlogProof::parse(data);
    let _ = airlock::tlog::policy::Policy::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = airlock::tlog::checkpoint::Checkpoint::parse(text);
        let _ = airlock::tlog::note::VerifierKey::parse(text);
    }
});
