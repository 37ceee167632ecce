//! Home-realm discovery: an institution claims an email domain and proves it with a DNS TXT
//! record (answered here by a small DNS server on loopback, the configured nameserver);
//! only then does an email on that domain route to its sign-in. Another institution cannot
//! take a verified domain; unverified and unknown domains route nowhere.

use crate::both_backends;
use crate::saml_idp::{SamlProvider, add_saml_connection, sp_entity_id};
use crate::support::{Backend, TestApp, spawn_with};
use hickory_resolver::proto::op::{Message, OpCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

both_backends!(promise_d6_email_domains_route_to_their_verified_institution);

pub(crate) type Zone = Arc<Mutex<HashMap<String, String>>>;

/// Answers TXT queries from `zone` (name → value); everything else gets an empty answer.
pub(crate) async fn dns_server() -> (SocketAddr, Zone) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let zone: Zone = Arc::default();
    let records = zone.clone();
    tokio::spawn(async move {
        let mut buffer = [0u8; 1500];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            let mut answer = Message::response(query.metadata.id, OpCode::Query);
            for question in &query.queries {
                answer.add_query(question.clone());
                let name = question.name().to_string();
                let value = records
                    .lock()
                    .unwrap()
                    .get(name.trim_end_matches('.'))
                    .cloned();
                if let Some(value) = value {
                    answer.add_answer(Record::from_rdata(
                        question.name().clone(),
                        60,
                        RData::TXT(TXT::new(vec![value])),
                    ));
                }
            }
            let _ = socket.send_to(&answer.to_vec().unwrap(), peer).await;
        }
    });
    (addr, zone)
}

async fn claim(app: &TestApp, token: &str, domain: &str) -> serde_json::Value {
    let reply = app
        .post("/v1/sso/domains", token, json!({"domain": domain}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn verify(app: &TestApp, token: &str, id: &str) -> crate::support::Reply {
    app.call(
        Method::POST,
        &format!("/v1/sso/domains/{id}/verification"),
        Some(token),
        None,
    )
    .await
}

async fn discover(app: &TestApp, email: &str) -> crate::support::Reply {
    app.call(
        Method::POST,
        "/v1/sso/discovery",
        None,
        Some(json!({"email": email})),
    )
    .await
}

async fn promise_d6_email_domains_route_to_their_verified_institution(backend: Backend) {
    let (nameserver, zone) = dns_server().await;
    let app = spawn_with(backend, |c| c.dns_nameserver = Some(nameserver)).await;
    let north = app.create_institution("north").await;
    let south = app.create_institution("south").await;
    let connection = app
        .post(
            "/v1/sso/connections",
            &north.admin_token,
            json!({"name": "IdP", "issuer": "https://idp.north.example", "client_id": "c", "client_secret": "s"}),
        )
        .await;
    let login_path = connection.body["login_path"].as_str().unwrap().to_string();
    // A SAML connection too: discovery names each connection's own sign-in path.
    let idp = SamlProvider::start(&app, &[&sp_entity_id(&north)], Vec::new());
    let saml = add_saml_connection(&app, &north, &idp.metadata().await).await;
    let saml_login_path = saml["login_path"].as_str().unwrap().to_string();
    assert!(saml_login_path.contains("/saml/"), "{saml_login_path}");

    let claimed = claim(&app, &north.admin_token, "North.Example").await;
    assert_eq!(claimed["domain"], "north.example");
    assert_eq!(claimed["status"], "pending");
    assert_eq!(claimed["record_name"], "_dexsoftlex-hub.north.example");
    let id = claimed["id"].as_str().unwrap().to_string();

    // Not routed before verification; verification fails until the record exists.
    discover(&app, "ada@north.example")
        .await
        .assert_problem(404, "sso_domain_not_found");
    verify(&app, &north.admin_token, &id)
        .await
        .assert_problem(409, "domain_verification_failed");
    zone.lock().unwrap().insert(
        "_dexsoftlex-hub.north.example".into(),
        "dxh-domain-verification=wrong".into(),
    );
    verify(&app, &north.admin_token, &id)
        .await
        .assert_problem(409, "domain_verification_failed");
    zone.lock().unwrap().insert(
        "_dexsoftlex-hub.north.example".into(),
        claimed["record_value"].as_str().unwrap().into(),
    );
    let verified = verify(&app, &north.admin_token, &id).await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["status"], "verified");

    let found = discover(&app, "Ada.Lovelace@NORTH.example").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body["tenant_slug"], "north");
    let mut expected = vec![login_path, saml_login_path];
    expected.sort();
    let mut paths: Vec<String> = found.body["login_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, expected);

    // South can claim it but never verify it while North holds it, even with the record.
    let south_claim = claim(&app, &south.admin_token, "north.example").await;
    zone.lock().unwrap().insert(
        "_dexsoftlex-hub.north.example".into(),
        south_claim["record_value"].as_str().unwrap().into(),
    );
    verify(
        &app,
        &south.admin_token,
        south_claim["id"].as_str().unwrap(),
    )
    .await
    .assert_problem(409, "conflict");
    assert_eq!(
        discover(&app, "ada@north.example").await.body["tenant_slug"],
        "north"
    );
    // Nor can South see or release North's claim.
    app.get(&format!("/v1/sso/domains/{id}"), &south.admin_token)
        .await
        .assert_problem(404, "sso_domain_not_found");

    // Bad input.
    for bad in ["not a domain", "-x.example", "localhost", "a..b"] {
        app.post(
            "/v1/sso/domains",
            &north.admin_token,
            json!({"domain": bad}),
        )
        .await
        .assert_problem(422, "validation_failed");
    }
    discover(&app, "no-at-sign")
        .await
        .assert_problem(422, "validation_failed");
    discover(&app, "x@unknown.example")
        .await
        .assert_problem(404, "sso_domain_not_found");

    // Releasing the claim stops the routing.
    let released = app
        .call(
            Method::DELETE,
            &format!("/v1/sso/domains/{id}"),
            Some(&north.admin_token),
            None,
        )
        .await;
    assert_eq!(released.status, StatusCode::NO_CONTENT);
    discover(&app, "ada@north.example")
        .await
        .assert_problem(404, "sso_domain_not_found");
}
