//! The shape of authd's source: no import cycles between modules, and files small enough to read
//! whole. Reads `authd/src` as text: every `crate::`, `super::` and `self::` path (outside
//! the trailing `#[cfg(test)]` module) is an edge from its module to the module it names; two
//! sibling modules that depend on each other, directly or through others, are a cycle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a source file may have: about 400, so that a module is read in one sitting.
const MAX_LINES: usize = 420;

type Module = Vec<String>;

fn sources() -> BTreeMap<Module, (PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    for path in rust_files(&root) {
        let rel = path.strip_prefix(&root).unwrap().with_extension("");
        let mut module: Module = rel.iter().map(|s| s.to_str().unwrap().to_owned()).collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        out.insert(module, (path, text));
    }
    out
}

/// The text that counts: no unit-test module, no line comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len())
}

/// Expands one path or use tree at the start of `s` (after `prefix`) into full paths.
fn expand(s: &str, prefix: Module, out: &mut Vec<Module>) -> usize {
    let mut path = prefix;
    let mut i = 0;
    loop {
        let rest = &s[i..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut j = 0;
            loop {
                let item = &group[j..];
                let skip = item.len() - item.trim_start_matches([' ', '\n', ',']).len();
                j += skip;
                if group[j..].starts_with('}') || j >= group.len() {
                    return i + 1 + j + 1;
                }
                let used = expand(&group[j..], path.clone(), out);
                j += used.max(1);
            }
        }
        let n = ident_len(rest);
        if n == 0 {
            out.push(path);
            return i;
        }
        let name = &rest[..n];
        if name != "self" || path.is_empty() {
            path.push(name.to_owned());
        }
        i += n;
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The modules `module` names, resolved to the longest existing module prefix.
fn dependencies(module: &Module, text: &str, known: &BTreeSet<Module>) -> BTreeSet<Module> {
    let text = code(text);
    let mut paths = Vec::new();
    for start in ["crate::", "super::", "self::"] {
        for (at, _) in text.match_indices(start) {
            let before = text[..at].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            expand(&text[at..], Vec::new(), &mut paths);
        }
    }
    let mut deps = BTreeSet::new();
    for p in paths {
        let mut full: Module = match p.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("self") => module.clone(),
            Some("super") => {
                let mut base = module.clone();
                for s in p.iter().take_while(|s| *s == "super") {
                    let _ = s;
                    base.pop();
                }
                base
            }
            _ => continue,
        };
        full.extend(
            p.iter()
                .skip_while(|s| ["crate", "self", "super"].contains(&s.as_str()))
                .cloned(),
        );
        while !full.is_empty() && !known.contains(&full) {
            full.pop();
        }
        let related = full.starts_with(module) || module.starts_with(&full);
        if !full.is_empty() && !related {
            deps.insert(full);
        }
    }
    deps
}

/// Edges between siblings: `a::x -> b::y` is `a -> b` at the level where the paths part.
fn sibling_edges(edges: &BTreeMap<Module, BTreeSet<Module>>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut g: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (a, targets) in edges {
        for b in targets {
            let k = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            if k < a.len() && k < b.len() {
                g.entry(a[..=k].to_vec())
                    .or_default()
                    .insert(b[..=k].to_vec());
            }
        }
    }
    g
}

/// One cycle of `g`, if there is any (depth-first search).
fn find_cycle(g: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        n: &Module,
        g: &BTreeMap<Module, BTreeSet<Module>>,
        path: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.clone());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.clone());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn no_import_cycles_between_modules() {
    let src = sources();
    let known: BTreeSet<Module> = src.keys().cloned().collect();
    let edges: BTreeMap<Module, BTreeSet<Module>> = src
        .iter()
        .map(|(m, (_, text))| (m.clone(), dependencies(m, text, &known)))
        .collect();
    // The check itself must see the edges it is about (a parser that finds nothing passes).
    let names = |m: &[&str]| m.iter().map(|s| (*s).to_owned()).collect::<Module>();
    assert!(edges[&names(&["oauth", "callback"])].contains(&names(&["oauth", "consent"])));
    assert!(edges[&names(&["router"])].contains(&names(&["verify"])));
    let cycle = find_cycle(&sibling_edges(&edges));
    assert!(
        cycle.is_none(),
        "import cycle: {}",
        cycle
            .unwrap_or_default()
            .iter()
            .map(|m| m.join("::"))
            .collect::<Vec<_>>()
            .join(" -> ")
    );
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Module>();
    let known: BTreeSet<Module> = [m("a"), m("a::x"), m("b")].into_iter().collect();
    let x = dependencies(
        &m("a::x"),
        "use crate::b::Thing;\nuse super::{self, y};",
        &known,
    );
    assert_eq!(x, [m("b")].into_iter().collect());
    let b = dependencies(&m("b"), "fn f() { crate::a::x::g() }", &known);
    let edges: BTreeMap<Module, BTreeSet<Module>> =
        [(m("a::x"), x), (m("b"), b)].into_iter().collect();
    assert!(find_cycle(&sibling_edges(&edges)).is_some());
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn source_and_test_files_stay_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = [
        rust_files(&root.join("src")),
        rust_files(&root.join("tests")),
    ]
    .concat();
    assert!(files.len() > 40, "{files:?}");
    let long: Vec<String> = files
        .iter()
        .map(|path| (path, std::fs::read_to_string(path).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(path, n)| format!("{} has {n} lines", path.display()))
        .collect();
    assert!(long.is_empty(), "{long:?}");
}
