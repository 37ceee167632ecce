//! A restriction of processing (R3) holds against every path that could undo it: while a
//! person is restricted, neither an admin (`PATCH /v1/people/{id}`), nor the IdP (SCIM user
//! PUT and PATCH, SCIM group membership) reactivates them, grants them a role or changes their
//! record: each answers 409 `person_restricted` and changes nothing. What only lessens
//! processing still goes (keeping them deactivated, taking a role away). Lifting the
//! restriction, as a privacy officer's restriction request does, lets every path work again.

use crate::both_backends;
use crate::support::scim;
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use hub_tenant::Principal;
use hub_tenant::personal_data::{DataSubject, sources};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_r3_a_restricted_person_is_reactivated_granted_or_changed_by_no_admin_or_idp,
    promise_u9_the_person_restricts_and_lifts_processing_from_their_account,
);

fn patch_op(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

/// Restricts (or lifts the restriction of) `person` as a restriction request's people task
/// does: through the registered people source.
async fn restrict(app: &TestApp, inst: &Institution, person: &str, restricted: bool) {
    let Principal::Tenant(principal) = app
        .state
        .tenancy
        .authenticate(&inst.admin_token)
        .await
        .unwrap()
    else {
        panic!("not a tenant key")
    };
    let people = sources()
        .into_iter()
        .find(|s| s.name() == "people")
        .unwrap();
    let scope = app.state.tenancy.scope(&principal).await.unwrap();
    let subject = DataSubject::person(person.parse().unwrap(), Vec::new());
    people.restrict(&scope, &subject, restricted).await.unwrap();
    scope.commit().await.unwrap();
}

/// An admin's PATCH of the person with the current revision.
async fn administer(app: &TestApp, admin: &str, id: &str, body: Value) -> Reply {
    let current = app.get(&format!("/v1/people/{id}"), admin).await;
    assert_eq!(current.status, StatusCode::OK, "{}", current.body);
    app.call_with(
        Method::PATCH,
        &format!("/v1/people/{id}"),
        Some(admin),
        Some(body),
        &[("If-Match", &current.header("etag").unwrap())],
    )
    .await
}

fn assert_restricted_problem(reply: &Reply) {
    reply.assert_problem(409, "person_restricted");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("privacy officer") && detail.contains("restriction request"),
        "{detail}"
    );
}

/// A SCIM refusal in SCIM's error schema, status 409.
fn assert_scim_restricted(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(
        reply.body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(reply.body["status"], "409");
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("restriction request"),
        "{}",
        reply.body
    );
}

async fn promise_r3_a_restricted_person_is_reactivated_granted_or_changed_by_no_admin_or_idp(
    backend: Backend,
) {
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
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    let scim_key = key.body["token"].as_str().unwrap().to_string();

    // Grace: made by an admin, a learner and in finance. Ada: provisioned by the IdP.
    let created = app
        .post(
            "/v1/people",
            admin,
            json!({"name": "Grace Hopper", "email": "grace@north.test",
                   "roles": ["learner", "finance"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let grace = created.body["id"].as_str().unwrap().to_string();
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &scim_key,
        json!({"userName": "ada@north.test", "displayName": "Ada Lovelace",
               "emails": [{"value": "ada@north.test", "primary": true}]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ada = created.body["id"].as_str().unwrap().to_string();
    let group = scim(
        &app,
        Method::POST,
        "/Groups",
        &scim_key,
        json!({"displayName": "instructor"}),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let group = group.body["id"].as_str().unwrap().to_string();

    restrict(&app, &north, &grace, true).await;
    restrict(&app, &north, &ada, true).await;
    let before = app.get(&format!("/v1/people/{grace}"), admin).await;
    assert_eq!(before.body["status"], "deactivated", "{}", before.body);

    // The admin cannot reactivate Grace, nor grant her a role, alone or together.
    for body in [
        json!({"status": "active"}),
        json!({"roles": ["learner", "finance", "instructor"]}),
        json!({"status": "active", "roles": ["learner"]}),
    ] {
        let refused = administer(&app, admin, &grace, body).await;
        assert_restricted_problem(&refused);
    }
    let unchanged = app.get(&format!("/v1/people/{grace}"), admin).await;
    assert_eq!(unchanged.body["status"], "deactivated");
    assert_eq!(unchanged.body["roles"], before.body["roles"]);
    assert_eq!(unchanged.header("etag"), before.header("etag"));
    // Lessening goes: she stays deactivated and loses the finance role.
    let lessened = administer(
        &app,
        admin,
        &grace,
        json!({"status": "deactivated", "roles": ["learner"]}),
    )
    .await;
    assert_eq!(lessened.status, StatusCode::OK, "{}", lessened.body);
    assert_eq!(lessened.body["roles"], json!(["learner"]));

    // The IdP cannot reactivate Ada (PATCH or PUT), change her record, or put her in a group
    // that grants a role.
    let path = format!("/Users/{ada}");
    let refused = scim(
        &app,
        Method::PATCH,
        &path,
        &scim_key,
        patch_op(json!([{"op": "replace", "path": "active", "value": true}])),
    )
    .await;
    assert_scim_restricted(&refused);
    for (active, name) in [(true, "Ada Lovelace"), (false, "Ada King")] {
        let refused = scim(
            &app,
            Method::PUT,
            &path,
            &scim_key,
            json!({"userName": "ada@north.test", "displayName": name, "active": active,
                   "emails": [{"value": "ada@north.test", "primary": true}]}),
        )
        .await;
        assert_scim_restricted(&refused);
    }
    let refused = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group}"),
        &scim_key,
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ada}]}])),
    )
    .await;
    assert_scim_restricted(&refused);
    let members = app
        .get(&format!("/v1/scim/v2/Groups/{group}"), &scim_key)
        .await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    assert!(
        members.body["members"]
            .as_array()
            .is_none_or(|m| m.is_empty()),
        "{}",
        members.body
    );
    let read = app.get(&format!("/v1/scim/v2{path}"), &scim_key).await;
    assert_eq!(read.body["active"], false, "{}", read.body);
    assert_eq!(read.body["displayName"], "Ada Lovelace", "{}", read.body);
    let read = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert_eq!(read.body["status"], "deactivated", "{}", read.body);
    // A push that keeps her deactivated and changes nothing is answered as it stands.
    let kept = scim(
        &app,
        Method::PATCH,
        &path,
        &scim_key,
        patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(kept.body["active"], false);

    // The IdP deprovisioning a restricted person (back to the learner role alone) goes too.
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &scim_key,
        json!({"userName": "linus@north.test", "displayName": "Linus Torvalds"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let linus = created.body["id"].as_str().unwrap().to_string();
    let joined = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group}"),
        &scim_key,
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": linus}]}])),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    restrict(&app, &north, &linus, true).await;
    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/scim/v2/Users/{linus}"),
            Some(&scim_key),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let read = app.get(&format!("/v1/people/{linus}"), admin).await;
    assert_eq!(read.body["roles"], json!(["learner"]), "{}", read.body);

    // Lifted, every path works again.
    restrict(&app, &north, &grace, false).await;
    restrict(&app, &north, &ada, false).await;
    let granted = administer(
        &app,
        admin,
        &grace,
        json!({"roles": ["learner", "instructor"]}),
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["status"], "active");
    let deactivated = scim(
        &app,
        Method::PATCH,
        &path,
        &scim_key,
        patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    let reactivated = scim(
        &app,
        Method::PATCH,
        &path,
        &scim_key,
        patch_op(json!([{"op": "replace", "path": "active", "value": true}])),
    )
    .await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
    assert_eq!(reactivated.body["active"], true);
    let joined = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{group}"),
        &scim_key,
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ada}]}])),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let read = app.get(&format!("/v1/people/{ada}"), admin).await;
    assert!(
        read.body["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("instructor")),
        "{}",
        read.body
    );
}

/// The gate's answer for one purpose, from `GET /v1/me/consents`.
fn gate(ledger: &Value, purpose: &str) -> (bool, String) {
    let state = ledger["purposes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no purpose {purpose} in {ledger}"));
    (
        state["decision"]["allowed"].as_bool().unwrap(),
        state["decision"]["reason"].as_str().unwrap().to_string(),
    )
}

const CONSENTABLE: [&str; 4] = ["analytics", "personalisation", "marketing", "integrations"];

/// The person's own request of `kind`, approved by a privacy officer and run to its end.
async fn own_request_approved(app: &TestApp, inst: &Institution, token: &str, body: Value) {
    let made = app.post("/v1/me/privacy-requests", token, body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["status"], "pending_approval", "{}", made.body);
    let id = made.body["id"].as_str().unwrap();
    let approved = crate::privacy_requests::decide(app, &inst.admin_token, id, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let done = crate::privacy_requests::settled(app, &inst.admin_token, id).await;
    assert_eq!(done["status"], "complete", "{done}");
}

async fn promise_u9_the_person_restricts_and_lifts_processing_from_their_account(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (ada, token) = crate::privacy_requests::signed_in(&app, &north, "ada", &["learner"]).await;
    let choices: Vec<Value> = CONSENTABLE
        .iter()
        .map(|p| json!({"purpose": p, "granted": true}))
        .collect();
    let chosen = app
        .call(
            Method::PUT,
            "/v1/me/consents",
            Some(&token),
            Some(json!({ "choices": choices })),
        )
        .await;
    assert_eq!(chosen.status, StatusCode::OK, "{}", chosen.body);
    for purpose in CONSENTABLE {
        assert!(gate(&chosen.body, purpose).0, "{purpose}: {}", chosen.body);
    }
    let sign_in = || crate::passwords::sign_in(&app, &north.slug, "ada", "meadow-kettle-orbit-42");

    // She asks for a restriction from her account; a privacy officer approves it.
    own_request_approved(&app, &north, &token, json!({"kind": "restriction"})).await;
    // Her sessions ended; she signs in again, to her own record only (no role's scopes).
    app.get("/v1/me/profile", &token)
        .await
        .assert_problem(401, "unauthenticated");
    let signed = sign_in().await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let restricted = signed.body["session_token"].as_str().unwrap().to_string();
    app.get("/v1/courses", &restricted)
        .await
        .assert_problem(403, "insufficient_scope");
    let profile = app.get("/v1/me/profile", &restricted).await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.body);
    assert_eq!(profile.body["status"], "deactivated");
    // The gate refuses every purpose but essential, and says why.
    let ledger = app.get("/v1/me/consents", &restricted).await;
    assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.body);
    assert_eq!(ledger.body["restricted"], true, "{}", ledger.body);
    for purpose in CONSENTABLE {
        assert_eq!(gate(&ledger.body, purpose), (false, "restricted".into()));
    }
    assert_eq!(gate(&ledger.body, "essential"), (true, "essential".into()));
    // Nobody else gets in: another deactivated person still cannot sign in.
    let (bob, _) = crate::privacy_requests::signed_in(&app, &north, "bob", &["learner"]).await;
    let off = administer(
        &app,
        &north.admin_token,
        &bob,
        json!({"status": "deactivated"}),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    crate::passwords::sign_in(&app, &north.slug, "bob", "meadow-kettle-orbit-42")
        .await
        .assert_problem(401, "person_deactivated");

    // From the same account she asks for it to be lifted; once approved, her choices are
    // what the gate answers again and her next sign-in carries her roles.
    own_request_approved(
        &app,
        &north,
        &restricted,
        json!({"kind": "restriction", "lift_restriction": true}),
    )
    .await;
    app.get("/v1/me/consents", &restricted)
        .await
        .assert_problem(401, "unauthenticated");
    let signed = sign_in().await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
    let lifted = signed.body["session_token"].as_str().unwrap().to_string();
    let ledger = app.get("/v1/me/consents", &lifted).await;
    assert_eq!(ledger.body["restricted"], false, "{}", ledger.body);
    for purpose in CONSENTABLE {
        assert!(gate(&ledger.body, purpose).0, "{purpose}: {}", ledger.body);
    }
    let courses = app.get("/v1/courses", &lifted).await;
    assert_eq!(courses.status, StatusCode::OK, "{}", courses.body);
    let found = app
        .get(&format!("/v1/people/{ada}"), &north.admin_token)
        .await;
    assert_eq!(found.body["status"], "active", "{}", found.body);
}
