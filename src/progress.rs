//! Progress on stderr (indicatif), hidden when stderr is not a terminal, with `--quiet` or
//! `--no-progress`. Colour follows `NO_COLOR`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Whether decorations may be coloured.
pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// A byte-count progress bar, or a hidden one.
pub fn bytes_bar(total: u64, label: &str, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = if color_enabled() {
        "{msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    };
    pb.set_style(ProgressStyle::with_template(template).expect("static template").progress_chars("=> "));
    pb.set_message(label.to_string());
    pb
}

/// An item-count progress bar (records, entries), or a hidden one.
pub fn count_bar(total: u64, label: &str, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = if color_enabled() {
        "{msg} [{bar:30.cyan/blue}] {pos}/{len} {per_sec} eta {eta}"
    } else {
        "{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}"
    };
    pb.set_style(ProgressStyle::with_template(template).expect("static template").progress_chars("=> "));
    pb.set_message(label.to_string());
    pb
}
