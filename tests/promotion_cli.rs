//! The promotion story through the binary: canary rings 2 %/4 h and 10 %/24 h then stable; an
//! operator and approvers 2-of-3 in the pinned root; capture, request, two approvals, execute;
//! the soak refused until its time has passed (the rollout and first request made 5 h ago, the
//! host clock moved back with libfaketime, since every verb that signs refuses --at-time; moved
//! 25 h ahead for the second ring), replay, hold, a clock behind the ledger, the channel promotion, rollback, and the
//! whole chain on a fresh home. Every refusal names its rule, writes nothing and leaves
//! `promotion status` unchanged; `status` shows soak remaining and pending requests.

mod release_support;
mod schema_support;

use release_support::cli_support;
use release_support::{canary_metadata, layout, pack, text, trust_root, work};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

const FAR: &str = "2099-01-01T00:00:00Z";
const T0: i64 = 1_700_000_000;
/// Any `--at-time` given to a verb that signs is refused, whatever its value.
const FIVE_HOURS_AGO_IS_REFUSED: &str = "2026-01-01T00:00:00Z";

fn at(d: &Path, t: i64, args: &[&str]) -> Output {
    run(cli_support::command(&d.join("airlock-home")), d, t, args)
}

fn run(mut c: std::process::Command, d: &Path, t: i64, args: &[&str]) -> Output {
    c.current_dir(d).args(args).arg("--no-progress").env("SOURCE_DATE_EPOCH", t.to_string()).output().expect("run airlock")
}

#[track_caller]
fn ok(o: Output) {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[track_caller]
fn refused(o: Output, rule: &str) {
    assert_eq!(o.status.code(), Some(1), "{rule}: {}", text(&o));
    assert!(text(&o).contains(&format!("FAIL {rule} ")), "{rule}: {}", text(&o));
}

/// `promotion status --json`.
fn status_doc(d: &Path) -> Value {
    let o = at(d, T0, &["promotion", "status", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// [`status_doc`] without its `at` (the clock reading of the run itself), so that two readings
/// of unchanged state compare equal across a second boundary.
fn status(d: &Path) -> Value {
    let mut v = status_doc(d);
    let at = v.as_object_mut().unwrap().remove("at");
    assert!(at.as_ref().and_then(Value::as_str).is_some(), "status says when it was read: {v}");
    v
}

fn setup(d: &Path) {
    for k in ["root", "op", "ap1", "ap2", "ap3"] {
        ok(at(d, T0, &["keygen", "-o", k]));
    }
    let meta = canary_metadata();
    let rel = layout(d, "rel", b"app\n", false);
    let o = pack(d, &rel, &meta, "1.2.0", "app.zip", &["a"]);
    assert!(o.status.success(), "{}", text(&o));
    trust_root(
        d,
        "root.json",
        &[
            "--role",
            "root:1:root.pub",
            "--role",
            "release:1:a.pub",
            "--role",
            "operator:1:op.pub",
            "--role",
            "approver:2:ap1.pub,ap2.pub,ap3.pub",
            "--expires",
            FAR,
        ],
        &["root"],
    );
}

fn request_args<'a>(target: &[&'a str], out: &'a str) -> Vec<&'a str> {
    let mut a = vec![
        "promotion",
        "request",
        "--rollout",
        "rollout.json",
        "--bundle",
        "app.zip",
        "--expires-in",
        "3d",
        "--sign-key",
        "op.key",
        "-o",
        out,
    ];
    a.extend_from_slice(target);
    a
}

fn request(d: &Path, t: i64, target: &[&str], out: &str) -> Output {
    at(d, t, &request_args(target, out))
}

fn approve_args<'a>(req: &'a str, key: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["promotion", "approve", req, "--bundle", "app.zip", "--reason", "dashboards green", "--sign-key", key, "-o", out];
    a.extend_from_slice(extra);
    a
}

fn approve(d: &Path, t: i64, req: &str, key: &str, out: &str, extra: &[&str]) -> Output {
    at(d, t, &approve_args(req, key, out, extra))
}

fn execute(d: &Path, t: i64, req: &str, approvals: &[&str], out: &str) -> Output {
    let mut a = vec!["promotion", "execute", req, "--rollout", "rollout.json", "--bundle", "app.zip", "--sign-key", "op.key", "-o", out];
    for p in approvals {
        a.extend_from_slice(&["--approval", p]);
    }
    at(d, t, &a)
}

/// `airlock ARGS` on a host whose clock is `hours` behind (libfaketime): documents made in the
/// past. `None` without faketime (allowed only outside CI).
fn ago(d: &Path, hours: u32, args: &[&str]) -> Option<Output> {
    cli_support::command_later(&d.join("airlock-home"), 0)?;
    let c = cli_support::command_via(&d.join("airlock-home"), &["faketime", "-f", &format!("-{hours}h")]);
    Some(run(c, d, T0, args))
}

#[test]
fn capture_request_approve_execute_soak_replay_hold_and_rollback() {
    let w = work();
    let d = &w.dir;
    setup(d);
    // The root is pinned 6 h ago: the store's latest known time must not be ahead of the
    // documents made 5 h ago below.
    let fp = release_support::sha256_hex(&std::fs::read(d.join("root.json")).unwrap());
    let Some(o) = ago(d, 6, &["trust", "init", "root.json", "--fingerprint", &fp]) else { return };
    ok(o);
    // Every verb that signs refuses --at-time: a capture dated 5 h ago would skip the soak.
    let capture = [
        "rollout",
        "capture",
        "app.zip",
        "--channel",
        "canary",
        "--ring",
        "c2",
        "--deployment",
        "canary-runners",
        "--status",
        "staged",
        "--actor",
        "alice",
        "--sign-key",
        "op.key",
        "-o",
        "rollout.json",
    ];
    let o = at(d, T0, &[&capture[..], &["--at-time", FIVE_HOURS_AGO_IS_REFUSED]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--at-time is refused"), "{}", text(&o));
    assert!(!d.join("rollout.json").exists());
    ok(ago(d, 5, &capture).unwrap());
    // A skipped ring is refused at request time.
    refused(ago(d, 5, &request_args(&["--to-channel", "stable"], "skip.json")).unwrap(), "promotion.channel-order");
    assert!(!d.join("skip.json").exists());
    ok(ago(d, 5, &request_args(&["--to-ring", "c10"], "r1.json")).unwrap());
    ok(ago(d, 4, &approve_args("r1.json", "ap3.key", "old.json", &["--expires-in", "1h"])).unwrap());
    ok(approve(d, T0, "r1.json", "ap1.key", "a1.json", &[]));
    ok(approve(d, T0, "r1.json", "ap2.key", "a2.json", &[]));
    // A non-approver's approval is refused when made.
    refused(approve(d, T0, "r1.json", "op.key", "bad.json", &[]), "promotion.signer");
    let empty = status(d);

    // One approval is not a quorum, an approver twice neither; an approval expired by the real clock.
    refused(execute(d, T0, "r1.json", &["a1.json"], "e1.json"), "promotion.quorum");
    refused(execute(d, T0, "r1.json", &["a1.json", "a1.json"], "e1.json"), "promotion.approval-distinct");
    refused(execute(d, T0, "r1.json", &["a1.json", "old.json"], "e1.json"), "promotion.approval-expiry");
    // --at-time inside the expired approval's window cannot revive it: execute refuses the flag.
    let o = at(
        d,
        T0,
        &[
            "promotion",
            "execute",
            "r1.json",
            "--rollout",
            "rollout.json",
            "--bundle",
            "app.zip",
            "--sign-key",
            "op.key",
            "-o",
            "e1.json",
            "--approval",
            "a1.json",
            "--approval",
            "old.json",
            "--at-time",
            FIVE_HOURS_AGO_IS_REFUSED,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--at-time is refused"), "{}", text(&o));
    assert!(!d.join("e1.json").exists());
    assert_eq!(status(d), empty, "refusals change no promotion state");
    // The same for every other verb that signs: nothing written, nothing recorded.
    let late = ["--at-time", FIVE_HOURS_AGO_IS_REFUSED];
    for (args, out) in [
        (request_args(&[&["--to-ring", "c10"][..], &late[..]].concat(), "r-late.json"), "r-late.json"),
        (approve_args("r1.json", "ap1.key", "a-late.json", &late), "a-late.json"),
        (
            [&["promotion", "hold", "--bundle", "app.zip", "--channel", "stable", "--reason", "x", "--sign-key", "op.key"][..], &late[..]]
                .concat(),
            "",
        ),
    ] {
        let o = at(d, T0, &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("--at-time is refused"), "{}", text(&o));
        assert!(out.is_empty() || !d.join(out).exists());
    }
    assert_eq!(status(d), empty, "refusals change no promotion state");
    // c2 (4 h) has soaked since the capture 5 h ago.
    ok(execute(d, T0, "r1.json", &["a1.json", "a2.json"], "e1.json"));
    refused(execute(d, T0, "r1.json", &["a1.json", "a2.json"], "e-again.json"), "promotion.replay");
    let s = status(d);
    assert_eq!(s["channels"][0]["ring"], "c10", "{s}");
    assert_eq!(s["channels"][0]["executed"], 1, "{s}");

    // c10 soaks 24 h from the execution: the next channel is refused now; a hold blocks too.
    ok(request(d, T0, &["--to-channel", "stable"], "r2.json"));
    ok(approve(d, T0, "r2.json", "ap1.key", "b1.json", &["--expires-in", "3d"]));
    ok(approve(d, T0, "r2.json", "ap3.key", "b3.json", &["--expires-in", "3d"]));
    refused(execute(d, T0, "r2.json", &["b1.json", "b3.json"], "e2.json"), "promotion.soak");
    let s = status(d);
    let canary = &s["channels"][0];
    assert_eq!((canary["channel"].as_str(), canary["ring"].as_str()), (Some("canary"), Some("c10")), "{s}");
    let left = canary["soakRemainingSeconds"].as_i64().unwrap_or_else(|| panic!("soak remaining: {s}"));
    assert!((23 * 3600..=24 * 3600).contains(&left), "c10 soaks 24 h from its execution just now: {s}");
    let pending = &s["channels"].as_array().unwrap().iter().find(|c| c["channel"] == "stable").expect("stable row")["pending"];
    assert_eq!(pending.as_array().map(Vec::len), Some(1), "the stable request is pending: {s}");
    assert!(text(&at(d, T0, &["promotion", "status"])).contains("pending channel c10 -> "), "text status shows the pending request");
    if schema_support::python_has("jsonschema") {
        std::fs::write(d.join("status.json"), serde_json::to_vec(&status_doc(d)).unwrap()).unwrap();
        schema_support::validate("promotion-status-v1.schema.json", &[d.join("status.json")]);
    }
    let hold = ["--bundle", "app.zip", "--channel", "stable", "--reason", "INC-7", "--sign-key", "op.key"];
    ok(at(d, T0, &[&["promotion", "hold"][..], &hold[..]].concat()));
    refused(execute(d, T0, "r2.json", &["b1.json", "b3.json"], "e2.json"), "promotion.hold");
    assert!(status(d)["channels"].as_array().unwrap().iter().any(|c| c["channel"] == "stable" && c["held"] == true));
    ok(at(d, T0, &[&["promotion", "resume"][..], &hold[..]].concat()));

    // 25 h later (the real clock moved by libfaketime: no --at-time can do this) c10 has soaked
    // and the channel promotion executes. From here every run is 25 h ahead: the ledger's latest
    // time moved with it, and a clock behind it is refused (promotion.clock).
    let Some(_) = cli_support::command_later(&d.join("airlock-home"), 25) else { return };
    let later = |args: &[&str]| run(cli_support::command_later(&d.join("airlock-home"), 25).unwrap(), d, T0, args);
    let exec = |req: &str, approvals: &[&str], out: &str| {
        let mut a =
            vec!["promotion", "execute", req, "--rollout", "rollout.json", "--bundle", "app.zip", "--sign-key", "op.key", "-o", out];
        approvals.iter().for_each(|p| a.extend_from_slice(&["--approval", p]));
        later(&a)
    };
    ok(exec("r2.json", &["b1.json", "b3.json"], "e2.json"));
    refused(execute(d, T0, "r2.json", &["b1.json", "b3.json"], "e2-now.json"), "promotion.clock");
    let s: Value = serde_json::from_slice(&later(&["promotion", "status", "--json"]).stdout).unwrap();
    let stable = s["channels"].as_array().unwrap().iter().find(|c| c["channel"] == "stable").expect("stable row").clone();
    assert_eq!((stable["executed"].as_u64(), stable["pending"].as_array().map(Vec::len)), (Some(1), Some(0)), "{s}");

    // Roll the channel promotion back, with a deny vetoing first.
    let rb = |args: &[&str]| later(&[&["promotion"][..], args, &["--bundle", "app.zip"]].concat());
    ok(rb(&[
        "request",
        "--rollout",
        "rollout.json",
        "--rollback",
        "e2.json",
        "--expires-in",
        "3d",
        "--sign-key",
        "op.key",
        "-o",
        "rb.json",
    ]));
    for (key, out, extra) in [("ap1.key", "c1.json", None), ("ap2.key", "c2.json", None), ("ap3.key", "c3.json", Some("--deny"))] {
        let mut a = vec!["approve", "rb.json", "--reason", "dashboards red", "--sign-key", key, "-o", out];
        a.extend(extra);
        ok(rb(&a));
    }
    refused(exec("rb.json", &["c1.json", "c2.json", "c3.json"], "erb.json"), "promotion.approval-deny");
    ok(exec("rb.json", &["c1.json", "c2.json"], "erb.json"));
    let s: Value = serde_json::from_slice(&later(&["promotion", "status", "--json"]).stdout).unwrap();
    assert_eq!(s["channels"][0]["channel"], "canary", "{s}");
    assert_eq!(s["channels"][0]["ring"], "c10", "back where the channel promotion came from: {s}");
    assert_eq!(s["channels"][0]["executed"], 2, "{s}");
    let rows = cli_support::ledger(&d.join("airlock-home"));
    let executes: Vec<&str> = rows.iter().filter(|(c, _)| c == "promotion execute").map(|(_, o)| o.as_str()).collect();
    assert_eq!(
        executes,
        ["fail", "fail", "fail", "pass", "fail", "fail", "fail", "pass", "fail", "fail", "pass"],
        "every attempt is recorded"
    );

    // The whole chain checks on a fresh $AIRLOCK_HOME with the bundle and the root; a chain
    // missing the request an execution names does not.
    let chain = [
        "rollout.json",
        "r1.json",
        "a1.json",
        "a2.json",
        "e1.json",
        "r2.json",
        "b1.json",
        "b3.json",
        "e2.json",
        "rb.json",
        "c1.json",
        "c2.json",
        "erb.json",
    ];
    let fresh = |files: &[&str]| {
        let mut a = vec!["promotion", "verify"];
        a.extend_from_slice(files);
        a.extend_from_slice(&["--bundle", "app.zip", "--trust-root", "root.json", "--no-progress"]);
        cli_support::command(&d.join("fresh-home")).current_dir(d).args(&a).output().unwrap()
    };
    ok(fresh(&chain));
    refused(fresh(&chain[..1].iter().chain(&chain[2..]).copied().collect::<Vec<_>>()), "promotion.chain");
}
