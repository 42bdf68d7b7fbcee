//! Full verification on arbitrary archive bytes, the hostile corpus' test key trusted: must never
//! panic or hang, and whatever passes must read back through the strict walker with exactly the
//! signed manifest's member set (verify and the walker never disagree about what was verified).
#![no_main]
use airlock::verify::{self, Options, TrustPolicy, Verification};
use std::collections::BTreeSet;
use std::sync::OnceLock;

fn trust() -> &'static TrustPolicy {
    static T: OnceLock<TrustPolicy> = OnceLock::new();
    T.get_or_init(|| TrustPolicy::ed25519([airlock::conformance::hostile::test_key().public().clone()], 1, "fuzz"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let src = data.to_vec();
    let opts = Options { threads: 1, ..Options::default() };
    if let Ok(Verification::Passed(v, _)) = verify::verify(&src, trust(), &opts, &|_| {}) {
        let index = airlock::archive::walk_and_read(&src, &opts.limits).expect("a verified archive reads back through the walker");
        let listed: BTreeSet<&str> = v.get().manifest().members.iter().map(|m| m.path.as_str()).collect();
        let present: BTreeSet<&str> = index
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| !airlock::bundle::CONTROL.contains(n) && *n != airlock::bundle::TLOG_PROOF)
            .collect();
        assert_eq!(listed, present, "verify passed an archive whose members differ from the signed manifest");
    }
});
