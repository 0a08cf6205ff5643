//! A control plane that signs people in through the real dev IdP
//! (`e2e/idp`, node `oidc-provider`), on a fresh database, and a scripted
//! browser: a cookie jar and manual redirects, so a test can stop at any
//! step of the flow and tamper with it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mlops_postgres::test_support::{TestDatabase, fresh_database};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

pub const PASSWORD: &str = "demo-password";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/idp")
}

/// `npm ci` once per machine (the test command's install step, repeated
/// here so a single `cargo test` works too).
fn ensure_idp_packages() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if idp_dir().join("node_modules/oidc-provider").exists() {
            return;
        }
        let ok = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(idp_dir())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "npm ci in e2e/idp failed");
    });
}

/// The IdP plus one or more `mlops serve` processes on one database.
pub struct SignIn {
    pub db: TestDatabase,
    pub dir: tempfile::TempDir,
    pub idp: String,
    /// The control planes' public URLs.
    pub planes: Vec<String>,
    children: Vec<(String, Child)>,
}

impl Drop for SignIn {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
        }
        for (_, child) in &mut self.children {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

impl SignIn {
    /// Starts the IdP and `planes` control planes with `extra_config` YAML
    /// appended to their config.
    pub async fn start(planes: usize, extra_config: &str) -> SignIn {
        ensure_idp_packages();
        let db = fresh_database().await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let idp_port = free_port();
        let idp = format!("http://127.0.0.1:{idp_port}");
        let ports: Vec<u16> = (0..planes).map(|_| free_port()).collect();
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let mut system = SignIn {
            db,
            dir,
            idp: idp.clone(),
            planes: urls.clone(),
            children: Vec::new(),
        };
        let mut node = Command::new("node");
        node.arg("server.mjs")
            .current_dir(idp_dir())
            .env("IDP_PORT", idp_port.to_string())
            .env("IDP_CLIENT_SECRET", "test-secret")
            .env(
                "IDP_REDIRECT_URIS",
                urls.iter()
                    .map(|u| format!("{u}/auth/callback"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .env(
                "IDP_POST_LOGOUT_URIS",
                urls.iter()
                    .map(|u| format!("{u}/"))
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .env("IDP_PASSWORD", PASSWORD);
        system
            .spawn(
                "idp",
                node,
                &format!("{idp}/.well-known/openid-configuration"),
            )
            .await;
        let config = format!(
            "oidc:\n  issuer: {idp}\n  client_id: mlops\n  client_secret: test-secret\n{extra_config}"
        );
        let config_path = system.dir.path().join("control-plane.yaml");
        std::fs::write(&config_path, config).unwrap();
        for (i, port) in ports.iter().enumerate() {
            let data_dir = system.dir.path().join(format!("plane-{i}"));
            std::fs::create_dir_all(&data_dir).unwrap();
            // Every plane signs with one key, as replicas behind one URL would.
            if i > 0 {
                let keys = data_dir.join("keys");
                std::fs::create_dir_all(&keys).unwrap();
                let first = system.dir.path().join("plane-0").join("keys");
                for f in ["service-signing-key.pem", "service-clients.key"] {
                    std::fs::copy(first.join(f), keys.join(f)).unwrap();
                }
            }
            let mut serve = Command::new(env!("CARGO_BIN_EXE_mlops"));
            serve
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .arg("--data-dir")
                .arg(&data_dir)
                .env("DATABASE_URL", &system.db.url)
                .env("MLOPS_PUBLIC_URL", &urls[i])
                .env("MLOPS_CONTROL_CONFIG", &config_path)
                .env("RUST_LOG", "info");
            system
                .spawn(&format!("plane-{i}"), serve, &format!("{}/readyz", urls[i]))
                .await;
        }
        system
    }

    async fn spawn(&mut self, name: &str, mut command: Command, ready: &str) {
        let log = self.dir.path().join("logs").join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let mut child = command.spawn().unwrap();
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited with {status}:\n{}", tail(&log));
            }
            if let Ok(r) = http.get(ready).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{name} not ready:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.children.push((name.to_owned(), child));
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join("logs").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    pub fn plane(&self) -> &str {
        &self.planes[0]
    }

    /// Audit rows as (actor, action, outcome, detail).
    pub async fn audit(&self) -> Vec<(String, String, String, Value)> {
        sqlx::query_as("SELECT actor, action, outcome, detail FROM control.audit ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .unwrap()
    }
}

/// One response, as the browser saw it.
pub struct Page {
    pub status: u16,
    pub url: String,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

/// A scripted browser: its own cookie jar, redirects followed by hand.
pub struct Browser {
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub password: String,
}

impl Default for Browser {
    fn default() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            password: PASSWORD.to_owned(),
        }
    }
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn take(&mut self, url: &str, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for raw in &set_cookies {
            let pair = raw.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let lower = raw.to_ascii_lowercase();
                let gone = value.is_empty()
                    || lower.contains("max-age=0")
                    || lower.contains("expires=thu, 01 jan 1970");
                if gone {
                    self.cookies.remove(name.trim());
                } else {
                    self.cookies
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| absolute(url, l));
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            url: url.to_owned(),
            location,
            set_cookies,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let response = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.take(url, response).await
    }

    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(url)
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.take(url, response).await
    }

    /// A JSON request with the session cookie and, if given, a CSRF token.
    pub async fn json(
        &mut self,
        method: reqwest::Method,
        url: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, url)
            .header(COOKIE, self.cookie_header());
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let page = self.take(url, response).await;
        (
            page.status,
            serde_json::from_str(&page.body).unwrap_or(Value::String(page.body)),
        )
    }

    /// Follows redirects from `page` until one leads to a URL starting with
    /// `stop_at` (returned unvisited) or a page that is not a redirect.
    pub async fn follow_until(&mut self, mut page: Page, stop_at: &str) -> Result<String, Page> {
        for _ in 0..20 {
            let Some(next) = page.location.clone() else {
                return Err(page);
            };
            if next.starts_with(stop_at) {
                return Ok(next);
            }
            page = self.get(&next).await;
        }
        panic!("too many redirects");
    }

    /// Starts sign-in at `plane` and returns the provider's authorization
    /// URL it redirects to.
    pub async fn start_login(&mut self, plane: &str) -> String {
        let page = self.get(&format!("{plane}/auth/login?next=/api/me")).await;
        assert_eq!(page.status, 303, "login redirects: {}", page.body);
        page.location.expect("to the provider")
    }

    /// Goes from an authorization URL through the IdP's login form and
    /// returns the callback URL the IdP sends the browser to.
    pub async fn through_idp(&mut self, authorize: &str, user: &str, plane: &str) -> String {
        let page = self.get(authorize).await;
        let form_url = self
            .follow_until(page, "\u{0}")
            .await
            .err()
            .map(|p| p.url)
            .unwrap();
        let form = self.get(&form_url).await;
        assert!(
            form.body.contains("Sign in"),
            "the login form: {}",
            form.body
        );
        let action = format!("{form_url}/login");
        let posted = self
            .post_form(
                &action,
                &[("username", user), ("password", &self.password.clone())],
            )
            .await;
        assert_eq!(
            posted.status, 303,
            "the IdP takes the password: {}",
            posted.body
        );
        self.follow_until(posted, &format!("{plane}/auth/callback"))
            .await
            .unwrap_or_else(|p| panic!("no callback: {} {}", p.status, p.body))
    }

    /// The whole sign-in; returns the callback's response.
    pub async fn login(&mut self, plane: &str, user: &str) -> Page {
        let authorize = self.start_login(plane).await;
        let callback = self.through_idp(&authorize, user, plane).await;
        self.get(&callback).await
    }

    /// Signs in and creates a personal API token with `scopes`.
    pub async fn api_token(&mut self, plane: &str, user: &str, scopes: &[&str]) -> String {
        let page = self.login(plane, user).await;
        assert_eq!(page.status, 303, "{user} signs in: {}", page.body);
        let (_, me) = self.me(plane).await;
        let csrf = me["csrf_token"].as_str().unwrap().to_owned();
        let (status, created) = self
            .json(
                reqwest::Method::POST,
                &format!("{plane}/api/tokens"),
                Some(&csrf),
                Some(serde_json::json!({"name": "test", "scopes": scopes})),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        created["token"].as_str().unwrap().to_owned()
    }

    pub async fn me(&mut self, plane: &str) -> (u16, Value) {
        self.json(reqwest::Method::GET, &format!("{plane}/api/me"), None, None)
            .await
    }
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let origin_end = base[8..].find('/').map(|i| i + 8).unwrap_or(base.len());
    format!("{}{location}", &base[..origin_end])
}

/// Replaces query parameter `name` of `url` with `value`.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut parsed = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            if k == name {
                (k.into_owned(), value.to_owned())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

pub fn param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
