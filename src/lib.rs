//! airlock: an offline-first verification appliance and a portable evidence bundle format.
//!
//! The crate is split into a **sans-I/O core** and a **thin shell**:
//!
//! * core — [`digest`], [`json`], [`time`], [`keys`], [`dsse`], [`merkle`], [`bundle`],
//!   [`archive`], [`ledger`], [`verify`], [`pack`], [`report`], [`conformance`], [`tlog`], [`evidence`],
//!   [`gate`]: take bytes, values and positional byte sources and return values. They never open a file, read the clock or the
//!   environment, or touch the terminal.
//! * shell — [`cmd`], [`clock`], [`fsio`], [`progress`]: the only code that touches files,
//!   the clock and the terminal.
//!
//! Verification returns [`verify::Verified`], a witness only [`verify`] can construct.
#![forbid(unsafe_code)]

pub mod archive;
pub mod bundle;
pub mod conformance;
pub mod digest;
pub mod dsse;
pub mod evidence;
pub mod gate;
pub mod json;
pub mod keys;
pub mod ledger;
pub mod merkle;
pub mod pack;
pub mod release;
pub mod report;
pub mod time;
pub mod tlog;
pub mod trust;
pub mod verify;

pub mod clock;
pub mod cmd;
pub mod fsio;
pub mod progress;
pub mod store;
