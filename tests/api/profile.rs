//! The retention and reporting profile (D3): defaults at provisioning, optimistic updates
//! with `If-Match`, validation field by field, and a history of who changed what.

// Test code: a failed unwrap is a failed test with its reason, which is what we want.

use crate::both_backends;
use crate::support::{Backend, spawn};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(promise_d3_profile_is_editable_validated_and_versioned);

/// The editable part of a profile as read back (what a PUT sends).
fn editable(view: &Value) -> Value {
    json!({"retention": view["retention"].clone(), "reports": view["reports"].clone()})
}

async fn promise_d3_profile_is_editable_validated_and_versioned(backend: Backend) {
    let app = spawn(backend).await;
    let north = app.create_institution("north").await;
    let token = north.admin_token.as_str();

    let defaults = app.get("/v1/privacy-profile", token).await;
    assert_eq!(defaults.status, StatusCode::OK, "{}", defaults.body);
    assert_eq!(defaults.header("etag").unwrap(), "\"1\"");
    assert_eq!(defaults.body["revision"], 1);
    let retention = &defaults.body["retention"];
    for (category, days, action) in [
        ("identity", 730, "delete"),
        ("contact", 730, "delete"),
        ("learning", 1825, "anonymise"),
        ("payment", 3650, "anonymise"),
        ("technical", 90, "delete"),
    ] {
        assert_eq!(retention[category]["period_days"], days, "{category}");
        assert_eq!(retention[category]["action"], action, "{category}");
    }
    assert_eq!(defaults.body["reports"].as_array().unwrap().len(), 1);

    let mut changed = editable(&defaults.body);
    changed["retention"]["technical"]["period_days"] = json!(30);
    changed["reports"].as_array_mut().unwrap().push(json!({
        "name": "Quarterly enrollments",
        "kind": "enrollment_summary",
        "cadence": "quarterly",
        "format": "json"
    }));

    // Updates must say which revision they are based on.
    let no_match = app
        .call(
            Method::PUT,
            "/v1/privacy-profile",
            Some(token),
            Some(changed.clone()),
        )
        .await;
    no_match.assert_problem(428, "if_match_required");
    let stale = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(token),
            Some(changed.clone()),
            &[("If-Match", "\"7\"")],
        )
        .await;
    stale.assert_problem(412, "revision_mismatch");
    assert_eq!(
        app.get("/v1/privacy-profile", token).await.body["revision"],
        1
    );

    let updated = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(token),
            Some(changed.clone()),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.header("etag").unwrap(), "\"2\"");
    assert_eq!(updated.body["revision"], 2);
    assert_eq!(updated.body["retention"]["technical"]["period_days"], 30);
    assert_eq!(updated.body["reports"].as_array().unwrap().len(), 2);

    // Who changed it is the API key, by id and name.
    let me = app.get("/v1/me", token).await;
    let key_id = me.body["api_key_id"].as_str().unwrap();
    let updated_by = updated.body["updated_by"].as_str().unwrap();
    assert!(updated_by.contains(key_id), "{updated_by}");

    let reread = app.get("/v1/privacy-profile", token).await;
    assert_eq!(reread.header("etag").unwrap(), "\"2\"");
    assert_eq!(
        editable(&reread.body),
        changed,
        "the profile reads back as sent"
    );

    let history = app.get("/v1/privacy-profile/history", token).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let items = history.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["revision"], 2, "newest first");
    assert_eq!(items[1]["revision"], 1);
    let changes: Vec<&str> = items[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c.contains("retention.technical") && c.contains("90") && c.contains("30")),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|c| c.contains("added") && c.contains("Quarterly enrollments")),
        "{changes:?}"
    );
    let changed_by = items[0]["changed_by"].as_str().unwrap();
    assert!(
        changed_by.contains(key_id) && changed_by.contains("initial admin"),
        "{changed_by}"
    );
    assert_eq!(items[0]["retention"]["technical"]["period_days"], 30);
    assert_eq!(items[1]["retention"]["technical"]["period_days"], 90);

    // History pages.
    let first = app.get("/v1/privacy-profile/history?limit=1", token).await;
    assert_eq!(first.body["items"][0]["revision"], 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(
            &format!("/v1/privacy-profile/history?limit=1&cursor={cursor}"),
            token,
        )
        .await;
    assert_eq!(second.body["items"][0]["revision"], 1);
    assert_eq!(second.body["next_cursor"], Value::Null);

    // Invalid: every bad field is listed, nothing changes.
    let mut invalid = changed.clone();
    invalid["retention"]["identity"]["period_days"] = json!(0);
    invalid["retention"]["payment"]["period_days"] = json!(36_501);
    let duplicate = invalid["reports"][1].clone();
    invalid["reports"].as_array_mut().unwrap().push(duplicate);
    let refused = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(token),
            Some(invalid),
            &[("If-Match", "\"2\"")],
        )
        .await;
    refused.assert_problem(422, "validation_failed");
    let mut fields = refused.error_fields();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "reports[2].name",
            "retention.identity.period_days",
            "retention.payment.period_days"
        ]
    );

    // Unknown fields and missing categories are refused as malformed.
    let mut unknown = changed.clone();
    unknown["retention"]["technical"]["colour"] = json!("red");
    app.call_with(
        Method::PUT,
        "/v1/privacy-profile",
        Some(token),
        Some(unknown),
        &[("If-Match", "\"2\"")],
    )
    .await
    .assert_problem(400, "bad_request");
    let mut top_level_unknown = changed.clone();
    top_level_unknown["owner"] = json!("me");
    app.call_with(
        Method::PUT,
        "/v1/privacy-profile",
        Some(token),
        Some(top_level_unknown),
        &[("If-Match", "\"2\"")],
    )
    .await
    .assert_problem(400, "bad_request");
    let mut missing = changed.clone();
    missing["retention"]
        .as_object_mut()
        .unwrap()
        .remove("learning");
    app.call_with(
        Method::PUT,
        "/v1/privacy-profile",
        Some(token),
        Some(missing),
        &[("If-Match", "\"2\"")],
    )
    .await
    .assert_problem(400, "bad_request");

    let unchanged = app.get("/v1/privacy-profile", token).await;
    assert_eq!(unchanged.body["revision"], 2);
    assert_eq!(editable(&unchanged.body), changed);
    let history = app.get("/v1/privacy-profile/history", token).await;
    assert_eq!(history.body["items"].as_array().unwrap().len(), 2);

    // Sending the same profile again is not a change: no new revision, no history entry.
    let same = app
        .call_with(
            Method::PUT,
            "/v1/privacy-profile",
            Some(token),
            Some(changed),
            &[("If-Match", "\"2\"")],
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(same.body["revision"], 2);
}
