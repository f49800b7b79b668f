//! The registry client against the real distribution registry (Debian's
//! `docker-registry`), with skopeo and docker as peers reading what wharf wrote
//! and writing what wharf reads.

mod support;

use std::collections::BTreeMap;
use std::process::Command;

use bytes::Bytes;
use support::{TestImage, basic, client, skopeo, unique};
use wharf_e2e::{Registry, busybox_image, require_docker, sh};
use wharf_registry::client::{BlobOutcome, BlobPush, ClientOptions, UploadMode};
use wharf_registry::copy::{Location, copy};
use wharf_registry::manifest::{
    Descriptor, ImageIndex, ImageManifest, Manifest, Platform, media_type,
};
use wharf_registry::{Client, ImageRef, Keychain, Repository};

/// A password with characters that base64 turns into `+` and `/`.
const PASSWORD: &str = "abc>>>def?~~~";

fn image_ref(text: &str) -> ImageRef {
    ImageRef::parse(text).expect("reference")
}

async fn push(client: &Client, image: &ImageRef, test: &TestImage) -> Vec<BlobOutcome> {
    let repo = Repository::of(image);
    let pushed = client
        .push_blobs(&repo, &test.blobs)
        .await
        .expect("blobs pushed");
    client
        .push_manifest(
            &repo,
            image.manifest_reference(),
            test.media_type,
            test.manifest.clone(),
        )
        .await
        .expect("manifest pushed");
    pushed.into_iter().map(|p| p.outcome).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_and_repush_with_htpasswd_and_skopeo_reads_it() {
    let registry = Registry::start_with_auth("wharf", PASSWORD);
    let client = client(basic(&registry.host, "wharf", PASSWORD));
    let image = image_ref(&format!("{}/team/app:v1", registry.host));
    let test = TestImage::oci("push", &[3 << 20, 1 << 20, 1000, 0]);

    let first = push(&client, &image, &test).await;
    assert!(
        first.iter().all(|o| *o == BlobOutcome::Uploaded),
        "{first:?}"
    );
    // An unchanged re-push only asks.
    let again = push(&client, &image, &test).await;
    assert!(
        again.iter().all(|o| *o == BlobOutcome::Existed),
        "{again:?}"
    );

    // wharf reads it back, verified.
    let pulled = client.pull_manifest(&image).await.expect("pulled");
    assert_eq!(pulled.bytes, test.manifest);
    assert_eq!(pulled.digest, test.descriptor().digest);
    assert_eq!(pulled.media_type, media_type::OCI_MANIFEST);
    let repo = Repository::of(&image);
    for blob in &test.blobs {
        let BlobPush {
            descriptor, source, ..
        } = blob;
        let bytes = client
            .pull_blob(&repo, descriptor, 16 << 20)
            .await
            .expect("blob pulled");
        let wharf_registry::client::BlobSource::Bytes(expected) = source else {
            panic!("test blobs are in memory")
        };
        assert_eq!(&bytes, expected);
    }
    let resolved = client
        .resolve(&image)
        .await
        .expect("resolve")
        .expect("exists");
    assert_eq!(resolved.digest, pulled.digest);
    assert_eq!(resolved.size, test.manifest.len() as u64);

    // skopeo, an independent client, sees the same manifest and digest.
    let creds = format!("wharf:{PASSWORD}");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{image}"),
    ]);
    assert_eq!(raw.as_bytes(), &test.manifest[..]);
    let inspected: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        &creds,
        &format!("docker://{image}"),
    ]))
    .expect("skopeo JSON");
    assert_eq!(inspected["Digest"], pulled.digest.to_string());
    assert_eq!(inspected["Labels"]["seed"], "push");
    // And can copy every blob out of it (it verifies digests itself).
    let dir = tempfile::tempdir().expect("temp");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        &creds,
        &format!("docker://{image}"),
        &format!("oci:{}:v1", dir.path().display()),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema2_images_chunked_uploads_and_mounts() {
    let registry = Registry::start();
    let options = ClientOptions {
        upload: UploadMode::Chunked,
        chunk_size: 1 << 20,
        ..support::options(Keychain::anonymous(), std::time::Duration::from_secs(5)).0
    };
    let client = Client::new(options).expect("client");
    let image = image_ref(&format!("{}/chunks/app:1", registry.host));
    let test = TestImage::docker("chunks", &[(3 << 20) + 12345, 10]);
    push(&client, &image, &test).await;
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    assert_eq!(raw.as_bytes(), &test.manifest[..]);
    let dir = tempfile::tempdir().expect("temp");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("oci:{}:x", dir.path().display()),
    ]);

    // The same blobs pushed to another repository are mounted, not uploaded.
    let other = Repository::new(registry.host.clone(), "chunks/other");
    let blobs: Vec<BlobPush> = test
        .blobs
        .iter()
        .cloned()
        .map(|mut b| {
            b.mount_from = vec!["chunks/app".into()];
            b
        })
        .collect();
    let pushed = client.push_blobs(&other, &blobs).await.expect("mounted");
    for p in &pushed {
        assert_eq!(
            p.outcome,
            BlobOutcome::Mounted {
                from: "chunks/app".into()
            }
        );
    }
    assert!(
        client
            .blob_exists(&other, &pushed[0].digest)
            .await
            .expect("head")
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_arch_indexes_and_artifacts_with_subject_and_annotations() {
    let registry = Registry::start();
    let client = client(Keychain::anonymous());
    let repo = Repository::new(registry.host.clone(), "multi/app");
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let test = TestImage::for_arch(arch, &[2048], arch);
        client.push_blobs(&repo, &test.blobs).await.expect("blobs");
        let digest = test.descriptor().digest;
        client
            .push_manifest(
                &repo,
                digest.as_str(),
                test.media_type,
                test.manifest.clone(),
            )
            .await
            .expect("child");
        let mut entry = test.descriptor();
        entry.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
            os_features: Vec::new(),
        });
        entries.push(entry);
    }
    let mut index = ImageIndex::new();
    index.manifests = entries.clone();
    let index_bytes = Bytes::from(serde_json::to_vec(&index).expect("index"));
    let pushed = client
        .push_manifest(&repo, "1.0", media_type::OCI_INDEX, index_bytes.clone())
        .await
        .expect("index pushed");

    let image = image_ref(&format!("{}/multi/app:1.0", registry.host));
    let pulled = client.pull_manifest(&image).await.expect("index pulled");
    assert_eq!(pulled.digest, pushed.digest);
    let Ok(Manifest::Index(parsed)) = pulled.parse() else {
        panic!("not an index")
    };
    let platforms: Vec<String> = parsed
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    // skopeo picks the arm64 child from wharf's index.
    let arm = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &format!("docker://{image}"),
    ]);
    let arm_inspect: serde_json::Value = serde_json::from_str(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--override-arch",
        "arm64",
        &format!("docker://{image}"),
    ]))
    .expect("json");
    assert_eq!(
        arm.as_bytes(),
        &index_bytes[..],
        "--raw gives the index itself"
    );
    assert_eq!(arm_inspect["Architecture"], "arm64");
    assert_eq!(arm_inspect["Labels"]["seed"], "arm64");

    // An artifact: empty config, one layer of its own type, a subject, annotations.
    let payload = BlobPush::bytes(
        "application/vnd.wharf.test.sbom+json",
        Bytes::from_static(br#"{"sbom":true}"#),
    );
    let empty = BlobPush::bytes(media_type::OCI_EMPTY, Bytes::from_static(b"{}"));
    client
        .push_blobs(&repo, &[empty.clone(), payload.clone()])
        .await
        .expect("artifact blobs");
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "org.opencontainers.image.created".to_string(),
        "2026-01-02T03:04:05Z".to_string(),
    );
    annotations.insert("dev.wharf.test".to_string(), "yes".to_string());
    let mut subject = Descriptor::of(media_type::OCI_INDEX, &index_bytes);
    subject.digest = pushed.digest.clone();
    let artifact = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: Some("application/vnd.wharf.test.sbom".into()),
        config: Descriptor::empty(),
        layers: vec![payload.descriptor.clone()],
        subject: Some(subject),
        annotations,
        extra: Default::default(),
    };
    let artifact_bytes = Bytes::from(serde_json::to_vec(&artifact).expect("artifact"));
    let digest = wharf_registry::Digest::sha256(&artifact_bytes);
    let pushed_artifact = client
        .push_manifest(
            &repo,
            digest.as_str(),
            media_type::OCI_MANIFEST,
            artifact_bytes.clone(),
        )
        .await
        .expect("artifact pushed");
    // Distribution 2.8 has no referrers API: it does not claim the subject.
    assert!(!pushed_artifact.subject_processed);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{}/multi/app@{digest}", registry.host),
    ]);
    assert_eq!(raw.as_bytes(), &artifact_bytes[..]);
    let back = client
        .pull_manifest(&image_ref(&format!("{}/multi/app@{digest}", registry.host)))
        .await
        .expect("artifact pulled")
        .parse()
        .expect("parsed");
    assert_eq!(
        back.artifact_type(),
        Some("application/vnd.wharf.test.sbom")
    );
    assert_eq!(
        back.subject().map(|s| s.digest.clone()),
        Some(pushed.digest)
    );
    assert_eq!(
        back.annotations().get("dev.wharf.test").map(String::as_str),
        Some("yes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_and_catalog_follow_link_pagination() {
    // Distribution 2.8 pages the catalog (not tags: that came in 3.0); wharf's own
    // registry pages both.
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("temp");
    let own = wharf_registry::LocalRegistry::start(
        dir.path().to_path_buf(),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .await
    .expect("local registry");
    let options = ClientOptions {
        page_size: 2,
        ..support::options(Keychain::anonymous(), std::time::Duration::from_secs(5)).0
    };
    let client = Client::new(options).expect("client");
    let test = TestImage::oci("tags", &[10]);
    for host in [registry.host.clone(), own.host()] {
        for r in ["a/one", "a/two", "b/three"] {
            let repo = Repository::new(host.clone(), r);
            client.push_blobs(&repo, &test.blobs).await.expect("blobs");
            for tag in ["v1", "v2", "v3", "latest", "v10"] {
                client
                    .push_manifest(&repo, tag, test.media_type, test.manifest.clone())
                    .await
                    .expect("tag");
            }
        }
        let page = client
            .catalog_page(&host, Some(2), None)
            .await
            .expect("page");
        assert_eq!(page.items, ["a/one", "a/two"], "{host}");
        assert!(page.next.is_some(), "{host}: a Link to the next page");
        let catalog = client.catalog(&host).await.expect("catalog");
        assert_eq!(catalog, ["a/one", "a/two", "b/three"], "{host}");
    }
    let repo = Repository::new(own.host(), "a/one");
    let page = client.tags_page(&repo, Some(2), None).await.expect("page");
    assert_eq!(page.items.len(), 2);
    assert!(page.next.is_some());
    let mut all = client.tags(&repo).await.expect("tags");
    all.sort();
    assert_eq!(all, ["latest", "v1", "v10", "v2", "v3"]);
    let mut from_distribution = client
        .tags(&Repository::new(registry.host.clone(), "a/one"))
        .await
        .expect("tags");
    let mut from_skopeo = registry.tags("a/one");
    from_distribution.sort();
    from_skopeo.sort();
    assert_eq!(from_distribution, from_skopeo);
    assert_eq!(from_distribution, all);

    // A repository that does not exist is "not found", naming it.
    let missing = client
        .tags(&Repository::new(registry.host.clone(), "no/such"))
        .await
        .expect_err("missing");
    assert!(missing.is_not_found(), "{missing}");
    let text = missing.to_string();
    assert_eq!(
        text,
        format!(
            "{}: no repository no/such (asked for tags of no/such)",
            registry.host
        )
    );
    own.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_manifest_by_digest() {
    let registry = Registry::start();
    let client = client(Keychain::anonymous());
    let image = image_ref(&format!("{}/del/app:gone", registry.host));
    let test = TestImage::oci("delete", &[10]);
    push(&client, &image, &test).await;
    let digest = client.delete_manifest(&image).await.expect("deleted");
    assert_eq!(digest, test.descriptor().digest);
    assert!(client.resolve(&image).await.expect("resolve").is_none());
    let err = client.pull_manifest(&image).await.expect_err("gone");
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("manifest gone"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_between_registries_and_oci_layouts_with_skopeo_and_docker() {
    require_docker!();
    let registry = Registry::start();
    let client = client(Keychain::anonymous());
    let busybox = busybox_image();
    let tag = unique();
    // skopeo pushes a real image from the engine.
    let pushed_by_skopeo = format!("{}/peers/busybox:{tag}", registry.host);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-daemon:{busybox}"),
        &format!("docker://{pushed_by_skopeo}"),
    ]);
    // wharf copies it into an OCI layout...
    let dir = tempfile::tempdir().expect("temp");
    let layout = format!("oci:{}:bb", dir.path().display());
    let report = copy(
        &client,
        &Location::parse(&pushed_by_skopeo).expect("src"),
        &Location::parse(&layout).expect("dst"),
    )
    .await
    .expect("registry to layout");
    assert!(report.blobs_copied >= 2, "{report:?}");
    // ...which skopeo reads,
    let inspected: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", &layout])).expect("json");
    assert_eq!(
        inspected["Digest"],
        report
            .digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    // ...and copies it back to another repository (a mount inside one registry
    // when registry to registry; here from the layout, a plain upload).
    let back = format!("{}/peers/copied:{tag}", registry.host);
    let report2 = copy(
        &client,
        &Location::parse(&layout).expect("src"),
        &Location::parse(&back).expect("dst"),
    )
    .await
    .expect("layout to registry");
    assert_eq!(report2.digest, report.digest);
    // Registry to registry in the same registry: mounts.
    let mounted = format!("{}/peers/mounted:{tag}", registry.host);
    let report3 = copy(
        &client,
        &Location::parse(&pushed_by_skopeo).expect("src"),
        &Location::parse(&mounted).expect("dst"),
    )
    .await
    .expect("registry to registry");
    assert_eq!(report3.blobs_copied, 0, "{report3:?}");
    assert!(report3.blobs_mounted >= 2, "{report3:?}");
    // docker pulls and runs what wharf copied.
    let out =
        sh(Command::new("docker").args(["run", "--rm", &back, "echo", "ran from wharf's copy"]));
    let _ = Command::new("docker").args(["rmi", "-f", &back]).output();
    assert!(out.contains("ran from wharf's copy"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_and_wrongly_authenticated_requests_say_what_to_do() {
    let registry = Registry::start_with_auth("wharf", PASSWORD);
    let image = image_ref(&format!("{}/team/app:v1", registry.host));
    let anonymous = client(Keychain::anonymous());
    let err = anonymous.pull_manifest(&image).await.expect_err("401");
    let text = err.to_string();
    assert!(text.contains(&registry.host), "{text}");
    assert!(text.contains("no credentials are stored"), "{text}");
    assert!(text.contains("wharf registry login"), "{text}");

    let wrong = client(basic(&registry.host, "wharf", "not-the-password"));
    let err = wrong.pull_manifest(&image).await.expect_err("401");
    let text = err.to_string();
    assert!(text.contains("credentials were refused"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_digest_in_a_reference_is_refused_before_any_request() {
    let err = ImageRef::parse("127.0.0.1:1/app@sha256:abc").expect_err("bad");
    assert!(err.to_string().contains("sha256:abc"), "{err}");
    let client = client(Keychain::anonymous());
    let repo = Repository::new("127.0.0.1:1", "app");
    let err = client
        .pull_manifest_in(&repo, "sha256:zz", None)
        .await
        .expect_err("bad digest");
    assert!(err.to_string().contains("sha256:zz"), "{err}");
}

/// A blob sent while it is produced, its digest known only at its end (what a push
/// does with a layer being exported), is committed under its digest and reads back
/// whole. A wrong digest is refused by the registry, a wrong size before any
/// request, an abandoned upload cannot be committed, and a stream that breaks is
/// an error that leaves no blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_blob_is_committed_under_its_digest_and_a_broken_one_leaves_nothing() {
    let registry = Registry::start_with_auth("wharf", PASSWORD);
    let client = client(basic(&registry.host, "wharf", PASSWORD));
    let repo = Repository::new(registry.host.clone(), "team/streamed");
    let data: Vec<u8> = (0..3_000_000_u32).map(|i| (i * 7 % 251) as u8).collect();
    let pieces = |data: &[u8]| {
        let pieces: Vec<std::io::Result<Bytes>> = data
            .chunks(100_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(pieces)
    };
    let descriptor = Descriptor::of("application/octet-stream", &data);

    let sent = client
        .stream_blob(&repo, pieces(&data))
        .await
        .expect("streamed");
    assert_eq!(sent.size(), data.len() as u64);
    let mut short = descriptor.clone();
    short.size -= 1;
    let err = client
        .finish_streamed_blob(&repo, &sent, &short)
        .await
        .expect_err("a size that is not what was sent");
    assert!(err.to_string().contains("sent 3000000 bytes"), "{err}");
    let pushed = client
        .finish_streamed_blob(&repo, &sent, &descriptor)
        .await
        .expect("committed");
    assert_eq!(pushed.outcome, BlobOutcome::Uploaded);
    let back = client
        .pull_blob(&repo, &descriptor, 8 << 20)
        .await
        .expect("pulled");
    assert_eq!(back.as_ref(), data.as_slice());

    // An abandoned upload is gone from the registry: committing it fails, and no
    // blob is left.
    let small = &data[..1000];
    let small_digest = Descriptor::of("application/octet-stream", small);
    let sent = client
        .stream_blob(&repo, pieces(small))
        .await
        .expect("streamed");
    client.cancel_streamed_blob(&repo, sent.clone()).await;
    let err = client
        .finish_streamed_blob(&repo, &sent, &small_digest)
        .await
        .expect_err("an abandoned upload");
    assert!(err.to_string().contains("blob upload not found"), "{err}");
    assert_eq!(
        client
            .blob_exists(&repo, &small_digest.digest)
            .await
            .expect("head"),
        None
    );

    // The registry checks the digest of what it received.
    let other: Vec<u8> = data.iter().rev().copied().collect();
    let sent = client
        .stream_blob(&repo, pieces(&other))
        .await
        .expect("streamed");
    let err = client
        .finish_streamed_blob(&repo, &sent, &descriptor)
        .await
        .expect_err("not these bytes");
    assert!(err.to_string().to_lowercase().contains("digest"), "{err}");
    let other_digest = Descriptor::of("application/octet-stream", &other).digest;
    assert_eq!(
        client
            .blob_exists(&repo, &other_digest)
            .await
            .expect("head"),
        None
    );

    // A stream that breaks half-way.
    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::copy_from_slice(&other[..1000])),
        Err(std::io::Error::other("the export stopped")),
    ]);
    assert!(client.stream_blob(&repo, broken).await.is_err());
    assert_eq!(
        client
            .blob_exists(&repo, &other_digest)
            .await
            .expect("head"),
        None
    );
}
