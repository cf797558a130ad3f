//! `check-module-cycles`: fails, naming them, when modules of a crate of the workspace import each
//! other (`scripts/check-module-cycles.sh` runs it; `--list` only lists the cycles).
//!
//! It reads every crate root of the workspace members (`src/lib.rs`, `src/main.rs`,
//! `src/bin/*.rs`), follows their `mod` declarations, and takes as a dependency every path that
//! starts at `crate::`, `super::`, `self::`, a child module or a name the module imported (in `use`
//! declarations and in code alike). A path through a re-export (`pub use error::Error` in
//! `lib.rs`) counts as a dependency on the module that defines the item. A module's use of its own
//! ancestors (`super::helper` in a child) is not counted: a module and its children are one unit,
//! the parent being their front. Comments and string literals are skipped; macros are not
//! expanded, which is enough for this workspace.

#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a command-line check reports on the terminal")]

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut list = false;
    let mut root = shipit_system_tests::workspace_root();
    for argument in std::env::args().skip(1) {
        match argument.as_str() {
            "--list" => list = true,
            "-h" | "--help" => {
                println!("usage: check-module-cycles [--list] [WORKSPACE]\n  --list  print the cycles and exit 0");
                return ExitCode::SUCCESS;
            }
            _ => root = PathBuf::from(argument),
        }
    }
    let cycles = match workspace_cycles(&root) {
        Ok(cycles) => cycles,
        Err(error) => {
            eprintln!("check-module-cycles: {error}");
            return ExitCode::from(2);
        }
    };
    for cycle in &cycles {
        println!("{cycle}");
    }
    if list || cycles.is_empty() {
        if cycles.is_empty() {
            println!("no import cycle between the modules of a crate");
        }
        return ExitCode::SUCCESS;
    }
    eprintln!("{} import cycle(s) between modules: break each one (ARCHITECTURE.md, Invariants)", cycles.len());
    ExitCode::FAILURE
}

/// The cycles of every crate of the workspace at `root`, one line each.
fn workspace_cycles(root: &Path) -> Result<Vec<String>, String> {
    let mut cycles = Vec::new();
    for member in workspace_members(root)? {
        let src = member.join("src");
        let mut roots: Vec<PathBuf> =
            ["lib.rs", "main.rs"].iter().map(|name| src.join(name)).filter(|path| path.is_file()).collect();
        if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
            let mut bins: Vec<PathBuf> = entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
                .collect();
            bins.sort();
            roots.extend(bins);
        }
        for crate_root in roots {
            let label = crate_root.strip_prefix(root).unwrap_or(&crate_root).display().to_string();
            let read = |path: &Path| std::fs::read_to_string(path).ok();
            let graph = ModuleTree::read(&crate_root, &read)?;
            cycles.extend(graph.cycles().into_iter().map(|cycle| format!("{label}: {cycle}")));
        }
    }
    Ok(cycles)
}

/// The member directories of the workspace: `members = [...]` of its `Cargo.toml`, with `dir/*`
/// expanded to the directories of `dir` holding a `Cargo.toml`.
fn workspace_members(root: &Path) -> Result<Vec<PathBuf>, String> {
    let manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|error| format!("{}: {error}", manifest.display()))?;
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("members"))
        .ok_or_else(|| format!("{}: no `members = [...]` line", manifest.display()))?;
    let mut members = Vec::new();
    for pattern in line.split('"').skip(1).step_by(2) {
        match pattern.strip_suffix("/*") {
            Some(parent) => {
                let entries = std::fs::read_dir(root.join(parent)).map_err(|error| format!("{parent}: {error}"))?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|path| path.join("Cargo.toml").is_file())
                    .collect();
                found.sort();
                members.extend(found);
            }
            None => members.push(root.join(pattern)),
        }
    }
    Ok(members)
}

/// One module: a file, or a `mod name { ... }` block inside one.
#[derive(Debug, Default)]
struct Module {
    /// Its path from the crate root (empty for the root).
    path: Vec<String>,
    parent: Option<usize>,
    children: BTreeMap<String, usize>,
    /// Names brought in by `use`, with the path they stand for (relative to this module).
    imports: BTreeMap<String, Vec<String>>,
    /// Every path this module names that may lead into the crate.
    references: Vec<Vec<String>>,
}

/// The modules of one crate and what each one names.
#[derive(Debug, Default)]
struct ModuleTree {
    modules: Vec<Module>,
}

impl ModuleTree {
    /// Reads the crate whose root file is `root`, following `mod name;` declarations.
    fn read(root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Result<Self, String> {
        let mut tree = Self { modules: vec![Module::default()] };
        let directory = root.parent().unwrap_or(Path::new("")).to_owned();
        let mut pending = vec![(0, root.to_owned(), directory)];
        while let Some((module, file, directory)) = pending.pop() {
            let source = read(&file).ok_or_else(|| format!("cannot read {}", file.display()))?;
            for (child, directory) in tree.parse(module, &source, &directory) {
                let name = tree.modules[child].path.last().cloned().unwrap_or_default();
                let candidates = [directory.join(format!("{name}.rs")), directory.join(&name).join("mod.rs")];
                let found = candidates.iter().find(|path| read(path).is_some()).ok_or_else(|| {
                    format!(
                        "`mod {name};` of {}: neither {} nor {}",
                        file.display(),
                        candidates[0].display(),
                        candidates[1].display()
                    )
                })?;
                // `name.rs` and `name/mod.rs` alike keep their own children in `name/`.
                pending.push((child, found.clone(), directory.join(&name)));
            }
        }
        Ok(tree)
    }

    /// Adds what `source` (the file of `module`, whose child modules live in `directory`) declares
    /// and names; answers the child modules declared as files, with the directory to find each in.
    fn parse(&mut self, module: usize, source: &str, directory: &Path) -> Vec<(usize, PathBuf)> {
        let tokens = tokenize(&strip(source));
        let mut file_children = Vec::new();
        // The modules open at this point, with the brace depth at which each one closes.
        let mut scopes: Vec<(usize, usize, PathBuf)> = vec![(module, 0, directory.to_owned())];
        let mut depth = 0;
        let mut at = 0;
        while at < tokens.len() {
            let (scope, _, scope_directory) = scopes.last().expect("the file's module stays open").clone();
            match &tokens[at] {
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    depth -= 1;
                    if scopes.len() > 1 && scopes.last().is_some_and(|(_, closes_at, _)| *closes_at == depth) {
                        scopes.pop();
                    }
                }
                Token::Ident(word) if word == "mod" => {
                    if let (Some(Token::Ident(name)), Some(Token::Punct(next @ (';' | '{')))) =
                        (tokens.get(at + 1), tokens.get(at + 2))
                    {
                        let child = self.add_child(scope, name);
                        if *next == ';' {
                            file_children.push((child, scope_directory.clone()));
                        } else {
                            depth += 1;
                            scopes.push((child, depth - 1, scope_directory.join(name)));
                        }
                        at += 3;
                        continue;
                    }
                }
                Token::Ident(word) if word == "use" && !matches!(tokens.get(at + 1), Some(Token::Punct('<'))) => {
                    let mut items = Vec::new();
                    at = use_tree(&tokens, at + 1, &mut Vec::new(), &mut items);
                    for (path, binding) in items {
                        if let Some(binding) = binding {
                            self.modules[scope].imports.insert(binding, path.clone());
                        }
                        self.modules[scope].references.push(path);
                    }
                    continue;
                }
                Token::Ident(first)
                    if matches!(tokens.get(at + 1), Some(Token::PathSep))
                        && !matches!(
                            at.checked_sub(1).map(|before| &tokens[before]),
                            Some(Token::PathSep | Token::Punct('$'))
                        ) =>
                {
                    let mut path = vec![first.clone()];
                    at += 1;
                    while let (Some(Token::PathSep), Some(Token::Ident(next))) = (tokens.get(at), tokens.get(at + 1)) {
                        path.push(next.clone());
                        at += 2;
                    }
                    self.modules[scope].references.push(path);
                    continue;
                }
                _ => {}
            }
            at += 1;
        }
        file_children
    }

    fn add_child(&mut self, parent: usize, name: &str) -> usize {
        let mut path = self.modules[parent].path.clone();
        path.push(name.to_owned());
        let child = self.modules.len();
        self.modules.push(Module { path, parent: Some(parent), ..Module::default() });
        self.modules[parent].children.insert(name.to_owned(), child);
        child
    }

    /// The module that `path`, named in module `from`, leads to; `None` outside the crate.
    fn resolve(&self, from: usize, path: &[String], hops: usize) -> Option<usize> {
        if hops > 16 {
            return None;
        }
        let (mut current, mut rest) = match path.first().map(String::as_str)? {
            "crate" => (0, &path[1..]),
            "self" => (from, &path[1..]),
            "super" => {
                let mut current = from;
                let mut rest = path;
                while rest.first().is_some_and(|segment| segment == "super") {
                    current = self.modules[current].parent?;
                    rest = &rest[1..];
                }
                (current, rest)
            }
            first if self.modules[from].children.contains_key(first) => (from, path),
            first => {
                let imported = self.modules[from].imports.get(first)?;
                let whole: Vec<String> = imported.iter().chain(&path[1..]).cloned().collect();
                return self.resolve(from, &whole, hops + 1);
            }
        };
        while let Some(segment) = rest.first() {
            if let Some(&child) = self.modules[current].children.get(segment) {
                current = child;
                rest = &rest[1..];
            } else if let Some(imported) = self.modules[current].imports.get(segment) {
                // A re-export: the dependency is on the module that defines the item.
                let whole: Vec<String> = imported.iter().chain(&rest[1..]).cloned().collect();
                return self.resolve(current, &whole, hops + 1).or(Some(current));
            } else {
                break;
            }
        }
        Some(current)
    }

    /// Whether `ancestor` is `module` or contains it.
    fn contains(&self, ancestor: usize, mut module: usize) -> bool {
        loop {
            if module == ancestor {
                return true;
            }
            match self.modules[module].parent {
                Some(parent) => module = parent,
                None => return false,
            }
        }
    }

    /// Module `a` depends on module `b` when it names something of `b` that is not its own or an
    /// ancestor's.
    fn edges(&self) -> Vec<BTreeSet<usize>> {
        (0..self.modules.len())
            .map(|from| {
                self.modules[from]
                    .references
                    .iter()
                    .filter_map(|path| self.resolve(from, path, 0))
                    .filter(|&to| !self.contains(to, from))
                    .collect()
            })
            .collect()
    }

    fn name(&self, module: usize) -> String {
        match self.modules[module].path.as_slice() {
            [] => "crate".to_owned(),
            path => path.join("::"),
        }
    }

    /// One line per set of modules that import each other: its members and one shortest cycle.
    fn cycles(&self) -> Vec<String> {
        let edges = self.edges();
        let mut lines = Vec::new();
        for component in strongly_connected(&edges) {
            if component.len() < 2 {
                continue;
            }
            let start = *component.iter().min_by_key(|&&module| self.name(module)).expect("not empty");
            let cycle = shortest_cycle(&edges, &component, start);
            let path: Vec<String> = cycle.iter().map(|&module| self.name(module)).collect();
            let mut line = path.join(" -> ");
            if component.len() > cycle.len() - 1 {
                let mut members: Vec<String> = component.iter().map(|&module| self.name(module)).collect();
                members.sort();
                line.push_str(&format!(" (modules importing each other: {})", members.join(", ")));
            }
            lines.push(line);
        }
        lines.sort();
        lines
    }
}

/// The strongly connected components of the graph (Tarjan's algorithm).
fn strongly_connected(edges: &[BTreeSet<usize>]) -> Vec<BTreeSet<usize>> {
    struct State<'a> {
        edges: &'a [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        components: Vec<BTreeSet<usize>>,
    }
    fn visit(state: &mut State<'_>, node: usize) {
        state.index[node] = Some(state.next);
        state.low[node] = state.next;
        state.next += 1;
        state.stack.push(node);
        state.on_stack[node] = true;
        for &to in state.edges[node].iter() {
            match state.index[to] {
                None => {
                    visit(state, to);
                    state.low[node] = state.low[node].min(state.low[to]);
                }
                Some(index) if state.on_stack[to] => state.low[node] = state.low[node].min(index),
                Some(_) => {}
            }
        }
        if Some(state.low[node]) == state.index[node] {
            let mut component = BTreeSet::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack[member] = false;
                component.insert(member);
                if member == node {
                    break;
                }
            }
            state.components.push(component);
        }
    }
    let count = edges.len();
    let mut state = State {
        edges,
        index: vec![None; count],
        low: vec![0; count],
        on_stack: vec![false; count],
        stack: Vec::new(),
        next: 0,
        components: Vec::new(),
    };
    for node in 0..count {
        if state.index[node].is_none() {
            visit(&mut state, node);
        }
    }
    state.components
}

/// A shortest path from `start` back to itself inside `component`, `start` at both ends.
fn shortest_cycle(edges: &[BTreeSet<usize>], component: &BTreeSet<usize>, start: usize) -> Vec<usize> {
    let mut previous: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &to in edges[node].iter().filter(|to| component.contains(to)) {
            if to == start {
                // Back from `node` to `start` through the predecessors, then reversed.
                let mut cycle = vec![start, node];
                let mut at = node;
                while let Some(&before) = previous.get(&at) {
                    cycle.push(before);
                    at = before;
                }
                cycle.reverse();
                return cycle;
            }
            if let Entry::Vacant(entry) = previous.entry(to) {
                entry.insert(node);
                queue.push_back(to);
            }
        }
    }
    vec![start, start]
}

/// Parses a use tree from `tokens[at]` up to its `;` (or the end of a group), adding each leaf's
/// full path and the name it binds (none for a glob); answers the position after it.
fn use_tree(
    tokens: &[Token],
    mut at: usize,
    prefix: &mut Vec<String>,
    items: &mut Vec<(Vec<String>, Option<String>)>,
) -> usize {
    let depth = prefix.len();
    if matches!(tokens.get(at), Some(Token::PathSep)) {
        at += 1;
    }
    loop {
        match tokens.get(at) {
            Some(Token::Ident(segment)) => {
                prefix.push(segment.clone());
                at += 1;
                if matches!(tokens.get(at), Some(Token::PathSep)) {
                    at += 1;
                    continue;
                }
                let mut binding = prefix.last().cloned();
                if matches!(tokens.get(at), Some(Token::Ident(word)) if word == "as") {
                    binding = match tokens.get(at + 1) {
                        Some(Token::Ident(alias)) if alias != "_" => Some(alias.clone()),
                        _ => None,
                    };
                    at += 2;
                }
                let mut path = prefix.clone();
                if path.last().is_some_and(|last| last == "self") && path.len() > 1 {
                    path.pop();
                    if binding.as_deref() == Some("self") {
                        binding = path.last().cloned();
                    }
                }
                items.push((path, binding));
                break;
            }
            Some(Token::Punct('*')) => {
                items.push((prefix.clone(), None));
                at += 1;
                break;
            }
            Some(Token::Punct('{')) => {
                at += 1;
                while !matches!(tokens.get(at), Some(Token::Punct('}')) | None) {
                    at = use_tree(tokens, at, prefix, items);
                    if matches!(tokens.get(at), Some(Token::Punct(','))) {
                        at += 1;
                    }
                }
                at += 1;
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(depth);
    if depth == 0 {
        // The end of the declaration.
        while !matches!(tokens.get(at), Some(Token::Punct(';')) | None) {
            at += 1;
        }
        at += 1;
    }
    at
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Identifiers (raw ones without their `r#`), `::` and single punctuation characters.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_alphanumeric() || c == '_' {
            let start = at;
            while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
                at += 1;
            }
            if chars.get(at) == Some(&'#') && at == start + 1 && c == 'r' {
                at += 1;
                continue;
            }
            let word: String = chars[start..at].iter().collect();
            if !c.is_ascii_digit() {
                tokens.push(Token::Ident(word));
            }
            continue;
        }
        if c == ':' && chars.get(at + 1) == Some(&':') {
            tokens.push(Token::PathSep);
            at += 2;
            continue;
        }
        if !c.is_whitespace() {
            tokens.push(Token::Punct(c));
        }
        at += 1;
    }
    tokens
}

/// `source` without comments, and with string and character literals emptied.
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let next = chars.get(at + 1).copied();
        if c == '/' && next == Some('/') {
            while at < chars.len() && chars[at] != '\n' {
                at += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while at < chars.len() {
                if chars[at] == '/' && chars.get(at + 1) == Some(&'*') {
                    depth += 1;
                    at += 2;
                } else if chars[at] == '*' && chars.get(at + 1) == Some(&'/') {
                    depth -= 1;
                    at += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    at += 1;
                }
            }
            out.push(' ');
        } else if let Some(hashes) = raw_string_start(&chars, at) {
            // r"..", r#".."#, br"..": the body ends at a quote followed by as many `#`.
            at += hashes.1;
            let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes.0)).collect();
            while at < chars.len() && !chars[at..].starts_with(&closing) {
                at += 1;
            }
            at += closing.len();
            out.push_str("\"\"");
        } else if c == '"' {
            at += 1;
            while at < chars.len() && chars[at] != '"' {
                at += if chars[at] == '\\' { 2 } else { 1 };
            }
            at += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(at + 2) == Some(&'\'')) {
            // A character literal ('x', '\n', '\u{1F600}'); a lifetime ('a) has no closing quote.
            at += 1;
            while at < chars.len() && chars[at] != '\'' {
                at += if chars[at] == '\\' { 2 } else { 1 };
            }
            at += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            at += 1;
        }
    }
    out
}

/// At a raw string's start (`r"`, `r#"`, `br##"`, not inside an identifier): the number of `#`
/// and the length of the opening.
fn raw_string_start(chars: &[char], at: usize) -> Option<(usize, usize)> {
    if at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_') {
        return None;
    }
    let mut position = at;
    if chars.get(position) == Some(&'b') {
        position += 1;
    }
    if chars.get(position) != Some(&'r') {
        return None;
    }
    position += 1;
    let hashes = chars[position..].iter().take_while(|&&c| c == '#').count();
    position += hashes;
    (chars.get(position) == Some(&'"')).then_some((hashes, position + 1 - at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> ModuleTree {
        let files: BTreeMap<PathBuf, String> =
            files.iter().map(|(path, text)| (PathBuf::from(path), (*text).to_owned())).collect();
        ModuleTree::read(Path::new("src/lib.rs"), &|path| files.get(path).cloned()).unwrap()
    }

    #[test]
    fn use_trees_expand_into_paths_and_the_names_they_bind() {
        let tokens = tokenize("use crate::{a::{self, B as C}, d::*, e};");
        let mut items = Vec::new();
        assert_eq!(use_tree(&tokens, 1, &mut Vec::new(), &mut items), tokens.len());
        let words = |path: &[&str]| path.iter().map(|word| (*word).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            items,
            [
                (words(&["crate", "a"]), Some("a".to_owned())),
                (words(&["crate", "a", "B"]), Some("C".to_owned())),
                (words(&["crate", "d"]), None),
                (words(&["crate", "e"]), Some("e".to_owned())),
            ]
        );
    }

    #[test]
    fn comments_strings_and_characters_name_nothing() {
        let text = strip("a // crate::x\n/* crate::y /* nested */ */ \"crate::z\" r#\"crate::w\"# '\"' 'b: b");
        assert!(!text.contains("crate"), "{text}");
        assert!(text.contains("'b: b"), "lifetimes stay: {text}");
    }

    #[test]
    fn two_sibling_modules_naming_each_other_are_a_cycle() {
        let tree = tree(&[
            ("src/lib.rs", "mod a;\npub mod b;\nmod c;\n"),
            ("src/a.rs", "use crate::b::Thing;\nfn f() { crate::c::g() }"),
            ("src/b/mod.rs", "mod inner;\npub use inner::Thing;\n"),
            ("src/b/inner.rs", "pub struct Thing;\nfn f() -> super::super::a::X { todo!() }"),
            ("src/c.rs", "fn g() {}"),
        ]);
        assert_eq!(tree.cycles(), ["a -> b::inner -> a"]);
    }

    #[test]
    fn children_using_their_parent_and_re_exports_are_no_cycle() {
        let tree = tree(&[
            ("src/lib.rs", "pub mod error;\npub mod run;\npub use error::Error;\n"),
            ("src/error.rs", "pub enum Error {}\n#[cfg(test)]\nmod tests { use super::*; }\n"),
            ("src/run.rs", "mod step;\nuse crate::Error;\npub fn run() { step::go() }\n"),
            ("src/run/step.rs", "use super::run;\nuse crate::Error;\npub fn go() {}\n"),
        ]);
        assert_eq!(tree.cycles(), Vec::<String>::new());
        let run = tree.modules.iter().position(|module| module.path == ["run"]).unwrap();
        let error = tree.modules.iter().position(|module| module.path == ["error"]).unwrap();
        assert!(tree.edges()[run].contains(&error), "a re-export leads to the module defining the item");
    }

    #[test]
    fn a_longer_cycle_is_named_with_every_module_in_it() {
        let tree = tree(&[
            ("src/lib.rs", "mod a; mod b; mod c;"),
            ("src/a.rs", "use crate::b;"),
            ("src/b.rs", "use crate::{a, c};"),
            ("src/c.rs", "pub fn f() { crate::a::g() }"),
        ]);
        assert_eq!(tree.cycles(), ["a -> b -> a (modules importing each other: a, b, c)"]);
    }
}
