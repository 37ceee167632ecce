//! Certificates through the public API: completing a course earns exactly one Open Badges
//! 3.0 credential (a VC-JWT) that an ordinary JOSE client verifies against the institution's
//! published JWKS, before and after a key rotation; the public verification shows only what
//! the learner shared and says "not valid" for a forged, altered, foreign, erased or revoked
//! one; revocation needs `certificates:revoke` and a reason, is audited, and the learner is
//! told; another institution's certificate is unknown.

use crate::both_backends;
use crate::passwords::outbox_of;
use crate::privacy_requests::{decide, settled, signed_in, verified};
use crate::progress::{audited, course, enroll, lesson, mark, module, set_rule};
use crate::support::{Backend, Institution, Reply, TestApp, spawn};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_c3_a_completion_earns_one_open_badge_that_verifies_with_the_published_keys,
    promise_u1_verification_shows_only_what_the_learner_shares_and_refuses_forgeries,
    promise_u1_revocation_needs_the_scope_and_a_reason_and_tells_the_learner,
    promise_u1_erasure_removes_the_certificate_and_its_verification,
    promise_c3_the_certificate_exists_the_moment_the_course_completes,
);

/// A learner of `inst` who has completed a one-lesson course: (person, token, course).
pub(crate) async fn completed(
    app: &TestApp,
    inst: &Institution,
    code: &str,
) -> (String, String, String) {
    let admin = inst.admin_token.as_str();
    let id = course(app, admin, code).await;
    let m = module(app, admin, &id, "Only").await;
    let l = lesson(app, admin, &m, "The lesson", true).await;
    set_rule(
        app,
        admin,
        &id,
        json!({"required_lessons": "all_required", "passing_quizzes": []}),
    )
    .await;
    let (person, token) = signed_in(app, inst, "ada", &["learner"]).await;
    enroll(app, admin, &id, &person).await;
    let done = mark(app, &token, &id, &l, "completed").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    (person, token, id)
}

async fn my_certificates(app: &TestApp, token: &str) -> Vec<Value> {
    let listed = app.get("/v1/me/certificates", token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.body.as_array().unwrap().clone()
}

async fn by_id(app: &TestApp, slug: &str, verification_id: &str) -> Value {
    let reply = app
        .call(
            Method::GET,
            &format!("/v1/institutions/{slug}/certificates/{verification_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn presented(app: &TestApp, slug: &str, credential: &str) -> Reply {
    app.call(
        Method::POST,
        &format!("/v1/institutions/{slug}/certificates/verification"),
        None,
        Some(json!({ "credential": credential })),
    )
    .await
}

async fn presented_ok(app: &TestApp, slug: &str, credential: &str) -> Value {
    let reply = presented(app, slug, credential).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn jwks(app: &TestApp, slug: &str) -> Value {
    let reply = app
        .call(
            Method::GET,
            &format!("/v1/institutions/{slug}/jwks.json"),
            None,
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// What a verifier outside the hub does: the JWK the `kid` names from the published set,
/// the EdDSA signature checked by an ordinary JOSE library; the claims, or why not.
fn client_verifies(jwks: &Value, jws: &str) -> Result<(jsonwebtoken::Header, Value), String> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(jws).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::EdDSA {
        return Err(format!("alg {:?}", header.alg));
    }
    let kid = header.kid.clone().ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or(format!("no key {kid} published"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(jws, &key, &validation)
        .map(|data| (header, data.claims))
        .map_err(|e| e.to_string())
}

fn parts(jws: &str) -> Vec<String> {
    jws.split('.').map(str::to_string).collect()
}

fn decoded(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn encoded(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn promise_c3_a_completion_earns_one_open_badge_that_verifies_with_the_published_keys(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token, course_id) = completed(&app, &north, "CRT-1").await;

    let first = my_certificates(&app, &token).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let cert = first[0].clone();
    assert_eq!(cert["person_id"], ada.as_str());
    assert_eq!(cert["course_id"], course_id.as_str());
    assert!(cert["revoked_at"].is_null());
    assert_eq!(
        cert["sharing"],
        json!({"course": true, "issued_at": true, "learner": false})
    );
    // Issued once: reading again issues nothing more.
    let again = my_certificates(&app, &token).await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["id"], cert["id"]);
    assert_eq!(again[0]["credential"], cert["credential"]);
    assert_eq!(audited(&app, admin, "certificate.issued").await.len(), 1);
    let one = app
        .get(
            &format!("/v1/me/certificates/{}", cert["id"].as_str().unwrap()),
            &token,
        )
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["credential"], cert["credential"]);

    // An ordinary JOSE client checks it against the published keys.
    let jws = cert["credential"].as_str().unwrap().to_string();
    let published = jwks(&app, "north").await;
    let (header, claims) = client_verifies(&published, &jws).expect("verifies");
    assert_eq!(header.kid.as_deref(), cert["kid"].as_str());
    let vc = &claims["vc"];
    assert_eq!(
        vc["type"],
        json!(["VerifiableCredential", "OpenBadgeCredential"])
    );
    assert_eq!(vc["@context"][0], "https://www.w3.org/ns/credentials/v2");
    assert!(
        vc["@context"][1]
            .as_str()
            .unwrap()
            .starts_with("https://purl.imsglobal.org/spec/ob/v3p0/context"),
        "{vc}"
    );
    assert_eq!(vc["issuer"]["type"], json!(["Profile"]));
    assert_eq!(vc["issuer"]["name"], "north");
    let issuer = vc["issuer"]["id"].as_str().unwrap();
    assert!(issuer.ends_with("/v1/institutions/north"), "{issuer}");
    assert_eq!(claims["iss"], issuer);
    assert_eq!(
        claims["jti"],
        format!("urn:uuid:{}", cert["id"].as_str().unwrap())
    );
    assert_eq!(vc["id"], claims["jti"]);
    assert!(claims["nbf"].is_i64(), "{claims}");
    assert!(vc["validFrom"].is_string());
    assert_eq!(claims["sub"], format!("urn:uuid:{ada}"));
    let subject = &vc["credentialSubject"];
    assert_eq!(subject["type"], json!(["AchievementSubject"]));
    assert_eq!(subject["achievement"]["type"], json!(["Achievement"]));
    assert_eq!(subject["achievement"]["name"], "Course CRT-1");
    assert!(subject["achievement"]["criteria"]["narrative"].is_string());
    assert!(
        vc["credentialStatus"]["id"]
            .as_str()
            .unwrap()
            .ends_with(cert["verification_id"].as_str().unwrap())
    );

    // A rotation: the old certificate still verifies, by the hub and by the client.
    let rotated = app.post("/v1/signing-keys/rotate", admin, json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let after = jwks(&app, "north").await;
    assert_eq!(after["keys"].as_array().unwrap().len(), 2, "{after}");
    client_verifies(&after, &jws).expect("old certificate verifies after rotation");
    let verification = cert["verification_id"].as_str().unwrap();
    assert_eq!(by_id(&app, "north", verification).await["valid"], true);
    assert_eq!(presented_ok(&app, "north", &jws).await["valid"], true);

    // Another institution does not know it.
    let south = app.create_institution("south").await;
    let (_, south_token) = signed_in(&app, &south, "bob", &["learner"]).await;
    app.get(
        &format!("/v1/me/certificates/{}", cert["id"].as_str().unwrap()),
        &south_token,
    )
    .await
    .assert_problem(404, "certificate_not_found");
    assert_eq!(
        by_id(&app, "south", verification).await["reason"],
        "unknown_certificate"
    );
    // An API key has no certificates of its own.
    app.get("/v1/me/certificates", admin)
        .await
        .assert_problem(403, "person_credential_required");
}

async fn promise_u1_verification_shows_only_what_the_learner_shares_and_refuses_forgeries(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let (_, token, course_id) = completed(&app, &north, "CRT-2").await;
    let cert = my_certificates(&app, &token).await[0].clone();
    let id = cert["id"].as_str().unwrap();
    let verification = cert["verification_id"].as_str().unwrap();
    let jws = cert["credential"].as_str().unwrap();

    // The default: the course and the date, not the learner.
    let shown = by_id(&app, "north", verification).await;
    assert_eq!(shown["valid"], true, "{shown}");
    assert!(shown.get("reason").is_none());
    assert_eq!(shown["shown"]["course_id"], course_id.as_str());
    assert_eq!(shown["shown"]["course_name"], "Course CRT-2");
    assert!(shown["shown"]["issued_at"].is_string());
    assert!(shown["shown"].get("learner").is_none(), "{shown}");

    let changed = app
        .call(
            Method::PUT,
            &format!("/v1/me/certificates/{id}/sharing"),
            Some(&token),
            Some(json!({"course": false, "issued_at": false, "learner": true})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let shown = presented_ok(&app, "north", jws).await;
    assert_eq!(shown["valid"], true, "{shown}");
    let fields: Vec<&String> = shown["shown"].as_object().unwrap().keys().collect();
    assert_eq!(fields, vec!["learner"], "{shown}");

    // Altered claims under the original signature.
    let p = parts(jws);
    let mut claims = decoded(&p[1]);
    claims["vc"]["credentialSubject"]["achievement"]["name"] = json!("Brain surgery");
    let altered = format!("{}.{}.{}", p[0], encoded(&claims), p[2]);
    let verdict = presented_ok(&app, "north", &altered).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "bad_signature");
    assert_eq!(verdict["shown"], json!({}));

    // Another institution's certificate: its own key, not north's.
    let south = app.create_institution("south").await;
    let (_, south_token, _) = completed(&app, &south, "CRT-S").await;
    let foreign = my_certificates(&app, &south_token).await[0]["credential"]
        .as_str()
        .unwrap()
        .to_string();
    let verdict = presented_ok(&app, "north", &foreign).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "unknown_issuer");
    assert_eq!(presented_ok(&app, "south", &foreign).await["valid"], true);
    // Signed by another key while naming north's: a forgery.
    let f = parts(&foreign);
    let mut forged_header = decoded(&f[0]);
    forged_header["kid"] = decoded(&p[0])["kid"].clone();
    let forged = format!("{}.{}.{}", encoded(&forged_header), f[1], f[2]);
    let verdict = presented_ok(&app, "north", &forged).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "bad_signature");

    // Not a JWS at all: 422, the field named. An unknown institution: 404.
    let malformed = presented(&app, "north", "not a credential").await;
    malformed.assert_problem(422, "validation_failed");
    assert_eq!(malformed.error_fields(), vec!["credential"]);
    presented(&app, "nowhere", jws)
        .await
        .assert_problem(404, "tenant_not_found");
    // An unknown verification id is not valid.
    let unknown = by_id(&app, "north", &"0".repeat(64)).await;
    assert_eq!(unknown["valid"], false);
    assert_eq!(unknown["reason"], "unknown_certificate");
}

async fn promise_u1_revocation_needs_the_scope_and_a_reason_and_tells_the_learner(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token, _) = completed(&app, &north, "CRT-3").await;
    let cert = my_certificates(&app, &token).await[0].clone();
    let id = cert["id"].as_str().unwrap();
    let verification = cert["verification_id"].as_str().unwrap();
    let path = format!("/v1/certificates/{id}/revocation");

    let by_learner = app
        .post(&path, &token, json!({"reason": "I changed my mind"}))
        .await;
    assert_eq!(
        by_learner.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_learner.body
    );
    for body in [json!({}), json!({"reason": "  "})] {
        let refused = app.post(&path, admin, body).await;
        refused.assert_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), vec!["reason"]);
    }
    assert_eq!(by_id(&app, "north", verification).await["valid"], true);
    assert!(audited(&app, admin, "certificate.revoked").await.is_empty());

    let revoked = app
        .post(&path, admin, json!({"reason": "Graded with the wrong key"}))
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(
        revoked.body["revocation_reason"],
        "Graded with the wrong key"
    );

    let verdict = by_id(&app, "north", verification).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "revoked");
    assert_eq!(verdict["shown"], json!({}));
    let verdict = presented_ok(&app, "north", cert["credential"].as_str().unwrap()).await;
    assert_eq!(verdict["reason"], "revoked");
    assert_eq!(audited(&app, admin, "certificate.revoked").await.len(), 1);
    let told = outbox_of(&app, &north, &ada).await;
    let (_, text) = told
        .iter()
        .find(|(kind, _)| kind == "certificate.revoked")
        .expect("the learner is told");
    assert!(text.contains("Graded with the wrong key"), "{text}");
    let mine = my_certificates(&app, &token).await;
    assert!(mine[0]["revoked_at"].is_string());

    app.post(&path, admin, json!({"reason": "Again"}))
        .await
        .assert_problem(409, "certificate_already_revoked");
    app.post(
        &format!("/v1/certificates/{}/revocation", uuid::Uuid::now_v7()),
        admin,
        json!({"reason": "Unknown"}),
    )
    .await
    .assert_problem(404, "certificate_not_found");
}

async fn promise_u1_erasure_removes_the_certificate_and_its_verification(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, token, _) = completed(&app, &north, "CRT-4").await;
    let cert = my_certificates(&app, &token).await[0].clone();
    let verification = cert["verification_id"].as_str().unwrap();
    assert_eq!(by_id(&app, "north", verification).await["valid"], true);

    let request = verified(&app, &north, &ada, "erasure").await;
    let approved = decide(&app, admin, &request, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let done = settled(&app, admin, &request).await;
    assert_eq!(done["status"], "complete", "{done}");

    let verdict = by_id(&app, "north", verification).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "unknown_certificate");
    let verdict = presented_ok(&app, "north", cert["credential"].as_str().unwrap()).await;
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "unknown_certificate");
}

/// Issuance is part of completion: staff and the public verification see the certificate
/// though the learner never read theirs (no read runs the repair path).
async fn promise_c3_the_certificate_exists_the_moment_the_course_completes(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let (ada, _token, course_id) = completed(&app, &north, "CRT-9").await;

    let issued = audited(&app, admin, "certificate.issued").await;
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(issued[0]["detail"]["course_id"], course_id.as_str());
    let id = issued[0]["detail"]["certificate_id"].as_str().unwrap();
    // The completion and its certificate are one change: the completion says it is issued.
    let completions = audited(&app, admin, "course.completed").await;
    assert_eq!(completions.len(), 1);
    assert_eq!(
        completions[0]["detail"]["completion_id"],
        issued[0]["detail"]["completion_id"]
    );

    // Staff act on it by its id; its verification answers for anyone.
    let revoked = app
        .post(
            &format!("/v1/certificates/{id}/revocation"),
            admin,
            json!({"reason": "Checking it exists"}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(revoked.body["person_id"], ada.as_str());
    assert_eq!(revoked.body["course_id"], course_id.as_str());
    let verification = revoked.body["verification_id"].as_str().unwrap();
    let verdict = by_id(&app, "north", verification).await;
    assert_eq!(verdict["reason"], "revoked", "{verdict}");
    let verdict = presented_ok(&app, "north", revoked.body["credential"].as_str().unwrap()).await;
    assert_eq!(verdict["reason"], "revoked", "{verdict}");
}
