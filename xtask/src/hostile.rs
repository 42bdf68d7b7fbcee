//! `cargo xtask hostile [--check]`: writes the hostile-archive corpus `tests/data/hostile/` from
//! `airlock::conformance::hostile` (or, with `--check`, fails when it is stale).

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/hostile")
}

/// Writes (or checks) the corpus.
pub fn run(check: bool) -> Result<()> {
    let dir = corpus_dir();
    let files = airlock::conformance::hostile::files();
    let wanted: BTreeSet<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let mut stale = Vec::new();
    if dir.exists() {
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !wanted.contains(name.as_str()) {
                if check {
                    stale.push(format!("unknown file {name}"));
                } else {
                    std::fs::remove_file(dir.join(&name))?;
                }
            }
        }
    } else if !check {
        std::fs::create_dir_all(&dir)?;
    }
    for (name, bytes) in &files {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        if check {
            stale.push(format!("{name} differs or is missing"));
        } else {
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if !stale.is_empty() {
        bail!("tests/data/hostile is stale ({}); run `cargo xtask hostile`", stale.join(", "));
    }
    println!("hostile corpus: {} files {}", files.len(), if check { "up to date" } else { "written" });
    Ok(())
}
