//! The auditor's pages in a real browser (Debian's Chromium, headless,
//! through `muster_tests::browser`), over a real stack holding the reform
//! scenario: what a page shows is compared with the JSON API's answer to
//! the same question, and each page is screenshotted
//! (`target/workbench-screenshots/`, or `$MUSTER_SCREENSHOTS`).

use fantoccini::key::Key;
use muster_tests::browser::Browser;
use muster_tests::stack::ReformStack;
use serde_json::{json, Value};

/// The JSON the API gives for `path` (asked as a program asks).
async fn api_json(reform: &ReformStack, path: &str) -> Value {
    let response = muster_tests::http::get(reform.addr, path, "application/json").await.expect("the API answers");
    assert_eq!(response.status, 200, "{path}: {}", String::from_utf8_lossy(&response.body));
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"))
}

/// A browser at `/` gets the workbench's start page (a program the JSON
/// index); `/api` lists exactly the endpoints, parameters and
/// descriptions of the JSON index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_page_lists_what_the_json_index_lists() {
    let reform = ReformStack::start().await;
    let browser = Browser::start().await;
    browser.goto(&reform.url("/")).await;
    assert_eq!(browser.title().await, "The staffing ledger · Muster");
    look_at(&browser, "home").await;
    browser.goto(&reform.url("/api")).await;
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
    browser.goto(&reform.url("/api")).await;
    look_at(&browser, "api").await;
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
    look_at(&browser, "tree-2016-12-01").await;
    browser.close().await;
    reform.stop().await;
}

/// The late order of the reform: keyed in weeks after its effective day
/// (its note says so); its unit and ledger sequence.
async fn late_order(reform: &ReformStack) -> (String, String, u64) {
    let events = std::fs::read_to_string(muster_tests::stack::REFORM_EVENTS).expect("the scenario");
    let line = events.lines().find(|l| l.contains("keyed in late")).expect("a late order in the scenario");
    let event: Value = serde_json::from_str(line).expect("JSON");
    let (source, id) = (event["source"].as_str().unwrap(), event["id"].as_str().unwrap());
    let receipt = api_json(reform, &format!("/v1/receipt?source={source}&id={id}")).await;
    let to = event["data"]["to"].as_str().expect("a transfer").to_owned();
    let order = event["orderref"].as_str().expect("an order reference").to_owned();
    (to, order, receipt["seq"].as_u64().expect("recorded"))
}

/// The ledger state a page says it was computed from.
async fn page_seq(browser: &Browser) -> u64 {
    let seq = browser.wait_for("#state-seq").await.attr("data-seq").await.expect("attribute");
    seq.expect("data-seq").parse().expect("a number")
}

/// How many elements match `selector` on the page.
async fn count(browser: &Browser, selector: &str) -> usize {
    let n = browser.execute("return document.querySelectorAll(arguments[0]).length", vec![json!(selector)]).await;
    n.as_u64().expect("a count") as usize
}

/// The controls of the page with no name a screen reader could say: no
/// <label>, no aria-label, no text (buttons) or value (submit inputs).
const UNLABELLED: &str = "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
        && !(e.tagName === 'BUTTON' && e.textContent.trim()) && !(e.type === 'submit' && e.value))
    .map(e => e.outerHTML)";

/// Screenshots the page and checks what a glance at it would: it shows
/// something, fits the 1280 px window without scrolling sideways, and
/// every control has a label.
async fn look_at(browser: &Browser, name: &str) {
    let png = browser.screenshot(name).await;
    let bytes = std::fs::metadata(&png).expect("the screenshot").len();
    // A blank 1280 px page is a PNG of a few kB; the lightest page here
    // (an error) is ~40 kB.
    assert!(bytes > 20_000, "{name}: a {bytes}-byte screenshot looks blank");
    let wider = browser
        .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
        .await;
    assert!(wider.as_i64().expect("pixels") <= 0, "{name}: {wider} px wider than the window");
    assert_eq!(browser.execute(UNLABELLED, vec![]).await, json!([]), "{name}: controls without a label");
}

/// What has the keyboard's focus: its id, else its text.
async fn focused(browser: &Browser) -> String {
    let script = "const e = document.activeElement; return e.id || e.textContent.trim()";
    browser.execute(script, vec![]).await.as_str().unwrap_or_default().to_owned()
}

/// Sets a form field's value (date fields take no typing in every locale)
/// and submits its form as its button would.
async fn submit_form(browser: &Browser, fields: &[(&str, &str)]) {
    for (name, value) in fields {
        let field = serde_json::to_value(browser.wait_for(&format!("main form [name={name}]")).await).unwrap();
        browser.execute("arguments[0].value = arguments[1]", vec![field, json!(value)]).await;
    }
    let form = serde_json::to_value(browser.wait_for("main form").await).unwrap();
    browser.execute("arguments[0].requestSubmit()", vec![form]).await;
}

/// An auditor's afternoon with the reform, in one browser over one stack:
/// each step is a question of DOMAIN.md answered from the pages alone, and
/// each figure read is the JSON API's answer at the page's ledger state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_answers_the_reform_questions_in_the_browser() {
    let reform = ReformStack::start().await;
    let browser = Browser::start().await;
    the_nanhu_office_has_32_internal_units_before_and_9_after(&reform, &browser).await;
    a_unit_shows_its_counts_roster_lineage_and_orders(&reform, &browser).await;
    the_audit_leads_from_89_to_the_orders(&reform, &browser).await;
    the_keyboard_reaches_the_figures(&reform, &browser).await;
    the_audit_prints(&reform, &browser).await;
    the_late_order_is_seen_as_reported_and_as_corrected(&reform, &browser).await;
    the_ledger_page_checks_the_chain(&reform, &browser).await;
    an_event_is_proven_in_the_signed_tree_in_the_browser(&reform, &browser).await;
    bad_input_shows_the_apis_error(&reform, &browser).await;
    browser.close().await;
    reform.stop().await;
}

async fn the_nanhu_office_has_32_internal_units_before_and_9_after(reform: &ReformStack, browser: &Browser) {
    for (date, expected, shot) in [("2013-01-01", 32, "org-2013-01-01"), ("2016-12-01", 9, "org-2016-12-01")] {
        browser.goto(&reform.url(&format!("/org?date={date}"))).await;
        let seq = page_seq(browser).await;
        assert_eq!(seq, reform.entries, "the page is of the head");
        let shown = count(browser, r#"li[data-unit="NH-HQ"] > details > ul > li"#).await;
        let tree = api_json(reform, &format!("/v1/tree?date={date}&known_at_seq={seq}")).await;
        let below_nh = tree.as_array().unwrap().iter().filter(|n| n["parent"] == json!("NH-HQ")).count();
        assert_eq!((shown, below_nh), (expected, expected), "{date}");
        let posted = browser.text(r#"li[data-unit="NH"] .rolled-posted"#).await;
        let nh = tree.as_array().unwrap().iter().find(|n| n["unit"] == json!("NH")).unwrap();
        assert_eq!(posted, nh["rolled_posted"].to_string(), "{date}");
        look_at(browser, shot).await;
    }
    // A step of the date redraws the tree on the next day.
    browser.click(r#"a[aria-label="One day later"]"#).await;
    assert_eq!(browser.text("h1").await, "Organisation on 2016-12-02");
    // The permalink reproduces the page at its ledger state.
    let permalink = browser.wait_for("#permalink").await.attr("href").await.unwrap().unwrap();
    assert!(permalink.contains(&format!("known_at={}", reform.entries)), "{permalink}");
}

async fn a_unit_shows_its_counts_roster_lineage_and_orders(reform: &ReformStack, browser: &Browser) {
    let (unit, order, seq) = late_order(reform).await;
    browser.goto(&reform.url(&format!("/unit/{unit}?date=2016-01-31"))).await;
    let k = page_seq(browser).await;
    let headcount = api_json(reform, &format!("/v1/headcount?unit={unit}&date=2016-01-31&known_at_seq={k}")).await;
    assert_eq!(browser.text("#posted").await, headcount["posted"].to_string());
    assert_eq!(browser.text("#working").await, headcount["working"].to_string());
    let roster = api_json(reform, &format!("/v1/roster?unit={unit}&date=2016-01-31&known_at_seq={k}")).await;
    assert_eq!(count(browser, "#roster-table tr").await, roster.as_array().unwrap().len() + 1);
    let event_row = browser.text(&format!("#event-{seq}")).await;
    assert!(event_row.contains(&order), "the late order's reference on its unit's events: {event_row}");
    look_at(browser, "unit").await;
    // The date steps redraw the unit on the next day, at the same state.
    browser.click(r#"a[aria-label="One day later"]"#).await;
    let url = browser.client().current_url().await.expect("the page's URL");
    assert!(url.as_str().contains("date=2016-02-01"), "{url}");
    assert_eq!(page_seq(browser).await, k);
    let next = api_json(reform, &format!("/v1/headcount?unit={unit}&date=2016-02-01&known_at_seq={k}")).await;
    assert_eq!(browser.text("#posted").await, next["posted"].to_string());

    // The criminal investigation brigade, split twice: its lineage drawn,
    // each node a link to the unit.
    browser.goto(&reform.url("/unit/NH-CRIM?date=2014-01-01")).await;
    let lineage = api_json(reform, "/v1/lineage?unit=NH-CRIM").await;
    let mut units: Vec<&str> = lineage
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| [e["from"].as_str().unwrap(), e["to"].as_str().unwrap()])
        .collect();
    units.sort_unstable();
    units.dedup();
    assert_eq!(count(browser, "svg a.node").await, units.len());
    assert_eq!(count(browser, "#lineage-table tr").await, lineage.as_array().unwrap().len() + 1);
    look_at(browser, "unit-lineage").await;
    let other = units.iter().find(|u| **u != "NH-CRIM").unwrap();
    browser.click(&format!(r#"svg a.node[href^="/unit/{other}"]"#)).await;
    assert!(browser.text("h1").await.contains(other), "the node leads to {other}");

    // DOMAIN.md's question, after the unit is gone: how many people did
    // the former legal affairs brigade have on 2015-06-30, and where did
    // they go (its lineage, each successor a node)?
    browser.goto(&reform.url("/unit/NH-LEGAL?date=2015-06-30")).await;
    let k = page_seq(browser).await;
    let then = api_json(reform, &format!("/v1/headcount?unit=NH-LEGAL&date=2015-06-30&known_at_seq={k}")).await;
    assert_eq!(browser.text("#posted").await, then["posted"].to_string());
    let lineage = api_json(reform, &format!("/v1/lineage?unit=NH-LEGAL&known_at_seq={k}")).await;
    let successors: Vec<&str> = lineage
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from"] == json!("NH-LEGAL"))
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert!(!successors.is_empty(), "the brigade went somewhere: {lineage}");
    for to in successors {
        assert_eq!(count(browser, &format!(r#"svg a.node[href^="/unit/{to}?"]"#)).await, 1, "{to} drawn");
    }
}

async fn the_audit_leads_from_89_to_the_orders(reform: &ReformStack, browser: &Browser) {
    browser.goto(&reform.url("/audit")).await;
    submit_form(browser, &[("scope", "NH"), ("from", "2013-01-01"), ("to", "2016-12-01")]).await;
    assert_eq!(browser.text("#moved-at-front").await, "89");
    assert_eq!(browser.text("#moved-share").await, "33.3%");
    let k = page_seq(browser).await;
    let audit = api_json(reform, &format!("/v1/audit?scope=NH&from=2013-01-01&to=2016-12-01&known_at_seq={k}")).await;
    assert_eq!(audit["moved_down_at_front"], json!(89));
    assert_eq!(browser.text("#fig-paper").await, audit["paper_moves"].as_array().unwrap().len().to_string());
    assert!(browser.text("h1").await.contains("Nanhu"), "the bureau is named in the heading");
    // The office's 32 internal units and the 9 they became, drawn.
    let bars = "return [...document.querySelectorAll('#subunits ~ figure.chart')].map(f => f.querySelectorAll('svg a').length)";
    assert_eq!(browser.execute(bars, vec![]).await, json!([32, 9]));
    look_at(browser, "audit").await;

    browser.click("#moved-at-front").await;
    assert_eq!(browser.text("#member-count").await, "89");
    assert_eq!(count(browser, ".members-table tr[data-staff]").await, 89);
    let first: Value = audit["moved_down"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["cause"] != json!("reclassified") && m["paper_move"] == json!(false))
        .unwrap()
        .clone();
    let staff = first["staff"].as_str().unwrap();
    let row = browser.text(&format!(r#".members-table tr[data-staff="{staff}"]"#)).await;
    let order = first["events"][0]["order_ref"].as_str().expect("the reform's orders carry references");
    assert!(row.contains(order), "{staff}'s row names the order {order}: {row}");
    look_at(browser, "audit-members").await;

    browser.click(&format!(r#".members-table tr[data-staff="{staff}"] a[data-staff]"#)).await;
    let history = api_json(reform, &format!("/v1/history?staff={staff}&known_at_seq={k}")).await;
    assert_eq!(count(browser, "#history-table tr").await, history.as_array().unwrap().len() + 1);
    assert!(browser.text("#history-table").await.contains(order));
    look_at(browser, "staff").await;

    // Downloads of the same audit.
    let query = format!("scope=NH&from=2013-01-01&to=2016-12-01&known_at_seq={k}");
    let html = muster_tests::browser::download(&reform.url(&format!("/v1/audit.html?{query}"))).await;
    let html = String::from_utf8(html.body).unwrap();
    assert!(html.contains("<h1>Front-line audit: ") && html.contains(order), "the HTML report");
    let json_download = muster_tests::browser::download(&reform.url(&format!("/v1/audit?{query}"))).await;
    assert_eq!(serde_json::from_slice::<Value>(&json_download.body).unwrap(), audit);
    let csv = muster_tests::browser::download(&reform.url(&format!("/v1/audit.csv?{query}"))).await;
    let moves = audit["moved_down"].as_array().unwrap().len() + audit["moved_up"].as_array().unwrap().len();
    assert_eq!(String::from_utf8(csv.body).unwrap().lines().count(), moves + 1);
    // The workbook the page's link gives is the API's, byte for byte.
    let xlsx = muster_tests::browser::download(&reform.url(&format!("/v1/audit.xlsx?{query}"))).await;
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.body.clone())).expect("the workbook opens");
    let summary = calamine::Reader::worksheet_range(&mut workbook, "Summary").expect("a Summary sheet");
    let at_front = summary.rows().find(|row| row[3] == calamine::Data::String("moved_down_at_front".into()));
    assert_eq!(at_front.map(|row| row[2].clone()), Some(calamine::Data::Float(89.0)), "the workbook's 89");
    browser.goto(&reform.url(&format!("/audit?scope=NH&from=2013-01-01&to=2016-12-01&known_at={k}"))).await;
    let links = browser.attrs(".downloads a", "href").await;
    assert_eq!(browser.attrs(".downloads a", "download").await.len(), links.len(), "each link downloads");
    let mut types = Vec::new();
    for link in &links {
        let got = muster_tests::browser::download(&reform.url(link)).await;
        assert_eq!(got.status, 200, "{link}");
        let content_type = got.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.clone());
        types.push(content_type.unwrap_or_default().split(';').next().unwrap_or_default().to_owned());
        if link.starts_with("/v1/audit.xlsx") {
            assert!(got.body == xlsx.body, "{link}: not the API's workbook");
        }
    }
    let xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    // The evidence pack last: the audit at the newest signed checkpoint.
    assert_eq!(types, ["text/html", "text/csv", "application/json", xlsx_type, "application/zip"], "{links:?}");
}

/// Tab from the top of the audit reaches "skip to content" first, then
/// every figure; Enter on the 89 opens its members.
async fn the_keyboard_reaches_the_figures(reform: &ReformStack, browser: &Browser) {
    browser.goto(&reform.url("/audit?scope=NH&from=2013-01-01&to=2016-12-01")).await;
    browser.press(Key::Tab).await;
    assert_eq!(focused(browser).await, "Skip to content");
    let mut stops = 1;
    while focused(browser).await != "moved-at-front" {
        assert!(stops < 100, "100 presses of Tab never reached the figure");
        browser.press(Key::Tab).await;
        stops += 1;
    }
    let outline = browser.execute("return getComputedStyle(document.activeElement).outlineStyle", vec![]).await;
    assert_eq!(outline, json!("solid"), "the focus can be seen");
    browser.press(Key::Enter).await;
    assert_eq!(browser.text("#member-count").await, "89");
}

/// Printed, the audit keeps its figures and drops the navigation, the
/// form and the download links; the PDF has its pages.
async fn the_audit_prints(reform: &ReformStack, browser: &Browser) {
    browser.goto(&reform.url("/audit?scope=NH&from=2013-01-01&to=2016-12-01")).await;
    let display = "return arguments[0].map(s => { const e = document.querySelector(s); return e ? getComputedStyle(e).display : 'missing' })";
    let hidden = json!(["header.top", "main form", ".downloads", ".skip"]);
    let shown = json!([".state", "#moved-at-front", "#subunits-table", "svg"]);
    browser.emulate_media("print").await;
    let printed =
        (browser.execute(display, vec![hidden.clone()]).await, browser.execute(display, vec![shown.clone()]).await);
    browser.emulate_media("").await;
    assert_eq!(printed.0, json!(["none", "none", "none", "none"]), "{hidden} in print");
    assert!(
        printed.1.as_array().unwrap().iter().all(|d| d != "none" && d != "missing"),
        "{shown} in print: {}",
        printed.1
    );
    let pdf = browser.print().await;
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    let pages = pdf
        .windows(b"/Type /Page".len() + 1)
        .filter(|w| w.starts_with(b"/Type /Page") && w[w.len() - 1] != b's')
        .count();
    assert!((2..=40).contains(&pages), "the audit prints on {pages} pages");
    let dir = muster_tests::browser::screenshots_dir();
    std::fs::write(dir.join("audit.pdf"), &pdf).expect("writing the printed audit");
}

async fn the_late_order_is_seen_as_reported_and_as_corrected(reform: &ReformStack, browser: &Browser) {
    let (unit, order, seq) = late_order(reform).await;
    browser.goto(&reform.url("/corrections")).await;
    submit_form(browser, &[("unit", &unit), ("date", "2016-01-31"), ("reported_at", &(seq - 1).to_string())]).await;
    let row = format!(r#"tr[data-unit="{unit}"]"#);
    assert_eq!(browser.text(&format!("{row} .reported-posted")).await, "18");
    assert_eq!(browser.text(&format!("{row} .corrected-posted")).await, "19");
    assert!(browser.text(&format!("#event-{seq}")).await.contains(&order));
    let k = page_seq(browser).await;
    let api = api_json(
        reform,
        &format!("/v1/corrections?unit={unit}&date=2016-01-31&reported_at_seq={}&known_at_seq={k}", seq - 1),
    )
    .await;
    let listed = api["units"].as_array().unwrap().iter().find(|u| u["unit"] == json!(unit)).unwrap();
    assert_eq!((listed["reported"]["posted"].clone(), listed["corrected"]["posted"].clone()), (json!(18), json!(19)));
    look_at(browser, "corrections").await;
}

async fn the_ledger_page_checks_the_chain(reform: &ReformStack, browser: &Browser) {
    browser.goto(&reform.url("/ledger")).await;
    let status = api_json(reform, "/v1/status").await;
    assert_eq!(browser.text("#applied-seq").await, status["applied_seq"].to_string());
    browser.click("#verify-link").await;
    let verified = browser.text("#verify-result").await;
    assert!(verified.starts_with(&format!("Whole: {} entries", reform.entries)), "{verified}");
    // The ledger's signed checkpoints, each checked by this replica: the
    // key is the ledger's, and each head is the chain this replica holds.
    let checkpoints = api_json(reform, "/v1/checkpoints").await;
    let checkpoints = checkpoints.as_array().unwrap();
    assert!(checkpoints.len() >= muster_tests::stack::REFORM_CHECKPOINTS, "{checkpoints:?}");
    for c in checkpoints {
        assert_eq!((&c["signature_ok"], &c["matches_replica"]), (&json!(true), &json!(true)), "{c}");
        assert_eq!(c["public_key"], json!(reform.public_key), "{c}");
        // As published: a C2SP checkpoint that verifies offline under the
        // ledger's key, for the head and root the row shows.
        assert_eq!(c["format"], json!("c2sp-note"), "{c}");
        let note = muster_ledger::checkpoint::SignedCheckpoint::parse(c["published"].as_str().unwrap().as_bytes());
        let key = muster_ledger::checkpoint::public_key(&reform.public_key).unwrap();
        let vouched = note.unwrap().verify(&key).expect("verifies under the ledger's key");
        assert_eq!(json!(vouched.head.seq), c["seq"]);
        assert_eq!(vouched.tree.map(|(_, root)| json!(muster_ledger::hex(&root))), Some(c["root"].clone()));
    }
    assert_eq!(count(browser, "#checkpoints-table tr").await, checkpoints.len() + 1);
    let shown = browser.texts("#checkpoints-table td:nth-child(5)").await;
    assert_eq!(shown, vec!["valid"; checkpoints.len()], "every signature shown as checked");
    look_at(browser, "ledger").await;
}

/// "prove it" beside the late order's event: the proof page proves the
/// entry in the smallest signed tree that holds it, and the browser checks
/// the proof itself — it says no when the root is not the one the hashes
/// lead to.
async fn an_event_is_proven_in_the_signed_tree_in_the_browser(reform: &ReformStack, browser: &Browser) {
    let (unit, _, seq) = late_order(reform).await;
    // The late order is among the last entries: the checkpoint holding it
    // may be the one the ledger signs once it has been quiet a minute.
    let limit = std::time::Duration::from_secs(150);
    muster_tests::wait::eventually(limit, "a checkpoint covering the late order", || async {
        let listed = api_json(reform, "/v1/checkpoints").await;
        listed.as_array()?.iter().any(|c| c["seq"].as_u64() >= Some(seq)).then_some(())
    })
    .await;
    browser.goto(&reform.url(&format!("/unit/{unit}?date=2016-01-31"))).await;
    browser.click(&format!("#event-{seq} a.prove")).await;
    let verdict = browser.wait_for("#proof-verified[data-verified]").await;
    assert_eq!(
        verdict.attr("data-verified").await.unwrap().as_deref(),
        Some("yes"),
        "{}",
        verdict.text().await.unwrap()
    );
    let checkpoints = api_json(reform, "/v1/checkpoints").await;
    let covering = checkpoints
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["seq"].as_u64() >= Some(seq))
        .min_by_key(|c| c["seq"].as_u64());
    let covering = covering.expect("a checkpoint covers the late order");
    assert_eq!(json!(browser.text("#proof-root").await), covering["root"], "the root the checkpoint signs");
    assert_eq!(browser.text("#checkpoint-text").await.trim_end(), covering["published"].as_str().unwrap().trim_end());
    look_at(browser, "proof").await;

    let tamper = "const el = document.getElementById('proof-verified');
        el.removeAttribute('data-verified'); el.className = 'verdict';
        el.dataset.root = 'ff'.repeat(32);
        document.dispatchEvent(new Event('DOMContentLoaded'));";
    browser.execute(tamper, vec![]).await;
    let verdict = browser.wait_for("#proof-verified[data-verified]").await;
    assert_eq!(verdict.attr("data-verified").await.unwrap().as_deref(), Some("no"), "another root does not verify");
}

async fn bad_input_shows_the_apis_error(reform: &ReformStack, browser: &Browser) {
    let cases = [
        ("/unit/NH-NOPE?date=2016-01-01", "/v1/headcount?unit=NH-NOPE&date=2016-01-01", 404),
        ("/audit?scope=NH&from=2016-12-01&to=2013-01-01", "/v1/audit?scope=NH&from=2016-12-01&to=2013-01-01", 400),
        ("/org?date=2016-13-45", "/v1/tree?date=2016-13-45", 400),
    ];
    for (page, api, status) in cases {
        browser.goto(&reform.url(page)).await;
        // The page asks pinned to the state it shows; so does the test.
        let api = format!("{api}&known_at_seq={}", reform.entries);
        let answer = muster_tests::http::get(reform.addr, &api, "application/json").await.unwrap();
        assert_eq!(answer.status, status, "{api}");
        let error: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(browser.text("#error-code").await, error["code"].as_str().unwrap(), "{page}");
        assert_eq!(browser.text("#error-message").await, error["message"].as_str().unwrap(), "{page}");
        let shown = muster_tests::browser::download(&reform.url(page)).await;
        assert_eq!(shown.status, status, "{page} has the API's status");
    }
    look_at(browser, "error").await;
}
