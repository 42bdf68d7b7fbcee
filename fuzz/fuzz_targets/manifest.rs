//! The manifest parser (strict canonical JSON, v1 schema and rules) and the DSSE envelope
//! parser on arbitrary bytes: must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::bundle::manifest::Manifest::parse(data);
    let _ = airlock::dsse::Envelope::parse(data);
});
