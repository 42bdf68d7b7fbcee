//! airlock: an offline-first verification appliance and a portable evidence bundle format.
//!
//! The crate is split into a **sans-I/O core** and a **thin shell**:
//!
//! * core — [`json`], [`digest`], [`time`], [`keys`], [`dsse`], [`merkle`], [`archive`],
//!   [`bundle`], [`pack`], [`verify`], [`report`], [`trust`], [`tlog`], [`evidence`], [`gate`],
//!   [`release`], [`signed`], [`ledger`], [`promotion`], [`diagnostic`], [`conformance`], [`sigstore`], [`inventory`], [`api`]: take bytes, values and positional byte sources and return
//!   values. They never open a file, read the clock or the environment, or touch the terminal.
//! * shell — [`cmd`], [`fsio`], [`clock`], [`store`], [`progress`]: the only code that touches
//!   files, the clock, the environment and the terminal.
//!
//! Verification returns [`verify::Verified`], a witness only [`verify`] can construct.
#![forbid(unsafe_code)]

pub mod api;
pub mod archive;
pub mod bundle;
pub mod conformance;
pub mod diagnostic;
pub mod digest;
pub mod dsse;
pub mod evidence;
pub mod gate;
pub mod inventory;
pub mod json;
pub mod keys;
pub mod ledger;
pub mod merkle;
pub mod pack;
pub mod promotion;
pub mod release;
pub mod report;
pub mod signed;
pub mod sigstore;
pub mod time;
pub mod tlog;
pub mod trust;
pub mod verify;

pub mod clock;
pub mod cmd;
pub mod fsio;
pub mod progress;
pub mod store;

#[cfg(test)]
mod tests {
    /// The core/shell lists above and ARCHITECTURE.md's code map name every module, each once.
    #[test]
    fn every_module_is_listed_as_core_or_shell_and_mapped() {
        let lib = include_str!("lib.rs");
        let architecture = include_str!("../ARCHITECTURE.md");
        let header: String = lib.lines().take_while(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
        let (core, shell) = header.split_once("* shell").expect("a shell list");
        let core = core.split_once("* core").expect("a core list").1;
        let shell = shell.split_once("\n//!\n").map_or(shell, |(list, _)| list);
        let mods: Vec<&str> = lib.lines().filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';')).collect();
        assert!(mods.len() > 15, "{mods:?}");
        for m in mods {
            let link = format!("[`{m}`]");
            assert_eq!(
                usize::from(core.contains(&link)) + usize::from(shell.contains(&link)),
                1,
                "module {m} must be listed once, as core or as shell, in lib.rs's header"
            );
            assert!(
                architecture.contains(&format!("`src/{m}.rs`")) || architecture.contains(&format!("`src/{m}/`")),
                "module {m} is missing from ARCHITECTURE.md's code map"
            );
        }
    }
}
