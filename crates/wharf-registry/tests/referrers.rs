//! Referrers against both kinds of registry: the distribution registry (no referrers
//! API: the `sha256-<hex>` fallback index) and wharf's own (the API, `OCI-Subject`),
//! and wharf's ACR listing endpoints.

mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use support::{TestImage, client};
use wharf_e2e::Registry;
use wharf_registry::client::BlobPush;
use wharf_registry::manifest::{Descriptor, ImageManifest, media_type};
use wharf_registry::referrers::{ReferrersMode, ReferrersSource, TagDeleted, fallback_tag};
use wharf_registry::{Client, Keychain, LocalRegistry, Repository};

async fn push_image(client: &Client, repo: &Repository, tag: &str, seed: &str) -> Descriptor {
    let test = TestImage::oci(seed, &[100]);
    client.push_blobs(repo, &test.blobs).await.expect("blobs");
    client
        .push_manifest(repo, tag, test.media_type, test.manifest.clone())
        .await
        .expect("manifest");
    test.descriptor()
}

/// An artifact manifest of `artifact_type` whose subject is `subject`.
async fn artifact(
    client: &Client,
    repo: &Repository,
    subject: &Descriptor,
    artifact_type: &str,
    note: &str,
) -> Bytes {
    let layer = BlobPush::bytes("text/plain", Bytes::from(note.to_string()));
    let empty = BlobPush::bytes(media_type::OCI_EMPTY, Bytes::from_static(b"{}"));
    client
        .push_blobs(repo, &[layer.clone(), empty])
        .await
        .expect("blobs");
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: Some(artifact_type.into()),
        config: Descriptor::empty(),
        layers: vec![layer.descriptor.clone()],
        subject: Some(subject.clone()),
        annotations: BTreeMap::from([("note".to_string(), note.to_string())]),
        extra: Default::default(),
    };
    Bytes::from(serde_json::to_vec(&manifest).expect("json"))
}

/// The scenario both registries must pass; `api` says which path they take.
async fn referrers_round_trip(host: &str, api: bool) {
    let client = client(Keychain::anonymous());
    let repo = Repository::new(host, "team/signed");
    let image = push_image(&client, &repo, "v1", "referrers").await;
    assert_eq!(
        client.referrers_api_supported(&repo).await.expect("ping"),
        api
    );
    let none = client
        .referrers(&repo, &image.digest, None)
        .await
        .expect("no referrers");
    assert!(none.descriptors.is_empty());

    // Two writers at once must both land (the fallback index is read-modify-write).
    let sig = artifact(&client, &repo, &image, "application/vnd.example.sig", "a").await;
    let sbom = artifact(&client, &repo, &image, "application/vnd.example.sbom", "b").await;
    let (one, two) = tokio::join!(
        client.push_referrer(
            &repo,
            media_type::OCI_MANIFEST,
            sig.clone(),
            ReferrersMode::Auto
        ),
        client.push_referrer(
            &repo,
            media_type::OCI_MANIFEST,
            sbom.clone(),
            ReferrersMode::Auto
        ),
    );
    let (one, two) = (one.expect("first"), two.expect("second"));
    assert_eq!(one.api, api);
    assert_eq!(one.index_updated, !api);
    // A second push of the same referrer is not listed twice.
    client
        .push_referrer(
            &repo,
            media_type::OCI_MANIFEST,
            sig.clone(),
            ReferrersMode::Auto,
        )
        .await
        .expect("again");

    let listed = client
        .referrers(&repo, &image.digest, None)
        .await
        .expect("referrers");
    assert_eq!(
        listed.source,
        if api {
            ReferrersSource::Api
        } else {
            ReferrersSource::Tag
        }
    );
    let mut digests: Vec<_> = listed
        .descriptors
        .iter()
        .map(|d| d.digest.clone())
        .collect();
    digests.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    let mut want = vec![one.digest.clone(), two.digest.clone()];
    want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(digests, want);
    for d in &listed.descriptors {
        assert!(d.artifact_type.is_some(), "{d:?}");
        assert!(
            d.annotations.contains_key("note"),
            "annotations kept: {d:?}"
        );
    }
    let sboms = client
        .referrers(&repo, &image.digest, Some("application/vnd.example.sbom"))
        .await
        .expect("filtered");
    assert_eq!(sboms.descriptors.len(), 1);
    assert_eq!(sboms.descriptors[0].digest, two.digest);

    // The fallback tag exists only where the API is missing.
    let tag = fallback_tag(&image.digest);
    let tags = client.tags(&repo).await.expect("tags");
    assert_eq!(tags.contains(&tag), !api, "{tags:?}");

    if !api {
        // Removing one referrer from the index leaves the other.
        assert!(
            client
                .remove_from_fallback(&repo, &image.digest, &one.digest)
                .await
                .expect("removed")
        );
        let left = client
            .referrers(&repo, &image.digest, None)
            .await
            .expect("referrers");
        assert_eq!(left.descriptors.len(), 1);
        assert_eq!(left.descriptors[0].digest, two.digest);
        // Superseded indexes were deleted: only the tagged one is left behind.
        assert!(client.tags(&repo).await.expect("tags").contains(&tag));
    }

    // Tag delete: the manifest stays (wharf), or the registry cannot (distribution).
    push_image(&client, &repo, "v2", "referrers").await;
    let deleted = client.delete_tag(&repo, "v2").await.expect("delete tag");
    if api {
        assert_eq!(deleted, TagDeleted::Deleted);
        let tags = client.tags(&repo).await.expect("tags");
        assert!(tags.contains(&"v1".to_string()) && !tags.contains(&"v2".to_string()));
    } else {
        assert_eq!(deleted, TagDeleted::Unsupported);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_distribution_registry_gets_the_fallback_index() {
    let registry = Registry::start();
    referrers_round_trip(&registry.host, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wharfs_registry_serves_the_referrers_api() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = LocalRegistry::start(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("registry");
    referrers_round_trip(&registry.host(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_mode_writes_the_index_even_with_the_api() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = LocalRegistry::start(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("registry");
    let client = client(Keychain::anonymous());
    let repo = Repository::new(registry.host(), "tagmode");
    let image = push_image(&client, &repo, "v1", "tagmode").await;
    let sig = artifact(&client, &repo, &image, "application/vnd.example.sig", "a").await;
    let pushed = client
        .push_referrer(&repo, media_type::OCI_MANIFEST, sig, ReferrersMode::Tag)
        .await
        .expect("pushed");
    assert!(pushed.api && pushed.index_updated);
    assert!(
        client
            .tags(&repo)
            .await
            .expect("tags")
            .contains(&fallback_tag(&image.digest))
    );

    // The API mode refuses a registry without the API.
    let distribution = Registry::start();
    let repo = Repository::new(&distribution.host, "apimode");
    let image = push_image(&client, &repo, "v1", "apimode").await;
    let sig = artifact(&client, &repo, &image, "application/vnd.example.sig", "a").await;
    let refused = client
        .push_referrer(&repo, media_type::OCI_MANIFEST, sig, ReferrersMode::Api)
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("no referrers API")),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_listings_order_tags_by_push_time() {
    let dir = tempfile::tempdir().expect("dir");
    let registry = LocalRegistry::start(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("registry");
    let client = client(Keychain::anonymous());
    let host = registry.host();
    let repo = Repository::new(&host, "acr/app");
    let first = push_image(&client, &repo, "a-old", "one").await;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(path)
                .send()
                .await
                .expect("get")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let tags_url = format!("http://{host}/acr/v1/acr/app/_tags?orderby=timedesc");
    let old_time = get(tags_url.clone()).await["tags"][0]["lastUpdateTime"]
        .as_str()
        .expect("time")
        .to_string();
    // File times are coarse: wait until the clock has moved past the first push.
    let old: jiff::Timestamp = old_time.parse().expect("RFC 3339");
    while jiff::Timestamp::now() <= old + jiff::SignedDuration::from_millis(20) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    push_image(&client, &repo, "b-new", "two").await;
    let tags = get(tags_url.clone()).await;
    let names: Vec<&str> = tags["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["b-new", "a-old"]);
    assert_eq!(tags["tags"][1]["digest"], first.digest.as_str());
    assert_eq!(
        tags["tags"][1]["changeableAttributes"]["deleteEnabled"],
        true
    );
    // Paged: one per page, the Link names the next.
    let page = http
        .get(format!("{tags_url}&n=1"))
        .send()
        .await
        .expect("page");
    let link = page.headers()["link"].to_str().expect("link").to_string();
    assert!(
        link.contains("last=b-new") && link.contains("orderby=timedesc"),
        "{link}"
    );

    let manifests = get(format!("http://{host}/acr/v1/acr/app/_manifests")).await;
    let items = manifests["manifests"].as_array().expect("manifests");
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|m| m["lastUpdateTime"].is_string() && m["mediaType"] == media_type::OCI_MANIFEST)
    );
    let catalog = get(format!("http://{host}/acr/v1/_catalog")).await;
    assert_eq!(catalog["repositories"], serde_json::json!(["acr/app"]));

    // ACR's tag delete removes the tag only.
    let deleted = http
        .delete(format!("http://{host}/acr/v1/acr/app/_tags/a-old"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 202);
    let manifests = get(format!("http://{host}/acr/v1/acr/app/_manifests")).await;
    let untagged: Vec<_> = manifests["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .filter(|m| m["tags"].as_array().is_some_and(|t| t.is_empty()))
        .collect();
    assert_eq!(untagged.len(), 1);
    assert_eq!(untagged[0]["digest"], first.digest.as_str());
}
