//! SCIM 2.0 push provisioning: the IdP creates, finds (`userName eq`), patches and
//! deactivates users and manages groups that grant roles, with a key scoped to SCIM only.
//! Deactivation ends the person's sessions at once; garbage filters, paths and values are
//! 400 problems that change nothing.

use crate::both_backends;
use crate::idp::{Forgery, RogueIdp, UserAgent};
use crate::support::{Backend, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(promise_d6_scim_provisions_deactivates_and_maps_groups_to_roles);

async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    app.call_with(
        method,
        &format!("/v1/scim/v2{path}"),
        Some(token),
        body,
        &[("Content-Type", "application/scim+json")],
    )
    .await
}

/// SCIM's own error schema (RFC 7644 §3.12), which every error under `/v1/scim/v2` takes.
trait ScimErrorReply {
    fn assert_scim_error(&self, status: u16, scim_type: Option<&str>);
}

impl ScimErrorReply for Reply {
    fn assert_scim_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(
            self.header("content-type").as_deref(),
            Some("application/scim+json"),
            "not a SCIM answer: {}",
            self.body
        );
        assert_eq!(
            self.body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status.to_string(), "{}", self.body);
        assert_eq!(self.body["scimType"].as_str(), scim_type, "{}", self.body);
    }
}

async fn roles_of(app: &TestApp, admin: &str, id: &str) -> Value {
    let reply = app.get(&format!("/v1/people/{id}"), admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["roles"].clone()
}

async fn promise_d6_scim_provisions_deactivates_and_maps_groups_to_roles(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "Okta SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    let token = key.body["token"].as_str().unwrap().to_string();

    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "mallory@north.test",
            "name": {"givenName": "Mallory", "familyName": "Example"},
            "emails": [{"value": "mallory@north.test", "type": "work", "primary": true}],
            "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["displayName"], "Mallory Example");
    assert_eq!(created.body["active"], true);
    assert_eq!(roles_of(&app, admin, &id).await, json!(["learner"]));

    // Found by userName; unknown names find nothing; garbage filters are 400s.
    let found = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22MALLORY@north.test%22",
        &token,
        None,
    )
    .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["totalResults"], 1);
    assert_eq!(found.body["Resources"][0]["id"], id.as_str());
    let none = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22nobody%22",
        &token,
        None,
    )
    .await;
    assert_eq!(none.body["totalResults"], 0);
    for garbage in [
        "userName%20co%20%22m%22",
        "password%20eq%20%22x%22",
        "((((",
        "userName%20eq%20mallory",
    ] {
        scim(
            &app,
            Method::GET,
            &format!("/Users?filter={garbage}"),
            &token,
            None,
        )
        .await
        .assert_scim_error(400, Some("invalidFilter"));
    }
    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(json!({"userName": "mallory@north.test"})),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));

    // A group named after a role grants it; removing the member takes it away.
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(json!({"displayName": "instructor", "members": [{"value": id}]})),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let group_id = group.body["id"].as_str().unwrap().to_string();
    assert_eq!(roles_of(&app, admin, &id).await, json!(["instructor"]));
    let user = scim(&app, Method::GET, &format!("/Users/{id}"), &token, None).await;
    assert_eq!(user.body["groups"][0]["display"], "instructor");

    // The person signs in through SSO (linked by verified email) and has a session.
    let rogue = RogueIdp::start("hub-north", "mallory-sub", "mallory@north.test").await;
    rogue.forge_next(Forgery::Honest);
    let connection = app
        .post(
            "/v1/sso/connections",
            admin,
            json!({"name": "IdP", "issuer": rogue.issuer, "client_id": "hub-north", "client_secret": "x"}),
        )
        .await;
    let login = format!(
        "{}{}",
        app.base,
        connection.body["login_path"].as_str().unwrap()
    );
    let callback = format!("{}/v1/sso/oidc/callback", app.base);
    let agent = UserAgent::new();
    let (url, _, _) = agent.follow(login.clone(), Some(&callback)).await;
    let signed_in = agent.callback(&url).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.body["person"]["id"], id.as_str());
    let session = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.get("/v1/me", &session).await.status, StatusCode::OK);

    // Removing the member ends the session (its scopes are stale) and the role.
    let removed = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group_id}"),
        &token,
        Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})),
    )
    .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(removed.body["members"], json!([]));
    assert_eq!(roles_of(&app, admin, &id).await, json!(["learner"]));
    app.get("/v1/me", &session)
        .await
        .assert_problem(401, "unauthenticated");

    // Bad patches are refused and change nothing.
    for (ops, code) in [
        (
            json!([{"op": "replace", "path": "password", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "explode", "path": "active", "value": false}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "nope"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "emails", "value": [{"value": "not an email"}]}]),
            "invalidValue",
        ),
    ] {
        scim(
            &app,
            Method::PATCH,
            &format!("/Users/{id}"),
            &token,
            Some(json!({"Operations": ops})),
        )
        .await
        .assert_scim_error(400, Some(code));
    }

    // Sign in again, then deactivation (Entra/Okta style path-less replace) ends it.
    let agent = UserAgent::new();
    let (url, _, _) = agent.follow(login.clone(), Some(&callback)).await;
    let again = agent.callback(&url).await;
    let session = again.body["session_token"].as_str().unwrap().to_string();
    let deactivated = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(json!({"Operations": [{"op": "replace", "value": {"active": false, "name": {"formatted": "Mallory X"}}}]})),
    )
    .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    assert_eq!(deactivated.body["active"], false);
    assert_eq!(deactivated.body["displayName"], "Mallory X");
    app.get("/v1/me", &session)
        .await
        .assert_problem(401, "unauthenticated");
    let agent = UserAgent::new();
    let (url, _, _) = agent.follow(login, Some(&callback)).await;
    agent
        .callback(&url)
        .await
        .assert_problem(401, "person_deactivated");

    // The SCIM key is for SCIM only.
    app.get("/v1/people", &token)
        .await
        .assert_problem(403, "insufficient_scope");
    let listed = scim(
        &app,
        Method::GET,
        "/Users?startIndex=1&count=10",
        &token,
        None,
    )
    .await;
    assert_eq!(listed.body["totalResults"], 1);
    let deleted = scim(
        &app,
        Method::DELETE,
        &format!("/Groups/{group_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    scim(
        &app,
        Method::GET,
        &format!("/Groups/{group_id}"),
        &token,
        None,
    )
    .await
    .assert_scim_error(404, None);

    // DELETE deprovisions: 204, then SCIM answers 404 in its own schema, and the person
    // record stays, deactivated, for the institution's admins and the audit trail.
    let deleted = scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    scim(&app, Method::GET, &format!("/Users/{id}"), &token, None)
        .await
        .assert_scim_error(404, None);
    scim(&app, Method::DELETE, &format!("/Users/{id}"), &token, None)
        .await
        .assert_scim_error(404, None);
    let person = app.get(&format!("/v1/people/{id}"), admin).await;
    assert_eq!(person.status, StatusCode::OK, "{}", person.body);
    assert_eq!(person.body["status"], "deactivated");
    assert_eq!(person.body["roles"], json!(["learner"]));
}
