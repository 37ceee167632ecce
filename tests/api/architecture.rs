//! The workspace split (D8) as a checked rule, derived from the workspace itself and the
//! gateway's composition: every member of the root `Cargo.toml` has a layer, and a crate
//! depends only on crates of lower layers — gateway → domain crates → tenant → kernel, with
//! `migrations` below tenant. The domain crates are exactly those the gateway composes
//! (`hub_gateway::modules::DOMAIN_MODULES`): a new member that is neither infrastructure nor
//! registered fails until it registers, and a registered crate the gateway does not depend
//! on fails too. Domain crates do not depend on one another, and nothing below the gateway
//! knows an HTTP server.

use std::path::PathBuf;

/// The layers of the crates that are not domains, from the bottom. A crate may depend on
/// crates of strictly lower layers only; every registered domain crate is layer 2.
const INFRASTRUCTURE: &[(&str, u8)] = &[
    ("hub-kernel", 0),
    ("hub-migrations", 0),
    ("hub-tenant", 1),
    ("hub-gateway", 3),
];
const DOMAIN_LAYER: u8 = 2;

/// The domain crates, from the gateway's composition.
fn domains() -> Vec<&'static str> {
    hub_gateway::modules::DOMAIN_MODULES
        .iter()
        .map(|m| m.crate_name)
        .collect()
}

/// HTTP servers and their frameworks: only the gateway speaks HTTP to clients. (Outbound
/// clients are a domain's business: identity fetches IdP metadata and keys with reqwest.)
const HTTP_SERVERS: &[&str] = &["poem", "poem-openapi", "hyper", "axum", "actix-web"];

fn read(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `members` array of the root manifest.
fn members() -> Vec<String> {
    let text = read(&root().join("Cargo.toml"));
    let start = text.find("members = [").expect("workspace members") + "members = [".len();
    let end = start + text[start..].find(']').expect("end of members");
    text[start..end]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The package name and the names in its `[dependencies]` table (not dev-dependencies).
fn package(member: &str) -> (String, Vec<String>) {
    let text = read(&root().join(member).join("Cargo.toml"));
    let mut section = String::new();
    let mut name = None;
    let mut deps = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if section == "[package]" && key == "name" {
            name = Some(value.trim().trim_matches('"').to_string());
        }
        if section == "[dependencies]" && !key.starts_with('#') {
            deps.push(key.trim_end_matches(".workspace").to_string());
        }
    }
    (
        name.unwrap_or_else(|| panic!("{member}: no package name")),
        deps,
    )
}

fn layer(name: &str) -> Option<u8> {
    INFRASTRUCTURE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .or_else(|| domains().contains(&name).then_some(DOMAIN_LAYER))
}

#[test]
fn promise_d8_dependencies_point_one_way_and_domains_know_no_http() {
    let members = members();
    assert!(members.len() >= 6, "workspace members: {members:?}");
    let mut wrong = Vec::new();
    for member in &members {
        let (name, deps) = package(member);
        assert!(!deps.is_empty(), "{name}: no dependencies read");
        let Some(own) = layer(&name) else {
            wrong.push(format!(
                "{name} is neither infrastructure nor a registered domain: list its MODULE in \
                 hub_gateway::modules::DOMAIN_MODULES (docs/adding-a-domain.md)"
            ));
            continue;
        };
        for dep in &deps {
            if let Some(theirs) = layer(dep)
                && theirs >= own
            {
                wrong.push(format!(
                    "{name} (layer {own}) depends on {dep} (layer {theirs}): dependencies point down only"
                ));
            }
            if own < 3 && HTTP_SERVERS.contains(&dep.as_str()) {
                wrong.push(format!(
                    "{name} depends on {dep}: only the gateway speaks HTTP to clients"
                ));
            }
        }
        if name == "hub-gateway" {
            let mut composed = vec!["hub-kernel", "hub-tenant"];
            composed.extend(domains());
            for composed in composed {
                if !deps.iter().any(|d| d == composed) {
                    wrong.push(format!("the gateway must compose {composed}"));
                }
            }
            if deps.iter().any(|d| d == "hub-migrations") {
                wrong.push(
                    "the gateway reaches migrations through hub-tenant; hub-migrations is a dev-dependency"
                        .into(),
                );
            }
        }
    }
    let names: Vec<String> = members.iter().map(|m| package(m).0).collect();
    for domain in domains() {
        if !names.iter().any(|n| n == domain) {
            wrong.push(format!("{domain} is registered but no workspace member"));
        }
    }
    assert!(wrong.is_empty(), "architecture:\n  {}", wrong.join("\n  "));
}
