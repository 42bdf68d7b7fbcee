//! Release metadata, gate policies (JSON and TOML) and minisign/signify key and signature files
//! on arbitrary bytes: must never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = airlock::release::ReleaseMetadata::parse(data);
    let _ = airlock::gate::policy::Policy::parse(data);
    let _ = airlock::gate::policy::Policy::parse_toml(data);
    let _ = airlock::evidence::minisign::MinisignPublicKey::parse(data);
    let _ = airlock::evidence::minisign::MinisignSignature::parse(data);
});
