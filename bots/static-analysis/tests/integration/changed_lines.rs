//! The lines a change adds or changes, on random edits of a file: what is not marked changed
//! at head is a subsequence of base, and lines appended to a file are exactly the changed ones.

use proptest::prelude::*;
use shipit_static_analysis::workspace::{self, Head};

use crate::repo::TestRepo;

/// Lines from a small alphabet, so that edits repeat lines and diffs are ambiguous.
fn lines() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[abc]{1,2}", 1..20)
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

fn is_subsequence(needle: &[&str], haystack: &[String]) -> bool {
    let mut haystack = haystack.iter();
    needle.iter().all(|line| haystack.any(|candidate| candidate == line))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn unchanged_head_lines_are_base_lines_in_order(base in lines(), head in lines()) {
        prop_assume!(base != head);
        let repo = TestRepo::new();
        let base_id = repo.commit(&[("f.txt", &text(&base))]);
        let head_id = repo.commit(&[("f.txt", &text(&head))]);

        let (change, _checkouts) = workspace::prepare(repo.path(), &base_id, Head::Rev(&head_id), false).unwrap();

        let changed = change.changed.get("f.txt").cloned().unwrap_or_default();
        prop_assert!(changed.iter().all(|line| (1..=head.len() as u32).contains(line)), "{changed:?}");
        let unchanged: Vec<&str> = head
            .iter()
            .enumerate()
            .filter(|(index, _)| !changed.contains(&(*index as u32 + 1)))
            .map(|(_, line)| line.as_str())
            .collect();
        prop_assert!(is_subsequence(&unchanged, &base), "unchanged {unchanged:?} not in base {base:?}");
        prop_assert_eq!(&change.touched, &vec!["f.txt".to_owned()]);
        for (index, _) in head.iter().enumerate() {
            let line = index as u32 + 1;
            prop_assert_eq!(change.touches("f.txt", line..line + 1), changed.contains(&line));
        }
    }

    #[test]
    fn appended_lines_are_exactly_the_changed_ones(base in lines(), appended in lines()) {
        let repo = TestRepo::new();
        let base_id = repo.commit(&[("f.txt", &text(&base))]);
        let head_id = repo.commit(&[("f.txt", &text(&[base.clone(), appended.clone()].concat()))]);

        let (change, _checkouts) = workspace::prepare(repo.path(), &base_id, Head::Rev(&head_id), false).unwrap();

        let expected: Vec<u32> = (base.len() as u32 + 1..=(base.len() + appended.len()) as u32).collect();
        prop_assert_eq!(change.changed["f.txt"].iter().copied().collect::<Vec<_>>(), expected);
    }
}
