//! The uplift bot: finds the bugs with pending `approval-mozilla-<channel>?` requests, analyses
//! their patches, grafts them in memory onto every release branch, and records it all in the API.

pub mod analysis;
pub mod bot;
pub mod bugzilla;
pub mod config;
pub mod error;
pub mod form;
pub mod graft;
pub mod history;
pub mod landing;
pub mod report;
pub mod run;

pub use error::Error;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    /// The modules each module of the crate names in code (`use crate::x`, `crate::x::…`),
    /// comments left out.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut imports = BTreeMap::new();
        for entry in std::fs::read_dir(&source).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.extension().is_none_or(|extension| extension != "rs") || ["lib", "main"].contains(&name.as_str()) {
                continue;
            }
            let code: String = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let named = code
                .match_indices("crate::")
                .map(|(at, _)| {
                    let rest = &code[at + "crate::".len()..];
                    rest[..rest.find(|c: char| !c.is_alphanumeric() && c != '_').unwrap_or(rest.len())].to_owned()
                })
                .filter(|module| *module != name && *module != "Error")
                .collect();
            imports.insert(name, named);
        }
        imports
    }

    #[test]
    fn no_module_of_the_crate_imports_one_that_imports_it_back() {
        let imports = imports();
        // Depth-first search for a path from each module back to itself.
        for start in imports.keys() {
            let mut stack: Vec<Vec<&str>> = vec![vec![start.as_str()]];
            while let Some(path) = stack.pop() {
                let last = *path.last().unwrap();
                for next in imports.get(last).into_iter().flatten() {
                    assert_ne!(next, start, "import cycle: {} -> {next}", path.join(" -> "));
                    if !path.contains(&next.as_str()) {
                        stack.push([path.clone(), vec![next.as_str()]].concat());
                    }
                }
            }
        }
    }
}
