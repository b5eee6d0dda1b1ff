//! `dropline draw verify`: the README's worked example, and a live draw checked from its
//! saved entry pages without the server.

use serde_json::json;

use crate::helpers::TestApp;

crate::on_every_backend!(a_draw_verifies_from_its_saved_entry_pages_with_the_binary);

/// Runs `dropline draw verify` with `args`; answers its standard output.
fn verify(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dropline"))
        .args(["draw", "verify"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run dropline");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
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
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/products/{product}/draw/entries?limit=3");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (_, page) = app.get(&path, Some(&app.admin())).await;
        let file = dir.path().join(format!("page-{}.json", files.len()));
        std::fs::write(&file, page.to_string()).unwrap();
        files.push(file.display().to_string());
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
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
