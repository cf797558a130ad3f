//! Function-level change sets: for a changed file of C, C++, Rust, Python or JavaScript, the
//! functions the change added, removed and modified, found by parsing both versions of the file
//! with the language's tree-sitter grammar (what the original bot asked of a clang plugin, without
//! building anything). A function is named as a reviewer would look for it: `Type::method` in
//! Rust and C++, `Class.method` in Python and JavaScript; a name defined twice in one file (C
//! functions in both branches of an `#ifdef`, overloads) gets `#2`, `#3`.
//!
//! A function is modified when its text differs between the versions: a change inside its body,
//! its signature or a comment within it. Parse errors do not stop anything: tree-sitter recovers,
//! and the functions it still recognises are compared.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

use crate::hunk::Hunk;

/// The languages with a parser, by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    C,
    Cpp,
    Rust,
    Python,
    JavaScript,
}

impl Language {
    /// The language of a path, from its extension.
    pub fn of(path: &str) -> Option<Self> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let (_, extension) = name.rsplit_once('.')?;
        Some(match extension {
            "c" | "h" => Self::C,
            "cc" | "cpp" | "cxx" | "hh" | "hpp" | "hxx" | "C" | "H" => Self::Cpp,
            "rs" => Self::Rust,
            "py" => Self::Python,
            "js" | "mjs" | "cjs" | "jsx" => Self::JavaScript,
            _ => return None,
        })
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Self::C => tree_sitter_c::LANGUAGE.into(),
            Self::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Self::Rust => tree_sitter_rust::LANGUAGE.into(),
            Self::Python => tree_sitter_python::LANGUAGE.into(),
            Self::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
        }
    }
}

/// The functions a change added, removed and modified in one file, sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modified: Vec<String>,
}

/// A function of one version of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    /// 1-based, inclusive.
    pub first_line: u32,
    pub last_line: u32,
    /// A hash of its text.
    pub digest: u64,
}

/// A version of a file: its content, and the id of its blob when it has one (the functions of a
/// blob are remembered: the new version of a file in one commit is the old one in the next that
/// changes it, so most versions are parsed once instead of twice).
#[derive(Clone, Copy, Debug)]
pub struct Version<'a> {
    pub blob: Option<[u8; 20]>,
    pub content: &'a [u8],
}

/// Blobs whose functions are remembered, at most (then the memo starts again).
const MEMO_ENTRIES: usize = 8_192;

/// The functions of a blob, by blob id.
type Memo = FxHashMap<[u8; 20], Arc<Vec<Function>>>;

static MEMO: LazyLock<Mutex<Memo>> = LazyLock::new(Default::default);

fn functions_of(language: Language, version: Version<'_>) -> Arc<Vec<Function>> {
    let Some(blob) = version.blob else { return Arc::new(functions(language, version.content)) };
    if let Some(found) = MEMO.lock().ok().and_then(|memo| memo.get(&blob).cloned()) {
        return found;
    }
    let found = Arc::new(functions(language, version.content));
    if let Ok(mut memo) = MEMO.lock() {
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(blob, found.clone());
    }
    found
}

/// What changed between the `old` and `new` versions of a file. `hunks` (the line diff) limits
/// the comparison to the functions a hunk touches.
pub fn changes(language: Language, old: &[u8], new: &[u8], hunks: &[Hunk]) -> FunctionChanges {
    changes_between(language, Version { blob: None, content: old }, Version { blob: None, content: new }, hunks)
}

/// [`changes`], remembering the functions of blobs.
pub fn changes_between(language: Language, old: Version<'_>, new: Version<'_>, hunks: &[Hunk]) -> FunctionChanges {
    let before = functions_of(language, old);
    let after = functions_of(language, new);
    let old_by_name: HashMap<&str, &Function> =
        before.iter().map(|function| (function.name.as_str(), function)).collect();
    let new_by_name: HashMap<&str, &Function> =
        after.iter().map(|function| (function.name.as_str(), function)).collect();
    let mut result = FunctionChanges::default();
    for function in after.iter() {
        match old_by_name.get(function.name.as_str()) {
            None => result.added.push(function.name.clone()),
            Some(old) => {
                let touched = hunks.iter().any(|hunk| {
                    overlaps(hunk.old_start, hunk.old_lines, old.first_line, old.last_line)
                        || overlaps(hunk.new_start, hunk.new_lines, function.first_line, function.last_line)
                });
                if touched && old.digest != function.digest {
                    result.modified.push(function.name.clone());
                }
            }
        }
    }
    result.removed = before
        .iter()
        .filter(|function| !new_by_name.contains_key(function.name.as_str()))
        .map(|f| f.name.clone())
        .collect();
    result.added.sort();
    result.removed.sort();
    result.modified.sort();
    result
}

/// Whether `count` lines from `start` (a pure insertion after line `start` when `count` is 0)
/// touch the lines `first..=last`.
fn overlaps(start: u32, count: u32, first: u32, last: u32) -> bool {
    if count == 0 {
        // An insertion between `start` and `start + 1`: inside when both neighbours are.
        return start >= first && start < last;
    }
    start <= last && start + count > first
}

/// The functions of a file, in order.
pub fn functions(language: Language, source: &[u8]) -> Vec<Function> {
    if source.is_empty() {
        return Vec::new();
    }
    thread_local! {
        static PARSERS: RefCell<HashMap<Language, Parser>> = RefCell::new(HashMap::new());
    }
    let tree = PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(language) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let mut parser = Parser::new();
                parser.set_language(&language.grammar()).ok()?;
                entry.insert(parser)
            }
        };
        parser.parse(source, None)
    });
    let Some(tree) = tree else { return Vec::new() };
    let mut found = Vec::new();
    collect(language, tree.root_node(), source, &mut Vec::new(), &mut found);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for function in &mut found {
        let count = seen.entry(function.name.clone()).or_default();
        *count += 1;
        if *count > 1 {
            function.name = format!("{}#{}", function.name, count);
        }
    }
    found
}

fn text<'a>(node: Node<'_>, source: &'a [u8]) -> &'a str {
    std::str::from_utf8(&source[node.byte_range()]).unwrap_or("")
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// Walks the tree; `scope` holds the names of the enclosing classes, impls and functions.
fn collect(language: Language, node: Node<'_>, source: &[u8], scope: &mut Vec<String>, found: &mut Vec<Function>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        let mut pushed = false;
        if let Some(name) = function_name(language, child, source) {
            let qualified = if scope.is_empty() {
                name
            } else {
                format!("{}{}{}", scope.join(separator(language)), separator(language), name)
            };
            found.push(Function {
                name: qualified.clone(),
                first_line: child.start_position().row as u32 + 1,
                last_line: child.end_position().row as u32 + 1,
                digest: digest(&source[child.byte_range()]),
            });
            // C and C++ have no nested functions: their bodies need no walk.
            if matches!(language, Language::C | Language::Cpp) {
                continue;
            }
            scope.push(qualified.rsplit(separator(language)).next().unwrap_or_default().to_owned());
            pushed = true;
        } else if let Some(name) = scope_name(language, child, source) {
            scope.push(name);
            pushed = true;
        }
        collect(language, child, source, scope, found);
        if pushed {
            scope.pop();
        }
    }
}

fn separator(language: Language) -> &'static str {
    match language {
        Language::C | Language::Cpp | Language::Rust => "::",
        Language::Python | Language::JavaScript => ".",
    }
}

/// The name of the function `node` defines, if it defines one.
fn function_name(language: Language, node: Node<'_>, source: &[u8]) -> Option<String> {
    match (language, node.kind()) {
        (Language::C | Language::Cpp, "function_definition") => {
            let mut declarator = node.child_by_field_name("declarator")?;
            // Pointers and references wrap the function declarator.
            while declarator.kind() != "function_declarator" {
                declarator = declarator.child_by_field_name("declarator")?;
            }
            let name = declarator.child_by_field_name("declarator")?;
            Some(text(name, source).split_whitespace().collect::<Vec<_>>().join(" "))
        }
        (Language::Rust, "function_item") => Some(text(node.child_by_field_name("name")?, source).to_owned()),
        (Language::Python, "function_definition") => Some(text(node.child_by_field_name("name")?, source).to_owned()),
        (Language::JavaScript, "function_declaration" | "generator_function_declaration" | "method_definition") => {
            Some(text(node.child_by_field_name("name")?, source).to_owned())
        }
        (Language::JavaScript, "variable_declarator") => {
            let value = node.child_by_field_name("value")?;
            matches!(value.kind(), "arrow_function" | "function_expression" | "function")
                .then(|| text(node.child_by_field_name("name").unwrap_or(value), source).to_owned())
        }
        _ => None,
    }
}

/// The name a class, an impl or a namespace gives the functions inside it.
fn scope_name(language: Language, node: Node<'_>, source: &[u8]) -> Option<String> {
    match (language, node.kind()) {
        (Language::Rust, "impl_item") => {
            let ty = node.child_by_field_name("type")?;
            let ty = text(ty, source);
            Some(ty.split('<').next().unwrap_or(ty).trim().to_owned())
        }
        (Language::Rust, "trait_item" | "mod_item") => Some(text(node.child_by_field_name("name")?, source).to_owned()),
        (Language::Cpp, "class_specifier" | "struct_specifier" | "namespace_definition") => {
            Some(text(node.child_by_field_name("name")?, source).to_owned())
        }
        (Language::Python, "class_definition") => Some(text(node.child_by_field_name("name")?, source).to_owned()),
        (Language::JavaScript, "class_declaration" | "class") => {
            Some(text(node.child_by_field_name("name")?, source).to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(language: Language, source: &str) -> Vec<String> {
        functions(language, source.as_bytes()).into_iter().map(|function| function.name).collect()
    }

    #[test]
    fn each_grammar_finds_the_functions_with_their_scopes() {
        let c = "static int *make(void) { return 0; }\n#ifdef A\nint f(int x) { return x; }\n#else\nint f(int x) { return -x; }\n#endif\n";
        assert_eq!(names(Language::C, c), ["make", "f", "f#2"]);
        let cpp = "namespace net { class Link { public: void up() {} }; int Link::down() { return 0; } }\nint main() { auto l = [](){}; return 0; }\n";
        assert_eq!(names(Language::Cpp, cpp), ["net::Link::up", "net::Link::down", "main"]);
        let rust = "fn free() {}\nimpl<T> Stack<T> { fn push(&mut self) {} }\nmod inner { fn helper() {} }\n";
        assert_eq!(names(Language::Rust, rust), ["free", "Stack::push", "inner::helper"]);
        let python =
            "def top():\n    def nested():\n        pass\n\nclass Parser:\n    def parse(self):\n        pass\n";
        assert_eq!(names(Language::Python, python), ["top", "top.nested", "Parser.parse"]);
        let js = "function a() {}\nconst b = () => 1;\nclass C { m() {} }\nlet d = function () {};\n";
        assert_eq!(names(Language::JavaScript, js), ["a", "b", "C.m", "d"]);
    }

    #[test]
    fn a_change_outside_every_function_modifies_none() {
        let old = "int x;\nint f(void)\n{\n\treturn 1;\n}\n";
        let new = "int x = 2;\nint f(void)\n{\n\treturn 1;\n}\n";
        let hunks = [Hunk { old_start: 1, old_lines: 1, new_start: 1, new_lines: 1 }];
        assert_eq!(changes(Language::C, old.as_bytes(), new.as_bytes(), &hunks), FunctionChanges::default());
    }

    #[test]
    fn languages_come_from_extensions() {
        assert_eq!(Language::of("ip/ipaddress.c"), Some(Language::C));
        assert_eq!(Language::of("dom/Element.cpp"), Some(Language::Cpp));
        assert_eq!(Language::of("src/lib.rs"), Some(Language::Rust));
        assert_eq!(Language::of("setup.py"), Some(Language::Python));
        assert_eq!(Language::of("app.mjs"), Some(Language::JavaScript));
        assert_eq!(Language::of("README"), None);
        assert_eq!(Language::of("man/ip.8"), None);
    }
}
