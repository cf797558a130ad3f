//! covdir output compared with grcov 0.10.7's `-t covdir` on the same real fixtures (the
//! expected files are grcov's own output, see fixtures/coverage/regenerate.sh).

use serde_json::{Value, json};
use shipit_coverage::{ParseOptions, covdir, discover, merge_inputs};

use crate::fixtures;

fn our_covdir(inputs: &[std::path::PathBuf]) -> Value {
    let inputs = discover(inputs).unwrap();
    let outcome = merge_inputs(&inputs, &ParseOptions::default(), false).unwrap();
    let mut out = Vec::new();
    covdir::write_covdir(&outcome.report, &mut out).unwrap();
    serde_json::from_slice(&out).expect("covdir output is valid JSON")
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected").join(format!("{name}.covdir.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_fixture_matches_grcov() {
    let mut compared = 0;
    for entry in std::fs::read_dir(fixtures().join("upstream")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(our_covdir(&[path]), expected(&name), "{name}");
        compared += 1;
    }
    assert_eq!(compared, 7);
    assert_eq!(our_covdir(&[fixtures().join("c-project.info")]), expected("c-project"));
}

#[test]
fn merged_directory_matches_grcov() {
    let ours = our_covdir(&[fixtures().join("upstream")]);
    assert_eq!(ours, expected("upstream-merged"));
    // Spot-check the shape: the same file in three inputs adds up.
    let osfile = &ours["children"]["toolkit"]["children"]["components"]["children"]["osfile"]["children"];
    assert_eq!(osfile["osfile.jsm"]["coverage"], json!([84, 84, 0, 0]));
}

#[test]
fn covdir_shape_gaps_absolute_paths_and_rounding() {
    let dir = tempfile::tempdir().unwrap();
    let info = dir.path().join("x.info");
    std::fs::write(
        &info,
        "SF:/usr/include/x.h\nDA:2,1\nDA:5,0\nDA:6,3\nend_of_record\nSF:top.c\nDA:1,0\nDA:2,0\nDA:3,1\nend_of_record\n",
    )
    .unwrap();
    let ours = our_covdir(&[info]);
    let header = &ours["children"]["/"]["children"]["usr"]["children"]["include"]["children"]["x.h"];
    assert_eq!(header["coverage"], json!([-1, 1, -1, -1, 0, 3]));
    assert_eq!(header["coveragePercent"], json!(66.67));
    assert_eq!(header["name"], "x.h");
    assert_eq!(ours["children"]["top.c"]["coveragePercent"], json!(33.33));
    assert_eq!(ours["linesTotal"], 6);
    assert_eq!(ours["linesCovered"], 3);
    assert_eq!(ours["linesMissed"], 3);
    assert_eq!(ours["coveragePercent"], json!(50.0));
    assert_eq!(ours["name"], "");
}
