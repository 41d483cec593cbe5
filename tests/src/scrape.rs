//! Scraping a server's `/metrics` over HTTP, parsed as Prometheus text.

use prometheus_parse::{Sample, Scrape, Value};

/// One scrape of `url`, parsed.
pub async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("scraping {url}: {e}"));
    assert!(response.status().is_success(), "scraping {url}: {}", response.status());
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(content_type.starts_with("text/plain"), "a Prometheus text scrape, not {content_type:?}");
    let text = response.text().await.expect("the scrape's body");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus text")
}

/// The samples of `metric` whose labels include `labels`.
pub fn samples<'a>(scrape: &'a Scrape, metric: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape.samples.iter().filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).collect()
}

/// The value of the one sample of a counter or gauge with these labels (0 when there is none
/// yet: a series appears with its first measurement).
pub fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    match samples(scrape, metric, labels).as_slice() {
        [] => 0.0,
        [one] => match one.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{metric} is not a counter or gauge: {other:?}"),
        },
        many => panic!("{} samples of {metric} match {labels:?}", many.len()),
    }
}

/// How many observations a histogram's series with these labels holds (its `+Inf` bucket).
pub fn observations(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    samples(scrape, metric, labels)
        .iter()
        .map(|s| match &s.value {
            Value::Histogram(buckets) => buckets.iter().find(|b| b.less_than.is_infinite()).map_or(0.0, |b| b.count),
            other => panic!("{metric} is not a histogram: {other:?}"),
        })
        .sum()
}
