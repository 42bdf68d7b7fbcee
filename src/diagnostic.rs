//! Every error of the core names itself here, in one table: its stable id (the rule it broke or
//! the kind of failure, `layer.what`) and one line saying what to try
//! ([`crate::report::Diagnostic`]). The shell prints both and puts them in the exit-2 document;
//! nothing else decides what an error is called.

use crate::archive::ArchiveError;
use crate::evidence::minisign::MinisignError;
use crate::gate::GateError;
use crate::gate::breakglass::ApproveError;
use crate::gate::policy::PolicyError;
use crate::json::JsonError;
use crate::keys::KeyError;
use crate::pack::PackError;
use crate::promotion::PromotionError;
use crate::release::ReleaseError;
use crate::release::cavra::CavraError;
use crate::report::Diagnostic;
use crate::tlog::TlogError;
use crate::trust::TlogRoleError;
use crate::trust::root::RootError;
use crate::trust::tuf::{FetchError, TufError};
use crate::verify::VerifyError;
use std::borrow::Cow;

const REOBTAIN: &str = "obtain the file again from its publisher and compare its digest";

impl Diagnostic for VerifyError {
    fn id(&self) -> Cow<'static, str> {
        self.kind().into()
    }
    fn hint(&self) -> Cow<'static, str> {
        VerifyError::hint(self).into()
    }
}

impl Diagnostic for RootError {
    fn id(&self) -> Cow<'static, str> {
        self.rule().into()
    }
    fn hint(&self) -> Cow<'static, str> {
        RootError::hint(self).into()
    }
}

impl Diagnostic for TlogError {
    fn id(&self) -> Cow<'static, str> {
        self.rule().into()
    }
    fn hint(&self) -> Cow<'static, str> {
        TlogError::hint(self).into()
    }
}

impl Diagnostic for crate::sigstore::SigstoreError {
    fn id(&self) -> Cow<'static, str> {
        self.check().into()
    }
    fn hint(&self) -> Cow<'static, str> {
        crate::sigstore::SigstoreError::hint(self).into()
    }
}

impl Diagnostic for ArchiveError {
    fn id(&self) -> Cow<'static, str> {
        match self.rule() {
            Some(r) => r.id().into(),
            None => "io".into(),
        }
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            ArchiveError::Io(_) => "check the path and that the file is readable".into(),
            ArchiveError::Refused { .. } => "do not use this archive; obtain it again from its publisher and compare its digest".into(),
        }
    }
}

impl Diagnostic for TufError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            TufError::Rule { rule, .. } => format!("tuf.{}", rule.section).into(),
            TufError::Missing { .. } => "tuf.missing".into(),
            TufError::Malformed { .. } => "tuf.malformed".into(),
            TufError::Fetch(e) => e.id(),
        }
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            TufError::Rule { .. } => {
                "the mirror is not a valid update of the pinned TUF root: copy it again from the repository, or stop trusting it".into()
            }
            TufError::Missing { .. } => "copy the whole repository mirror (metadata and targets) again".into(),
            TufError::Malformed { .. } => REOBTAIN.into(),
            TufError::Fetch(e) => e.hint(),
        }
    }
}

impl Diagnostic for FetchError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            FetchError::TooLarge { .. } => "tuf.too-large".into(),
            FetchError::Io { .. } => "io".into(),
        }
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            FetchError::TooLarge { .. } => "the mirror holds a file larger than its metadata allows: copy it again".into(),
            FetchError::Io { .. } => "check that the mirror directory is complete and readable".into(),
        }
    }
}

impl Diagnostic for TlogRoleError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            TlogRoleError::NotText => "tlog-role.policy-type".into(),
            TlogRoleError::Policy(e) => e.id(),
            TlogRoleError::UnlistedLogKey { .. } => "tlog-role.unlisted-log-key".into(),
        }
    }
    fn hint(&self) -> Cow<'static, str> {
        "fix the trust root's tlog role with `airlock trust new --from ROOT --role tlog:1:LOG.pub --tlog-policy FILE`".into()
    }
}

impl Diagnostic for GateError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            GateError::NoArtifact => "gate.no-artifact",
            GateError::AmbiguousArtifact { .. } => "gate.artifact-ambiguous",
            GateError::NoSuchArtifact(_) => "gate.artifact-unknown",
            GateError::Read { .. } => "gate.read",
            GateError::Changed { .. } => "gate.changed-after-verify",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            GateError::NoArtifact | GateError::NoSuchArtifact(_) => {
                "gate a bundle with an artifacts/ member, and name it as `airlock inspect` lists it".into()
            }
            GateError::AmbiguousArtifact { .. } => "choose one with --artifact PATH or the policy's \"artifact\"".into(),
            GateError::Read { .. } | GateError::Changed { .. } => {
                "keep the bundle file unchanged while airlock reads it, and run the gate again".into()
            }
        }
    }
}

impl Diagnostic for PolicyError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            PolicyError::Json(_) => "policy.json",
            PolicyError::Schema(_) => "policy.schema",
            PolicyError::Invalid(_) => "policy.invalid",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        "compare the policy with format-spec/gate-v1.md §4 and its JSON Schema (format-spec/schemas/gate-policy-v1.schema.json)".into()
    }
}

impl Diagnostic for ApproveError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            ApproveError::Reason => "break-glass.reason",
            ApproveError::Validity(_) => "break-glass.validity",
            ApproveError::NoKey => "break-glass.no-key",
            ApproveError::Malformed(_) => "break-glass.malformed",
            ApproveError::Mismatch { .. } => "break-glass.mismatch",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            ApproveError::Mismatch { .. } => "co-sign only an approval for the same bundle and the same reason".into(),
            ApproveError::Malformed(_) => "co-sign the file `airlock break-glass` wrote, unchanged".into(),
            _ => "`airlock break-glass --help` lists what an approval needs".into(),
        }
    }
}

impl Diagnostic for ReleaseError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            ReleaseError::Json(_) => "release.metadata-json",
            ReleaseError::Toml(_) => "release.metadata-toml",
            ReleaseError::Schema(_) => "release.metadata-schema",
            ReleaseError::UnknownSchema { .. } => "release.metadata-version",
            ReleaseError::NotNormal { .. } => "release.metadata-not-canonical",
            ReleaseError::Missing => "release.metadata-missing",
            ReleaseError::Digest { .. } => "release.metadata-digest",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            ReleaseError::UnknownSchema { .. } => "use an airlock release that reads this metadata version".into(),
            _ => "re-pack the bundle with `airlock pack --release release.toml`".into(),
        }
    }
}

impl Diagnostic for PromotionError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            PromotionError::Malformed { .. } => "promotion.malformed",
            PromotionError::Field { .. } => "promotion.field",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        "give the file `airlock rollout`/`airlock promotion` wrote, unchanged; format-spec/promotion-v1.md defines each document".into()
    }
}

impl Diagnostic for CavraError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            CavraError::NoChecksums => "cavra.no-checksums",
            CavraError::ChecksumLine { .. } => "cavra.checksum-line",
            CavraError::Duplicate(_) => "cavra.duplicate",
            CavraError::Unlisted(_) => "cavra.unlisted",
            CavraError::NotUnlisted(_) => "cavra.not-unlisted",
            CavraError::Missing(_) => "cavra.missing",
            CavraError::Mismatch { .. } => "cavra.digest",
            CavraError::MissingDocument(_) => "cavra.missing-document",
            CavraError::Json { .. } => "cavra.json",
            CavraError::Field { .. } => "cavra.field",
            CavraError::Unsigned(_) => "cavra.unsigned",
            CavraError::Signature { .. } => "cavra.signature",
            CavraError::Key(_) => "cavra.key",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            CavraError::Unlisted(_) => "if the file belongs to the release, name it with --accept-unlisted FILE".into(),
            CavraError::Key(_) => "give CAVRA's release public key as its PEM file (`-----BEGIN PUBLIC KEY-----`), obtained from offline media".into(),
            CavraError::Signature { .. } => {
                "check that --cavra-key is CAVRA's release key; otherwise the package was changed or re-signed: obtain it again from its publisher".into()
            }
            _ => "obtain the CAVRA package again from its publisher; do not pack what its checksums do not cover".into(),
        }
    }
}

impl Diagnostic for PackError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            PackError::NoKey => "pack.no-key".into(),
            PackError::Path { .. } => "pack.path".into(),
            PackError::Manifest(_) => "pack.manifest".into(),
            PackError::Limit { .. } => "pack.limit".into(),
            PackError::EvidenceTooLarge { .. } => "pack.evidence-size".into(),
        }
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            PackError::NoKey => "pass --key NAME.key (make one with `airlock keygen NAME`)".into(),
            PackError::Limit { rule: crate::archive::Rule::CompressionRatio, .. } => {
                "pack with --compress store (or auto): verifiers refuse deflated members this compressible".into()
            }
            PackError::Limit { .. } => "split the release into several bundles within the limits of format-spec/archive-rules-v1.md".into(),
            PackError::EvidenceTooLarge { .. } => {
                "split the document (one SBOM or VEX per artifact), or ship it under other/ where the gate does not read it".into()
            }
            _ => "put members under artifacts/, sbom/, provenance/, attestations/, vex/, tlog/, release/ or other/ with portable names"
                .into(),
        }
    }
}

impl Diagnostic for KeyError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            KeyError::Malformed(_) => "key.malformed",
            KeyError::Format { .. } => "key.format",
            KeyError::Unsupported { .. } => "key.unsupported",
            KeyError::Encoding { .. } => "key.encoding",
            KeyError::InvalidPoint(_) => "key.invalid-point",
            KeyError::Weak(_) => "key.weak",
            KeyError::KeyIdMismatch { .. } => "key.keyid-mismatch",
            KeyError::PairMismatch => "key.pair-mismatch",
            KeyError::SecretGiven { .. } => "key.secret-given",
            KeyError::NotPublicKey { .. } => "key.not-public",
            KeyError::Desc(_) => "key.unsupported",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            KeyError::SecretGiven { .. } => "pass the public half: the .pub file `airlock keygen` wrote beside the .key".into(),
            KeyError::NotPublicKey { .. } | KeyError::Desc(_) => {
                "pass an airlock .pub file, a PEM PUBLIC KEY (Ed25519 or P-256) or a securesystemslib public key dict".into()
            }
            _ => "use a key file written by `airlock keygen`, copied unchanged".into(),
        }
    }
}

impl Diagnostic for MinisignError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            MinisignError::Format { .. } => "minisign.format",
            MinisignError::Algorithm { .. } => "minisign.algorithm",
            MinisignError::Key(_) => "minisign.key",
            MinisignError::KeyIdMismatch { .. } => "minisign.key-id",
            MinisignError::BadSignature { .. } => "minisign.signature",
            MinisignError::BadGlobalSignature { .. } => "minisign.global-signature",
            MinisignError::LegacyTooLarge { .. } => "minisign.legacy-too-large",
            MinisignError::Io(_) => "io",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            MinisignError::KeyIdMismatch { .. } => "pass the public key of the signer named by the signature".into(),
            MinisignError::LegacyTooLarge { .. } => "ask the signer for a prehashed signature (`minisign -S` makes one by default)".into(),
            _ => "obtain the file and its .minisig again from the publisher, and their public key from offline media".into(),
        }
    }
}

impl Diagnostic for JsonError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            JsonError::Utf8 { .. } => "json.utf8",
            JsonError::Syntax { .. } => "json.syntax",
            JsonError::DuplicateKey { .. } => "json.duplicate-key",
            JsonError::IntegerOutOfRange { .. } => "json.integer-range",
            JsonError::TooDeep { .. } => "json.depth",
            JsonError::NotCanonical { .. } => "json.not-canonical",
            JsonError::Schema(_) => "json.schema",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        REOBTAIN.into()
    }
}

impl Diagnostic for crate::trust::state::ClockWentBackwards {
    fn id(&self) -> Cow<'static, str> {
        "freshness.clock".into()
    }
    fn hint(&self) -> Cow<'static, str> {
        "set the system clock right; the trust store never trusts a clock that went backwards".into()
    }
}

impl Diagnostic for crate::trust::role::RoleNameError {
    fn id(&self) -> Cow<'static, str> {
        "role.name".into()
    }
    fn hint(&self) -> Cow<'static, str> {
        "role names are [a-z][a-z0-9-]{0,31}, as in the trust root: use e.g. release, builder or layout-owner".into()
    }
}

impl Diagnostic for crate::trust::role::RoleKeysError {
    fn id(&self) -> Cow<'static, str> {
        "trust.unusable".into()
    }
    fn hint(&self) -> Cow<'static, str> {
        "pass --key PUB at least --threshold times, or use a trust root whose role lists enough keys".into()
    }
}

/// The hint an older error carries inside its message (`...\n  hint: ...`), if any.
fn embedded_hint(e: &dyn std::error::Error, fallback: &'static str) -> Cow<'static, str> {
    let text = e.to_string();
    match text.split_once("hint: ") {
        Some((_, h)) => h.lines().next().unwrap_or(fallback).trim().to_string().into(),
        None => fallback.into(),
    }
}

impl Diagnostic for crate::ledger::LedgerError {
    fn id(&self) -> Cow<'static, str> {
        use crate::ledger::LedgerError as E;
        match self {
            E::Malformed(_) => "ledger.record",
            E::Schema { .. } => "ledger.record-schema",
            E::TooLarge { .. } => "ledger.record-size",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        embedded_hint(self, "run `airlock evidence verify`")
    }
}

impl Diagnostic for crate::ledger::export::ExportError {
    fn id(&self) -> Cow<'static, str> {
        use crate::ledger::export::ExportError as E;
        match self {
            E::Head(_) => "ledger.export-head",
            E::Schema { .. } => "ledger.export-schema",
            E::Site { .. } => "ledger.export-site",
            E::Line { .. } | E::Lines(_) => "ledger.export-records",
            E::Chain(_) => "ledger.export-chain",
            E::Mismatch { .. } => "ledger.export-mismatch",
            E::Empty => "ledger.export-empty",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        embedded_hint(self, "export again with `airlock evidence export` on the site, and import that file unchanged")
    }
}

impl Diagnostic for crate::fsio::InputError {
    fn id(&self) -> Cow<'static, str> {
        use crate::fsio::InputError;
        match self {
            InputError::NotRegular { .. } => "input.not-regular",
            InputError::Symlink { .. } => "input.symlink",
            InputError::TooLarge { .. } => "input.too-large",
            InputError::Open { .. } | InputError::Io { .. } => "io",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        use crate::fsio::InputError;
        match self {
            InputError::NotRegular { .. } => "name a regular file (copy the input to a file first; pipes and devices are not read)".into(),
            InputError::Symlink { .. } => {
                "copy the mirror or store with its files in place of links (e.g. `cp -rL`), then try again".into()
            }
            InputError::TooLarge { .. } => "check that this is the right file; inputs of this kind are never that large".into(),
            InputError::Open { .. } | InputError::Io { .. } => "check the path, that the file exists and is readable".into(),
        }
    }
}

impl Diagnostic for crate::inventory::InventoryError {
    fn id(&self) -> Cow<'static, str> {
        self.rule().into()
    }
    fn hint(&self) -> Cow<'static, str> {
        crate::inventory::InventoryError::hint(self).into()
    }
}

impl Diagnostic for crate::api::ApiError {
    fn id(&self) -> Cow<'static, str> {
        match self {
            crate::api::ApiError::NotFound { .. } => "api.not-found",
            crate::api::ApiError::MethodNotAllowed { .. } => "api.method",
            crate::api::ApiError::BadBundleId { .. } => "api.bundle-id",
            crate::api::ApiError::BadQuery { .. } => "api.query",
            crate::api::ApiError::Malformed { .. } => "api.malformed",
            crate::api::ApiError::LengthRequired => "api.length-required",
            crate::api::ApiError::TooLarge { .. } => "api.too-large",
            crate::api::ApiError::Unauthorized => "api.unauthorized",
            crate::api::ApiError::Timeout { .. } => "api.timeout",
            crate::api::ApiError::Busy { .. } => "api.busy",
            crate::api::ApiError::NoPolicy => "api.no-policy",
            crate::api::ApiError::UnknownBundle { .. } => "api.unknown-bundle",
            crate::api::ApiError::Quota { .. } => "api.quota",
        }
        .into()
    }
    fn hint(&self) -> Cow<'static, str> {
        match self {
            crate::api::ApiError::NotFound { .. } | crate::api::ApiError::MethodNotAllowed { .. } => {
                "see format-spec/api-v1.md for the endpoints"
            }
            crate::api::ApiError::BadBundleId { .. } => "use the bundleId of an upload's response (64 hex digits)",
            crate::api::ApiError::BadQuery { .. } => "see format-spec/api-v1.md for the parameters; give each at most once",
            crate::api::ApiError::Malformed { .. } => "send one HTTP/1.1 request per connection with ASCII headers",
            crate::api::ApiError::LengthRequired => "send the bundle with a Content-Length header",
            crate::api::ApiError::TooLarge { .. } => "upload a smaller bundle, or restart the server with a larger --max-body",
            crate::api::ApiError::Unauthorized => "send Authorization: Bearer <token> with a token from the server's --token-file",
            crate::api::ApiError::Timeout { .. } => "send the whole request promptly; slow clients are cut off",
            crate::api::ApiError::Busy { .. } => "retry after a moment",
            crate::api::ApiError::NoPolicy => "ask the operator to start airlock serve with --policy",
            crate::api::ApiError::UnknownBundle { .. } => "POST the bundle to /evidence first",
            crate::api::ApiError::Quota { .. } => {
                "ask the operator to remove kept bundles under serve/bundles or restart airlock serve with a larger --bundle-quota"
            }
        }
        .into()
    }
}
