//! Identity providers on loopback for the SSO tests, and the browser-less user agent that
//! walks a person through them.
//!
//! `OidcProvider` is the real npm `oidc-provider` (tests/idp/oidc, installed from its lock
//! file by `make test`), started per test on a free port. `RogueIdp` is a minimal OIDC
//! provider written here that can misbehave on purpose (tampered signatures, wrong audience,
//! expired tokens, wrong nonce, `alg: none`, swapped algorithms, unknown key ids): the
//! negative cases a well-behaved IdP cannot produce.

use crate::support::{Reply, TestApp};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use poem::web::{Form, Query};
use poem::{EndpointExt, Route, get, handler, post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct OidcProvider {
    pub issuer: String,
    child: Child,
    _config: tempfile::NamedTempFile,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tests/idp/<kind>/server.mjs` with `config` and waits for its `READY <url>` line.
/// Returns the process, the URL and the config file (kept alive as long as the process).
pub fn spawn_node_idp(kind: &str, config: &Value) -> (Child, String, tempfile::NamedTempFile) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), config.to_string()).unwrap();
    let script = format!(
        "{}/../../tests/idp/{kind}/server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut child = Command::new("node")
        .arg(script)
        .arg(file.path())
        // The IdP exits when this pipe closes, so it dies with the test process.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs the loopback IdP (make test installs it)");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| {
            panic!("the {kind} IdP did not start: {line:?} (run scripts/ensure-idp.sh)")
        })
        .to_string();
    (child, url, file)
}

pub fn idp_user(login: &str, email: &str, name: &str, groups: &[&str]) -> Value {
    json!({
        "sub": format!("sub-{login}"),
        "login": login,
        "password": format!("{login} correct horse"),
        "email": email,
        "email_verified": true,
        "name": name,
        "groups": groups,
    })
}

impl OidcProvider {
    /// Starts the provider with one client per `(client_id, secret)` redirecting to `app`.
    pub fn start(app: &TestApp, clients: &[(&str, &str)], users: Vec<Value>) -> Self {
        let callback = format!("{}/v1/sso/oidc/callback", app.base);
        let config = json!({
            "port": 0,
            "clients": clients.iter().map(|(id, secret)| json!({
                "client_id": id, "client_secret": secret, "redirect_uris": [callback],
            })).collect::<Vec<_>>(),
            "users": users,
        });
        let (child, issuer, config) = spawn_node_idp("oidc", &config);
        Self {
            issuer,
            child,
            _config: config,
        }
    }
}

/// A browser without a browser: a cookie jar, no automatic redirects.
pub struct UserAgent {
    client: reqwest::Client,
    pub user_agent: String,
}

impl UserAgent {
    pub fn new() -> Self {
        let user_agent = "Mozilla/5.0 (X11; Linux) HubTestAgent/1.0".to_string();
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(user_agent.clone())
                .build()
                .unwrap(),
            user_agent,
        }
    }

    fn absolute(base: &str, location: &str) -> String {
        if location.starts_with("http") {
            location.to_string()
        } else {
            let url = reqwest::Url::parse(base).unwrap();
            url.join(location).unwrap().to_string()
        }
    }

    /// GETs `url` and follows redirects until a non-redirect answer or a URL starting with
    /// `stop_at`; returns the last response's URL, status, headers and body text.
    pub async fn follow(
        &self,
        mut url: String,
        stop_at: Option<&str>,
    ) -> (String, StatusCode, String) {
        for _ in 0..10 {
            if stop_at.is_some_and(|s| url.starts_with(s)) {
                return (url, StatusCode::FOUND, String::new());
            }
            let response = self.client.get(&url).send().await.unwrap();
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers()["location"].to_str().unwrap().to_string();
                url = Self::absolute(&url, &location);
                continue;
            }
            return (url, status, response.text().await.unwrap());
        }
        panic!("redirect loop");
    }

    /// Walks the whole sign-in: the hub's login URL → the IdP's login form → the callback.
    /// Returns the callback URL the IdP sent the browser to, without calling it.
    pub async fn authorize(
        &self,
        app: &TestApp,
        login_path: &str,
        login: &str,
        password: &str,
    ) -> String {
        let callback = format!("{}/v1/sso/oidc/callback", app.base);
        let (url, status, page) = self
            .follow(format!("{}{login_path}", app.base), Some(&callback))
            .await;
        if status == StatusCode::FOUND {
            return url; // Already signed in at the IdP.
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "expected the IdP's login form at {url}: {page}"
        );
        let action = page
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no form in {page}"));
        let response = self
            .client
            .post(Self::absolute(&url, action))
            .form(&[("login", login), ("password", password)])
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_redirection(),
            "login refused: {}",
            response.status()
        );
        let next = Self::absolute(&url, response.headers()["location"].to_str().unwrap());
        let (url, status, page) = self.follow(next, Some(&callback)).await;
        assert_eq!(
            status,
            StatusCode::FOUND,
            "never reached the callback: {url} {page}"
        );
        url
    }

    /// Calls the hub's callback URL as the browser would.
    pub async fn callback(&self, url: &str) -> Reply {
        let response = self.client.get(url).send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }
}

/// What the rogue IdP puts in its next ID token, and how it signs it.
#[derive(Clone)]
pub enum Forgery {
    Honest,
    TamperedPayload,
    WrongAudience,
    Expired,
    WrongNonce,
    AlgNone,
    /// HS256 with the public key's bytes as the secret (the classic algorithm confusion).
    SwappedToHmac,
    UnknownKeyId,
    /// Signed by a key the IdP never published, under the published key id.
    ForeignKey,
}

struct RogueState {
    issuer: String,
    client_id: String,
    key: EncodingKey,
    foreign_key: EncodingKey,
    jwk: Jwk,
    forgery: Forgery,
    /// code → nonce of the authorization request that produced it.
    codes: HashMap<String, String>,
    subject: String,
    email: String,
    /// The `groups` claim, left out while empty.
    groups: Vec<String>,
}

pub struct RogueIdp {
    pub issuer: String,
    state: Arc<Mutex<RogueState>>,
}

const KID: &str = "rogue-1";

fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn forge(state: &RogueState, nonce: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": state.issuer, "sub": state.subject, "aud": state.client_id,
        "iat": now, "exp": now + 300, "nonce": nonce,
        "email": state.email, "email_verified": true, "name": "Mallory Rogue",
    });
    if !state.groups.is_empty() {
        claims["groups"] = json!(state.groups);
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.into());
    match state.forgery {
        Forgery::Honest => sign(&header, &claims, &state.key),
        Forgery::TamperedPayload => {
            let token = sign(&header, &claims, &state.key);
            let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
            claims["sub"] = json!("someone-else");
            parts[1] = b64(claims.to_string().as_bytes());
            parts.join(".")
        }
        Forgery::WrongAudience => {
            claims["aud"] = json!("another-client");
            sign(&header, &claims, &state.key)
        }
        Forgery::Expired => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
            sign(&header, &claims, &state.key)
        }
        Forgery::WrongNonce => {
            claims["nonce"] = json!("not-the-nonce");
            sign(&header, &claims, &state.key)
        }
        Forgery::AlgNone => {
            let head = b64(json!({"alg": "none", "typ": "JWT", "kid": KID})
                .to_string()
                .as_bytes());
            format!("{head}.{}.", b64(claims.to_string().as_bytes()))
        }
        Forgery::SwappedToHmac => {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(KID.into());
            let public = serde_json::to_vec(&state.jwk).unwrap();
            sign(
                &header,
                &claims,
                &EncodingKey::from_secret(&public).unwrap(),
            )
        }
        Forgery::UnknownKeyId => {
            header.kid = Some("never-published".into());
            sign(&header, &claims, &state.key)
        }
        Forgery::ForeignKey => sign(&header, &claims, &state.foreign_key),
    }
}

#[handler]
fn rogue_discovery(state: poem::web::Data<&Arc<Mutex<RogueState>>>) -> poem::web::Json<Value> {
    let s = state.lock().unwrap();
    poem::web::Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": format!("{}/authorize", s.issuer),
        "token_endpoint": format!("{}/token", s.issuer),
        "jwks_uri": format!("{}/jwks", s.issuer),
    }))
}

#[handler]
fn rogue_jwks(state: poem::web::Data<&Arc<Mutex<RogueState>>>) -> poem::web::Json<JwkSet> {
    let s = state.lock().unwrap();
    poem::web::Json(JwkSet {
        keys: vec![s.jwk.clone()],
    })
}

/// Signs anyone in at once: redirects straight back with a code bound to the nonce.
#[handler]
fn rogue_authorize(
    state: poem::web::Data<&Arc<Mutex<RogueState>>>,
    Query(params): Query<HashMap<String, String>>,
) -> poem::Response {
    let code = uuid::Uuid::new_v4().simple().to_string();
    state
        .lock()
        .unwrap()
        .codes
        .insert(code.clone(), params["nonce"].clone());
    let location = format!(
        "{}?code={code}&state={}",
        params["redirect_uri"], params["state"]
    );
    poem::Response::builder()
        .status(StatusCode::FOUND)
        .header("location", location)
        .finish()
}

#[handler]
fn rogue_token(
    state: poem::web::Data<&Arc<Mutex<RogueState>>>,
    Form(form): Form<HashMap<String, String>>,
) -> poem::Response {
    let mut s = state.lock().unwrap();
    let Some(nonce) = s.codes.remove(&form["code"]) else {
        return poem::Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .content_type("application/json")
            .body(json!({"error": "invalid_grant"}).to_string());
    };
    let token = forge(&s, &nonce);
    poem::Response::builder()
        .content_type("application/json")
        .body(json!({"id_token": token, "token_type": "Bearer", "access_token": "x"}).to_string())
}

impl RogueIdp {
    pub async fn start(client_id: &str, subject: &str, email: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let pem = include_bytes!("../fixtures/rogue-idp-es256.pem");
        let other = include_bytes!("../fixtures/rogue-idp-es256-other.pem");
        let key = EncodingKey::from_ec_pem(pem).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(KID.into());
        let state = Arc::new(Mutex::new(RogueState {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            key,
            foreign_key: EncodingKey::from_ec_pem(other).unwrap(),
            jwk,
            forgery: Forgery::Honest,
            codes: HashMap::new(),
            subject: subject.into(),
            email: email.into(),
            groups: Vec::new(),
        }));
        let app = Route::new()
            .at("/.well-known/openid-configuration", get(rogue_discovery))
            .at("/jwks", get(rogue_jwks))
            .at("/authorize", get(rogue_authorize))
            .at("/token", post(rogue_token))
            .data(state.clone());
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self { issuer, state }
    }

    pub fn forge_next(&self, forgery: Forgery) {
        self.state.lock().unwrap().forgery = forgery;
    }

    /// The groups the next tokens assert.
    pub fn assert_groups(&self, groups: &[&str]) {
        self.state.lock().unwrap().groups = groups.iter().map(|g| g.to_string()).collect();
    }
}
