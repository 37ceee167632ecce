//! SAML 2.0 single sign-on end to end: a learner signs in through the institution's real SAML
//! IdP (samlify on loopback) by following the hub's redirect, the IdP's login form and its
//! auto-submitted form to the ACS; the person is provisioned just in time with roles from
//! the IdP's groups and a second sign-in finds them again. Every forged, replayed, misrouted,
//! malformed or oversized response is refused with a problem answer and leaves no person and
//! no session behind.

use crate::both_backends;
use crate::saml_idp::{
    SamlProvider, add_saml_connection, log_in_at_idp, post_to_acs, saml_user, sign_in,
    sp_entity_id, start_flow,
};
use crate::support::{Backend, Institution, TestApp, spawn};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Instant;

both_backends!(
    promise_d6_a_learner_signs_in_through_the_institutions_saml_idp,
    promise_d6_forged_saml_responses_are_refused_without_a_trace
);

async fn people_count(app: &TestApp, inst: &Institution) -> usize {
    let reply = app.get("/v1/people", &inst.admin_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().len()
}

async fn promise_d6_a_learner_signs_in_through_the_institutions_saml_idp(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let entity_id = sp_entity_id(&north);
    let idp = SamlProvider::start(
        &app,
        &[&entity_id],
        vec![
            saml_user("alice", "alice@north.test", "Alice Example", &["students"]),
            saml_user("bob", "bob@north.test", "Bob Teacher", &["staff"]),
        ],
    );
    let metadata = idp.metadata().await;
    let connection = add_saml_connection(&app, &north, &metadata).await;
    assert_eq!(connection["issuer"], format!("{}/metadata", idp.base));
    assert_eq!(connection["client_id"], entity_id.as_str());
    let login_path = connection["login_path"].as_str().unwrap().to_string();
    let id = connection["id"].as_str().unwrap();
    assert_eq!(login_path, format!("/v1/sso/north/saml/{id}/login"));

    // The SP metadata the IdP's admins import names the entity ID and the ACS.
    let sp_metadata = app
        .client
        .get(format!(
            "{}{}",
            app.base,
            connection["sp_metadata_path"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(sp_metadata.status(), StatusCode::OK);
    assert_eq!(
        sp_metadata.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let sp_metadata = sp_metadata.text().await.unwrap();
    assert!(
        sp_metadata.contains(&format!("entityID=\"{entity_id}\"")),
        "{sp_metadata}"
    );
    assert!(
        sp_metadata.contains(&format!("Location=\"{}/v1/sso/saml/acs\"", app.base)),
        "{sp_metadata}"
    );

    // Alice walks the redirect, the IdP's login form and its auto-submitted form.
    let started = Instant::now();
    let (idp_url, relay_state) = start_flow(&app, &login_path).await;
    let answer = log_in_at_idp(&idp_url, "alice", "alice correct horse").await;
    assert_eq!(answer.relay_state, relay_state);
    let at_acs = Instant::now();
    let signed_in = post_to_acs(&app, &answer.saml_response, &answer.relay_state).await;
    println!(
        "SAML sign-in ({backend:?}): whole walk {:?}, ACS alone {:?}",
        started.elapsed(),
        at_acs.elapsed()
    );
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let token = signed_in.body["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(token.starts_with("dxs_"));
    let person = &signed_in.body["person"];
    assert_eq!(person["name"], "Alice Example");
    assert_eq!(person["email"], "alice@north.test");
    assert_eq!(person["roles"], json!(["learner"]));
    assert_eq!(person["source"], "sso");
    assert_eq!(signed_in.body["tenant_slug"], "north");

    let me = app.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["credential"], "session");
    assert_eq!(me.body["tenant_slug"], "north");
    assert_eq!(me.body["scopes"], json!(["courses:read"]));

    // A second sign-in finds the same person.
    let again = sign_in(&app, &login_path, "alice").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["person"]["id"], person["id"]);
    assert_eq!(people_count(&app, &north).await, 1);

    // Either signature is enough: only the response, or only the assertion.
    for sign in ["response", "assertion"] {
        idp.forge_next(json!({ "sign": sign })).await;
        let started = Instant::now();
        let reply = sign_in(&app, &login_path, "alice").await;
        println!(
            "SAML sign-in ({backend:?}, {sign} signed): whole walk {:?}",
            started.elapsed()
        );
        assert_eq!(reply.status, StatusCode::OK, "{sign}: {}", reply.body);
        assert_eq!(reply.body["person"]["id"], person["id"]);
    }

    // Group mapping: Bob is staff, so an instructor.
    let bob = sign_in(&app, &login_path, "bob").await;
    assert_eq!(bob.status, StatusCode::OK, "{}", bob.body);
    assert_eq!(bob.body["person"]["roles"], json!(["instructor"]));
    assert_eq!(people_count(&app, &north).await, 2);

    // Listed with the OIDC connections; the OIDC login does not take a SAML connection.
    let listed = app.get("/v1/sso/connections", &north.admin_token).await;
    assert_eq!(listed.body["items"][0]["kind"], "saml", "{}", listed.body);
    app.call(
        Method::GET,
        &format!("/v1/sso/north/oidc/{id}/login"),
        None,
        None,
    )
    .await
    .assert_problem(404, "sso_connection_not_found");
    app.call(
        Method::GET,
        &format!("/v1/sso/south/saml/{id}/metadata"),
        None,
        None,
    )
    .await
    .assert_problem(404, "sso_connection_not_found");

    // Unusable metadata is refused field by field: no signing certificate (the verifying
    // library would then accept unsigned responses), a DOCTYPE, not metadata at all.
    let start = metadata
        .find("<md:KeyDescriptor")
        .or_else(|| metadata.find("<KeyDescriptor"));
    let end_tag = if metadata.contains("</md:KeyDescriptor>") {
        "</md:KeyDescriptor>"
    } else {
        "</KeyDescriptor>"
    };
    let mut certless = metadata.clone();
    while let (Some(s), Some(e)) = (
        certless
            .find("<md:KeyDescriptor")
            .or_else(|| certless.find("<KeyDescriptor")),
        certless.find(end_tag),
    ) {
        certless.replace_range(s..e + end_tag.len(), "");
    }
    assert!(
        start.is_some() && !certless.contains("X509Certificate"),
        "{metadata}"
    );
    for bad in [
        certless,
        format!("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{metadata}"),
        "<html>not metadata</html>".to_string(),
        "<unclosed>".to_string(),
    ] {
        let reply = app
            .post(
                "/v1/sso/saml-connections",
                &north.admin_token,
                json!({"name": "x", "idp_metadata_xml": bad, "default_role": "tenant_admin"}),
            )
            .await;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.error_fields(), ["idp_metadata_xml", "default_role"]);
    }
}

/// Runs one sign-in with the IdP forging its response and returns the hub's answer.
async fn forged_sign_in(
    app: &TestApp,
    idp: &SamlProvider,
    login_path: &str,
    forgery: Value,
) -> crate::support::Reply {
    idp.forge_next(forgery).await;
    sign_in(app, login_path, "mallory").await
}

async fn promise_d6_forged_saml_responses_are_refused_without_a_trace(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let mallory = saml_user("mallory", "mallory@north.test", "Mallory M", &["staff"]);
    let north_idp = SamlProvider::start(&app, &[&sp_entity_id(&north)], vec![mallory.clone()]);
    let south_idp = SamlProvider::start(&app, &[&sp_entity_id(&south)], vec![mallory]);
    let north_connection = add_saml_connection(&app, &north, &north_idp.metadata().await).await;
    let south_connection = add_saml_connection(&app, &south, &south_idp.metadata().await).await;
    let login_path = north_connection["login_path"].as_str().unwrap().to_string();
    let south_login = south_connection["login_path"].as_str().unwrap().to_string();

    let cases = [
        (json!({"unsigned": true}), "saml_signature_invalid"),
        (
            json!({"tamper": {"attribute": "groups", "value": "registry"}}),
            "saml_signature_invalid",
        ),
        (
            json!({"tamper": {"name_id": "alice@north.test"}}),
            "saml_signature_invalid",
        ),
        (json!({"foreign_key": true}), "saml_signature_invalid"),
        // Signature wrapping: the signed response inside an unsigned one, and an unsigned
        // assertion in front of the signed one.
        (json!({"xsw": true}), "saml_response_invalid"),
        (
            json!({"sign": "assertion", "xsw": {"name_id": "admin@north.test"}}),
            "saml_response_invalid",
        ),
        (
            json!({"audience": "https://evil.test/sp"}),
            "saml_conditions_invalid",
        ),
        (json!({"expired": true}), "saml_conditions_invalid"),
        (json!({"not_yet_valid": true}), "saml_conditions_invalid"),
        (
            json!({"destination": "https://evil.test/acs"}),
            "saml_conditions_invalid",
        ),
        (
            json!({"recipient": "https://evil.test/acs"}),
            "saml_conditions_invalid",
        ),
        (
            json!({"issuer": "https://evil.test/idp"}),
            "saml_conditions_invalid",
        ),
        (
            json!({"in_response_to": "_not-this-flows-request"}),
            "saml_response_unsolicited",
        ),
        (json!({"doctype": true}), "saml_response_invalid"),
        (
            json!({"status": "urn:oasis:names:tc:SAML:2.0:status:Responder"}),
            "sso_idp_denied",
        ),
    ];
    let mut wrong = Vec::new();
    for (forgery, code) in cases {
        let reply = forged_sign_in(&app, &north_idp, &login_path, forgery.clone()).await;
        if reply.status != StatusCode::UNAUTHORIZED
            || reply.body["code"] != code
            || reply.body.get("session_token").is_some()
        {
            wrong.push(format!("{forgery}: {} {}", reply.status, reply.body));
        }
    }
    assert!(
        wrong.is_empty(),
        "forgeries not refused as expected:\n  {}",
        wrong.join("\n  ")
    );
    assert_eq!(
        people_count(&app, &north).await,
        0,
        "a refused sign-in created a person"
    );

    // Not started here: no RelayState, or one this service never issued.
    let (idp_url, _) = start_flow(&app, &login_path).await;
    let honest = log_in_at_idp(&idp_url, "mallory", "mallory correct horse").await;
    post_to_acs(&app, &honest.saml_response, "")
        .await
        .assert_problem(401, "sso_state_invalid");
    post_to_acs(&app, &honest.saml_response, "made-up")
        .await
        .assert_problem(401, "sso_state_invalid");

    // Another flow's RelayState with this response: it answers another request.
    let (_, other_flow) = start_flow(&app, &login_path).await;
    post_to_acs(&app, &honest.saml_response, &other_flow)
        .await
        .assert_problem(401, "saml_response_unsolicited");
    assert_eq!(people_count(&app, &north).await, 0);

    // The honest response works once for its own flow; posting it again is a replay.
    let first = post_to_acs(&app, &honest.saml_response, &honest.relay_state).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    post_to_acs(&app, &honest.saml_response, &honest.relay_state)
        .await
        .assert_problem(401, "saml_replayed");
    assert_eq!(people_count(&app, &north).await, 1);

    // Tenant A's IdP cannot sign anyone into tenant B: a north response posted into a south
    // flow is not signed by south's IdP (nor an answer to south's request).
    let (north_url, _) = start_flow(&app, &login_path).await;
    let north_answer = log_in_at_idp(&north_url, "mallory", "mallory correct horse").await;
    let (_, south_flow) = start_flow(&app, &south_login).await;
    post_to_acs(&app, &north_answer.saml_response, &south_flow)
        .await
        .assert_problem(401, "saml_signature_invalid");
    assert_eq!(people_count(&app, &south).await, 0);

    // Malformed, not base64, DOCTYPE-laden and oversized posts, each in a flow of its own.
    let garbage = [
        STANDARD.encode("<samlp:Response><unclosed></samlp:Response>"),
        "!!! not base64 !!!".to_string(),
        STANDARD.encode(
            "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]><r>&b;</r>",
        ),
        "A".repeat(300 * 1024),
    ];
    for body in garbage {
        let (_, flow) = start_flow(&app, &login_path).await;
        post_to_acs(&app, &body, &flow)
            .await
            .assert_problem(401, "saml_response_invalid");
    }
    let (_, flow) = start_flow(&app, &login_path).await;
    post_to_acs(&app, &"A".repeat(2 * 1024 * 1024), &flow)
        .await
        .assert_problem(413, "payload_too_large");
    assert_eq!(people_count(&app, &north).await, 1);
    assert_eq!(people_count(&app, &south).await, 0);

    // Every refusal is in the institution's audit trail.
    let audit = app
        .get(
            "/v1/audit/events?action=sign_in.failed&limit=100",
            &north.admin_token,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.body);
    let failed = audit.body["items"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        failed >= 15,
        "only {failed} failed sign-ins audited: {}",
        audit.body
    );
}
