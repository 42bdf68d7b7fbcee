//! Every exit-2 path of every `--json` command prints the error document
//! (`{"schema", "command", "outcome": "error", "error": {"kind", "message", "hint"}}`) on stdout
//! and the same error with its hint on stderr. The command tree is walked from clap itself, so a
//! new `--json` command without a case here fails this test.

mod cli_support;
mod schema_support;

use clap::CommandFactory;
use cli_support::{Out, run_airlock};
use std::collections::BTreeSet;
use std::path::Path;

/// Every command path (`verify`, `trust init`, ...) that takes `--json`.
fn json_commands() -> BTreeSet<String> {
    fn walk(c: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
        for sub in c.get_subcommands() {
            let path = if prefix.is_empty() { sub.get_name().to_string() } else { format!("{prefix} {}", sub.get_name()) };
            if sub.get_arguments().any(|a| a.get_long() == Some("json")) {
                out.insert(path.clone());
            }
            walk(sub, &path, out);
        }
    }
    let mut out = BTreeSet::new();
    walk(&airlock::cmd::Cli::command(), "", &mut out);
    out
}

struct Case {
    /// The command path, as [`json_commands`] names it.
    command: &'static str,
    args: &'static [&'static str],
    /// The error document's `schema`.
    schema: &'static str,
    /// `error.kind`.
    kind: &'static str,
    /// A piece of `error.message` naming the cause.
    cause: &'static str,
}

/// A state directory whose evidence ledger is not a database.
const DAMAGED: &str = "damaged-home";

const VERIFY: &str = "airlock/verify-report/v1";
const ERROR: &str = "airlock/error/v1";
const TRUST: &str = "airlock/trust-report/v1";
const TLOG: &str = "airlock/tlog-report/v1";

const CASES: &[Case] = &[
    Case { command: "verify", args: &["verify", "absent.zip", "--key", "k.pub"], schema: VERIFY, kind: "io", cause: "absent.zip" },
    Case {
        command: "verify",
        args: &["verify", "garbage.zip", "--key", "k.pub"],
        schema: VERIFY,
        kind: "archive.not-an-archive",
        cause: "neither a zip",
    },
    Case { command: "verify", args: &["verify", "garbage.zip"], schema: VERIFY, kind: "trust.none", cause: "no trust root is pinned" },
    Case { command: "verify", args: &["verify", "garbage.zip", "--key", "absent.pub"], schema: VERIFY, kind: "io", cause: "absent.pub" },
    Case {
        command: "upgrade-validate",
        args: &["upgrade-validate", "garbage.zip", "garbage.zip"],
        schema: "airlock/upgrade-report/v1",
        kind: "trust.none",
        cause: "no trust root is pinned",
    },
    Case {
        command: "upgrade-validate",
        args: &["upgrade-validate", "garbage.zip", "garbage.zip", "--key", "k.pub"],
        schema: "airlock/upgrade-report/v1",
        kind: "archive.not-an-archive",
        cause: "garbage.zip",
    },
    Case {
        command: "smoke",
        args: &["smoke", "absent.zip", "--key", "k.pub"],
        schema: "airlock/smoke-report/v1",
        kind: "io",
        cause: "absent.zip",
    },
    Case {
        command: "smoke",
        args: &["smoke", "garbage.zip", "--key", "k.pub"],
        schema: "airlock/smoke-report/v1",
        kind: "archive.not-an-archive",
        cause: "garbage.zip",
    },
    Case {
        command: "gate",
        args: &["gate", "garbage.zip", "--policy", "absent.json", "--key", "k.pub"],
        schema: "airlock/gate-result/v1",
        kind: "io",
        cause: "absent.json",
    },
    Case {
        command: "gate",
        args: &["gate", "garbage.zip", "--policy", "policy.json", "--key", "k.pub"],
        schema: "airlock/gate-result/v1",
        kind: "archive.not-an-archive",
        cause: "garbage.zip",
    },
    Case {
        command: "gate",
        args: &["gate", "garbage.zip", "--policy", "garbage.zip", "--key", "k.pub"],
        schema: "airlock/gate-result/v1",
        kind: "policy.json",
        cause: "gate policy",
    },
    Case { command: "inspect", args: &["inspect", "garbage.zip"], schema: ERROR, kind: "archive.not-an-archive", cause: "garbage.zip" },
    Case { command: "keygen", args: &["keygen", "-o", "k"], schema: ERROR, kind: "io", cause: "k.key" },
    Case {
        command: "pack",
        args: &["pack", "absent-dir", "-o", "out.zip", "--key", "k.key", "--product", "p", "--version", "1.0.0"],
        schema: ERROR,
        kind: "io",
        cause: "absent-dir",
    },
    Case {
        command: "trust init",
        args: &["trust", "init", "absent.json", "--fingerprint", "00"],
        schema: TRUST,
        kind: "usage",
        cause: "--fingerprint",
    },
    Case {
        command: "trust init",
        args: &["trust", "init", "garbage.zip", "--fingerprint", "e1d0ab5b1c63f8ab9d3f1b20e4d8e1ae0a0b7dd87f1e4c8c25dc3ec5c0a58f74"],
        schema: TRUST,
        kind: "trust.fingerprint",
        cause: "fingerprint mismatch",
    },
    Case { command: "trust update", args: &["trust", "update", "garbage.zip"], schema: TRUST, kind: "trust.none", cause: "no trust root" },
    Case { command: "trust show", args: &["trust", "show"], schema: TRUST, kind: "trust.none", cause: "no trust root" },
    Case { command: "trust show", args: &["trust", "show", "garbage.zip"], schema: TRUST, kind: "root.json", cause: "garbage.zip" },
    Case { command: "trust status", args: &["trust", "status"], schema: TRUST, kind: "trust.none", cause: "no trust root" },
    Case {
        command: "trust import-tuf",
        args: &["trust", "import-tuf", "--repo", "absent-dir", "--root", "absent.json", "--target", "t", "-o", "t.out"],
        schema: TRUST,
        kind: "io",
        cause: "absent.json",
    },
    Case {
        command: "tlog import",
        args: &["tlog", "import", "absent-dir"],
        schema: TLOG,
        kind: "tlog.no-trust",
        cause: "no transparency log",
    },
    Case { command: "tlog status", args: &["tlog", "status", "--policy", "absent.txt"], schema: TLOG, kind: "io", cause: "absent.txt" },
    Case { command: "evidence site", args: &["evidence", "site", "@damaged"], schema: ERROR, kind: "ledger.site-key", cause: "site.key" },
    Case {
        command: "evidence search",
        args: &["evidence", "search", "@damaged"],
        schema: ERROR,
        kind: "ledger.not-a-database",
        cause: "ledger.sqlite",
    },
    Case {
        command: "evidence show",
        args: &["evidence", "show", "1", "@damaged"],
        schema: ERROR,
        kind: "ledger.not-a-database",
        cause: "ledger.sqlite",
    },
    Case {
        command: "promotion status",
        args: &["promotion", "status", "@damaged"],
        schema: ERROR,
        kind: "ledger.not-a-database",
        cause: "ledger.sqlite",
    },
    Case {
        command: "evidence verify",
        args: &["evidence", "verify", "@damaged"],
        schema: ERROR,
        kind: "ledger.not-a-database",
        cause: "ledger.sqlite",
    },
    Case {
        command: "evidence import",
        args: &["evidence", "import", "absent.zip", "--site-key", "k.pub"],
        schema: ERROR,
        kind: "io",
        cause: "absent.zip",
    },
    Case {
        command: "tlog verify-proof",
        args: &["tlog", "verify-proof", "absent.proof", "--entry", "absent.entry", "--policy", "garbage.zip"],
        schema: TLOG,
        kind: "policy.syntax",
        cause: "garbage.zip",
    },
    Case {
        command: "sigstore verify",
        args: &[
            "sigstore",
            "verify",
            "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "--bundle",
            "absent.json",
            "--certificate-identity",
            "someone",
            "--certificate-oidc-issuer",
            "https://issuer.example",
            "--trusted-root",
            "garbage.zip",
        ],
        schema: "airlock/sigstore-verify-result/v1",
        kind: "sigstore.trusted-root",
        cause: "garbage.zip",
    },
    Case {
        command: "inventory ingest",
        args: &["inventory", "ingest", "absent.json", "--provider", "jamf", "--product", "app"],
        schema: "airlock/inventory-ingest/v1",
        kind: "io",
        cause: "absent.json",
    },
    Case {
        command: "inventory ingest",
        args: &["inventory", "ingest", "garbage.zip", "--provider", "edr", "--product", "app"],
        schema: "airlock/inventory-ingest/v1",
        kind: "inventory.json",
        cause: "line 1, column 1",
    },
    Case {
        command: "inventory freshness",
        args: &["inventory", "freshness", "@damaged"],
        schema: "airlock/inventory-freshness/v1",
        kind: "ledger.not-a-database",
        cause: "ledger.sqlite",
    },
    Case {
        command: "reconcile",
        args: &["reconcile", "garbage.zip", "--inventory", "absent.obs", "--key", "k.pub"],
        schema: "airlock/reconciliation-report/v1",
        kind: "io",
        cause: "absent.obs",
    },
];

fn check(dir: &Path, case: &Case) {
    // `@damaged`: run with a state directory whose evidence ledger is garbage.
    let damaged = case.args.contains(&"@damaged");
    let mut args: Vec<&str> = case.args.iter().copied().filter(|a| *a != "@damaged").collect();
    args.extend(["--json", "--no-progress"]);
    let home = dir.join(if damaged { DAMAGED } else { "home" });
    let o: Out = run_airlock(dir, &home, &[], &args);
    let what = format!("airlock {}: stdout\n{}\nstderr\n{}", args.join(" "), o.stdout, o.stderr);
    assert_eq!(o.code, 2, "{what}");
    let doc = o.json();
    assert_eq!(doc["schema"], case.schema, "{what}");
    assert_eq!(doc["command"], case.command, "{what}");
    assert_eq!(doc["outcome"], "error", "{what}");
    assert_eq!(doc["error"]["kind"], case.kind, "{what}");
    if case.kind.starts_with("archive.") && case.command != "inspect" {
        assert_eq!(doc["bundle"], case.args[1], "the document names the bundle it refused: {what}");
    }
    let message = doc["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(case.cause), "message does not name the cause {:?}: {what}", case.cause);
    let hint = doc["error"]["hint"].as_str().unwrap_or_default();
    assert!(!hint.is_empty(), "{what}");
    assert!(o.stderr.contains(&format!("error: {message}")) && o.stderr.contains(&format!("hint: {hint}")), "{what}");
}

#[test]
fn every_json_command_prints_the_error_document_on_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let made = run_airlock(d, &d.join("home"), &[], &["keygen", "-o", "k"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    std::fs::write(d.join("garbage.zip"), b"this is not an archive\n").unwrap();
    std::fs::create_dir_all(d.join(DAMAGED)).unwrap();
    std::fs::write(d.join(DAMAGED).join("site.key"), b"not a key\n").unwrap();
    std::fs::write(d.join(DAMAGED).join("ledger.sqlite"), [b"not a database: ".as_slice(), &[b'x'; 200]].concat()).unwrap();
    std::fs::write(d.join("policy.json"), br#"{"schema":"airlock/gate-policy/v1","transparency":{"required":false}}"#).unwrap();
    let covered: BTreeSet<String> = CASES.iter().map(|c| c.command.to_string()).collect();
    assert_eq!(covered, json_commands(), "every --json command needs at least one exit-2 case here");
    for case in CASES {
        check(d, case);
    }
}

#[test]
fn a_usage_error_with_json_prints_the_error_document() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run_airlock(tmp.path(), &tmp.path().join("home"), &[], &["verify", "--json", "--no-such-option", "x.zip"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    let doc = o.json();
    assert_eq!(
        (doc["schema"].as_str(), doc["outcome"].as_str(), doc["error"]["kind"].as_str()),
        (Some("airlock/error/v1"), Some("error"), Some("usage"))
    );
    assert!(doc["error"]["message"].as_str().unwrap().contains("--no-such-option"), "{doc}");
    assert!(o.stderr.contains("--no-such-option"), "{}", o.stderr);
}

#[test]
fn error_documents_match_their_schemas() {
    if !schema_support::python_has("jsonschema") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("garbage.zip"), b"this is not an archive\n").unwrap();
    for (schema, args) in [
        ("verify-report-v1.schema.json", &["verify", "garbage.zip"][..]),
        ("smoke-report-v1.schema.json", &["smoke", "garbage.zip"][..]),
        ("upgrade-report-v1.schema.json", &["upgrade-validate", "garbage.zip", "garbage.zip"][..]),
        ("gate-result-v1.schema.json", &["gate", "garbage.zip", "--policy", "absent.json"][..]),
        ("error-v1.schema.json", &["inspect", "garbage.zip"][..]),
    ] {
        let mut args = args.to_vec();
        args.push("--json");
        let o = run_airlock(d, &d.join("home"), &[], &args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        let file = d.join(format!("{schema}.doc.json"));
        std::fs::write(&file, &o.stdout).unwrap();
        schema_support::validate(schema, &[&file]);
    }
}
