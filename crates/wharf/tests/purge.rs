//! `wharf registry purge` end to end, against wharf's own registry (ACR's listings:
//! push times, tag deletes, untagged manifests) and the distribution registry (image
//! creation times, digest deletes only): dry run, keep, signature tags never matched,
//! cascade to referrers, protection of children and referrers, bad input.

mod common;
use common::*;

use std::path::Path;

use bytes::Bytes;
use wharf_e2e::Registry;
use wharf_registry::manifest::media_type;
use wharf_registry::{Client, ImageRef, LocalRegistry, Repository};

/// Waits until the clock has moved on, so the next push is later (file times are coarse).
fn tick() {
    let start = jiff::Timestamp::now();
    while jiff::Timestamp::now() <= start + jiff::SignedDuration::from_millis(20) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

async fn exists(client: &Client, repo: &Repository, digest: &wharf_registry::Digest) -> bool {
    client
        .resolve(&ImageRef {
            registry: repo.registry.clone(),
            repository: repo.name.clone(),
            tag: None,
            digest: Some(digest.clone()),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_some()
}

fn sign(home: &Path, reference: &str, format: &str) {
    ok(&run(wharf(home).args([
        "sign",
        reference,
        "--format",
        format,
        "--key",
        "certs/s.key",
        "--cert",
        "certs/s.crt",
    ])));
}

fn certs(home: &Path) {
    ok(&run(wharf(home).args([
        "cert",
        "generate-test",
        "s",
        "--days",
        "2",
        "--dir",
        "certs",
    ])));
}

#[test]
fn purge_against_wharfs_registry() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rt = runtime();
    let registry = rt
        .block_on(LocalRegistry::start(
            dir.path().to_path_buf(),
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let host = registry.host();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    certs(home);
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(&host, "app");
    let v1 = rt.block_on(push_image(
        &client,
        &repo,
        &["v1"],
        "1",
        Some("2020-01-01T00:00:00Z"),
    ));
    tick();
    let v2 = rt.block_on(push_image(
        &client,
        &repo,
        &["v2"],
        "2",
        Some("2020-01-01T00:00:00Z"),
    ));
    tick();
    let v3 = rt.block_on(push_image(
        &client,
        &repo,
        &["v3"],
        "3",
        Some("2020-01-01T00:00:00Z"),
    ));
    // v1 is signed (a referrer), carries an SBOM, and v3 a cosign signature.
    sign(home, &format!("{host}/app:v1"), "notation");
    std::fs::write(home.join("sbom.json"), "{}").unwrap_or_else(|e| panic!("{e}"));
    ok(&run(wharf(home).args([
        "attach",
        &format!("{host}/app:v1"),
        "--artifact-type",
        "application/vnd.cyclonedx+json",
        "sbom.json",
    ])));
    sign(home, &format!("{host}/app:v3"), "cosign");
    let referrers = rt
        .block_on(client.referrers(&repo, &v1.digest, None))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(referrers.descriptors.len(), 2);
    // An index that stays, and its untagged child.
    let child = rt.block_on(push_image(
        &client,
        &repo,
        &[],
        "child",
        Some("2020-01-01T00:00:00Z"),
    ));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": [child],
    });
    rt.block_on(client.push_manifest(
        &repo,
        "multi",
        media_type::OCI_INDEX,
        Bytes::from(index.to_string()),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let tags_before = rt.block_on(client.tags(&repo)).unwrap_or_default();

    // Dry run: the lines, and nothing deleted.
    let out = ok(&run(wharf(home).args([
        "registry",
        "purge",
        "--registry",
        &host,
        "--filter",
        "app:^v",
        "--ago",
        "0m",
        "--keep",
        "1",
        "--dry-run",
    ])));
    assert!(
        out.contains("Would delete tags for repository: app"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Would delete: {host}/app:v1")),
        "{out}"
    );
    assert!(
        out.contains(&format!("Would delete: {host}/app:v2")),
        "{out}"
    );
    assert!(
        !out.contains(&format!("{host}/app:v3\n")),
        "keep 1 keeps the newest: {out}"
    );
    assert!(out.contains("Number of tags to be deleted: 2"), "{out}");
    assert_eq!(
        rt.block_on(client.tags(&repo)).unwrap_or_default(),
        tags_before
    );

    // For real, with untagged manifests; keep applies to both passes: v3 keeps its
    // tag, v2 (the newer untagged) its manifest, and v1 goes with its signature and SBOM.
    let out = ok(&run(wharf(home).args([
        "registry",
        "purge",
        "--registry",
        &host,
        "--filter",
        "app:^v",
        "--ago",
        "0m",
        "--keep",
        "1",
        "--untagged",
        "--concurrency",
        "4",
    ])));
    assert!(out.contains(&format!("Deleted {host}/app:v1")), "{out}");
    assert!(out.contains(&format!("Deleted {host}/app:v2")), "{out}");
    assert!(
        out.contains(&format!("Deleted {host}/app@{}", v1.digest)),
        "{out}"
    );
    assert!(
        !out.contains(&format!("Deleted {host}/app@{}", v2.digest)),
        "{out}"
    );
    assert!(out.contains("Number of deleted tags: 2"), "{out}");
    assert!(
        out.contains("Number of deleted manifests: 3"),
        "the image and its two referrers: {out}"
    );
    let tags = rt.block_on(client.tags(&repo)).unwrap_or_default();
    assert!(
        !tags.contains(&"v1".to_string())
            && !tags.contains(&"v2".to_string())
            && tags.contains(&"v3".to_string()),
        "{tags:?}"
    );
    // The cosign tag is never an ordinary tag.
    let sig = format!("sha256-{}.sig", v3.digest.hex());
    assert!(
        tags.contains(&sig) && tags.contains(&"multi".to_string()),
        "{tags:?}"
    );
    assert!(!rt.block_on(exists(&client, &repo, &v1.digest)));
    assert!(rt.block_on(exists(&client, &repo, &v2.digest)));
    for r in &referrers.descriptors {
        assert!(
            !rt.block_on(exists(&client, &repo, &r.digest)),
            "referrer {} deleted",
            r.digest
        );
    }

    // Everything old, no keep: v3 goes with its cosign signature tag; the untagged
    // child of the index that stays is never deleted.
    let out = ok(&run(wharf(home).args([
        "registry",
        "purge",
        "--registry",
        &host,
        "--filter",
        "app:^v",
        "--ago",
        "0m",
        "--untagged",
    ])));
    assert!(out.contains(&format!("Deleted {host}/app:{sig}")), "{out}");
    let tags = rt.block_on(client.tags(&repo)).unwrap_or_default();
    assert_eq!(tags, ["multi"], "{out}");
    assert!(!rt.block_on(exists(&client, &repo, &v2.digest)));
    assert!(
        rt.block_on(exists(&client, &repo, &child.digest)),
        "a kept index's child stays"
    );
    drop(registry);
}

#[test]
fn purge_against_the_distribution_registry() {
    let registry = Registry::start();
    let host = registry.host.clone();
    let rt = runtime();
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = home.path();
    certs(home);
    let client = Client::with_defaults().unwrap_or_else(|e| panic!("{e}"));
    let repo = Repository::new(&host, "web");
    let old = rt.block_on(push_image(
        &client,
        &repo,
        &["old"],
        "old",
        Some("2020-01-01T00:00:00Z"),
    ));
    let older = rt.block_on(push_image(
        &client,
        &repo,
        &["older"],
        "older",
        Some("2019-01-01T00:00:00Z"),
    ));
    let now = jiff::Timestamp::now().to_string();
    rt.block_on(push_image(&client, &repo, &["fresh"], "fresh", Some(&now)));
    let shared = rt.block_on(push_image(
        &client,
        &repo,
        &["shared-a", "keepme"],
        "shared",
        Some("2018-01-01T00:00:00Z"),
    ));
    rt.block_on(push_image(&client, &repo, &["unknown"], "unknown", None));
    sign(home, &format!("{host}/web:older"), "notation");
    sign(home, &format!("{host}/web:older"), "cosign");

    // `.*` selects every ordinary tag old enough, never the fallback index tag or the
    // cosign tag of `older` (both as old as it): old, older, shared-a and keepme.
    let dry = ok(&run(wharf(home).args([
        "registry",
        "purge",
        "--registry",
        &host,
        "--filter",
        "web:.*",
        "--ago",
        "1d",
        "--dry-run",
    ])));
    assert!(dry.contains("Number of tags to be deleted: 4"), "{dry}");
    assert_eq!(
        rt.block_on(client.tags(&repo)).unwrap_or_default().len(),
        8,
        "a dry run deletes nothing"
    );
    let out = ok(&run(wharf(home).args([
        "registry",
        "purge",
        "--registry",
        &host,
        "--filter",
        "web:^(old|older|fresh|shared-a|unknown)$",
        "--ago",
        "1d",
        "--keep",
        "1",
        "--untagged",
    ])));
    // keep 1 of the eligible (old, older, shared-a: newest first) keeps old.
    assert!(out.contains(&format!("Deleted {host}/web:older")), "{out}");
    assert!(!out.contains(&format!("Deleted {host}/web:old\n")), "{out}");
    assert!(
        out.contains(&format!("Skipped {host}/web:shared-a")) && out.contains("also tagged keepme"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Protecting {host}/web:unknown")),
        "{out}"
    );
    assert!(out.contains("Skipped untagged manifests of web"), "{out}");
    let tags = rt.block_on(client.tags(&repo)).unwrap_or_default();
    for kept in ["old", "fresh", "shared-a", "keepme", "unknown"] {
        assert!(tags.contains(&kept.to_string()), "{kept} kept: {tags:?}");
    }
    // older went, with its fallback index, its signature manifest and its .sig tag.
    assert!(
        !tags
            .iter()
            .any(|t| t == "older" || t.contains(older.digest.hex())),
        "{tags:?}"
    );
    assert!(!rt.block_on(exists(&client, &repo, &older.digest)));
    assert!(rt.block_on(exists(&client, &repo, &old.digest)));
    assert!(rt.block_on(exists(&client, &repo, &shared.digest)));
}

#[test]
fn malformed_filters_and_durations_are_exit_code_2() {
    let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    for (filter, ago, reason) in [
        ("app", "1d", "unable to correctly parse filter flag"),
        (":v1", "1d", "missing repository"),
        ("app:(", "1d", "not a valid regex"),
        ("app:.*", "15", "missing unit"),
        ("app:.*", "15p", "unknown unit"),
    ] {
        let out = run(wharf(home.path()).args([
            "registry",
            "purge",
            "--registry",
            "localhost:1",
            "--filter",
            filter,
            "--ago",
            ago,
        ]));
        assert_eq!(out.status.code(), Some(2), "{filter} {ago}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(reason), "{filter} {ago}: {stderr}");
    }
}
