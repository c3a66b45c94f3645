//! A real browser for the workbench's tests: Debian's Chromium, headless,
//! driven over WebDriver by its own chromedriver (`fantoccini`).
//!
//! ```no_run
//! # async fn example(addr: std::net::SocketAddr) {
//! let browser = muster_tests::browser::Browser::start().await;
//! browser.goto(&format!("http://{addr}/")).await;
//! assert_eq!(browser.text("h1").await, "Muster query service");
//! let png = browser.screenshot("index").await;
//! browser.close().await;
//! # }
//! ```
//!
//! Rationale: the pages are for people, so they are tested where people
//! read them; a browser that is installed from the distribution (by
//! `ops/install-browser.sh`, which `ops/test.sh` runs) and not downloaded
//! by a test library keeps CI to the registries it can reach, and the
//! driver always matches the browser (one source package).

use crate::http::Response;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Debian's chromedriver (package chromium-driver).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The browser itself. Not the `/usr/bin/chromium` launcher: that script
/// adds the flags of `/etc/chromium.d/` (GPU rasterization, extensions,
/// API keys), and the tests run with exactly the flags below.
const CHROMIUM: &str = "/usr/lib/chromium/chromium";
/// Headless, no background traffic (no updates, sync or first-run pages
/// reaching out), no QUIC; `--no-sandbox` because CI runs as root, where
/// Chromium's sandbox refuses to start.
const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
];
/// The window, in CSS pixels: a laptop's, so screenshots show the page as
/// an auditor sees it.
pub const WINDOW: (u32, u32) = (1280, 1000);
/// How long a start, a page or an element may take: generous, because a
/// loaded CI machine is slow and a deadline only bounds how long a broken
/// build takes to say so.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// The tallest screenshot, in CSS pixels: a full page up to here (a long
/// table is cut, not a gigantic PNG written).
const SCREENSHOT_HEIGHT_MAX: u32 = 8000;

/// chromedriver on a loopback port, in its own process group: killing the
/// group on drop takes the browsers it started with it, even when a test
/// panics before [`Browser::close`].
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's {package}; run `bash ops/test.sh` \
                 (or `bash ops/install-browser.sh` alone), which installs chromium, chromium-driver and fonts-noto-cjk"
            );
        }
        let port = crate::nats::free_port();
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(CHROMEDRIVER).arg(format!("--port={port}")).arg("--log-level=WARNING"),
            0,
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        Driver { child, port }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits until chromedriver answers `/status` with `ready`.
    async fn ready(&self) {
        let what = format!("chromedriver answering on port {}", self.port);
        crate::wait::eventually(DEADLINE, &what, || async {
            // Each try bounded too: a half-started driver may accept and
            // never answer.
            let asked = crate::http::get(self.addr(), "/status", "application/json");
            let response = tokio::time::timeout(Duration::from_secs(5), asked).await.ok()?.ok()?;
            let status: Value = serde_json::from_slice(&response.body).ok()?;
            (status["value"]["ready"] == json!(true)).then_some(())
        })
        .await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium process it made.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// A headless Chromium with a fresh profile, and where its screenshots go.
pub struct Browser {
    client: Client,
    // Field order is drop order: the driver (and its browsers) goes before
    // the profile directory it writes to is removed.
    driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a session; panics saying to run
    /// `ops/test.sh` when Chromium or its driver is not installed.
    pub async fn start() -> Browser {
        let driver = Driver::start();
        driver.ready().await;
        let profile = tempfile::tempdir().expect("temp dir");
        let client = tokio::time::timeout(DEADLINE, session(&driver, profile.path()))
            .await
            .expect("a WebDriver session within the deadline")
            .unwrap_or_else(|e| panic!("opening a Chromium session: {e}"));
        Browser { client, driver, _profile: profile }
    }

    /// Ends the session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let Browser { client, driver, _profile } = self;
        let _ = tokio::time::timeout(DEADLINE, client.close()).await;
        drop(driver);
    }

    /// The WebDriver client, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> String {
        self.client.title().await.expect("the page's title")
    }

    /// Waits (at most [`DEADLINE`]) until an element matches the CSS
    /// `selector`, and returns the first.
    pub async fn wait_for(&self, selector: &str) -> fantoccini::elements::Element {
        let wait = self.client.wait().at_most(DEADLINE).every(Duration::from_millis(50));
        wait.for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element matched {selector:?} within {DEADLINE:?}: {e}"))
    }

    /// The rendered text of the first element matching `selector`
    /// (waiting for it).
    pub async fn text(&self, selector: &str) -> String {
        let element = self.wait_for(selector).await;
        element.text().await.unwrap_or_else(|e| panic!("text of {selector:?}: {e}"))
    }

    /// The rendered texts of every element matching `selector`, in
    /// document order (none is not an error: the caller asserts).
    pub async fn texts(&self, selector: &str) -> Vec<String> {
        let elements = self.client.find_all(Locator::Css(selector)).await.expect("find elements");
        let mut texts = Vec::with_capacity(elements.len());
        for element in elements {
            texts.push(element.text().await.unwrap_or_else(|e| panic!("text of {selector:?}: {e}")));
        }
        texts
    }

    /// The attribute `name` of every element matching `selector`, as
    /// written in the page (an `href` stays relative).
    pub async fn attrs(&self, selector: &str, name: &str) -> Vec<String> {
        let elements = self.client.find_all(Locator::Css(selector)).await.expect("find elements");
        let mut values = Vec::with_capacity(elements.len());
        for element in elements {
            let value = element.attr(name).await.unwrap_or_else(|e| panic!("{name} of {selector:?}: {e}"));
            values.push(value.unwrap_or_else(|| panic!("{selector:?} without {name}")));
        }
        values
    }

    /// Follows the link whose text is exactly `text`, and waits for the
    /// page it opens.
    pub async fn click_link(&self, text: &str) {
        let wait = self.client.wait().at_most(DEADLINE).every(Duration::from_millis(50));
        let link = wait.for_element(Locator::LinkText(text)).await.unwrap_or_else(|e| panic!("no link {text:?}: {e}"));
        link.click().await.unwrap_or_else(|e| panic!("clicking the link {text:?}: {e}"));
    }

    /// Clicks the first element matching `selector`.
    pub async fn click(&self, selector: &str) {
        let element = self.wait_for(selector).await;
        element.click().await.unwrap_or_else(|e| panic!("clicking {selector:?}: {e}"));
    }

    /// Types `value` into the form field matching `selector`, replacing
    /// what it held.
    pub async fn fill(&self, selector: &str, value: &str) {
        let field = self.wait_for(selector).await;
        field.clear().await.unwrap_or_else(|e| panic!("clearing {selector:?}: {e}"));
        field.send_keys(value).await.unwrap_or_else(|e| panic!("typing into {selector:?}: {e}"));
    }

    /// [`Browser::fill`], then submits the field's form as its submit
    /// button would (`requestSubmit`: the form's checks and handlers run).
    pub async fn fill_and_submit(&self, selector: &str, value: &str) {
        self.fill(selector, value).await;
        let field = serde_json::to_value(self.wait_for(selector).await).expect("an element reference");
        self.execute("arguments[0].form.requestSubmit()", vec![field]).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns
    /// what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("running {script:?}: {e}"))
    }

    /// Lays the page out for `media` ("print", or "" for the screen
    /// again), as Chromium does when it prints.
    pub async fn emulate_media(&self, media: &str) {
        let command = DevTools { command: "Emulation.setEmulatedMedia", params: json!({"media": media}) };
        self.client.issue_cmd(command).await.unwrap_or_else(|e| panic!("emulating {media:?} media: {e}"));
    }

    /// The page printed to PDF (A4-ish defaults of WebDriver's Print Page).
    pub async fn print(&self) -> Vec<u8> {
        let config = fantoccini::wd::PrintConfiguration::default();
        self.client.print(config).await.unwrap_or_else(|e| panic!("printing the page: {e}"))
    }

    /// Presses and releases `key`, as a keyboard does: it goes to
    /// whatever has the focus.
    pub async fn press(&self, key: fantoccini::key::Key) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let value: char = key.into();
        let actions =
            KeyActions::new("keyboard".to_owned()).then(KeyAction::Down { value }).then(KeyAction::Up { value });
        self.client.perform_actions(actions).await.unwrap_or_else(|e| panic!("pressing {key:?}: {e}"));
    }

    /// A PNG of the page as tall as its content (up to
    /// `SCREENSHOT_HEIGHT_MAX`), written to [`screenshots_dir`] as
    /// `NAME.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let height = self.execute("return document.documentElement.scrollHeight", vec![]).await;
        let height = height.as_u64().map_or(WINDOW.1, |h| h as u32).clamp(WINDOW.1, SCREENSHOT_HEIGHT_MAX);
        self.client.set_window_size(WINDOW.0, height).await.expect("resize for the screenshot");
        let png = self.client.screenshot().await;
        self.client.set_window_size(WINDOW.0, WINDOW.1).await.expect("resize back");
        let png = png.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("screenshot: {}", path.display());
        path
    }
}

/// One of Chromium's DevTools commands, sent through chromedriver's
/// `goog/cdp/execute` endpoint: for what WebDriver has no command for.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({"cmd": self.command, "params": self.params}).to_string()))
    }
}

/// A WebDriver session of Chromium with [`CHROMIUM_FLAGS`], the window
/// and the profile directory `profile`.
async fn session(driver: &Driver, profile: &Path) -> Result<Client, fantoccini::error::NewSessionError> {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| flag.to_string()).collect();
    args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
    args.push(format!("--user-data-dir={}", profile.display()));
    let options = json!({"binary": CHROMIUM, "args": args});
    let capabilities = json!({"browserName": "chrome", "goog:chromeOptions": options});
    let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
    builder.capabilities(capabilities.as_object().expect("an object").clone());
    builder.connect(&format!("http://{}", driver.addr())).await
}

/// Where screenshots go: `$MUSTER_SCREENSHOTS`, else
/// `target/workbench-screenshots/` in the workspace.
pub fn screenshots_dir() -> PathBuf {
    match std::env::var_os("MUSTER_SCREENSHOTS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/workbench-screenshots"),
    }
}

/// The bytes at `url` (`http://HOST:PORT/PATH`), fetched by the test
/// itself as a download would be: status, headers and body unchanged.
pub async fn download(url: &str) -> Response {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| panic!("{url}: only http:// URLs"));
    let (host, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let addr: SocketAddr = host.parse().unwrap_or_else(|e| panic!("{url}: the host is not IP:PORT: {e}"));
    crate::http::get(addr, path, "*/*").await.unwrap_or_else(|e| panic!("downloading {url}: {e}"))
}
