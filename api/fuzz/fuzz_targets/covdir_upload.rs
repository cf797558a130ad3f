//! Fuzzes the streaming reader of coverage uploads: whatever the bytes, it answers a report or
//! a 4xx, never panics, and a report it accepts is consistent (every row's totals add up, the
//! root comes last with the report's totals, children before their parent).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match shipit_api::covdir::read_upload_slice(data) {
        Ok((upload, rows)) => {
            let root = rows.last().expect("an accepted report has a root");
            assert!(root.parent.is_none() && root.path.is_empty());
            assert_eq!((root.lines_total, root.lines_covered), (upload.root.lines_total, upload.root.lines_covered));
            for row in &rows {
                assert!(row.lines_covered >= 0 && row.lines_covered <= row.lines_total);
                assert_eq!(row.lines_missed, row.lines_total - row.lines_covered);
                assert!(!row.path.contains('\0') && !row.name.contains('\0'));
            }
        }
        Err(error) => assert!(error.status().is_client_error(), "{:?}", error.problem()),
    }
});
