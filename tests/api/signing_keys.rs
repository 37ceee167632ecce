//! The institution's signing key through the public API: rotated by an admin (a new version
//! signs, the old ones keep verifying), published to anyone by slug as a JWKS that an
//! ordinary JOSE client (the `jsonwebtoken` crate) checks receipts against, per institution
//! only, and gone with a suspended institution exactly as with one that does not exist.

use crate::both_backends;
use crate::privacy_requests::{decide, person, settled, verified};
use crate::support::{Backend, Institution, Reply, TestApp, spawn, spawn_on_same_storage};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    promise_r3_a_receipt_signed_before_a_rotation_still_verifies_and_new_ones_carry_the_new_key,
    published_signing_keys_are_per_institution_and_a_suspended_one_is_not_found,
    promise_r3_a_rotation_through_one_gateway_is_seen_at_once_through_another,
);

/// A completed erasure of a new person of `inst`: its receipt.
async fn erasure_receipt(app: &TestApp, inst: &Institution, username: &str) -> Value {
    let admin = inst.admin_token.as_str();
    let subject = person(app, inst, username).await;
    let id = verified(app, inst, &subject, "erasure").await;
    let approved = decide(app, admin, &id, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);
    let done = settled(app, admin, &id).await;
    assert_eq!(done["status"], "complete", "{done}");
    done["receipt"].clone()
}

/// `GET /v1/institutions/{slug}/jwks.json` without any credential.
async fn published(app: &TestApp, slug: &str) -> Reply {
    app.call(
        Method::GET,
        &format!("/v1/institutions/{slug}/jwks.json"),
        None,
        None,
    )
    .await
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// What a verifier outside the hub does: pick the JWK the JWS's `kid` names from the
/// published set and check the EdDSA signature with an ordinary JOSE library. The statement
/// it signed, or why it does not verify.
fn client_verifies(jwks: &Value, jws: &str) -> Result<Value, String> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(jws).map_err(|e| e.to_string())?;
    if header.alg != Algorithm::EdDSA {
        return Err(format!("alg {:?}", header.alg));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or(format!("no key {kid} published"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    // A receipt is a statement, not a session token: no expiry or audience to check.
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(jws, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

fn assert_jwk_shape(jwks: &Value) {
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "OKP", "{key}");
        assert_eq!(key["crv"], "Ed25519", "{key}");
        assert_eq!(key["alg"], "EdDSA", "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        // 32 bytes, base64url without padding.
        assert_eq!(key["x"].as_str().unwrap().len(), 43, "{key}");
        assert_eq!(
            key.as_object().unwrap().len(),
            6,
            "only public fields: {key}"
        );
    }
}

async fn promise_r3_a_receipt_signed_before_a_rotation_still_verifies_and_new_ones_carry_the_new_key(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let first = erasure_receipt(&app, &north, "ada").await;
    let old_kid = format!("{}-signing-1", north.id);
    assert_eq!(first["key_id"], old_kid.as_str(), "{first}");
    let listed = app.get("/v1/signing-keys", admin).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["state"], "active");

    // Only an admin rotates.
    let reader = app
        .post(
            "/v1/api-keys",
            admin,
            json!({"name": "officer", "scopes": ["privacy:manage"]}),
        )
        .await;
    assert_eq!(reader.status, StatusCode::CREATED, "{}", reader.body);
    let reader = reader.body["token"].as_str().unwrap().to_string();
    app.post("/v1/signing-keys/rotate", &reader, json!({}))
        .await
        .assert_problem(403, "insufficient_scope");
    assert_eq!(
        app.get("/v1/signing-keys", admin).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "a refused rotation changed nothing"
    );

    let rotated = app
        .call(Method::POST, "/v1/signing-keys/rotate", Some(admin), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_kid = format!("{}-signing-2", north.id);
    assert_eq!(rotated.body["version"], 2, "{}", rotated.body);
    assert_eq!(rotated.body["kid"], new_kid.as_str());
    assert_eq!(rotated.body["state"], "active");
    let listed = app.get("/v1/signing-keys", admin).await;
    let states: Vec<(i64, &str)> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["version"].as_i64().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, vec![(1, "retired"), (2, "active")]);
    let audit = app.get("/v1/audit/events?limit=100", admin).await;
    let rotations: Vec<&Value> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "signing_keys.rotated")
        .collect();
    assert_eq!(rotations.len(), 1, "{}", audit.body);

    // The receipt signed before still verifies, through the API and for an outside client
    // holding only the published key set.
    let check = app
        .post(
            "/v1/privacy/receipts/verification",
            admin,
            json!({"jws": first["jws"]}),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(check.body["valid"], true, "{}", check.body);
    assert_eq!(check.body["key_id"], old_kid.as_str());
    let jwks = published(&app, "north").await;
    assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.body);
    assert_eq!(
        jwks.header("cache-control").as_deref(),
        Some("public, max-age=300")
    );
    assert_eq!(kids(&jwks.body), vec![old_kid.clone(), new_kid.clone()]);
    assert_jwk_shape(&jwks.body);
    let statement = client_verifies(&jwks.body, first["jws"].as_str().unwrap()).unwrap();
    assert_eq!(statement["request_id"], first["request_id"]);
    assert_eq!(statement["type"], "erasure_receipt");
    // The authenticated key set is the same.
    let own = app.get("/v1/privacy/receipt-keys", admin).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body, jwks.body);

    // A receipt made after the rotation names the new key, and verifies both ways.
    let second = erasure_receipt(&app, &north, "bob").await;
    assert_eq!(second["key_id"], new_kid.as_str(), "{second}");
    let header = jsonwebtoken::decode_header(second["jws"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    let check = app
        .post(
            "/v1/privacy/receipts/verification",
            admin,
            json!({"jws": second["jws"]}),
        )
        .await;
    assert_eq!(check.body["valid"], true, "{}", check.body);
    assert_eq!(check.body["key_id"], new_kid.as_str());
    let statement = client_verifies(&jwks.body, second["jws"].as_str().unwrap()).unwrap();
    assert_eq!(statement["request_id"], second["request_id"]);

    // The old key signs nothing new: a statement under the old kid with the new key's
    // signature (the header swapped) verifies neither way.
    let jws = second["jws"].as_str().unwrap();
    let (_, rest) = jws.split_once('.').unwrap();
    let old_header = first["jws"].as_str().unwrap().split('.').next().unwrap();
    let swapped = format!("{old_header}.{rest}");
    let check = app
        .post(
            "/v1/privacy/receipts/verification",
            admin,
            json!({"jws": swapped}),
        )
        .await;
    assert_eq!(check.body["valid"], false, "{}", check.body);
    assert!(client_verifies(&jwks.body, &swapped).is_err());
}

async fn published_signing_keys_are_per_institution_and_a_suspended_one_is_not_found(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    // An institution that has signed nothing publishes an empty set (a public read makes
    // no key).
    let empty = published(&app, "south").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(empty.body, json!({"keys": []}));

    let receipt = erasure_receipt(&app, &north, "ada").await;
    let rotated = app
        .call(
            Method::POST,
            "/v1/signing-keys/rotate",
            Some(&north.admin_token),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    // South's first key, made when one of its credentials asks for its key set.
    let own = app
        .get("/v1/privacy/receipt-keys", &south.admin_token)
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);

    let north_keys = published(&app, "north").await;
    let south_keys = published(&app, "south").await;
    assert_eq!(
        kids(&north_keys.body),
        vec![
            format!("{}-signing-1", north.id),
            format!("{}-signing-2", north.id)
        ]
    );
    assert_eq!(
        kids(&south_keys.body),
        vec![format!("{}-signing-1", south.id)]
    );
    assert_eq!(south_keys.body, own.body);
    let north_x: Vec<&Value> = north_keys.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["x"])
        .collect();
    assert!(
        !north_x.contains(&&south_keys.body["keys"][0]["x"]),
        "the same key in two institutions"
    );
    // North's receipt checks against north's keys only.
    let jws = receipt["jws"].as_str().unwrap();
    assert!(client_verifies(&north_keys.body, jws).is_ok());
    assert!(client_verifies(&south_keys.body, jws).is_err());
    let check = app
        .post(
            "/v1/privacy/receipts/verification",
            &south.admin_token,
            json!({"jws": jws}),
        )
        .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    assert_eq!(check.body["valid"], false, "{}", check.body);

    // A suspended institution answers exactly as one that does not exist.
    let suspended = app
        .post(
            &format!("/v1/tenants/{}/suspend", south.id),
            &app.operator_token,
            json!({"reason": "contract paused"}),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    let gone = published(&app, "south").await;
    let unknown = published(&app, "nowhere").await;
    for reply in [&gone, &unknown] {
        reply.assert_problem(404, "tenant_not_found");
        assert_eq!(reply.header("cache-control").as_deref(), Some("no-store"));
    }
    let comparable = |body: &Value| {
        let mut body = body.clone();
        let map = body.as_object_mut().unwrap();
        map.remove("instance");
        map.remove("request_id");
        body
    };
    assert_eq!(comparable(&gone.body), comparable(&unknown.body));
    // North is unaffected.
    assert_eq!(published(&app, "north").await.status, StatusCode::OK);
}

/// `POST /v1/privacy/receipts/verification` of `jws`: the answer.
async fn check(app: &TestApp, token: &str, jws: &Value) -> Value {
    let reply = app
        .post(
            "/v1/privacy/receipts/verification",
            token,
            json!({ "jws": jws }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Each gateway keeps the institution's public signing keys in memory (unwrapping every
/// version on each read was the cost); one that has read them sees a rotation made through
/// another at once: its JWKS lists the new key, and it verifies what the new key signed as
/// well as what the old one did.
async fn promise_r3_a_rotation_through_one_gateway_is_seen_at_once_through_another(
    backend: Backend,
) {
    let first = spawn(backend).await;
    let north = first.create_institution("north").await;
    let admin = north.admin_token.as_str();
    let old_kid = format!("{}-signing-1", north.id);
    let new_kid = format!("{}-signing-2", north.id);
    let before = erasure_receipt(&first, &north, "ada").await;
    // Read through the first gateway: its keys are in its memory now.
    let jwks = published(&first, "north").await;
    assert_eq!(kids(&jwks.body), vec![old_kid.clone()]);
    assert_eq!(check(&first, admin, &before["jws"]).await["valid"], true);

    let second = spawn_on_same_storage(&first).await;
    let rotated = second
        .call(Method::POST, "/v1/signing-keys/rotate", Some(admin), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["kid"], new_kid.as_str());
    let after = erasure_receipt(&second, &north, "bob").await;
    assert_eq!(after["key_id"], new_kid.as_str(), "{after}");

    let jwks = published(&first, "north").await;
    assert_eq!(kids(&jwks.body), vec![old_kid.clone(), new_kid.clone()]);
    let new_one = check(&first, admin, &after["jws"]).await;
    assert_eq!(new_one["valid"], true, "{new_one}");
    assert_eq!(new_one["key_id"], new_kid.as_str());
    let old_one = check(&first, admin, &before["jws"]).await;
    assert_eq!(old_one["valid"], true, "{old_one}");
    assert_eq!(old_one["key_id"], old_kid.as_str());
    let credentialed = first.get("/v1/privacy/receipt-keys", admin).await;
    assert_eq!(credentialed.status, StatusCode::OK, "{}", credentialed.body);
    assert_eq!(kids(&credentialed.body), vec![old_kid, new_kid]);
}
