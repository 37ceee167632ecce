//! The role matrix, generated from the committed spec: every institution operation names the
//! scope it needs ("Requires scope `…`" in its description, or "Any signed-in person" / "Any
//! scope"), and for every role, signed in for real through the institution's IdP, each
//! operation answers 403 `insufficient_scope` exactly when the role lacks that scope. A
//! learner cannot call admin operations, finance cannot reach the catalog or people, an
//! auditor reads but never writes. A narrowly scoped API key goes through the same matrix.

use crate::both_backends;
use crate::idp::{OidcProvider, UserAgent, idp_user};
use crate::support::{Backend, TestApp, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ROLES: [&str; 6] = [
    "learner",
    "instructor",
    "tenant_admin",
    "finance",
    "auditor",
    "guardian",
];

struct Op {
    method: Method,
    path: String,
    name: String,
    /// `None`: any caller of the institution (their own records, "who am I").
    scope: Option<String>,
    body: Option<Value>,
}

fn load_ops() -> Vec<Op> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/openapi.json"
    ))
    .unwrap();
    let spec: Value = serde_json::from_str(&text).unwrap();
    let mut ops = Vec::new();
    let mut undeclared = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let tenant = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("TenantCredential").is_some()));
            if !tenant {
                continue;
            }
            let text = format!(
                "{} {}",
                op["summary"].as_str().unwrap_or(""),
                op["description"].as_str().unwrap_or("")
            );
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let scope = text
                .split("Requires scope `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .map(str::to_string);
            let open_to_all = text.contains("Any signed-in person") || text.contains("Any scope");
            let name = format!("{} {path}", method.to_uppercase());
            if scope.is_none() && !open_to_all {
                undeclared.push(name.clone());
            }
            let body = op["requestBody"]["content"]
                .as_object()
                .and_then(|c| c.values().next())
                .map(|media| {
                    let reference = media["schema"]["$ref"].as_str().unwrap();
                    let schema = reference.rsplit('/').next().unwrap();
                    spec["components"]["schemas"][schema]["example"].clone()
                });
            // Ids that exist nowhere: an allowed caller gets 404, a refused one 403 first.
            let mut filled = path.clone();
            while let Some(start) = filled.find('{') {
                let end = filled[start..].find('}').unwrap() + start;
                filled.replace_range(start..=end, &uuid::Uuid::now_v7().to_string());
            }
            ops.push(Op {
                method: method.to_uppercase().parse().unwrap(),
                path: filled,
                name,
                scope,
                body,
            });
        }
    }
    assert!(
        undeclared.is_empty(),
        "operations that do not declare the scope they need:\n  {}",
        undeclared.join("\n  ")
    );
    assert!(
        ops.len() > 20,
        "only {} institution operations found",
        ops.len()
    );
    // Signing out and reporting a compromise end the very session the matrix runs with: last.
    ops.sort_by_key(|op| {
        op.name == "DELETE /v1/me/session" || op.name == "POST /v1/me/compromise-report"
    });
    ops
}

/// Calls every operation as `token` (whose scopes are `scopes`) and returns the mismatches.
async fn check(
    app: &TestApp,
    who: &str,
    token: &str,
    scopes: &[String],
    ops: &[Op],
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        // A fresh Idempotency-Key for the operations that require one (refunds).
        let key = format!("roles-{}-{n}", who.replace(' ', "-"));
        let reply = app
            .call_with(
                op.method.clone(),
                &op.path,
                Some(token),
                op.body.clone(),
                &[("If-Match", "\"1\""), ("Idempotency-Key", &key)],
            )
            .await;
        let allowed = op.scope.as_ref().is_none_or(|s| scopes.contains(s));
        // SCIM's error schema has no machine code for it: its detail names the scope.
        let scim_refusal = op.path.starts_with("/v1/scim/v2/")
            && reply.body["schemas"][0] == "urn:ietf:params:scim:api:messages:2.0:Error"
            && reply.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("lacks the `scim:provision` scope"));
        let refused_for_scope = reply.status == StatusCode::FORBIDDEN
            && (reply.body["code"] == "insufficient_scope" || scim_refusal);
        if allowed == refused_for_scope {
            wrong.push(format!(
                "{who} {} (needs {:?}): {} {}",
                op.name, op.scope, reply.status, reply.body
            ));
        }
        assert!(
            !reply.status.is_server_error(),
            "{who} {}: {} {}",
            op.name,
            reply.status,
            reply.body
        );
    }
    wrong
}

both_backends!(promise_s2_every_operation_refuses_every_role_lacking_its_scope);

async fn promise_s2_every_operation_refuses_every_role_lacking_its_scope(backend: Backend) {
    let ops = load_ops();
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let users = ROLES
        .iter()
        .map(|role| {
            idp_user(
                role,
                &format!("{role}@north.test"),
                role,
                &[&format!("g-{role}")],
            )
        })
        .collect();
    let idp = OidcProvider::start(&app, &[("hub-north", "secret")], users);
    let group_roles: serde_json::Map<String, Value> =
        ROLES.iter().map(|r| (format!("g-{r}"), json!(r))).collect();
    let connection = app
        .post(
            "/v1/sso/connections",
            &north.admin_token,
            json!({"name": "IdP", "issuer": idp.issuer, "client_id": "hub-north",
                   "client_secret": "secret", "scopes": ["openid", "email", "profile", "groups"],
                   "group_roles": group_roles}),
        )
        .await;
    assert_eq!(
        connection.status,
        StatusCode::CREATED,
        "{}",
        connection.body
    );
    let login_path = connection.body["login_path"].as_str().unwrap();

    let mut wrong = Vec::new();
    let mut seen_scopes = Vec::new();
    for role in ROLES {
        let agent = UserAgent::new();
        let callback = agent
            .authorize(&app, login_path, role, &format!("{role} correct horse"))
            .await;
        let signed_in = agent.callback(&callback).await;
        assert_eq!(
            signed_in.status,
            StatusCode::OK,
            "{role}: {}",
            signed_in.body
        );
        assert_eq!(signed_in.body["person"]["roles"], json!([role]));
        let token = signed_in.body["session_token"].as_str().unwrap();
        let me = app.get("/v1/me", token).await;
        let scopes: Vec<String> = serde_json::from_value(me.body["scopes"].clone()).unwrap();
        seen_scopes.push((role, scopes.clone()));
        wrong.extend(check(&app, role, token, &scopes, &ops).await);
    }

    // What the matrix must say in words, checked against the scopes the sessions carried.
    let scopes_of = |role: &str| &seen_scopes.iter().find(|(r, _)| *r == role).unwrap().1;
    for role in ["auditor", "finance", "learner", "guardian"] {
        assert!(
            scopes_of(role)
                .iter()
                .all(|s| !s.ends_with(":write") && s != "tenant:admin"),
            "{role} may write: {:?}",
            scopes_of(role)
        );
    }
    assert!(
        !scopes_of("finance")
            .iter()
            .any(|s| s.starts_with("courses:") || s.starts_with("people:"))
    );
    assert!(scopes_of("auditor").contains(&"people:read".to_string()));

    // An API key goes through the same model.
    let key = app
        .post(
            "/v1/api-keys",
            &north.admin_token,
            json!({"name": "catalog reader", "scopes": ["courses:read"]}),
        )
        .await;
    let key_token = key.body["token"].as_str().unwrap();
    let key_ops: Vec<Op> = ops
        .into_iter()
        .filter(|op| !op.path.starts_with("/v1/me/"))
        .collect();
    wrong.extend(
        check(
            &app,
            "api key",
            key_token,
            &["courses:read".to_string()],
            &key_ops,
        )
        .await,
    );

    assert!(
        wrong.is_empty(),
        "role matrix violations:\n  {}",
        wrong.join("\n  ")
    );
}

/// What the composed crates grant (each crate's `DomainModule` role grants, installed by
/// the gateway): auditors hold read scopes only and finance read scopes plus one write,
/// `billing:refund` (D7: finance issues refunds), whoever registers them, and finance holds
/// nothing of the catalog, of learning records or of people.
#[test]
fn promise_s2_an_auditor_reads_but_never_writes() {
    use hub_identity::Role;
    hub_gateway::modules::install().unwrap();
    let all = hub_tenant::Scope::all();
    assert!(all.len() >= 9, "{all:?}");
    for (role, may_write) in [
        (Role::Auditor, &[][..]),
        (Role::Finance, &["billing:refund"][..]),
    ] {
        let writes: Vec<_> = role
            .scopes()
            .into_iter()
            .filter(|s| !s.as_str().ends_with(":read") && !may_write.contains(&s.as_str()))
            .collect();
        assert!(writes.is_empty(), "{role:?} holds {writes:?}");
    }
    let finance = Role::Finance.scopes();
    assert!(
        finance
            .iter()
            .all(|s| !s.as_str().starts_with("courses:") && !s.as_str().starts_with("people:")),
        "{finance:?}"
    );
    // No learning record (progress, scores, statements, enrollments) is reachable by finance.
    let learning: Vec<_> = hub_course::MODULE
        .scopes
        .iter()
        .filter(|s| finance.contains(s))
        .collect();
    assert!(
        learning.is_empty(),
        "finance holds learning scopes {learning:?}"
    );
    assert_eq!(Role::TenantAdmin.scopes(), all);
}
