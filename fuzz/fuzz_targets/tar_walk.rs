//! The strict tar walker and member reader on arbitrary bytes: must never panic or hang.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::conformance::hostile::exercise(Some(airlock::archive::Format::Tar), data, &airlock::archive::Limits::default());
});
