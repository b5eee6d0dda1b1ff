//! The Prometheus scrape of an app or a process, and one sample read from it.

use reqwest::StatusCode;

use super::TestApp;

impl TestApp {
    /// The Prometheus scrape as text.
    pub async fn scrape(&self) -> String {
        scrape_at(&self.client, &self.addr).await
    }
}

/// `GET {base}/metrics`: asserts 200 and a text/plain body, and answers the body.
pub async fn scrape_at(client: &reqwest::Client, base: &str) -> String {
    let resp = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    resp.text().await.expect("body")
}

/// The value of the sample `name{labels…}` whose labels include every pair of `labels`.
pub fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (label_part, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        labels
            .iter()
            .all(|(k, v)| label_part.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.trim().parse().ok())?
    })
}
