//! How the binary was invoked: as `oomsday`, or by kubectl as the plugin `kubectl-oomsday`
//! (kubectl runs any `kubectl-NAME` on PATH for `kubectl NAME`), in which case its help, usage
//! and errors say `kubectl oomsday` — what the user typed.

use std::ffi::OsStr;
use std::path::Path;

/// The executable name kubectl looks for.
pub const PLUGIN_EXECUTABLE: &str = "kubectl-oomsday";

/// The command as the user typed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Oomsday,
    KubectlPlugin,
}

impl Invocation {
    /// From `argv[0]` (a path or a bare name; `.exe` on Windows).
    pub fn of(argv0: Option<&OsStr>) -> Invocation {
        let stem = argv0
            .map(Path::new)
            .and_then(Path::file_stem)
            .and_then(OsStr::to_str);
        if stem == Some(PLUGIN_EXECUTABLE) {
            Invocation::KubectlPlugin
        } else {
            Invocation::Oomsday
        }
    }

    /// The command's name in usage lines.
    pub fn name(self) -> &'static str {
        match self {
            Invocation::Oomsday => "oomsday",
            Invocation::KubectlPlugin => "kubectl oomsday",
        }
    }

    /// `text` (help, an error) with every command line of oomsday's, `oomsday SUBCOMMAND`, as
    /// the user would type it. Prose ("oomsday reverts") and keys (`oomsday.dev/…`) are left as
    /// they are: only a subcommand after the name is a command line.
    pub fn rewrite(self, text: &str, subcommands: &[String]) -> String {
        if self == Invocation::Oomsday {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len() + 64);
        let mut rest = text;
        while let Some(i) = rest.find("oomsday ") {
            let (before, at) = rest.split_at(i);
            out.push_str(before);
            let after = &at["oomsday ".len()..];
            let word: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let starts_word = !before
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '.');
            if starts_word && !before.ends_with("kubectl ") && subcommands.contains(&word) {
                out.push_str("kubectl ");
            }
            out.push_str("oomsday ");
            rest = after;
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests;
