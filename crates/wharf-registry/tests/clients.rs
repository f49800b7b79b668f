//! Real clients against the local registry: dockerd's push and pull, and skopeo.

mod common;

use std::process::Command;

use common::{Served, temp_dir, unique};
use wharf_e2e::{busybox_image, require_docker, sh};

/// Removes images by name when the test ends, however it ends.
struct Images(Vec<String>);

impl Drop for Images {
    fn drop(&mut self) {
        for image in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

fn docker(args: &[&str]) -> String {
    sh(Command::new("docker").args(args))
}

fn skopeo(args: &[&str]) -> String {
    sh(Command::new("skopeo").args(args))
}

fn layer_count(image: &str) -> usize {
    docker(&[
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        image,
    ])
    .trim()
    .parse()
    .expect("layer count")
}

#[test]
fn docker_push_then_pull_and_run() {
    require_docker!();
    let dir = temp_dir();
    let served = Served::start(&dir.path().join("registry"));
    // An image with a layer of its own, so that pulling it back really downloads.
    let nonce = unique();
    let context = dir.path().join("context");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(context.join("nonce"), &nonce).expect("nonce");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {}\nCOPY nonce /nonce\n", busybox_image()),
    )
    .expect("Dockerfile");
    let local = format!("wharf-registry-test/pull-{nonce}:1");
    let remote = format!("{}/wharf/pull-test:{nonce}", served.host);
    let _cleanup = Images(vec![local.clone(), remote.clone()]);
    sh(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &local])
        .arg(&context));
    let layers = layer_count(&local);

    docker(&["tag", &local, &remote]);
    docker(&["push", &remote]);
    let stats = served.stats();
    assert_eq!(stats.manifests_pushed, 1);
    assert_eq!(
        stats.blobs_uploaded,
        layers as u64 + 1,
        "every layer and the config"
    );

    docker(&["rmi", &local, &remote]);
    let gone = Command::new("docker")
        .args(["image", "inspect", &remote])
        .output()
        .expect("docker image inspect");
    assert!(!gone.status.success(), "the image is gone before the pull");

    let pulled = docker(&["pull", &remote]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let out = docker(&["run", "--rm", &remote, "cat", "/nonce"]);
    assert_eq!(out.trim(), nonce);
}

#[test]
fn a_second_repository_gets_the_layers_by_cross_repository_mount() {
    require_docker!();
    let dir = temp_dir();
    let served = Served::start(dir.path());
    // Unique repositories: dockerd remembers where it pushed each layer (its mount
    // candidates), across registries that once had this address.
    let tag = unique();
    let first = format!("{}/mount/first-{tag}:1", served.host);
    let second = format!("{}/mount/second-{tag}:1", served.host);
    let _cleanup = Images(vec![first.clone(), second.clone()]);
    let layers = layer_count(busybox_image()) as u64;

    docker(&["tag", busybox_image(), &first]);
    docker(&["push", &first]);
    let after_first = served.stats();
    assert_eq!(after_first.blobs_uploaded, layers + 1);
    assert_eq!(after_first.blobs_mounted, 0);

    docker(&["tag", busybox_image(), &second]);
    let pushed = docker(&["push", &second]);
    let after_second = served.stats();
    assert!(
        pushed.contains(&format!("Mounted from mount/first-{tag}")),
        "{pushed}"
    );
    assert_eq!(after_second.blobs_mounted, layers, "every layer mounted");
    // No layer was sent again; only the config blob (which dockerd does not mount).
    assert!(
        after_second.blobs_uploaded - after_first.blobs_uploaded <= 1,
        "{after_first:?} -> {after_second:?}"
    );
    assert_eq!(after_second.manifests_pushed, 2);

    // Both repositories serve the image.
    let host = &served.host;
    let inspect = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/mount/second-{tag}:1"),
    ]);
    let json: serde_json::Value = serde_json::from_str(&inspect).expect("inspect JSON");
    assert_eq!(
        json["Layers"].as_array().map(Vec::len),
        Some(layers as usize)
    );
}

#[test]
fn skopeo_copies_inspects_and_lists_tags() {
    require_docker!();
    let dir = temp_dir();
    let served = Served::start(&dir.path().join("registry"));
    let host = &served.host;
    let image = busybox_image();
    let layers = layer_count(image);

    // docker-daemon -> registry, as Docker's v2 schema 2 and as OCI.
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-daemon:{image}"),
        &format!("docker://{host}/skopeo/busybox:docker"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "oci",
        &format!("docker-daemon:{image}"),
        &format!("docker://{host}/skopeo/busybox:oci"),
    ]);
    // registry -> registry, through the registry's own GETs.
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/skopeo/busybox:docker"),
        &format!("docker://{host}/skopeo/copied:1"),
    ]);

    for (reference, media_type) in [
        (
            "skopeo/busybox:docker",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        (
            "skopeo/busybox:oci",
            "application/vnd.oci.image.manifest.v1+json",
        ),
        (
            "skopeo/copied:1",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ] {
        let url = format!("docker://{host}/{reference}");
        let inspect: serde_json::Value =
            serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &url]))
                .expect("inspect JSON");
        assert_eq!(
            inspect["Layers"].as_array().map(Vec::len),
            Some(layers),
            "{reference}"
        );
        assert_eq!(inspect["Os"], "linux");
        // The raw manifest comes back byte for byte: its digest is the one reported.
        let raw = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false", &url])
            .output()
            .expect("skopeo inspect --raw");
        assert!(raw.status.success());
        assert_eq!(
            inspect["Digest"],
            common::digest(&raw.stdout),
            "{reference}"
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&raw.stdout).expect("manifest JSON");
        assert_eq!(manifest["mediaType"], media_type);
    }

    // Every blob downloads and verifies against its digest.
    let layout = dir.path().join("layout");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{host}/skopeo/busybox:oci"),
        &format!("oci:{}:pulled", layout.display()),
    ]);
    assert!(layout.join("index.json").exists());

    let tags: serde_json::Value = serde_json::from_str(&skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{host}/skopeo/busybox"),
    ]))
    .expect("list-tags JSON");
    assert_eq!(tags["Tags"], serde_json::json!(["docker", "oci"]));
}

#[test]
fn images_survive_a_registry_restart() {
    require_docker!();
    let dir = temp_dir();
    let root = dir.path().join("registry");
    let first = Served::start(&root);
    let pushed_to = format!("docker://{}/kept/busybox:1", first.host);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-daemon:{}", busybox_image()),
        &pushed_to,
    ]);
    let before: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &pushed_to]))
            .expect("JSON");
    first.stop();

    let second = Served::start(&root);
    let served_from = format!("docker://{}/kept/busybox:1", second.host);
    let after: serde_json::Value =
        serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &served_from]))
            .expect("JSON");
    assert_eq!(before["Digest"], after["Digest"]);
    assert_eq!(before["Layers"], after["Layers"]);
}
