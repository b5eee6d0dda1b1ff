//! `dropline demo` end to end: the built binary runs the whole story and cleans up after itself.

use std::process::Command;

/// Runs the built binary with `args` and a temporary directory of its own, without the
/// service's settings from the environment; asserts it succeeded and answers the directory
/// (to check it is left empty) and what it printed.
fn run_demo(args: &[&str]) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_dropline"))
        .args(args)
        .env("TMPDIR", tmp.path())
        .env_remove("DROPLINE_DATABASE_URL")
        .env_remove("DROPLINE_NOTIFY_URL")
        .env_remove("DROPLINE_JWT_SECRET")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    (tmp, stdout)
}

#[test]
fn the_demo_sells_out_the_restock_and_prints_its_summary_leaving_nothing_behind() {
    let (tmp, stdout) = run_demo(&["demo"]);
    assert!(
        stdout.contains("5000 people in line; restocking 100 units"),
        "{stdout}"
    );
    assert!(stdout.contains("round 1: CANCELED_BY_SOLD_OUT"), "{stdout}");
    assert!(
        stdout.contains("of 5000 in line (after user 10"),
        "{stdout}"
    );
    // Every unit went to exactly one buyer, and nothing is left.
    assert!(stdout.contains("orders placed: 100 ("), "{stdout}");
    assert!(stdout.contains("stock left: 0"), "{stdout}");
    // The strict per-second limit is the rate limiter's own tests' business; here the demo
    // must show that pacing is on (unpaced, thousands start in a second) and report both sides.
    let busiest = |after: &str| -> usize {
        stdout
            .split(after)
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("no number after {after:?} in {stdout}"))
    };
    let started = busiest("busiest second ");
    let arrived = busiest("(limit 500), ");
    assert!((400..=550).contains(&started), "{stdout}");
    assert!((400..=600).contains(&arrived), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}

/// The two figures of a row of the claim demo's side-by-side summary: broadcast, then claim.
fn row<'a>(stdout: &'a str, label: &str) -> (&'a str, &'a str) {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no row {label:?} in {stdout}"));
    let cells: Vec<&str> = line[line.find(label).unwrap() + label.len()..]
        .split_whitespace()
        .collect();
    match cells[..] {
        [broadcast, claim] => (broadcast, claim),
        _ => panic!("row {label:?} has not two cells: {line}"),
    }
}

#[test]
fn the_claim_demo_sells_every_unit_in_both_modes_with_fewer_notifications_per_unit_in_claim_mode() {
    let (tmp, stdout) = run_demo(&["demo", "--mode", "claim"]);
    assert!(
        stdout.contains("2000 people in line; restocking 40 units at 500/s, twice; 70% of"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["broadcast", "claim"])),
        "{stdout}"
    );
    let sold_out = "CANCELED_BY_SOLD_OUT";
    assert_eq!(
        row(&stdout, "round ended"),
        (sold_out, sold_out),
        "{stdout}"
    );
    // Every unit went to exactly one buyer in each mode, and nothing is left.
    assert_eq!(row(&stdout, "units sold"), ("40", "40"), "{stdout}");
    assert_eq!(row(&stdout, "stock left"), ("0", "0"), "{stdout}");
    assert_eq!(
        row(&stdout, "other answers to orders"),
        ("0", "0"),
        "{stdout}"
    );
    // A claim holder always finds their unit; nobody else is told about it.
    assert_eq!(row(&stdout, "turned away sold out").1, "0", "{stdout}");
    // The same people buy in both rounds: the claim round tells exactly the line up to the
    // 40th buyer (57 people, the 17 others' claims running out), the broadcast round those
    // and everyone notified while the buyers took their moment.
    assert_eq!(row(&stdout, "people notified").1, "57", "{stdout}");
    assert_eq!(row(&stdout, "claims expired").1, "17", "{stdout}");
    let (b, c) = row(&stdout, "notifications per unit sold");
    let (b, c): (f64, f64) = (b.parse().expect("a ratio"), c.parse().expect("a ratio"));
    assert_eq!(c, 1.43, "{stdout}");
    assert!(b > c, "{stdout}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}
