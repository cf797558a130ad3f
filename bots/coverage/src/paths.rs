//! Source path clean-up: prefix rewriting and normalisation, applied when a record is read so
//! that `foo/./bar.c`, `foo//bar.c` and `foo/bar.c` merge into one file.

use crate::error::CoverageError;

/// An ordered list of `FROM=TO` prefix rewrites; the first one that matches wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixMap {
    rules: Vec<(String, String)>,
}

impl PrefixMap {
    /// Builds a map from `FROM=TO` strings, as given on the command line.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Self, CoverageError> {
        let mut rules = Vec::with_capacity(specs.len());
        for spec in specs {
            let spec = spec.as_ref();
            let Some((from, to)) = spec.split_once('=') else {
                return Err(CoverageError::InvalidPrefixMap(spec.to_owned()));
            };
            if from.is_empty() {
                return Err(CoverageError::InvalidPrefixMap(spec.to_owned()));
            }
            rules.push((from.replace('\\', "/"), to.replace('\\', "/")));
        }
        Ok(Self { rules })
    }

    /// Rewrites and normalises a path as read from an `SF:` record.
    pub fn apply(&self, raw: &str) -> String {
        let slashed;
        let path = if raw.contains('\\') {
            slashed = raw.replace('\\', "/");
            slashed.as_str()
        } else {
            raw
        };
        for (from, to) in &self.rules {
            if let Some(rest) = strip_component_prefix(path, from) {
                let joined = if to.is_empty() {
                    // Removing a prefix should give a relative path, not "/rest".
                    rest.trim_start_matches('/').to_owned()
                } else if to.ends_with('/') || rest.is_empty() || rest.starts_with('/') {
                    format!("{to}{rest}")
                } else {
                    format!("{to}/{rest}")
                };
                return normalize(&joined);
            }
        }
        normalize(path)
    }
}

/// `path` without `prefix`, when the prefix ends on a path component boundary.
fn strip_component_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/') { Some(rest) } else { None }
}

/// Removes `.` components and repeated slashes and resolves `..` against earlier components,
/// the way grcov does. A leading `..` that cannot be resolved is kept (grcov drops the file).
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // "/.." is "/".
                _ if absolute => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    if absolute {
        out.push('/');
    }
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_dots_and_double_slashes() {
        assert_eq!(normalize("a/./b//c.cpp"), "a/b/c.cpp");
        assert_eq!(normalize("a/x/../b.cpp"), "a/b.cpp");
        assert_eq!(normalize("/usr/../include/x.h"), "/include/x.h");
        assert_eq!(normalize("/../x.h"), "/x.h");
        assert_eq!(normalize("../x.h"), "../x.h");
        assert_eq!(normalize("./x.h"), "x.h");
    }

    #[test]
    fn prefix_map_first_match_on_component_boundary() {
        let map = PrefixMap::parse(&["/builds/worker/checkouts/gecko=", "/builds=/b"]).unwrap();
        assert_eq!(map.apply("/builds/worker/checkouts/gecko/js/src/a.cpp"), "js/src/a.cpp");
        assert_eq!(map.apply("/builds/other/a.cpp"), "/b/other/a.cpp");
        // Not a component boundary: "/buildsX" does not start with the "/builds" directory.
        assert_eq!(map.apply("/buildsX/a.cpp"), "/buildsX/a.cpp");
        assert_eq!(map.apply("C:\\src\\a.cpp"), "C:/src/a.cpp");
    }

    #[test]
    fn prefix_map_rejects_bad_specs() {
        assert!(matches!(PrefixMap::parse(&["nope"]), Err(CoverageError::InvalidPrefixMap(_))));
        assert!(matches!(PrefixMap::parse(&["=x"]), Err(CoverageError::InvalidPrefixMap(_))));
    }
}
