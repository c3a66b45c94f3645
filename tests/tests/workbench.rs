//! The auditor's pages in a real browser (Debian's Chromium, headless,
//! through `muster_tests::browser`), over a real stack holding the reform
//! scenario: what a page shows is compared with the JSON API's answer to
//! the same question, and each page is screenshotted
//! (`target/workbench-screenshots/`, or `$MUSTER_SCREENSHOTS`).

use muster_tests::browser::Browser;
use muster_tests::stack::ReformStack;
use serde_json::{json, Value};

/// The JSON the API gives for `path` (asked as a program asks).
async fn api_json(reform: &ReformStack, path: &str) -> Value {
    let response = muster_tests::http::get(reform.addr, path, "application/json").await.expect("the API answers");
    assert_eq!(response.status, 200, "{path}: {}", String::from_utf8_lossy(&response.body));
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"))
}

/// The query service's `/` in the browser lists exactly the endpoints,
/// parameters and descriptions of the JSON index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_page_lists_what_the_json_index_lists() {
    let reform = ReformStack::start().await;
    let browser = Browser::start().await;
    browser.goto(&reform.url("/")).await;
    assert_eq!(browser.title().await, "Muster query service");
    assert_eq!(browser.text("h1").await, "Muster query service");

    let index = api_json(&reform, "/").await;
    let endpoints = index["endpoints"].as_array().expect("endpoints");
    let column = |n: usize| format!("table:first-of-type tr td:nth-child({n})");
    let paths = browser.texts(&column(1)).await;
    let parameters = browser.texts(&column(2)).await;
    let about = browser.texts(&column(3)).await;
    assert_eq!(paths.len(), endpoints.len(), "one row an endpoint: {paths:?}");
    for (i, endpoint) in endpoints.iter().enumerate() {
        let listed: Vec<&str> = endpoint["parameters"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(
            (paths[i].as_str(), parameters[i].as_str(), about[i].as_str()),
            (endpoint["path"].as_str().unwrap(), listed.join(", ").as_str(), endpoint["about"].as_str().unwrap()),
            "row {i}"
        );
    }
    // A row's link goes where the JSON index says.
    browser.click_link(paths[0].as_str()).await;
    let url = browser.client().current_url().await.expect("the URL");
    assert_eq!(url.path(), endpoints[0]["path"].as_str().unwrap());
    browser.goto(&reform.url("/")).await;
    browser.screenshot("index").await;
    browser.close().await;
    reform.stop().await;
}

/// Draws two characters on a canvas in the element's own font and says
/// whether their pixels differ: two characters that no font has are both
/// drawn as the same empty box (or nothing), so different pixels mean a
/// font with those glyphs was used.
const GLYPHS_DIFFER: &str = r#"
    const font = getComputedStyle(arguments[0]).fontFamily;
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    const draw = (character) => {
        context.clearRect(0, 0, 64, 64);
        context.font = '48px ' + font;
        context.fillText(character, 4, 52);
        return Array.from(context.getImageData(0, 0, 64, 64).data).join(',');
    };
    return draw(arguments[1]) !== draw(arguments[2]);
"#;

/// The first two distinct Han characters of `text`.
fn two_han(text: &str) -> [String; 2] {
    let mut han = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c));
    let first = han.next().expect("a Chinese character");
    let second = han.find(|c| *c != first).expect("a second Chinese character");
    [first.to_string(), second.to_string()]
}

/// Chinese unit names come through as the API gives them and are drawn
/// with a CJK font (fonts-noto-cjk), not as empty boxes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chinese_unit_names_render_in_a_cjk_font() {
    let reform = ReformStack::start().await;
    let browser = Browser::start().await;
    let path = "/v1/tree?date=2016-12-01";
    browser.goto(&reform.url(path)).await;
    // Chromium shows a JSON answer as text in the page's body.
    let shown: Value = serde_json::from_str(&browser.text("pre").await).expect("the page shows the JSON");
    let api = api_json(&reform, path).await;
    assert_eq!(shown, api, "the browser got the API's answer");
    let name = api[0]["name"].as_str().expect("a unit name").to_owned();
    assert!(browser.text("pre").await.contains(&name), "{name} is shown");

    let body = serde_json::to_value(browser.wait_for("body").await).expect("an element reference");
    let [first, second] = two_han(&name);
    let drawn = browser.execute(GLYPHS_DIFFER, vec![body.clone(), json!(first), json!(second)]).await;
    assert_eq!(drawn, json!(true), "{first} and {second} are drawn alike: no CJK font (run ops/test.sh)");
    // The check itself: two unassigned code points are drawn alike.
    let control = browser.execute(GLYPHS_DIFFER, vec![body, json!("\u{378}"), json!("\u{379}")]).await;
    assert_eq!(control, json!(false), "the glyph check tells missing glyphs apart: it cannot be trusted");
    browser.screenshot("tree-2016-12-01").await;
    browser.close().await;
    reform.stop().await;
}
