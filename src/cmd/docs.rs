//! `airlock completions SHELL` and `airlock man`: documentation that travels with the binary.

use super::{Cli, Ui};
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::PathBuf;

/// Print a shell completion script.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  airlock completions bash > /etc/bash_completion.d/airlock\n  airlock completions zsh > \"${fpath[1]}/_airlock\""
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl CompletionsArgs {
    /// Runs.
    pub fn run(self, _ui: Ui) -> Result<u8> {
        let mut buf = Vec::new();
        clap_complete::generate(self.shell, &mut Cli::command(), "airlock", &mut buf);
        super::out(&String::from_utf8_lossy(&buf))?;
        Ok(0)
    }
}

/// Print the man page (roff) for airlock and every subcommand, or write one page per command.
#[derive(clap::Args, Debug)]
#[command(after_help = "Without DIR the pages are printed one after another; with DIR each command gets its own page\n\
(airlock.1, airlock-verify.1, airlock-trust-init.1, ...) with all of its options.\n\n\
Examples:\n  airlock man > airlock.1 && man ./airlock.1\n  airlock man ./man1 && man -l ./man1/airlock-pack.1")]
pub struct ManArgs {
    /// Write the pages into this directory (created if missing; pages in it are replaced).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Every page: `airlock`, then `airlock-SUB` and `airlock-SUB-SUBSUB` for every (nested)
/// subcommand but `help`, each titled with its full name and listing its own options.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone().name(name.to_string())).render(&mut page)?;
        out.push((name.to_string(), page));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{name}-{}", sub.get_name()), out)?;
        }
        Ok(())
    }
    let mut cmd = Cli::command();
    // Global options (--quiet, --no-record, ...) reach the subcommands only once built.
    cmd.build();
    let mut out = Vec::new();
    walk(&cmd, "airlock", &mut out)?;
    Ok(out)
}

impl ManArgs {
    /// Runs.
    pub fn run(self, ui: Ui) -> Result<u8> {
        let pages = man_pages()?;
        let Some(dir) = self.dir else {
            let all: Vec<u8> = pages.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join(&b"\n"[..]);
            super::out(&String::from_utf8_lossy(&all))?;
            return Ok(0);
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating the man page directory {}", dir.display()))?;
        for (name, page) in &pages {
            crate::fsio::atomic_write(&dir.join(format!("{name}.1")), page, 0o644)?;
        }
        if !ui.quiet {
            eprintln!("wrote {} man pages to {}", pages.len(), dir.display());
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Every command with its full name (`airlock trust init`), `help` left out.
    fn commands() -> Vec<(String, clap::Command)> {
        fn walk(cmd: &clap::Command, name: String, out: &mut Vec<(String, clap::Command)>) {
            out.push((name.clone(), cmd.clone()));
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, format!("{name} {}", sub.get_name()), out);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, "airlock".into(), &mut out);
        out
    }

    /// The example command lines of a help text: `  airlock …` lines, a trailing `\` joining the
    /// next line, a `# comment` and anything after a redirection or `&&` dropped.
    fn example_lines(help: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur: Option<String> = None;
        for line in help.lines() {
            let t = line.trim();
            let start = t.split_whitespace().find(|w| !w.contains('=')).is_some_and(|w| w == "airlock");
            match cur.as_mut() {
                Some(c) => c.push_str(t),
                None if line.starts_with("  ") && start => cur = Some(t.to_string()),
                None => continue,
            }
            let c = cur.as_mut().expect("set");
            if c.ends_with('\\') {
                c.pop();
            } else {
                out.push(cur.take().expect("set"));
            }
        }
        out
    }

    /// A small shell word splitter: '…' and "…" quote, `#`, `>`, `|` and `&&` end the command.
    fn words(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None, false);
        for ch in line.chars() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(ch);
                    any = true;
                }
                (None, c) if c.is_whitespace() => {
                    if any || !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                (None, '#' | '>' | '|' | '&') if cur.is_empty() && !any => break,
                (None, c) => cur.push(c),
            }
        }
        if any || !cur.is_empty() {
            out.push(cur);
        }
        out.into_iter().skip_while(|w| w.contains('=') && w != "airlock").collect()
    }

    #[test]
    fn every_command_group_the_top_level_and_every_trust_command_show_examples() {
        let missing: Vec<String> = commands()
            .into_iter()
            .filter(|(name, _)| name.split(' ').count() <= 2 || name.starts_with("airlock trust "))
            .filter(|(_, c)| !c.get_after_help().map(|h| h.to_string()).unwrap_or_default().contains("Example"))
            .map(|(n, _)| n)
            .collect();
        assert!(missing.is_empty(), "no examples in the help of: {missing:?}");
    }

    #[test]
    fn every_help_example_parses_as_written() {
        let mut bad = Vec::new();
        let mut seen = 0;
        for (name, cmd) in commands() {
            let help = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            for line in example_lines(&help) {
                seen += 1;
                if let Err(e) = Cli::try_parse_from(words(&line)) {
                    bad.push(format!("{name}: `{line}`: {}", e.to_string().lines().next().unwrap_or_default()));
                }
            }
        }
        assert!(seen > 40, "only {seen} examples found: the extraction is broken");
        assert!(bad.is_empty(), "help examples clap refuses:\n{}", bad.join("\n"));
    }

    /// clap rewraps any help line wider than the 100 columns it renders at (no terminal), which
    /// left a lone word on its own line (`verify --help`'s "than"): the texts are written to fit.
    #[test]
    fn help_texts_fit_the_width_clap_renders_at() {
        let mut bad = Vec::new();
        for (name, cmd) in commands() {
            for help in [cmd.get_after_help(), cmd.get_after_long_help(), cmd.get_before_help()].into_iter().flatten() {
                for line in help.to_string().lines().filter(|l| l.chars().count() > 100) {
                    bad.push(format!("{name}: {line}"));
                }
            }
        }
        assert!(bad.is_empty(), "help lines wider than 100 columns:\n{}", bad.join("\n"));
    }

    #[test]
    fn pack_usage_shows_its_required_options() {
        let (_, pack) = commands().into_iter().find(|(n, _)| n == "airlock pack").expect("pack exists");
        let usage = pack.clone().render_usage().to_string();
        for opt in ["<DIR>", "--output <OUT>", "--key <KEY>", "--product <PRODUCT>", "--version <VERSION>", "--from-cavra <PKG>"] {
            assert!(usage.contains(opt), "pack's usage does not show {opt}: {usage}");
        }
        assert!(!usage.contains("[DIR]"), "DIR is required (unless --from-cavra): {usage}");
    }

    #[test]
    fn one_man_page_per_command_each_with_its_own_options() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in ["airlock", "airlock-pack", "airlock-verify", "airlock-trust", "airlock-trust-init", "airlock-promotion-execute"] {
            assert!(names.contains(&want), "no page {want}: {names:?}");
        }
        assert_eq!(pages.len(), commands().len(), "one page per command");
        let page = |n: &str| String::from_utf8_lossy(&pages.iter().find(|(p, _)| p == n).unwrap().1).into_owned();
        assert!(page("airlock-trust-init").contains("fingerprint"), "trust init's page lists --fingerprint");
        assert!(page("airlock-pack").contains("from\\-cavra"), "pack's page lists --from-cavra");
        assert!(page("airlock-verify").contains("no\\-record"), "global options are on every page");
    }

    #[test]
    fn example_extraction_and_splitting() {
        let lines = example_lines("Examples:\n  airlock a --x 'b c' \\\n      --y # z\n  X=1 airlock q > f\nnot airlock\n");
        assert_eq!(lines, ["airlock a --x 'b c' --y # z", "X=1 airlock q > f"]);
        assert_eq!(words(&lines[0]), ["airlock", "a", "--x", "b c", "--y"]);
        assert_eq!(words(&lines[1]), ["airlock", "q"]);
        assert_eq!(words("airlock x --f \"$(sha256sum r | cut -d' ' -f1)\""), ["airlock", "x", "--f", "$(sha256sum r | cut -d' ' -f1)"]);
    }
}
