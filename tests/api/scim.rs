//! SCIM 2.0 push provisioning: the IdP creates, finds (`userName eq`), patches and
//! deactivates users and manages groups that grant roles, with a key scoped to SCIM only.
//! Deactivation ends the person's sessions at once; garbage filters, paths and values are
//! 400 problems that change nothing.

use crate::both_backends;
use crate::idp::{Forgery, RogueIdp, UserAgent};
use crate::support::scim;
use crate::support::{Backend, Reply, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(promise_d6_scim_provisions_deactivates_and_maps_groups_to_roles);

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

both_backends!(promise_d6_scim_serves_users_and_groups_as_rfc_7643_describes_them);

/// How many audit entries record a SCIM listing of exactly the person `id`.
async fn listings_of(app: &TestApp, admin: &str, id: &str) -> usize {
    let audit = app
        .get("/v1/audit/events?action=scim.users_listed", admin)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["person_ids"] == json!([id]))
        .count()
}

/// The sealed `externalId`s of the institution's `scim_users` rows, as stored.
async fn stored_external_ids(app: &TestApp, backend: Backend, tenant_id: &str) -> Vec<Vec<u8>> {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let location = app
        .state
        .tenancy
        .tenant_location(tenant_id.parse().unwrap())
        .await
        .unwrap();
    let schema = location.schema.as_str();
    let (db, sql, kind) = match backend {
        Backend::Postgres => (
            Database::connect(app.database_url.clone().unwrap())
                .await
                .unwrap(),
            format!("SELECT external_id_sealed FROM \"{schema}\".scim_users"),
            DbBackend::Postgres,
        ),
        Backend::Sqlite => (
            Database::connect(format!(
                "sqlite://{}?mode=ro",
                app.data_dir()
                    .join("tenants")
                    .join(format!("{schema}.db"))
                    .display()
            ))
            .await
            .unwrap(),
            "SELECT external_id_sealed FROM scim_users".to_string(),
            DbBackend::Sqlite,
        ),
    };
    db.query_all_raw(Statement::from_string(kind, sql))
        .await
        .unwrap()
        .iter()
        .filter_map(|r| {
            r.try_get::<Option<Vec<u8>>>("", "external_id_sealed")
                .unwrap()
        })
        .collect()
}

async fn promise_d6_scim_serves_users_and_groups_as_rfc_7643_describes_them(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let key = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "IdP SCIM", "scopes": ["scim:provision"]}),
        )
        .await;
    let token = key.body["token"].as_str().unwrap().to_string();

    // externalId is kept (sealed at rest), `primary: false` is answered as sent, an RFC 3966
    // phone number is stored as E.164; ten bare digits name no country and are refused.
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(json!({
            "userName": "lin@north.test", "displayName": "Lin Example",
            "externalId": "okta-00u1zq",
            "emails": [{"value": "lin@north.test", "primary": false}],
            "phoneNumbers": [{"value": "tel:+1-201-555-0123"}]
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["externalId"], "okta-00u1zq");
    assert_eq!(
        created.body["emails"],
        json!([{"value": "lin@north.test", "primary": false}])
    );
    assert_eq!(
        created.body["phoneNumbers"],
        json!([{"value": "+12015550123"}])
    );
    let sealed = stored_external_ids(&app, backend, &north.id).await;
    assert_eq!(sealed.len(), 1);
    assert!(
        !sealed[0].windows(11).any(|w| w == b"okta-00u1zq"),
        "externalId is stored readable"
    );
    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(json!({"userName": "bare@north.test", "phoneNumbers": [{"value": "2015550123"}]})),
    )
    .await
    .assert_scim_error(400, Some("invalidValue"));
    scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(json!({"userName": "long@north.test", "externalId": "x".repeat(201)})),
    )
    .await
    .assert_scim_error(400, Some("invalidValue"));

    // A PATCH of externalId alone is a new version of the resource.
    let before = created.header("etag").unwrap();
    let patched = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{id}"),
        &token,
        Some(json!({"Operations": [{"op": "replace", "path": "externalId", "value": "okta-2"}]})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["externalId"], "okta-2");
    assert_ne!(patched.header("etag").unwrap(), before);

    // attributes replaces the default set (id and schemas always stay); excludedAttributes
    // takes from it; both also shape the answer to a change.
    let only = scim(
        &app,
        Method::GET,
        &format!("/Users/{id}?attributes=userName,emails.value"),
        &token,
        None,
    )
    .await;
    assert_eq!(only.status, StatusCode::OK, "{}", only.body);
    assert_eq!(
        only.body,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id,
               "userName": "lin@north.test", "emails": [{"value": "lin@north.test"}]})
    );
    let without = scim(
        &app,
        Method::GET,
        "/Users?excludedAttributes=emails,phoneNumbers,groups,meta",
        &token,
        None,
    )
    .await;
    let listed = &without.body["Resources"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["displayName"], "Lin Example");
    for gone in ["emails", "phoneNumbers", "groups", "meta"] {
        assert!(listed.get(gone).is_none(), "{gone} in {listed}");
    }
    let replaced = scim(
        &app,
        Method::PUT,
        &format!("/Users/{id}?attributes=externalId"),
        &token,
        Some(json!({"userName": "lin@north.test", "displayName": "Lin Example"})),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    // PUT left externalId out: it is cleared, so nothing but id and schemas is answered.
    assert_eq!(
        replaced.body,
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id})
    );

    // Groups: externalId, PUT (members replaced, so the role follows), projection.
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(json!({"displayName": "instructor", "externalId": "grp-1"})),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    assert_eq!(group.body["externalId"], "grp-1");
    let group_id = group.body["id"].as_str().unwrap().to_string();
    let put = scim(
        &app,
        Method::PUT,
        &format!("/Groups/{group_id}?excludedAttributes=members"),
        &token,
        Some(json!({"displayName": "instructor", "members": [{"value": id}]})),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert!(put.body.get("members").is_none(), "{}", put.body);
    assert!(put.body.get("externalId").is_none(), "{}", put.body);
    assert_eq!(roles_of(&app, admin, &id).await, json!(["instructor"]));
    let emptied = scim(
        &app,
        Method::PUT,
        &format!("/Groups/{group_id}"),
        &token,
        Some(json!({"displayName": "instructor", "members": []})),
    )
    .await;
    assert_eq!(emptied.status, StatusCode::OK, "{}", emptied.body);
    assert_eq!(roles_of(&app, admin, &id).await, json!(["learner"]));
    app.call_with(
        Method::PUT,
        &format!("/v1/scim/v2/Groups/{group_id}"),
        Some(&token),
        Some(json!({"displayName": "instructor"})),
        &[("If-Match", "W/\"1\"")],
    )
    .await
    .assert_scim_error(412, None);
    let other = scim(
        &app,
        Method::POST,
        "/Groups",
        &token,
        Some(json!({"displayName": "staff"})),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{}", other.body["id"].as_str().unwrap()),
        &token,
        Some(json!({"Operations": [{"op": "replace", "path": "displayName", "value": "instructor"}]})),
    )
    .await
    .assert_scim_error(409, Some("uniqueness"));

    // POST /.search on a resource type and at the root; a search of users is an audited
    // read of their data, like the list.
    let audited_before = listings_of(&app, admin, &id).await;
    let searched = scim(
        &app,
        Method::POST,
        "/Users/.search",
        &token,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                    "filter": "userName eq \"lin@north.test\"", "attributes": ["userName"]}),
        ),
    )
    .await;
    assert_eq!(searched.status, StatusCode::OK, "{}", searched.body);
    assert_eq!(searched.body["totalResults"], 1);
    assert_eq!(
        searched.body["Resources"][0],
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": id,
               "userName": "lin@north.test"})
    );
    assert_eq!(listings_of(&app, admin, &id).await, audited_before + 1);
    let groups = scim(
        &app,
        Method::POST,
        "/Groups/.search",
        &token,
        Some(json!({"filter": "displayName eq \"staff\""})),
    )
    .await;
    assert_eq!(groups.body["totalResults"], 1, "{}", groups.body);
    let root = scim(
        &app,
        Method::POST,
        "/.search",
        &token,
        Some(json!({"attributes": ["displayName"], "startIndex": 1, "count": 2})),
    )
    .await;
    assert_eq!(root.status, StatusCode::OK, "{}", root.body);
    // One user, then the first of two groups: paged across both types.
    assert_eq!(root.body["totalResults"], 3, "{}", root.body);
    assert_eq!(root.body["itemsPerPage"], 2);
    assert_eq!(root.body["Resources"][0]["id"], id.as_str());
    assert_eq!(
        root.body["Resources"][1]["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    let next = scim(
        &app,
        Method::POST,
        "/.search",
        &token,
        Some(json!({"startIndex": 3, "count": 2})),
    )
    .await;
    assert_eq!(next.body["itemsPerPage"], 1, "{}", next.body);
    scim(
        &app,
        Method::POST,
        "/.search",
        &token,
        Some(json!({"filter": "displayName eq \"staff\""})),
    )
    .await
    .assert_scim_error(400, Some("invalidFilter"));
}
