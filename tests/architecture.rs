//! ARCHITECTURE.md's claims about the shape of the code, checked on the source itself:
//!
//! - data flows one way: no two modules of `src/` import each other, directly or round a
//!   circle (top-level modules; and the files of one module among themselves, e.g.
//!   `report/html.rs` and `report/prediction.rs`);
//! - no function in shipped code (`src/`, `crates/*/src/`, `images/*/src/`) is over 80 lines.
//!
//! Test code is left out of both: a `#[cfg(test)]` item, or a module file declared under
//! `#[cfg(test)]` (`tests.rs`, `testing.rs`, `testkit.rs`). Tests are not part of the flow —
//! an engine test may build its records with the simulator — and nothing shipped can call them.
//! The crate root (`lib.rs`: `Error`, `Result`) is not a node: every module uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FUNCTION_LINES: usize = 80;

/// Functions left over the limit on purpose, each with why (printed with it): listed so that
/// this check catches every new one meanwhile. An entry that is no longer over the limit is
/// only reported, so that a merge that splits one does not break this check.
const KNOWN_LONG: &[(&str, &str)] = &[];

/// Why `key` is over the limit on purpose, if it is listed in [`KNOWN_LONG`].
fn known_long(key: &str) -> Option<&'static str> {
    KNOWN_LONG
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, why)| *why)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Reading the source: comments and literals blanked, test code dropped.

/// A source file with its comments, strings and char literals replaced by spaces (newlines
/// kept, so line numbers hold), and the `#[cfg(test)]` items blanked too.
struct Source {
    code: String,
    /// The names of the child modules declared `#[cfg(test)] mod name;`.
    test_children: Vec<String>,
}

fn blank_comments_and_literals(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('#') | Some('"')) && !ident_char_before(&b, i) {
            // A raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &b[i..j.min(b.len())] {
                blank(&mut out, ch);
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a), which is kept.
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    for &ch in &b[i..=e] {
                        blank(&mut out, ch);
                    }
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// The index just past the brace block that opens at `open` (a `{`).
fn block_end(code: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (j, &c) in code.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// The index just past the item that starts at `from`: up to its `;`, or its brace block if a
/// `{` comes first.
fn item_end(code: &[u8], from: usize) -> usize {
    for j in from..code.len() {
        match code[j] {
            b';' => return j + 1,
            b'{' => return block_end(code, j),
            _ => {}
        }
    }
    code.len()
}

fn read_source(path: &Path) -> Source {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut code = blank_comments_and_literals(&text).into_bytes();
    let mut test_children = Vec::new();
    let marker = b"#[cfg(test)]";
    let mut at = 0;
    while let Some(pos) = find(&code, marker, at) {
        let start = pos + marker.len();
        let end = item_end(&code, start);
        let item = String::from_utf8_lossy(&code[start..end]).to_string();
        let words: Vec<&str> = item
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if item.trim_end().ends_with(';')
            && let Some(k) = words.iter().position(|w| *w == "mod")
            && let Some(name) = words.get(k + 1)
        {
            test_children.push((*name).to_string());
        }
        for c in &mut code[pos..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        at = end;
    }
    Source {
        code: String::from_utf8(code).expect("blanking keeps UTF-8"),
        test_children,
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    (from..hay.len().saturating_sub(needle.len() - 1)).find(|&i| hay[i..].starts_with(needle))
}

/// Every shipped `.rs` file under `dir` (a crate's source root holding `lib.rs` or `main.rs`)
/// with its module path (`["report", "html"]`), its code read; the files of `#[cfg(test)]`
/// modules left out.
fn shipped_files(dir: &Path) -> Vec<(PathBuf, Vec<String>, Source)> {
    let mut out = Vec::new();
    for crate_root in ["lib.rs", "main.rs"] {
        let file = dir.join(crate_root);
        if file.exists() {
            walk_module(&file, dir, Vec::new(), &mut out);
        }
    }
    out
}

/// Reads a module's file, then the files of the modules it declares (`mod x;`) that are not
/// test modules. `dir` is where its child modules' files are.
fn walk_module(
    file: &Path,
    dir: &Path,
    path: Vec<String>,
    out: &mut Vec<(PathBuf, Vec<String>, Source)>,
) {
    if out.iter().any(|(f, _, _)| f == file) {
        return;
    }
    let source = read_source(file);
    let children = declared_modules(&source.code);
    let test_children = source.test_children.clone();
    out.push((file.to_path_buf(), path.clone(), source));
    for child in children {
        if test_children.contains(&child) {
            continue;
        }
        let (as_file, as_dir) = (
            dir.join(format!("{child}.rs")),
            dir.join(&child).join("mod.rs"),
        );
        let mut child_path = path.clone();
        child_path.push(child.clone());
        if as_file.exists() {
            walk_module(&as_file, &dir.join(&child), child_path, out);
        } else if as_dir.exists() {
            walk_module(&as_dir, &dir.join(&child), child_path, out);
        }
    }
}

/// The names of `mod x;` declarations (inline `mod x { … }` blocks stay in their file).
fn declared_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for stmt in code.split([';', '{', '}']) {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        if let Some(k) = words.iter().position(|w| *w == "mod")
            && k + 2 == words.len()
        {
            out.push(words[k + 1].to_string());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Module circles.

/// Every module path a file names: `crate::a::b`, `super::x`, `self::y`, with `use` trees
/// (`crate::{a::X, b}`) expanded, resolved to absolute paths.
fn referenced_paths(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    for anchor in ["crate", "super", "self"] {
        let mut at = 0;
        while let Some(pos) = find(b, anchor.as_bytes(), at) {
            at = pos + anchor.len();
            let before_ok = pos == 0 || !(b[pos - 1].is_ascii_alphanumeric() || b[pos - 1] == b'_');
            if !before_ok || !code[at..].trim_start().starts_with("::") {
                continue;
            }
            // Where `super::` and `self::` start from: a `foo.rs` file is module `foo`.
            let base: Vec<String> = match anchor {
                "crate" => Vec::new(),
                "self" => module.to_vec(),
                _ => module[..module.len().saturating_sub(1)].to_vec(),
            };
            let (trees, _) = use_tree(code, at);
            for t in trees {
                let mut full = base.clone();
                full.extend(t.into_iter().filter(|s| s != "super" && s != "self"));
                out.push(full);
            }
        }
    }
    out
}

/// Parses `::a::b::{c, d::e}` from `at`, returning each path (only module-like segments:
/// lowercase identifiers, which is all the graph needs) and where it ended.
fn use_tree(code: &str, mut at: usize) -> (Vec<Vec<String>>, usize) {
    let b = code.as_bytes();
    let mut prefix = Vec::new();
    loop {
        while at < b.len() && b[at].is_ascii_whitespace() {
            at += 1;
        }
        if !code[at..].starts_with("::") {
            return (vec![prefix], at);
        }
        at += 2;
        while at < b.len() && b[at].is_ascii_whitespace() {
            at += 1;
        }
        if at < b.len() && b[at] == b'{' {
            let mut all = Vec::new();
            at += 1;
            loop {
                // Each branch: a path with `::` between segments, up to `,` or `}`.
                let (seg, after) = ident(code, at);
                at = after;
                let (subs, after) = if seg.is_empty() {
                    (vec![Vec::new()], at)
                } else {
                    use_tree(code, at)
                };
                at = after;
                for s in subs {
                    let mut p = prefix.clone();
                    if !seg.is_empty() {
                        p.push(seg.clone());
                    }
                    p.extend(s);
                    all.push(p);
                }
                // Skip `as name`, to the `,` or the `}`.
                while at < b.len() && b[at] != b',' && b[at] != b'}' {
                    at += 1;
                }
                if at >= b.len() || b[at] == b'}' {
                    return (all, at + 1);
                }
                at += 1;
            }
        }
        let (seg, after) = ident(code, at);
        if seg.is_empty() {
            return (vec![prefix], at);
        }
        at = after;
        prefix.push(seg);
    }
}

fn ident(code: &str, mut at: usize) -> (String, usize) {
    let b = code.as_bytes();
    while at < b.len() && b[at].is_ascii_whitespace() {
        at += 1;
    }
    let start = at;
    while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_') {
        at += 1;
    }
    (code[start..at].to_string(), at)
}

/// The edges between modules: for each file, the nodes it names. A node is a top-level module
/// (`engine`), and within any module each of its child modules, for the circles among siblings
/// at every depth (`report::html` ↔ `report::prediction`, `sim::world::node` ↔
/// `sim::world::eviction`).
fn module_graphs(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let files = shipped_files(src);
    let top: BTreeSet<String> = files
        .iter()
        .filter(|(_, p, _)| p.len() == 1)
        .map(|(_, p, _)| p[0].clone())
        .collect();
    // "crate" → the top-level graph; "report" → its children's graph; and so on.
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (_, module, source) in &files {
        if module.is_empty() {
            continue;
        }
        for target in referenced_paths(&source.code, module) {
            let Some(first) = target.first() else {
                continue;
            };
            if !top.contains(first) {
                continue; // the crate root's items, or a name that is not a module
            }
            // Where the file and the module it names part: below their common parent, each is
            // one of that parent's children, and those children are the nodes of the parent's
            // graph ("crate" for the top level). A module naming its own ancestor is not an edge.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                continue;
            }
            let child = |p: &[String]| p[..=common].join("::");
            let is_module = files
                .iter()
                .any(|(_, p, _)| p.len() > common && p[..=common] == target[..=common]);
            if is_module {
                let parent = if common == 0 {
                    "crate".to_string()
                } else {
                    module[..common].join("::")
                };
                graphs
                    .entry(parent)
                    .or_default()
                    .entry(child(module))
                    .or_default()
                    .insert(child(&target));
            }
        }
    }
    graphs
}

/// Every circle in a graph, each once, as its nodes in order (from its smallest node).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // From each node, the shortest way back to it; a circle found from several of its nodes is
    // named once.
    let nodes: Vec<&String> = graph
        .keys()
        .chain(graph.values().flatten())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut found = Vec::new();
    let mut seen_components = BTreeSet::new();
    for start in &nodes {
        // The shortest path back to `start` (breadth first), if any.
        let mut prev: BTreeMap<&String, &String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([*start]);
        let mut back = None;
        while let Some(n) = queue.pop_front() {
            for m in graph.get(n).into_iter().flatten() {
                if m == *start {
                    back = Some(n);
                    break;
                }
                if !prev.contains_key(m) {
                    prev.insert(m, n);
                    queue.push_back(m);
                }
            }
            if back.is_some() {
                break;
            }
        }
        let Some(mut n) = back else { continue };
        let mut circle = vec![(*start).clone()];
        let mut path = vec![n.clone()];
        while n != *start {
            n = prev[n];
            if n != *start {
                path.push(n.clone());
            }
        }
        path.reverse();
        circle.extend(path);
        let key: BTreeSet<String> = circle.iter().cloned().collect();
        if seen_components.insert(key) {
            found.push(circle);
        }
    }
    found
}

#[test]
fn no_module_imports_itself_round_a_circle() {
    let graphs = module_graphs(&root().join("src"));
    let mut problems = Vec::new();
    for (scope, graph) in &graphs {
        for c in circles(graph) {
            let mut shown = c.clone();
            shown.push(c[0].clone());
            problems.push(format!("{scope}: {}", shown.join(" → ")));
        }
    }
    assert!(
        problems.is_empty(),
        "module circles (data must flow one way; see ARCHITECTURE.md):\n  {}",
        problems.join("\n  ")
    );
}

/// The check itself: on a small crate written for it, a circle between two modules at the third
/// level is named in their parent's graph, and a child's use of its parent is not a circle.
#[test]
fn a_circle_below_the_second_level_is_found() {
    let dir = std::env::temp_dir().join(format!("oomsday-architecture-{}", std::process::id()));
    let files = [
        ("lib.rs", "mod a;\n"),
        ("a.rs", "mod b;\npub struct Top;\n"),
        ("a/b.rs", "mod x;\nmod y;\nuse super::Top;\n"),
        (
            "a/b/x.rs",
            "use crate::a::b::y::Y;\nuse super::*;\npub struct X;\n",
        ),
        ("a/b/y.rs", "use super::x::X;\npub struct Y;\n"),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("the crate's folders");
        std::fs::write(&path, text).expect("a file of the crate");
    }
    let graphs = module_graphs(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let found: Vec<(String, Vec<Vec<String>>)> = graphs
        .iter()
        .map(|(scope, g)| (scope.clone(), circles(g)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    assert_eq!(
        found,
        vec![(
            "a::b".to_string(),
            vec![vec!["a::b::x".to_string(), "a::b::y".to_string()]]
        )]
    );
}

/// The lower layers know nothing of the front ends, as ARCHITECTURE.md says.
#[test]
fn the_engine_observe_score_and_inject_import_no_front_end() {
    let graphs = module_graphs(&root().join("src"));
    let top = &graphs["crate"];
    let mut problems = Vec::new();
    for lower in ["engine", "observe", "score", "inject"] {
        for front in ["cli", "controller", "audit"] {
            if top.get(lower).is_some_and(|deps| deps.contains(front)) {
                problems.push(format!("{lower} imports {front}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Function length.

/// Each function with a body in `code`: its name, first line (1-based) and length in lines,
/// from the line of `fn` to the line of its closing brace.
fn functions(code: &str) -> Vec<(String, usize, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(b, b"fn", at) {
        at = pos + 2;
        let word_start = pos == 0 || !(b[pos - 1].is_ascii_alphanumeric() || b[pos - 1] == b'_');
        let word_end = b.get(pos + 2).is_some_and(|c| c.is_ascii_whitespace());
        if !word_start || !word_end {
            continue;
        }
        let (name, after) = ident(code, pos + 2);
        if name.is_empty() {
            continue; // a `fn(…)` type
        }
        // Its body: the first `{` before any `;` (a declaration without one has no body).
        let Some(open) = (after..b.len()).find(|&j| b[j] == b'{' || b[j] == b';') else {
            continue;
        };
        if b[open] == b';' {
            continue;
        }
        let close = block_end(b, open);
        let line = |i: usize| code[..i].matches('\n').count() + 1;
        out.push((
            name,
            line(pos),
            line(close.saturating_sub(1)) - line(pos) + 1,
        ));
    }
    out
}

/// Every shipped function over the limit, as `path:line name (N lines)`.
fn long_functions() -> Vec<(String, String)> {
    let root = root();
    let mut dirs = vec![root.join("src")];
    for parent in ["crates", "images"] {
        if let Ok(entries) = std::fs::read_dir(root.join(parent)) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("src"))
                .filter(|p| p.is_dir())
                .collect();
            found.sort();
            dirs.extend(found);
        }
    }
    let mut out = Vec::new();
    for dir in dirs {
        for (file, _, source) in shipped_files(&dir) {
            let rel = file
                .strip_prefix(&root)
                .unwrap_or(&file)
                .display()
                .to_string();
            for (name, line, lines) in functions(&source.code) {
                if lines > MAX_FUNCTION_LINES {
                    out.push((
                        format!("{rel}::{name}"),
                        format!("{rel}:{line} {name} ({lines} lines)"),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn no_shipped_function_is_over_80_lines() {
    let long = long_functions();
    for (key, shown) in &long {
        eprintln!(
            "over {MAX_FUNCTION_LINES} lines: {shown}{}",
            known_long(key)
                .map(|why| format!(" (known: {why})"))
                .unwrap_or_default()
        );
    }
    for (known, _) in KNOWN_LONG {
        if !long.iter().any(|(k, _)| k == known) {
            eprintln!(
                "no longer over {MAX_FUNCTION_LINES} lines: {known} (drop it from KNOWN_LONG)"
            );
        }
    }
    let new: Vec<&String> = long
        .iter()
        .filter(|(k, _)| known_long(k).is_none())
        .map(|(_, s)| s)
        .collect();
    assert!(
        new.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n  {}",
        new.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The checks' own reading of Rust, on small cases.
#[test]
fn the_reader_sees_paths_and_functions_but_not_comments_strings_or_tests() {
    let code = blank_comments_and_literals(
        "// crate::cli::x\nuse crate::{engine::Run, score::{self, Score}};\nlet s = \"crate::audit\";\nfn f() {\n  super::html::g();\n}\n",
    );
    let paths = referenced_paths(&code, &["report".into(), "prediction".into()]);
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        ["engine::Run", "score", "score::Score", "report::html::g"]
    );
    assert_eq!(functions(&code), [("f".to_string(), 4, 3)]);
}
