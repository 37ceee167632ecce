//! The loopback SAML 2.0 identity provider for the SAML tests (tests/idp/saml: samlify on
//! Node, installed from its lock file by `make test`), started per test on a free port, and
//! the browser-less steps a person's browser takes through it: the hub's login redirect, the
//! IdP's login form, and the auto-submitted form that posts the signed response to the ACS.

use crate::idp::spawn_node_idp;
use crate::support::{Institution, Reply, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Child;

pub struct SamlProvider {
    pub base: String,
    child: Child,
    _config: tempfile::NamedTempFile,
    http: reqwest::Client,
}

impl Drop for SamlProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn saml_user(login: &str, email: &str, name: &str, groups: &[&str]) -> Value {
    json!({
        "login": login,
        "password": format!("{login} correct horse"),
        "name_id": email,
        "attributes": {"email": email, "name": name, "groups": groups},
    })
}

/// The hub's ACS, where the IdP posts every response.
pub fn acs_url(app: &TestApp) -> String {
    format!("{}/v1/sso/saml/acs", app.base)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="<input>" value="…"` in the IdP's HTML, unescaped.
fn html_input(page: &str, input: &str) -> Option<String> {
    let rest = page.split(&format!("name=\"{input}\" value=\"")).nth(1)?;
    let value = rest.split('"').next()?;
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// A signed response the IdP produced for one flow, not yet posted.
pub struct IdpAnswer {
    pub saml_response: String,
    pub relay_state: String,
}

impl SamlProvider {
    /// Starts the IdP for one SP per entity ID, all posting to `app`'s ACS.
    pub fn start(app: &TestApp, sp_entity_ids: &[&str], users: Vec<Value>) -> Self {
        let config = json!({
            "port": 0,
            "sp": sp_entity_ids.iter().map(|id| json!({
                "entity_id": id, "acs_url": acs_url(app),
            })).collect::<Vec<_>>(),
            "users": users,
            "sign": "both",
        });
        let (child, base, config) = spawn_node_idp("saml", &config);
        Self {
            base,
            child,
            _config: config,
            http: http(),
        }
    }

    pub async fn metadata(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metadata", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// Makes the IdP forge its next response (see tests/idp/saml/README.md).
    pub async fn forge_next(&self, forgery: Value) {
        let response = self
            .http
            .post(format!("{}/forge", self.base))
            .json(&forgery)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{forgery}");
    }
}

/// Starts a sign-in at the hub: the IdP URL it redirects to, and the flow's RelayState.
pub async fn start_flow(app: &TestApp, login_path: &str) -> (String, String) {
    let response = http()
        .get(format!("{}{login_path}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "{login_path}");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let relay_state = reqwest::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "RelayState")
        .map(|(_, v)| v.to_string())
        .expect("the redirect carries a RelayState");
    (location, relay_state)
}

/// The AuthnRequest XML the hub put in the IdP URL it redirected to (HTTP-Redirect binding:
/// raw DEFLATE, then base64, then URL-encoded).
pub fn authn_request(idp_url: &str) -> String {
    use base64::Engine as _;
    use std::io::Read as _;
    let encoded = reqwest::Url::parse(idp_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .map(|(_, v)| v.to_string())
        .expect("the redirect carries a SAMLRequest");
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

/// Logs in at the IdP for the flow started at `idp_url` and returns what its auto-submit
/// form would post to the ACS.
pub async fn log_in_at_idp(idp_url: &str, login: &str, password: &str) -> IdpAnswer {
    let client = http();
    let page = client.get(idp_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the IdP refused the request");
    let page = page.text().await.unwrap();
    let action = page
        .split("action=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no login form in {page}"))
        .replace("&amp;", "&");
    let form_url = reqwest::Url::parse(idp_url).unwrap().join(&action).unwrap();
    let answer = client
        .post(form_url)
        .form(&[("login", login), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "login refused");
    let page = answer.text().await.unwrap();
    IdpAnswer {
        saml_response: html_input(&page, "SAMLResponse")
            .unwrap_or_else(|| panic!("no SAMLResponse in {page}")),
        relay_state: html_input(&page, "RelayState").unwrap_or_default(),
    }
}

/// Posts to the hub's ACS as the IdP's auto-submitted form does.
pub async fn post_to_acs(app: &TestApp, saml_response: &str, relay_state: &str) -> Reply {
    let response = http()
        .post(acs_url(app))
        .form(&[("SAMLResponse", saml_response), ("RelayState", relay_state)])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The whole sign-in as a browser walks it: hub → IdP login form → ACS.
pub async fn sign_in(app: &TestApp, login_path: &str, login: &str) -> Reply {
    let (idp_url, _) = start_flow(app, login_path).await;
    let answer = log_in_at_idp(&idp_url, login, &format!("{login} correct horse")).await;
    post_to_acs(app, &answer.saml_response, &answer.relay_state).await
}

/// The SP entity ID a test institution's SAML connection uses.
pub fn sp_entity_id(inst: &Institution) -> String {
    format!("https://hub.test/{}/saml", inst.slug)
}

/// Adds a SAML connection to the institution from the IdP's metadata.
pub async fn add_saml_connection(app: &TestApp, inst: &Institution, metadata: &str) -> Value {
    let reply = app
        .post(
            "/v1/sso/saml-connections",
            &inst.admin_token,
            json!({
                "name": "Campus SAML IdP",
                "idp_metadata_xml": metadata,
                "sp_entity_id": sp_entity_id(inst),
                "group_roles": {"staff": "instructor"},
            }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["kind"], "saml");
    reply.body
}
