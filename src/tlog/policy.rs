//! C2SP `tlog-policy`: which logs are trusted, which witnesses exist, and the quorum of
//! cosignatures a checkpoint needs (`log`, `witness`, `group <name> all|any|<k> <members>`,
//! `quorum <name>|none`). The trust root's `tlog` role holds such a document.
//!
//! Restrictions beyond the spec, each refused with a line number: the document must be UTF-8
//! (the spec treats high octets as opaque; every vkey name is UTF-8 anyway), log keys must be
//! type 0x01 or 0x02, witness keys type 0x04, and at most [`MAX_ITEMS`] logs, witnesses and
//! groups each (the spec recommends supporting 32).

use super::TlogError;
use super::note::{TYPE_COSIGNATURE, TYPE_ECDSA, TYPE_ED25519, VerifierKey};

/// Most logs, witnesses or groups in one policy.
pub const MAX_ITEMS: usize = 256;

/// A witness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// Name in the policy.
    pub name: String,
    /// Cosigner key (type 0x04).
    pub key: VerifierKey,
    /// Optional URL (unused offline).
    pub url: Option<String>,
}

/// A group: satisfied when at least `k` members are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Name.
    pub name: String,
    /// Threshold, 1 <= k <= members.len().
    pub k: usize,
    /// Member names (witnesses or earlier groups).
    pub members: Vec<String>,
}

/// A parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Trusted log keys (origin = key name).
    pub logs: Vec<VerifierKey>,
    /// Witnesses.
    pub witnesses: Vec<Witness>,
    /// Groups, in definition order.
    pub groups: Vec<Group>,
    /// The quorum's name; `None` for `quorum none`.
    pub quorum: Option<String>,
}

impl Policy {
    /// No logs, no witnesses, `quorum none`.
    pub fn none() -> Self {
        Policy { logs: Vec::new(), witnesses: Vec::new(), groups: Vec::new(), quorum: None }
    }

    /// Parses a policy document.
    pub fn parse(bytes: &[u8]) -> Result<Self, TlogError> {
        let err = |line: usize, detail: String| TlogError::Policy { line, detail };
        if let Some(p) = bytes.iter().position(|&b| b < 0x20 && b != b'\t' && b != b'\n' || b == 0x7f) {
            let line = bytes[..p].iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(err(line, format!("control character 0x{:02x}; only tab and newline are allowed", bytes[p])));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| err(0, format!("not UTF-8 ({e})")))?;
        let mut p = Policy::none();
        let mut quorum_seen = false;
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let toks: Vec<&str> = raw.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
            let Some(&kw) = toks.first() else { continue };
            if kw.starts_with('#') {
                continue;
            }
            match kw {
                "log" => {
                    if !(2..=3).contains(&toks.len()) {
                        return Err(err(n, "expected `log <vkey> [<url>]`".into()));
                    }
                    let k = VerifierKey::parse(toks[1]).map_err(|e| err(n, e.to_string()))?;
                    if k.sig_type != TYPE_ED25519 && k.sig_type != TYPE_ECDSA {
                        return Err(err(n, format!("log key {} has type 0x{:02x}; a log key is 0x01 or 0x02", k.name, k.sig_type)));
                    }
                    if p.logs.iter().any(|l| l.material == k.material) {
                        return Err(err(n, format!("duplicate log key {}", k.name)));
                    }
                    p.logs.push(k);
                    if p.logs.len() > MAX_ITEMS {
                        return Err(err(n, format!("more than {MAX_ITEMS} logs")));
                    }
                }
                "witness" => {
                    if !(3..=4).contains(&toks.len()) {
                        return Err(err(n, "expected `witness <name> <vkey> [<url>]`".into()));
                    }
                    p.check_new_name(toks[1]).map_err(|d| err(n, d))?;
                    let k = VerifierKey::parse(toks[2]).map_err(|e| err(n, e.to_string()))?;
                    if k.sig_type != TYPE_COSIGNATURE {
                        return Err(err(
                            n,
                            format!("witness key {} has type 0x{:02x}; this airlock verifies 0x04 cosignatures", k.name, k.sig_type),
                        ));
                    }
                    if p.witnesses.iter().any(|w| w.key.material == k.material) {
                        return Err(err(n, format!("duplicate witness key {}", k.name)));
                    }
                    p.witnesses.push(Witness { name: toks[1].into(), key: k, url: toks.get(3).map(|s| s.to_string()) });
                    if p.witnesses.len() > MAX_ITEMS {
                        return Err(err(n, format!("more than {MAX_ITEMS} witnesses")));
                    }
                }
                "group" => {
                    if toks.len() < 4 {
                        return Err(err(n, "expected `group <name> all|any|<k> <name>...` with at least one member".into()));
                    }
                    p.check_new_name(toks[1]).map_err(|d| err(n, d))?;
                    let members: Vec<String> = toks[3..].iter().map(|s| s.to_string()).collect();
                    for (j, m) in members.iter().enumerate() {
                        if !p.is_defined(m) {
                            return Err(err(n, format!("group member {m:?} is not a witness or group defined above")));
                        }
                        if members[..j].contains(m) {
                            return Err(err(n, format!("group member {m:?} is listed twice")));
                        }
                    }
                    let k = match toks[2] {
                        "all" => members.len(),
                        "any" => 1,
                        t => {
                            let k = t
                                .parse::<usize>()
                                .ok()
                                .filter(|_| t.bytes().all(|b| b.is_ascii_digit()) && !t.starts_with('0'))
                                .ok_or_else(|| err(n, format!("threshold {t:?} is not all, any or a decimal number")))?;
                            if k == 0 || k > members.len() {
                                return Err(err(n, format!("threshold {k} is not between 1 and {} members", members.len())));
                            }
                            k
                        }
                    };
                    p.groups.push(Group { name: toks[1].into(), k, members });
                    if p.groups.len() > MAX_ITEMS {
                        return Err(err(n, format!("more than {MAX_ITEMS} groups")));
                    }
                }
                "quorum" => {
                    if toks.len() != 2 {
                        return Err(err(n, "expected `quorum <name>`".into()));
                    }
                    if quorum_seen {
                        return Err(err(n, "a second quorum line; a policy has exactly one".into()));
                    }
                    quorum_seen = true;
                    if toks[1] != "none" && !p.is_defined(toks[1]) {
                        return Err(err(n, format!("quorum {:?} is not a witness or group defined above", toks[1])));
                    }
                    p.quorum = (toks[1] != "none").then(|| toks[1].to_string());
                }
                other => return Err(err(n, format!("unknown keyword {other:?} (log, witness, group, quorum)"))),
            }
        }
        if !quorum_seen {
            return Err(err(0, "no quorum line; a policy has exactly one (`quorum none` to require no witnesses)".into()));
        }
        Ok(p)
    }

    fn is_defined(&self, name: &str) -> bool {
        self.witnesses.iter().any(|w| w.name == name) || self.groups.iter().any(|g| g.name == name)
    }

    fn check_new_name(&self, name: &str) -> Result<(), String> {
        if name == "none" {
            return Err("the name `none` is reserved".into());
        }
        if self.is_defined(name) {
            return Err(format!("name {name:?} is already defined"));
        }
        Ok(())
    }

    /// Whether the witnesses named in `cosigned` (policy names whose cosignatures verified)
    /// satisfy the quorum. Groups only reference earlier names, so one pass in order decides.
    pub fn quorum_met(&self, cosigned: &[&str]) -> bool {
        let Some(q) = &self.quorum else { return true };
        let mut ok: std::collections::HashMap<&str, bool> =
            self.witnesses.iter().map(|w| (w.name.as_str(), cosigned.contains(&w.name.as_str()))).collect();
        for g in &self.groups {
            let n = g.members.iter().filter(|m| ok.get(m.as_str()).copied().unwrap_or(false)).count();
            ok.insert(&g.name, n >= g.k);
        }
        ok.get(q.as_str()).copied().unwrap_or(false)
    }

    /// The quorum's name (`none` when no witnesses are required).
    pub fn quorum_name(&self) -> String {
        self.quorum.clone().unwrap_or_else(|| "none".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn w(i: u8) -> String {
        VerifierKey::cosigner(&format!("w{i}.example"), SecretKey::from_seed(&[i; 32]).public()).unwrap().to_string()
    }

    #[test]
    fn spec_example_shape() {
        let log = VerifierKey::ed25519("log.example", SecretKey::from_seed(&[99; 32]).public()).unwrap();
        let doc = format!(
            "# comment\nlog {log}\n\nwitness X1 {}\nwitness X2 {}\n\twitness X3 {} https://x3.example/\ngroup X-witnesses 2 X1 X2 X3\n\
             witness Y1 {}\nwitness Y2 {}\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
            w(1),
            w(2),
            w(3),
            w(4),
            w(5),
            w(6)
        );
        let p = Policy::parse(doc.as_bytes()).unwrap();
        assert_eq!((p.logs.len(), p.witnesses.len(), p.groups.len()), (1, 6, 3));
        assert!(p.quorum_met(&["X1", "X3", "Y2"]));
        assert!(!p.quorum_met(&["X1", "Y2"]));
        assert!(!p.quorum_met(&["X1", "X2", "X3"]));
        assert!(Policy::parse(b"quorum none\n").unwrap().quorum_met(&[]));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (format!("witness none {}\nquorum none\n", w(1)), 1),
            (format!("witness a {}\nwitness a {}\nquorum a\n", w(1), w(2)), 2),
            (format!("witness a {}\nwitness b {}\nquorum a\n", w(1), w(1)), 2),
            (format!("witness a {}\ngroup g 2 a\nquorum g\n", w(1)), 2),
            (format!("witness a {}\ngroup g 1 a a\nquorum g\n", w(1)), 2),
            (format!("witness a {}\ngroup g 1 b\nquorum g\n", w(1)), 2),
            (format!("witness a {}\nquorum b\n", w(1)), 2),
            ("quorum none\nquorum none\n".into(), 2),
            ("frobnicate\nquorum none\n".into(), 1),
            (format!("log {}\nquorum none\n", w(1)), 1),
            ("log x\nquorum none\n".into(), 1),
            ("quorum none\x0b\n".into(), 1),
            ("".into(), 0),
        ];
        for (doc, line) in cases {
            match Policy::parse(doc.as_bytes()) {
                Err(TlogError::Policy { line: l, .. }) => assert_eq!(l, line, "{doc:?}"),
                other => panic!("{doc:?}: {other:?}"),
            }
        }
    }
}
