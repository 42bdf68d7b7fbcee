//! `airlock trust init|update|show|status|import-tuf|new|sign`: pin a trust root from offline
//! media by fingerprint, rotate it, inspect it, author roots, and bring a target in from a TUF
//! repository mirror on disk. Exit codes: 0 done, 1 refused by a trust rule, 2 could not check.

use super::{Decided, ShellError, Ui};
use crate::digest::Sha256Digest;
use crate::keys::SecretKey;
use crate::store::trust::TrustStore;
use crate::time::Timestamp;
use crate::trust::role::RoleName;
use crate::trust::root::{self, MAX_ROOT_SIZE, RoleDesc, RootError, RootSigned, TrustRoot, VerifiedRoot};
use crate::trust::state::EvalTime;
use crate::trust::state::State;
use crate::trust::tuf::{self, FetchError, Repository};
use crate::{clock, fsio};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schema id of `trust show --json` / `trust status --json`.
pub const TRUST_REPORT_SCHEMA: &str = "airlock/trust-report/v1";

/// Manage the pinned trust root.
#[derive(clap::Args, Debug)]
#[command(after_help = "A trust root is authored with `trust new`, signed with `trust sign`, pinned with `trust init` (by\n\
its SHA-256, compared with one obtained out of band) and rotated with `trust update`. It lives in\n\
$AIRLOCK_HOME/trust.\n\n\
Examples:\n  \
airlock trust new --role root:1:root.pub --role release:1:release.pub \\\n      \
--expires 2030-01-01T00:00:00Z -o root-v1.json\n  \
airlock trust sign root-v1.json --key root.key\n  \
airlock trust init root-v1.json --fingerprint \"$(sha256sum root-v1.json | cut -d' ' -f1)\"\n  \
airlock trust update root-v2.json\n  \
airlock trust show\n  \
airlock trust status --json")]
pub struct Args {
    /// The trust command.
    #[command(subcommand)]
    pub command: TrustCommand,
}

/// Trust subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum TrustCommand {
    /// Pin a trust root from offline media; refused unless its SHA-256 matches --fingerprint.
    Init(InitArgs),
    /// Apply signed rotations N+1, N+2, ... to the pinned root (all or nothing).
    Update(UpdateArgs),
    /// Show the pinned root (or a root file): keys, roles, thresholds, expiry, fingerprint.
    Show(ShowArgs),
    /// Show age, expiry, the latest known time and accepted bundles; exit 1 if the root expired
    /// or the clock went backwards.
    Status(StatusArgs),
    /// Verify a TUF repository mirror on disk from a pinned TUF root and write one target.
    ImportTuf(ImportTufArgs),
    /// Author an unsigned trust root (new, or the next version of an existing one).
    New(NewArgs),
    /// Add signatures to a trust root with `airlock keygen` keys.
    Sign(SignArgs),
}

/// `trust init`.
#[derive(clap::Args, Debug)]
#[command(after_help = "The fingerprint is the SHA-256 of the file's bytes (`sha256sum ROOT.json`), obtained out of band.\n\n\
Example:\n  airlock trust init /media/usb/root-v1.json --fingerprint 3f5a...e9")]
pub struct InitArgs {
    /// The trust-root file.
    pub root: PathBuf,
    /// Expected SHA-256 of the file (64 hex characters, `sha256:` prefix allowed).
    #[arg(long)]
    pub fingerprint: String,
    /// Replace an already pinned root (the anti-rollback state is kept: a root older than the
    /// highest version the store has seen is still refused).
    #[arg(long)]
    pub force: bool,
    /// Recovery when no root as new as the highest version the store has seen can be obtained:
    /// pin this older root and lower the store's highest root version to it (trust-root/README.md §8).
    #[arg(long)]
    pub allow_older_root: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trust update`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Each root must be version N+1 of the one before, signed by a threshold of distinct root keys of\n\
both the previous and the new root. Intermediate roots may have expired; the last may not.\n\n\
Example:\n  airlock trust update root-v2.json root-v3.json")]
pub struct UpdateArgs {
    /// Next roots, in any order (they are sorted by version and must be contiguous).
    #[arg(required = true)]
    pub roots: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trust show`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  airlock trust show\n  airlock trust show root-v2.json --json")]
pub struct ShowArgs {
    /// A root file to show instead of the pinned one (nothing is installed).
    pub file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trust status`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Exit 1 when the pinned root has expired or the clock is behind the latest known time.\n\n\
Examples:\n  airlock trust status\n  airlock trust status --json")]
pub struct StatusArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trust import-tuf`.
#[derive(clap::Args, Debug)]
#[command(after_help = "DIR holds metadata/ and targets/ as a static TUF HTTP server publishes them. The verified\n\
metadata is kept in the trust store so later imports detect rollbacks.\n\n\
Example:\n  \
airlock trust import-tuf --repo /media/usb/tuf-mirror --root sigstore-root-v5.json \\\n      \
--target trusted_root.json -o trusted_root.json")]
pub struct ImportTufArgs {
    /// Repository mirror directory.
    #[arg(long)]
    pub repo: PathBuf,
    /// The pinned TUF root.json to start from.
    #[arg(long = "root", value_name = "PINNED_ROOT")]
    pub root: PathBuf,
    /// Expected SHA-256 of the pinned root file.
    #[arg(long)]
    pub fingerprint: Option<String>,
    /// Target name as listed in targets metadata.
    #[arg(long)]
    pub target: String,
    /// Where to write the verified target.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Evaluate the mirror at this time (YYYY-MM-DDTHH:MM:SSZ) instead of the clock, from the
    /// pinned root alone: for a mirror frozen in time (e.g. published conformance data). Reports
    /// the time used and records nothing (no TUF metadata, clock or ledger record is saved).
    #[arg(long = "at-time", value_name = "T")]
    pub at_time: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `trust new`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Roles are NAME:THRESHOLD:KEY[,KEY...] where KEY is an `airlock keygen` .pub file or a PEM P-256\n\
public key. Roles root and release are required; tlog and approver are defined; others are carried.\n\
--tlog-policy stores a C2SP tlog-policy (log and witness keys, quorum) in the tlog role, where\n\
verify reads it.\n\n\
Examples:\n  \
airlock trust new --role root:1:root-a.pub --role release:1:rel.pub \\\n      \
--expires 2027-01-01T00:00:00Z -o root-v1.json\n  \
airlock trust new --role root:1:root-a.pub --role release:1:rel.pub --role tlog:1:log.pub \\\n      \
--tlog-policy logs.txt \\\n      \
--expires 2027-01-01T00:00:00Z -o root-v1.json\n  \
airlock trust new --from root-v1.json --role root:2:b.pub,c.pub,d.pub \\\n      \
--expires 2028-01-01T00:00:00Z -o root-v2.json\n  \
airlock trust sign root-v2.json --key root-a.key --key b.key --key c.key")]
pub struct NewArgs {
    /// Start from this root: version + 1, same keys, roles and revocations.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Version (default: 1, or the --from version + 1).
    #[arg(long = "root-version")]
    pub version: Option<u64>,
    /// Expiry, YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long)]
    pub expires: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// A role: NAME:THRESHOLD:KEY[,KEY...]; replaces the role's keys and threshold if --from has
    /// it (its policy is kept).
    #[arg(long = "role", value_name = "NAME:K:KEYS")]
    pub roles: Vec<String>,
    /// Revoke a key id: removed from every role and listed as revoked for good.
    #[arg(long = "revoke", value_name = "KEYID")]
    pub revoke: Vec<String>,
    /// A C2SP tlog-policy document (trusted logs, witnesses, quorum) to store in the `tlog`
    /// role as `policy.tlogPolicy`; the role must be given with --role or come from --from.
    #[arg(long, value_name = "FILE")]
    pub tlog_policy: Option<PathBuf>,
    /// Output file (unsigned root).
    #[arg(short, long)]
    pub output: PathBuf,
}

/// `trust sign`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  airlock trust sign root-v1.json --key root.key\n  \
airlock trust sign root-v2.json --key old-root.key --key new-root.key   # a rotation: old and new")]
pub struct SignArgs {
    /// The root file.
    pub file: PathBuf,
    /// Secret key (NAME.key); repeat.
    #[arg(long = "key", required = true)]
    pub keys: Vec<PathBuf>,
    /// Output (default: the file itself, replaced atomically).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

impl Args {
    /// With `--json`: the subcommand's name and report schema.
    pub fn json_output(&self) -> Option<(&'static str, &'static str)> {
        let (name, json) = match &self.command {
            TrustCommand::Init(a) => ("trust init", a.json),
            TrustCommand::Update(a) => ("trust update", a.json),
            TrustCommand::Show(a) => ("trust show", a.json),
            TrustCommand::Status(a) => ("trust status", a.json),
            TrustCommand::ImportTuf(a) => ("trust import-tuf", a.json),
            TrustCommand::New(_) | TrustCommand::Sign(_) => return None,
        };
        json.then_some((name, TRUST_REPORT_SCHEMA))
    }

    /// The name `init`, `update` and `import-tuf` (they change the trust store) are recorded
    /// under in the evidence ledger.
    pub fn ledger_name(&self) -> Option<&'static str> {
        match &self.command {
            TrustCommand::Init(_) => Some("trust init"),
            TrustCommand::Update(_) => Some("trust update"),
            // At a stated time nothing is recorded: the evaluation decides nothing for this host.
            TrustCommand::ImportTuf(a) if a.at_time.is_some() => None,
            TrustCommand::ImportTuf(_) => Some("trust import-tuf"),
            _ => None,
        }
    }

    /// Runs; the store-changing subcommands' verdicts are recorded by [`super::run`].
    pub fn run(self, ui: Ui) -> Result<Decided> {
        let plain = |r: Result<u8>| r.map(Decided::plain);
        match self.command {
            TrustCommand::Init(a) => a.run(ui),
            TrustCommand::Update(a) => a.run(ui),
            TrustCommand::Show(a) => plain(a.run()),
            TrustCommand::Status(a) => plain(a.run()),
            TrustCommand::ImportTuf(a) => a.run(ui),
            TrustCommand::New(a) => plain(a.run(ui)),
            TrustCommand::Sign(a) => plain(a.run(ui)),
        }
    }
}

fn parse_fingerprint(s: &str) -> Result<Sha256Digest> {
    let h = s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
    Sha256Digest::from_hex(&h)
        .map_err(|_| ShellError::Usage(format!("--fingerprint {s:?} is not 64 hex characters (the SHA-256 of the root file)")).into())
}

fn read_root(path: &Path) -> Result<(Vec<u8>, std::result::Result<TrustRoot, RootError>)> {
    let bytes = fsio::read_small(path, MAX_ROOT_SIZE)?;
    let parsed = TrustRoot::parse(&bytes);
    Ok((bytes, parsed))
}

/// A trust-root error about `what`: a refusal (exit 1) when a trust rule refused a readable
/// document, else could not check (exit 2).
fn refused(what: &str, e: RootError) -> anyhow::Error {
    let refusal = e.is_refusal();
    let e = anyhow::Error::new(e).context(super::About(what.into()));
    if refusal { super::refusal(e) } else { e }
}

/// The command's one clock reading: could not check (exit 2) when the clock cannot be read,
/// refused (exit 1) when it is earlier than the latest known time.
fn observe_clock(state: &State) -> Result<State> {
    let now = clock::now()?;
    state.observe_clock(now).map_err(super::refusal)
}

/// A JSON description of a root.
pub fn describe(root: &TrustRoot, now: Timestamp) -> serde_json::Value {
    let roles: BTreeMap<&String, serde_json::Value> = root
        .signed()
        .roles
        .iter()
        .map(|(n, r)| (n, json!({"threshold": r.threshold, "keyids": r.keyids, "known": RoleName::parse(n).is_ok_and(|n| n.is_known())})))
        .collect();
    let keys: BTreeMap<&String, &str> = root.keys().iter().map(|(id, k)| (id, k.algorithm())).collect();
    json!({
        "version": root.version(),
        "name": root.name(),
        "fingerprint": root.fingerprint().prefixed(),
        "expires": root.expires(),
        "expired": root.is_expired(now),
        "secondsToExpiry": root.expires().0 - now.0,
        "keys": keys,
        "roles": roles,
        "revoked": root.revoked(),
    })
}

/// Text description of a root.
pub fn render(root: &TrustRoot, now: Timestamp) -> String {
    let left = root.expires().0 - now.0;
    let mut s = format!(
        "trust root v{}{}\nfingerprint {}\nexpires     {} ({})\n\nkeys:\n",
        root.version(),
        root.name().map(|n| format!(" {n:?}")).unwrap_or_default(),
        root.fingerprint().prefixed(),
        root.expires(),
        if left > 0 { format!("in {} days", left / 86400) } else { format!("EXPIRED {} days ago", -left / 86400) }
    );
    for (id, k) in root.keys() {
        s.push_str(&format!("  {id} {}{}\n", k.algorithm(), if root.is_revoked(id) { " (REVOKED)" } else { "" }));
    }
    s.push_str("\nroles:\n");
    for (n, r) in &root.signed().roles {
        s.push_str(&format!("  {n:<9} {} of {}\n", r.threshold, r.keyids.len()));
        for id in &r.keyids {
            s.push_str(&format!("            {id}\n"));
        }
    }
    if !root.revoked().is_empty() {
        s.push_str(&format!("\nrevoked: {}\n", root.revoked().join(", ")));
    }
    s
}

impl InitArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        let want = parse_fingerprint(&self.fingerprint)?;
        let (bytes, parsed) = read_root(&self.root)?;
        let got = Sha256Digest::of(&bytes);
        if got != want {
            return Err(ShellError::FingerprintMismatch {
                file: self.root.display().to_string(),
                expected: want.prefixed(),
                actual: got.prefixed(),
            }
            .into());
        }
        let root = parsed.and_then(VerifiedRoot::self_signed).map_err(|e| refused(&self.root.display().to_string(), e))?;
        let store = TrustStore::open()?;
        let state = store.load_state()?;
        if store.load_root(&State::default())?.is_some() && !self.force {
            return Err(ShellError::AlreadyPinned(store.dir().display().to_string()).into());
        }
        // The anti-rollback state outlives the root file: a root older than the highest version
        // this store has seen is refused, whether or not one is pinned now.
        if root.version() < state.highest_root_version && !self.allow_older_root {
            let kept = store.dir().join("history").join(format!("{}.root.json", state.highest_root_version));
            return Err(super::refusal(ShellError::OlderRoot {
                file: self.root.display().to_string(),
                version: root.version(),
                highest: state.highest_root_version,
                kept: fsio::present(&kept)?.then(|| kept.display().to_string()),
            }));
        }
        let state = observe_clock(&state)?;
        let now = state.latest_known_time.expect("observed");
        // The one way down (recovery, trust-root/README.md §8): the highest version becomes this
        // root's; the bundle history and the latest known time are kept.
        let seen = state.highest_root_version;
        let lowered = self.allow_older_root && root.version() < seen;
        let base = if lowered { State { highest_root_version: root.version(), ..state } } else { state };
        if lowered && !ui.quiet {
            eprintln!("warning: --allow-older-root: the store had seen root v{seen}; it now accepts v{} and later", root.version());
        }
        let next = base.root_installed(root.version(), now);
        store.install(&[(&bytes, root.version())], &next)?;
        let doc = json!({"schema": TRUST_REPORT_SCHEMA, "command": "trust init", "outcome": "pass", "action": "init", "root": describe(&root, now)});
        if self.json {
            super::out_json(&doc)?;
        } else {
            super::out(&format!("pinned in {}\n\n{}", store.dir().display(), render(&root, now)))?;
            if root.is_expired(now) && !ui.quiet {
                eprintln!("warning: this root has expired: verification fails until `airlock trust update` installs a valid successor");
            }
        }
        Ok(Decided { code: 0, report: doc, subject: Default::default(), time: Some(EvalTime::Clock(now)) })
    }
}

impl UpdateArgs {
    fn run(self, _ui: Ui) -> Result<Decided> {
        let store = TrustStore::open()?;
        let state = store.load_state()?;
        let Some(current) = store.load_root(&state)? else {
            return Err(ShellError::NoTrustRoot.into());
        };
        if self.roots.len() > root::MAX_ROTATIONS_PER_RUN {
            return Err(refused("trust update", RootError::TooManyRotations { count: self.roots.len(), max: root::MAX_ROTATIONS_PER_RUN }));
        }
        let mut chain = Vec::new();
        let mut raw: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for p in &self.roots {
            let (bytes, parsed) = read_root(p)?;
            match parsed {
                Ok(r) => {
                    raw.insert(r.version(), bytes);
                    chain.push(r);
                }
                Err(e) => return Err(refused(&p.display().to_string(), e)),
            }
        }
        let state = observe_clock(&state)?;
        let now = state.latest_known_time.expect("observed");
        let steps = match root::apply_chain(&current, chain, now, root::MAX_ROTATIONS_PER_RUN) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("note: nothing was installed; the pinned root stays v{}", current.version());
                return Err(refused("trust update", e));
            }
        };
        let installs: Vec<(&[u8], u64)> = steps.iter().map(|s| (raw[&s.root.version()].as_slice(), s.root.version())).collect();
        let last = &steps.last().expect("non-empty").root;
        store.install(&installs, &state.root_installed(last.version(), now))?;
        let rot: Vec<_> = steps
            .iter()
            .map(|s| json!({"version": s.root.version(), "signersOld": s.old_signers, "signersNew": s.new_signers, "fingerprint": s.root.fingerprint().prefixed()}))
            .collect();
        let doc = json!({"schema": TRUST_REPORT_SCHEMA, "command": "trust update", "outcome": "pass", "action": "update", "from": current.version(), "rotations": rot, "root": describe(last, now)});
        if self.json {
            super::out_json(&doc)?;
        } else {
            let mut s = String::new();
            for st in &steps {
                s.push_str(&format!(
                    "rotated to v{}: signed by {} key(s) of the previous root and {} of its own\n",
                    st.root.version(),
                    st.old_signers.len(),
                    st.new_signers.len()
                ));
            }
            s.push('\n');
            s.push_str(&render(last, now));
            super::out(&s)?;
        }
        Ok(Decided { code: 0, report: doc, subject: Default::default(), time: Some(EvalTime::Clock(now)) })
    }
}

impl ShowArgs {
    fn run(self) -> Result<u8> {
        let now = clock::now_or_refuse()?;
        let (root, source) = match &self.file {
            Some(p) => match read_root(p)? {
                (_, Ok(r)) => (r, p.display().to_string()),
                (_, Err(e)) => return Err(refused(&p.display().to_string(), e)),
            },
            None => {
                let store = TrustStore::open()?;
                match store.load_root(&store.load_state()?)? {
                    Some(r) => (r.root().clone(), format!("trust store {}", store.dir().display())),
                    None => return Err(ShellError::NoTrustRoot.into()),
                }
            }
        };
        let self_signed = VerifiedRoot::self_signed(root.clone());
        if self.json {
            let mut d = describe(&root, now);
            d["selfSigned"] = json!(self_signed.is_ok());
            super::out_json(&json!({"schema": TRUST_REPORT_SCHEMA, "action": "show", "source": source, "root": d}))?;
        } else {
            let sig = match &self_signed {
                Ok(v) => format!("self-signed by {} root key(s)\n", v.signers().len()),
                Err(e) => format!("NOT self-signed: {e}\n"),
            };
            super::out(&format!("source      {source}\n{sig}{}", render(&root, now)))?;
        }
        Ok(0)
    }
}

impl StatusArgs {
    fn run(self) -> Result<u8> {
        let now = clock::now_or_refuse()?;
        let store = TrustStore::open()?;
        let state = store.load_state()?;
        let root = store.load_root(&state)?;
        let clock_ok = state.latest_known_time.is_none_or(|l| now >= l);
        let expired = root.as_ref().is_some_and(|r| r.is_expired(now));
        if self.json {
            let outcome = match &root {
                None => "error",
                Some(_) if expired || !clock_ok => "fail",
                Some(_) => "pass",
            };
            let error = root.is_none().then(|| {
                let e = ShellError::NoTrustRoot;
                json!({"kind": crate::report::Diagnostic::id(&e), "message": e.to_string(), "hint": crate::report::Diagnostic::hint(&e)})
            });
            super::out_json(&json!({
                "schema": TRUST_REPORT_SCHEMA,
                "command": "trust status",
                "outcome": outcome,
                "error": error,
                "action": "status",
                "store": store.dir(),
                "now": now,
                "clockOk": clock_ok,
                "latestKnownTime": state.latest_known_time,
                "highestRootVersion": state.highest_root_version,
                "rootInstalledAt": state.root_installed_at,
                "root": root.as_ref().map(|r| describe(r, now)),
                "bundles": state.bundles,
            }))?;
        } else {
            let mut s = format!("store               {}\n", store.dir().display());
            match &root {
                Some(r) => {
                    s.push_str(&format!("root                v{} {}\n", r.version(), r.fingerprint().prefixed()));
                    let left = r.expires().0 - now.0;
                    s.push_str(&format!(
                        "expires             {} ({})\n",
                        r.expires(),
                        if left > 0 { format!("in {} days", left / 86400) } else { "EXPIRED".into() }
                    ));
                    if let Some(t) = state.root_installed_at {
                        s.push_str(&format!("installed           {t} ({} days ago)\n", (now.0 - t.0).max(0) / 86400));
                    }
                }
                None => s.push_str("root                (none pinned: run `airlock trust init`)\n"),
            }
            s.push_str(&format!(
                "clock               {now}{}\nlatest known time   {}\nhighest root seen   v{}\n",
                if clock_ok { "" } else { " (BEHIND the latest known time: it went backwards)" },
                state.latest_known_time.map(|t| t.to_string()).unwrap_or_else(|| "(none)".into()),
                state.highest_root_version
            ));
            for (k, a) in &state.bundles {
                s.push_str(&format!("accepted            {k} {} (createdAt {}, accepted {})\n", a.version, a.created_at, a.accepted_at));
            }
            super::out(&s)?;
        }
        if root.is_none() {
            let e = ShellError::NoTrustRoot;
            eprintln!("error: {e}\nhint: {}", crate::report::Diagnostic::hint(&e));
        }
        Ok(if root.is_none() {
            2
        } else if expired || !clock_ok {
            1
        } else {
            0
        })
    }
}

/// A TUF mirror directory: `metadata/` and `targets/`. Symbolic links are not followed.
struct DirRepo {
    dir: PathBuf,
}

impl DirRepo {
    fn read(&self, sub: &str, name: &str, max: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let io = |detail: String| FetchError::Io { name: format!("{sub}/{name}"), detail };
        if !tuf::safe_path(name) {
            return Err(io("not a safe relative path".into()));
        }
        match fsio::read_under(&self.dir, &format!("{sub}/{name}"), max) {
            Err(fsio::InputError::TooLarge { .. }) => Err(FetchError::TooLarge { name: format!("{sub}/{name}"), max }),
            Err(e) => Err(io(e.to_string())),
            Ok(r) => Ok(r),
        }
    }
}

impl Repository for DirRepo {
    fn metadata(&self, name: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        self.read("metadata", name, max_len)
    }
    fn target(&self, path: &str, max_len: u64) -> Result<Option<Vec<u8>>, FetchError> {
        self.read("targets", path, max_len)
    }
}

impl ImportTufArgs {
    fn run(self, ui: Ui) -> Result<Decided> {
        let pinned = fsio::read_small(&self.root, 1 << 20)?;
        let fp = Sha256Digest::of(&pinned);
        if let Some(f) = &self.fingerprint
            && parse_fingerprint(f)? != fp
        {
            return Err(ShellError::FingerprintMismatch {
                file: self.root.display().to_string(),
                expected: f.clone(),
                actual: fp.prefixed(),
            }
            .into());
        }
        // `--at-time`: evaluated at the stated time from the pinned root alone; the trust store is
        // neither read nor written.
        let at = self.at_time.as_deref().map(Timestamp::parse).transpose()?;
        let store = if at.is_none() { Some(TrustStore::open()?) } else { None };
        let (now, state) = match (&store, at) {
            (Some(store), _) => {
                let state = observe_clock(&store.load_state()?)?;
                (state.latest_known_time.expect("observed"), Some(state))
            }
            (None, Some(t)) => (t, None),
            (None, None) => unreachable!("a store is opened unless --at-time is given"),
        };
        let persisted = match &store {
            Some(store) => store.load_tuf(&fp.hex())?,
            None => None,
        }
        .unwrap_or(tuf::Persisted { root: pinned, timestamp: None, snapshot: None });
        let repo = DirRepo { dir: self.repo.clone() };
        let mut client = match tuf::Client::new(&persisted, now, tuf::Limits::default()) {
            Ok(c) => c,
            Err(e) => return Err(tuf_failed(e, None)),
        };
        let result = client.refresh(&repo).and_then(|_| {
            let info = client.find_target(&repo, &self.target)?;
            let bytes = client.fetch_target(&repo, &self.target, &info)?;
            Ok((info, bytes))
        });
        // What was verified stays trusted, even when a later step refused (TUF 5.3.8, 5.4.5, 5.5.7).
        if let (Some(store), Some(state)) = (&store, &state) {
            store.save_tuf(&fp.hex(), &client.persisted())?;
            store.save_state(state)?;
        }
        let (info, bytes) = match result {
            Ok(x) => x,
            Err(e) => return Err(tuf_failed(e, store.as_ref().map(|_| &client))),
        };
        fsio::atomic_write(&self.output, &bytes, 0o644)?;
        // A Sigstore trusted root becomes `sigstore verify`'s default (when it reads as one).
        if let Some(store) = &store
            && self.target.rsplit('/').next() == Some("trusted_root.json")
            && crate::sigstore::TrustedRoot::parse(&bytes).is_ok()
        {
            store.save_sigstore_root(&bytes)?;
        }
        let saved = if store.is_some() { tuf_saved(&client) } else { "nothing (--at-time)".to_string() };
        let clock = match at {
            Some(t) => format!("{t} (--at-time; the clock was not read)"),
            None => format!("{now} (the clock, or the latest time the trust store has seen)"),
        };
        let (ts, sn, tg) = client.versions();
        let digest = Sha256Digest::of(&bytes);
        let doc = json!({
                "schema": TRUST_REPORT_SCHEMA,
                "command": "trust import-tuf",
                "outcome": "pass",
                "action": "import-tuf",
                "target": self.target,
                "output": self.output,
                "length": info.length,
                "sha256": digest.hex(),
                "rootVersions": client.trail.roots,
                "rootWalk": client.trail.root_stop,
                "timestampVersion": ts, "snapshotVersion": sn, "targetsVersion": tg,
                "rolesVisited": client.trail.visited,
                "notes": client.trail.notes,
                "saved": saved,
                "evaluatedAt": now,
                "atTime": at.is_some(),
        });
        if self.json {
            super::out_json(&doc)?;
        } else if !ui.quiet {
            super::out(&format!(
                "clock     {clock}\nroot      v{} (walked {})\n          {}\ntimestamp v{}\nsnapshot  v{}\ntargets   v{} (roles searched: {})\ntarget    {} {} bytes {}\nwritten   {}\nsaved     {saved}\n",
                client.root_version(),
                client.trail.roots.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(" -> "),
                client.trail.root_stop,
                ts.unwrap_or(0),
                sn.unwrap_or(0),
                tg.unwrap_or(0),
                client.trail.visited.join(", "),
                self.target,
                info.length,
                digest.prefixed(),
                self.output.display(),
            ))?;
            for n in &client.trail.notes {
                eprintln!("note: {n}");
            }
        }
        let time = if at.is_some() { None } else { Some(EvalTime::Clock(now)) };
        Ok(Decided { code: 0, report: doc, subject: Default::default(), time })
    }
}

/// What `import-tuf` saved in the trust store: the TUF metadata the client verified.
fn tuf_saved(c: &tuf::Client) -> String {
    let (ts, sn, _) = c.versions();
    let mut what = format!("root v{}", c.root_version());
    if let Some(v) = ts {
        what.push_str(&format!(", timestamp v{v}"));
    }
    if let Some(v) = sn {
        what.push_str(&format!(", snapshot v{v}"));
    }
    format!("the verified TUF metadata ({what}) in the trust store")
}

/// A TUF client failure: a refusal (exit 1) when the mirror broke a rule, else could not check
/// (exit 2). The target is never written; the metadata verified before the failure is (it was
/// saved, as TUF requires: `client` is then given), and the note says which.
fn tuf_failed(e: tuf::TufError, client: Option<&tuf::Client>) -> anyhow::Error {
    match client {
        Some(c) => {
            eprintln!(
                "note: root walked {}; {}",
                c.trail.roots.iter().map(|v| format!("v{v}")).collect::<Vec<_>>().join(" -> "),
                if c.trail.root_stop.is_empty() { "root walk did not finish" } else { &c.trail.root_stop }
            );
            eprintln!("note: saved {}; the target was not written", tuf_saved(c));
        }
        None => eprintln!("note: nothing was written"),
    }
    let refusal = e.is_refusal();
    let e = anyhow::Error::new(e);
    if refusal { super::refusal(e) } else { e }
}

impl NewArgs {
    fn run(self, ui: Ui) -> Result<u8> {
        let expires = Timestamp::parse(&self.expires)?;
        let (mut signed, mut keys) = match &self.from {
            Some(p) => {
                let (_, parsed) = read_root(p)?;
                let prev = parsed.with_context(|| format!("{} is not a valid trust root", p.display()))?;
                let mut s = prev.signed().clone();
                s.version += 1;
                (s, prev.keys().clone())
            }
            None => (
                RootSigned {
                    type_: root::ROOT_TYPE.into(),
                    spec_version: root::SPEC_VERSION.into(),
                    name: None,
                    version: 1,
                    expires,
                    keys: BTreeMap::new(),
                    roles: BTreeMap::new(),
                    revoked: vec![],
                },
                BTreeMap::new(),
            ),
        };
        signed.expires = expires;
        if let Some(v) = self.version {
            signed.version = v;
        }
        if self.name.is_some() {
            signed.name = self.name.clone();
        }
        for spec in &self.roles {
            let mut parts = spec.splitn(3, ':');
            let (Some(name), Some(k), Some(list)) = (parts.next(), parts.next(), parts.next()) else {
                bail!("--role {spec:?} is not NAME:THRESHOLD:KEY[,KEY...]");
            };
            let name = RoleName::parse(name).with_context(|| format!("--role {spec:?}"))?;
            let threshold: u64 = k.parse().map_err(|_| anyhow!("--role {spec:?}: threshold {k:?} is not a number"))?;
            let mut ids = Vec::new();
            for p in list.split(',') {
                let key = super::verify::load_public(Path::new(p))?;
                let id = key.keyid().hex();
                keys.insert(id.clone(), key);
                ids.push(id);
            }
            // A role given again keeps its consumer parameters (e.g. the tlog policy) unless replaced below.
            let policy = signed.roles.get(name.as_str()).and_then(|r| r.policy.clone());
            signed.roles.insert(name.to_string(), RoleDesc { keyids: ids, threshold, policy });
        }
        if let Some(file) = &self.tlog_policy {
            let bytes = fsio::read_small(file, 1 << 20)?;
            crate::tlog::policy::Policy::parse(&bytes)
                .with_context(|| format!("--tlog-policy {} is not a C2SP tlog-policy", file.display()))?;
            let text = String::from_utf8(bytes).with_context(|| format!("--tlog-policy {} is not UTF-8", file.display()))?;
            let Some(role) = signed.roles.get_mut(RoleName::TLOG.as_str()) else {
                bail!("--tlog-policy needs a tlog role: add --role tlog:1:LOG.pub (the log's key) or start --from a root that has one");
            };
            let mut policy = match role.policy.take() {
                Some(serde_json::Value::Object(o)) => o,
                _ => serde_json::Map::new(),
            };
            policy.insert("tlogPolicy".into(), serde_json::Value::String(text));
            role.policy = Some(serde_json::Value::Object(policy));
        }
        for id in &self.revoke {
            if !keys.contains_key(id) {
                bail!("--revoke {id}: no such key in the root");
            }
            for r in signed.roles.values_mut() {
                r.keyids.retain(|k| k != id);
            }
            if !signed.revoked.contains(id) {
                signed.revoked.push(id.clone());
            }
        }
        signed.revoked.sort();
        // Keep exactly the keys a role or the revocation list names.
        let used: std::collections::BTreeSet<&String> =
            signed.roles.values().flat_map(|r| r.keyids.iter()).chain(signed.revoked.iter()).collect();
        signed.keys = keys.iter().filter(|(id, _)| used.contains(id)).map(|(id, k)| (id.clone(), k.desc())).collect();
        let doc = root::unsigned(&signed);
        match TrustRoot::parse(&doc) {
            Err(e) => return Err(refused("trust new", e)),
            // The tlog role's policy must trust only logs whose keys the role lists (checked as
            // the signed root will be; the unsigned draft is not trusted for anything else).
            Ok(parsed) => {
                crate::trust::check_tlog_role(&parsed).context("trust new")?;
            }
        }
        fsio::atomic_write(&self.output, &doc, 0o644)?;
        if !ui.quiet {
            eprintln!("wrote unsigned trust root v{} to {}; sign it with `airlock trust sign`", signed.version, self.output.display());
        }
        Ok(0)
    }
}

impl SignArgs {
    fn run(self, ui: Ui) -> Result<u8> {
        let bytes = fsio::read_small(&self.file, MAX_ROOT_SIZE)?;
        let keys: Vec<SecretKey> = self
            .keys
            .iter()
            .map(|p| {
                let b = fsio::read_small(p, 64 << 10)?;
                SecretKey::parse_file(&b).with_context(|| format!("{} is not an airlock secret key", p.display()))
            })
            .collect::<Result<_>>()?;
        let refs: Vec<&SecretKey> = keys.iter().collect();
        let out = match root::sign(&bytes, &refs) {
            Ok(o) => o,
            Err(e) => return Err(refused(&self.file.display().to_string(), e)),
        };
        let dest = self.output.unwrap_or(self.file);
        fsio::atomic_write(&dest, &out, 0o644)?;
        let r = TrustRoot::parse(&out).map_err(|e| anyhow!("{e}"))?;
        if !ui.quiet {
            let own = match VerifiedRoot::self_signed(r.clone()) {
                Ok(v) => format!("meets its own root threshold ({} key(s))", v.signers().len()),
                Err(e) => format!("does not yet meet its own root threshold: {e}"),
            };
            super::out(&format!(
                "{}: v{} now carries {} signature(s); {own}\nfingerprint {}\n",
                dest.display(),
                r.version(),
                r.signatures().len(),
                r.fingerprint().hex()
            ))?;
        }
        Ok(0)
    }
}
