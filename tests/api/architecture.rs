//! The workspace split (D8) as a checked rule: dependencies point one way, gateway → domain
//! crates → tenant → kernel, and no domain crate knows HTTP.

use std::path::PathBuf;

fn manifest(crate_dir: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(crate_dir)
        .join("Cargo.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Dependency names of the `[dependencies]` table (not dev-dependencies).
fn dependencies(crate_dir: &str) -> Vec<String> {
    let text = manifest(crate_dir);
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once('=') {
            let name = name.trim().trim_end_matches(".workspace").to_string();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn promise_d8_dependencies_point_one_way_and_domains_know_no_http() {
    let kernel = dependencies("kernel");
    let tenant = dependencies("tenant");
    let course = dependencies("course");
    let gateway = dependencies("gateway");
    assert!(!kernel.is_empty() && !tenant.is_empty() && !course.is_empty() && !gateway.is_empty());

    for internal in ["hub-tenant", "hub-course", "hub-gateway"] {
        assert!(
            !kernel.iter().any(|d| d == internal),
            "kernel must not depend on {internal}"
        );
    }
    for upward in ["hub-course", "hub-gateway"] {
        assert!(
            !tenant.iter().any(|d| d == upward),
            "tenant must not depend on {upward}"
        );
    }
    assert!(
        !course.iter().any(|d| d == "hub-gateway"),
        "course must not depend on the gateway"
    );
    for (name, deps) in [
        ("kernel", &kernel),
        ("tenant", &tenant),
        ("course", &course),
    ] {
        for http in ["poem", "poem-openapi", "reqwest", "hyper"] {
            assert!(
                !deps.iter().any(|d| d == http),
                "{name} must not depend on {http}: domain code knows no HTTP"
            );
        }
    }
    for domain in ["hub-kernel", "hub-tenant", "hub-course"] {
        assert!(
            gateway.iter().any(|d| d == domain),
            "the gateway composes {domain}"
        );
    }
}
