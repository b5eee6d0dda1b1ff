//! `dropline demo` end to end: the built binary runs the whole story and cleans up after itself.

use std::process::Command;

#[test]
fn the_demo_sells_out_the_restock_and_prints_its_summary_leaving_nothing_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_dropline"))
        .arg("demo")
        .env("TMPDIR", tmp.path())
        .env_remove("DROPLINE_DATABASE_URL")
        .env_remove("DROPLINE_NOTIFY_URL")
        .env_remove("DROPLINE_JWT_SECRET")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
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
