//! Faults: a proxy in front of the real registry lies, drops connections, is
//! unavailable, refuses monolithic uploads, and sends the client to other hosts
//! (tests/support/proxy.rs). The client must fail clearly, retry what is worth
//! retrying within its budget, and never send credentials off the registry.

mod support;

use std::time::{Duration, Instant};

use support::proxy::{Faults, Proxy};
use support::{TestImage, basic, options};
use wharf_e2e::Registry;
use wharf_registry::client::{BlobOutcome, ClientOptions, Error};
use wharf_registry::{Client, ImageRef, Keychain, Repository};

/// A registry holding one image, behind a proxy.
async fn setup(faults: Faults) -> (Registry, Proxy, TestImage) {
    let registry = Registry::start();
    let direct = support::client(Keychain::anonymous());
    let repo = Repository::new(registry.host.clone(), "faults/app");
    let test = TestImage::oci("faults", &[200_000, 3000]);
    direct.push_blobs(&repo, &test.blobs).await.expect("blobs");
    direct
        .push_manifest(&repo, "v1", test.media_type, test.manifest.clone())
        .await
        .expect("manifest");
    let proxy = Proxy::start(&registry.host, faults).await;
    (registry, proxy, test)
}

fn client_with(keychain: Keychain, budget: Duration) -> (Client, support::Retries) {
    let (options, retries) = options(keychain, budget);
    (Client::new(options).expect("client"), retries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_lies_about_content_is_caught() {
    let (_registry, proxy, test) = setup(Faults {
        corrupt_blobs: true,
        corrupt_manifests: true,
        ..Faults::default()
    })
    .await;
    let (client, retries) = client_with(Keychain::anonymous(), Duration::from_secs(2));
    let image = ImageRef::parse(&format!("{}/faults/app:v1", proxy.host)).expect("ref");
    let err = client
        .pull_manifest(&image)
        .await
        .expect_err("lying manifest");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&proxy.host) && text.contains("manifest v1"),
        "{text}"
    );

    let repo = Repository::new(proxy.host.clone(), "faults/app");
    let layer = &test.blobs[1].descriptor;
    let err = client
        .pull_blob(&repo, layer, 1 << 20)
        .await
        .expect_err("lying blob");
    let Error::DigestMismatch { expected, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(expected, &layer.digest);
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("layer");
    let err = client
        .pull_blob_to_file(&repo, layer, &path)
        .await
        .expect_err("lying blob to file");
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err:?}");
    assert!(retries.all().is_empty(), "wrong content is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_mid_blob_is_retried_and_then_given_up_on() {
    let (_registry, proxy, test) = setup(Faults {
        drop_blob_reads: 1,
        ..Faults::default()
    })
    .await;
    let (client, retries) = client_with(Keychain::anonymous(), Duration::from_secs(3));
    let repo = Repository::new(proxy.host.clone(), "faults/app");
    let layer = &test.blobs[1].descriptor;
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("layer");
    client
        .pull_blob_to_file(&repo, layer, &path)
        .await
        .expect("second attempt succeeds");
    assert!(layer.digest.matches(&std::fs::read(&path).expect("file")));
    let noticed = retries.all();
    assert_eq!(noticed.len(), 1, "{noticed:?}");
    assert!(noticed[0].reason.contains("dropped"), "{}", noticed[0]);
    assert!(
        noticed[0].operation.contains(layer.digest.as_str()),
        "{}",
        noticed[0]
    );

    // Dropped every time: the budget runs out and the error names the registry.
    proxy.set_faults(Faults {
        drop_blob_reads: usize::MAX,
        ..Faults::default()
    });
    let (client, retries) = client_with(Keychain::anonymous(), Duration::from_secs(1));
    let start = Instant::now();
    let err = client
        .pull_blob(&repo, layer, 1 << 20)
        .await
        .expect_err("always dropped");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let Error::GaveUp { attempts, last, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*attempts >= 2, "{attempts}");
    assert!(matches!(**last, Error::Connection { .. }), "{last:?}");
    let text = err.to_string();
    assert!(
        text.contains(&proxy.host) && text.contains("gave up"),
        "{text}"
    );
    assert_eq!(retries.all().len() as u32, attempts - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_and_a_dead_registry_fails_within_the_budget() {
    let (registry, proxy, test) = setup(Faults {
        unavailable: 2,
        ..Faults::default()
    })
    .await;
    let (client, retries) = client_with(Keychain::anonymous(), Duration::from_secs(5));
    let image = ImageRef::parse(&format!("{}/faults/app:v1", proxy.host)).expect("ref");
    let start = Instant::now();
    let pulled = client.pull_manifest(&image).await.expect("after two 503s");
    assert_eq!(pulled.bytes, test.manifest);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1, twice"
    );
    let noticed = retries.all();
    assert_eq!(noticed.len(), 2, "{noticed:?}");
    assert!(noticed.iter().all(|n| n.delay == Duration::from_secs(1)));

    // A registry that is gone: refused connections until the budget is spent.
    let host = registry.host.clone();
    drop(registry);
    let (client, retries) = client_with(Keychain::anonymous(), Duration::from_secs(2));
    let repo = Repository::new(host.clone(), "faults/app");
    let start = Instant::now();
    let err = client
        .push_blobs(&repo, &test.blobs)
        .await
        .expect_err("nothing listens");
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("{host}: gave up after")), "{text}");
    assert!(text.contains("cannot connect"), "{text}");
    assert!(
        text.contains(&format!("Check that {host} is running")),
        "{text}"
    );
    assert!(!retries.all().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_monolithic_upload_falls_back_to_chunks() {
    let (_registry, proxy, _) = setup(Faults {
        max_put_body: Some(64 << 10),
        ..Faults::default()
    })
    .await;
    let options = ClientOptions {
        chunk_size: 32 << 10,
        ..options(Keychain::anonymous(), Duration::from_secs(2)).0
    };
    let client = Client::new(options).expect("client");
    let repo = Repository::new(proxy.host.clone(), "faults/chunked");
    let test = TestImage::oci("chunked", &[300_000, 10]);
    let pushed = client.push_blobs(&repo, &test.blobs).await.expect("pushed");
    assert!(pushed.iter().all(|p| p.outcome == BlobOutcome::Uploaded));
    client
        .push_manifest(&repo, "1", test.media_type, test.manifest.clone())
        .await
        .expect("manifest");
    let patches = proxy.seen().iter().filter(|s| s.method == "PATCH").count();
    assert!(patches >= 300_000 / (32 << 10), "{patches} PATCHes");
    let big = &test.blobs[1].descriptor;
    let back = client.pull_blob(&repo, big, 1 << 20).await.expect("pulled");
    assert!(big.digest.matches(&back));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_follow_a_redirect_or_an_upload_to_another_host() {
    let (_registry, proxy, test) = setup(Faults {
        basic_auth: Some(("u".into(), "pw".into())),
        redirect_blobs: true,
        foreign_upload_location: true,
        ..Faults::default()
    })
    .await;
    let (client, _) = client_with(basic(&proxy.host, "u", "pw"), Duration::from_secs(2));
    let repo = Repository::new(proxy.host.clone(), "faults/app");
    let layer = &test.blobs[1].descriptor;
    let bytes = client
        .pull_blob(&repo, layer, 1 << 20)
        .await
        .expect("redirected pull");
    assert!(layer.digest.matches(&bytes));
    let pushed_to = Repository::new(proxy.host.clone(), "faults/pushed");
    let fresh = TestImage::oci("fresh", &[5000]);
    let pushed = client
        .push_blobs(&pushed_to, &fresh.blobs)
        .await
        .expect("push");
    assert!(pushed.iter().all(|p| p.outcome == BlobOutcome::Uploaded));

    let seen = proxy.seen();
    let foreign: Vec<_> = seen.iter().filter(|s| s.foreign).collect();
    assert!(
        foreign.iter().any(|s| s.method == "GET"),
        "the blob read was redirected: {seen:?}"
    );
    assert!(
        foreign.iter().any(|s| s.method == "PUT"),
        "the upload moved: {seen:?}"
    );
    assert!(foreign.iter().all(|s| !s.authorization), "{foreign:?}");
    assert!(seen.iter().filter(|s| !s.foreign).any(|s| s.authorization));

    // A redirect target that asks for credentials gets none: the copy fails.
    proxy.set_faults(Faults {
        basic_auth: Some(("u".into(), "pw".into())),
        redirect_blobs: true,
        foreign_challenge: true,
        ..Faults::default()
    });
    let err = client
        .pull_blob(&repo, layer, 1 << 20)
        .await
        .expect_err("foreign challenge");
    assert!(matches!(err, Error::CredentialsOffHost { .. }), "{err:?}");
    assert!(err.to_string().contains("localhost"), "{err}");
}
