//! Embeds the Taskcluster hook definitions of `hooks/` (one per bot) into the API, which takes
//! each bot's schedule and parameter schema from them.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let hooks = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../hooks");
    println!("cargo::rerun-if-changed={}", hooks.display());
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(&hooks)
        .expect("the hooks directory exists")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "json"))
        .filter(|path| !path.to_string_lossy().ends_with(".schema.json"))
        .map(|path| (path.file_stem().expect("a file name").to_string_lossy().into_owned(), path))
        .collect();
    entries.sort();
    let mut code = String::from("&[\n");
    for (bot, path) in entries {
        let path = path.canonicalize().expect("a readable hook file");
        writeln!(code, "    ({bot:?}, include_str!({:?})),", path.display().to_string()).expect("writing to a string");
    }
    code.push_str("]\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("hooks.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
