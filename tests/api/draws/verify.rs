//! `dropline draw verify`: the README's worked example, and a live draw checked from its
//! saved entry pages without the server.

use serde_json::{Value, json};

use super::sha;
use crate::helpers::TestApp;

crate::on_every_backend!(
    a_draw_verifies_from_its_saved_entry_pages_with_the_binary,
    every_tampering_of_the_saved_draw_fails_verify_naming_it,
);

/// Runs `dropline draw verify` with `args`; answers its exit code, stdout and stderr.
fn run_verify(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dropline"))
        .args(["draw", "verify"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run dropline");
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Runs `dropline draw verify` with `args`, insisting on success; answers its stdout.
fn verify(args: &[&str]) -> String {
    let (code, stdout, stderr) = run_verify(args);
    assert_eq!(code, Some(0), "{stderr}");
    stdout
}

#[test]
fn the_readme_worked_example_is_what_the_binary_prints() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("<!-- draw-verify-example -->")
        .nth(1)
        .expect("the example marker");
    let block = section
        .split("```")
        .nth(1)
        .expect("the example block")
        .trim_start_matches('\n');
    let command = readme
        .split("dropline draw verify")
        .nth(1)
        .and_then(|rest| rest.split("<!--").next())
        .expect("the example command");
    let args: Vec<&str> = command.split_whitespace().filter(|w| *w != "\\").collect();

    let printed = verify(&args);

    assert_eq!(printed, block);
}

async fn a_draw_verifies_from_its_saved_entry_pages_with_the_binary(app: TestApp) {
    let product = app.draw_product(5, json!({"per_user_limit": 3})).await;
    for (user, quantity) in [(3, 2), (9, 1), (4, 3), (12, 2), (7, 1), (30, 3), (8, 1)] {
        app.entered(product, user, quantity).await;
    }
    app.entered(product, 5, 1).await;
    app.withdraw(product, 5).await;
    app.close_windows();
    app.draw_step().await;
    let draw = app.draw(product).await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let path = format!("/products/{product}/draw/entries");
    for page in app.every_page(&path, 3).await {
        let file = dir.path().join(format!("page-{}.json", files.len()));
        std::fs::write(&file, page.to_string()).unwrap();
        files.push(file.display().to_string());
    }
    let mut args = vec!["--seed", draw["seed"].as_str().unwrap(), "--units", "5"];
    for f in &files {
        args.push("--entries");
        args.push(f);
    }

    let printed = verify(&args);

    let line = |key: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {printed}"))
            .to_owned()
    };
    assert_eq!(line("seed_hash"), draw["seed_hash"].as_str().unwrap());
    assert_eq!(
        line("entries_digest"),
        draw["entries_digest"].as_str().unwrap()
    );
    assert_eq!(line("entries"), "7");
    let won: Vec<String> = app
        .draw_entries(product, 100)
        .await
        .iter()
        .filter(|e| e["status"] == "WON")
        .map(|e| e["user_id"].to_string())
        .collect();
    assert_eq!(line("winners"), won.join(","));
}

/// Saves `value` as JSON in `dir` under `name`; answers the path.
fn save(dir: &tempfile::TempDir, name: &str, value: &Value) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.display().to_string()
}

/// `verify` with `args` must exit 1 with a `mismatch:` line containing `needle`.
fn refused(what: &str, args: &[&str], needle: &str) {
    let (code, _, stderr) = run_verify(args);
    assert_eq!(code, Some(1), "{what}: not refused: {stderr}");
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("mismatch: "))
        .unwrap_or_else(|| panic!("{what}: no mismatch line in {stderr}"));
    assert!(line.contains(needle), "{what}: {line:?} lacks {needle:?}");
}

async fn every_tampering_of_the_saved_draw_fails_verify_naming_it(app: TestApp) {
    // 4 units at creation, 2 more restocked in the window: the draw is for 6.
    let product = app.draw_product(4, json!({})).await;
    let users: Vec<i64> = (1..=9).map(|u| u * 11).collect();
    for &user in &users {
        app.entered(product, user, 1).await;
    }
    app.entered(product, 5, 1).await;
    app.withdraw(product, 5).await;
    app.restock_and_wait(product, Some(2)).await;
    app.close_windows();
    app.draw_step().await;
    let draw = app.draw(product).await;
    assert_eq!(draw["units"], 6, "{draw}");
    let seed = draw["seed"].as_str().unwrap().to_owned();
    let entries = app.draw_entries(product, 4).await;
    assert_eq!(entries.len(), 10);
    let dir = tempfile::tempdir().unwrap();
    let draw_file = save(&dir, "draw.json", &draw);
    let honest = save(&dir, "entries.json", &json!(entries));
    // The entry at each rank, and a list with one change.
    let at = |rank: i64| {
        entries
            .iter()
            .position(|e| e["rank"] == rank)
            .unwrap_or_else(|| panic!("no rank {rank}"))
    };
    let user_at = |rank: i64| entries[at(rank)]["user_id"].as_i64().unwrap();
    let tampered = |name: &str, change: &dyn Fn(&mut Vec<Value>)| {
        let mut list = entries.clone();
        change(&mut list);
        save(&dir, name, &json!(list))
    };

    let printed = verify(&["--draw", &draw_file, "--entries", &honest]);
    assert!(
        printed.ends_with("verified: seed_hash ranks entries entries_digest statuses\n"),
        "{printed}"
    );
    let hash = draw["seed_hash"].as_str().unwrap();
    let digest = draw["entries_digest"].as_str().unwrap();
    let given = ["--seed", &seed, "--seed-hash", hash, "--digest", digest];
    verify(&[&given[..], &["--units", "6", "--entries", &honest]].concat());

    let with_doc = |file: &str| {
        vec![
            "--draw".to_owned(),
            draw_file.clone(),
            "--entries".into(),
            file.into(),
        ]
    };
    let check = |what: &str, args: Vec<String>, needle: String| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(what, &args, &needle);
    };

    let file = tampered("quantity.json", &|l| l[at(8)]["quantity"] = json!(2));
    check(
        "a changed quantity",
        with_doc(&file),
        format!("but the draw document says {digest}"),
    );

    // A user the seed ranks first, added last.
    let added = (1000..)
        .find(|u| {
            users
                .iter()
                .all(|o| sha(&format!("{seed}:{u}")) < sha(&format!("{seed}:{o}")))
        })
        .unwrap();
    let file = tampered("added.json", &|l| {
        l.push(json!({"user_id": added, "quantity": 1, "status": "WAITLISTED", "rank": 10}))
    });
    check(
        "an added entry",
        with_doc(&file),
        format!("user {added}: the seed ranks it 1, the list says 10"),
    );

    let file = tampered("removed.json", &|l| {
        l.remove(at(3));
    });
    check(
        "a removed entry",
        with_doc(&file),
        "rank 3: missing from the list".into(),
    );

    let file = tampered("relabelled.json", &|l| l[at(7)]["status"] = json!("WON"));
    check(
        "a WAITLISTED entry relabelled WON",
        with_doc(&file),
        format!(
            "user {} (rank 7, quantity 1): expected WAITLISTED, found WON",
            user_at(7)
        ),
    );

    let file = tampered("rank.json", &|l| {
        l[at(1)]["rank"] = json!(2);
        l[at(2)]["rank"] = json!(1);
    });
    check(
        "a changed rank",
        with_doc(&file),
        format!("user {}: the seed ranks it 1, the list says 2", user_at(1)),
    );

    let other_seed = "ab".repeat(32);
    let mut args = with_doc(&honest);
    args.extend(["--seed".into(), other_seed.clone()]);
    check(
        "a wrong seed",
        args,
        format!(
            "seed hash: SHA-256 of the seed (--seed) is {}, but the draw document says {hash}",
            sha(&other_seed)
        ),
    );
    let mut doc = draw.clone();
    doc["seed"] = json!(other_seed);
    let doc_file = save(&dir, "draw-seed.json", &doc);
    check(
        "a wrong seed in the draw document",
        vec![
            "--draw".into(),
            doc_file,
            "--entries".into(),
            honest.clone(),
        ],
        "SHA-256 of the seed (the draw document)".into(),
    );

    let mut args = with_doc(&honest);
    args.extend(["--seed-hash".into(), sha("another seed")]);
    check(
        "a wrong seed hash",
        args,
        format!("but --seed-hash says {}", sha("another seed")),
    );

    let mut args = with_doc(&honest);
    args.extend(["--digest".into(), sha("another list")]);
    check(
        "a wrong digest",
        args,
        format!("but --digest says {}", sha("another list")),
    );

    let mut args = with_doc(&honest);
    args.extend(["--units".into(), "4".into()]);
    check(
        "units other than the published",
        args,
        "units: --units is 4, but the draw document says 6".into(),
    );
    let mut doc = draw.clone();
    doc["units"] = json!(4);
    let doc_file = save(&dir, "draw-units.json", &doc);
    check(
        "wrong units in the draw document",
        vec![
            "--draw".into(),
            doc_file,
            "--entries".into(),
            honest.clone(),
        ],
        format!(
            "user {} (rank 5, quantity 1): expected WAITLISTED, found WON (going down the ranks with 4 units from the draw document",
            user_at(5)
        ),
    );
    // The stock the product was created with is not what the draw was for.
    let args = [&given[..], &["--units", "4", "--entries", &honest]].concat();
    refused(
        "the created stock as units",
        &args,
        &format!("user {} (rank 5", user_at(5)),
    );
}
