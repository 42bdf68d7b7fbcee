//! Conformance vectors (`vectors/bundle-v1/`), generated deterministically from fixed keys.

pub mod hostile;
