//! Project tasks: `cargo xtask <task>`. See `cargo xtask help`.

mod setup;

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => setup::setup(),
        Some("help") | None => {
            println!("cargo xtask setup | ci | vectors [--check] | dist | bench");
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}; try `cargo xtask help`"),
    }
}
