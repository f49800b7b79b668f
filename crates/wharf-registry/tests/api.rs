//! The local registry's HTTP API, spoken directly: uploads (monolithic, streamed,
//! chunked), digest checks, manifests of every kind, pagination, errors, restarts.

mod common;

use common::{
    Served, client, digest, error_code, header, push_blob, push_image, put_manifest, temp_dir,
};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[test]
fn base_endpoint_announces_the_api_version() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let response = client().get(served.url("/v2/")).send().expect("GET /v2/");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        header(&response, "Docker-Distribution-API-Version"),
        "registry/2.0"
    );
    let response = client().get(served.url("/v3/")).send().expect("GET /v3/");
    assert_eq!(response.status().as_u16(), 404);
}

#[test]
fn a_wrong_digest_on_put_is_refused_and_nothing_is_stored() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let started = http
        .post(served.url("/v2/team/app/blobs/uploads/"))
        .send()
        .expect("POST");
    assert_eq!(started.status().as_u16(), 202);
    let location = header(&started, "Location");
    assert!(
        location.starts_with("/v2/team/app/blobs/uploads/"),
        "{location}"
    );
    assert_eq!(header(&started, "Range"), "0-0");

    let patched = http
        .patch(served.url(&location))
        .body("some layer bytes")
        .send()
        .expect("PATCH");
    assert_eq!(patched.status().as_u16(), 202);
    assert_eq!(header(&patched, "Range"), "0-15");

    let wrong = digest(b"other bytes");
    let refused = http
        .put(served.url(&format!("{location}?digest={wrong}")))
        .send()
        .expect("PUT");
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(error_code(refused), "DIGEST_INVALID");

    // Neither digest is in the repository, and the session is gone.
    for d in [wrong, digest(b"some layer bytes")] {
        let head = http
            .head(served.url(&format!("/v2/team/app/blobs/{d}")))
            .send()
            .expect("HEAD");
        assert_eq!(head.status().as_u16(), 404);
    }
    let status = http.get(served.url(&location)).send().expect("GET upload");
    assert_eq!(error_code(status), "BLOB_UPLOAD_UNKNOWN");

    // A monolithic upload with a wrong digest is refused too.
    let refused = http
        .post(served.url(&format!(
            "/v2/team/app/blobs/uploads/?digest={}",
            digest(b"x")
        )))
        .body("y")
        .send()
        .expect("POST monolithic");
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(error_code(refused), "DIGEST_INVALID");

    // So is a manifest PUT by a digest that is not its own.
    let manifest = push_image(&served, "team/app", "wrong-digest");
    let refused = put_manifest(
        &served,
        "team/app",
        &digest(b"not it"),
        OCI_MANIFEST,
        &manifest,
    );
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(error_code(refused), "DIGEST_INVALID");
}

#[test]
fn chunked_uploads_follow_content_range() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let location = header(
        &http
            .post(served.url("/v2/chunks/blobs/uploads/"))
            .send()
            .expect("POST"),
        "Location",
    );
    let data = b"0123456789abcdefghij";
    let first = http
        .patch(served.url(&location))
        .header("Content-Range", "0-9")
        .header("Content-Type", "application/octet-stream")
        .body(data[..10].to_vec())
        .send()
        .expect("PATCH 1");
    assert_eq!(first.status().as_u16(), 202);
    assert_eq!(header(&first, "Range"), "0-9");

    // A chunk that does not continue where the upload stands is refused with the
    // current range, and changes nothing.
    let out_of_order = http
        .patch(served.url(&location))
        .header("Content-Range", "15-19")
        .body(data[15..].to_vec())
        .send()
        .expect("PATCH out of order");
    assert_eq!(out_of_order.status().as_u16(), 416);
    assert_eq!(header(&out_of_order, "Range"), "0-9");

    let second = http
        .patch(served.url(&location))
        .header("Content-Range", "10-19")
        .body(data[10..].to_vec())
        .send()
        .expect("PATCH 2");
    assert_eq!(header(&second, "Range"), "0-19");
    let status = http.get(served.url(&location)).send().expect("status");
    assert_eq!(status.status().as_u16(), 204);
    assert_eq!(header(&status, "Range"), "0-19");

    let d = digest(data);
    let done = http
        .put(served.url(&format!("{location}?digest={d}")))
        .send()
        .expect("PUT");
    assert_eq!(done.status().as_u16(), 201);
    assert_eq!(header(&done, "Docker-Content-Digest"), d);
    assert_eq!(header(&done, "Location"), format!("/v2/chunks/blobs/{d}"));

    let head = http
        .head(served.url(&format!("/v2/chunks/blobs/{d}")))
        .send()
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(header(&head, "Content-Length"), "20");
    assert_eq!(header(&head, "Docker-Content-Digest"), d);
    let get = http
        .get(served.url(&format!("/v2/chunks/blobs/{d}")))
        .send()
        .expect("GET");
    assert_eq!(get.bytes().expect("body").as_ref(), data);
    let part = http
        .get(served.url(&format!("/v2/chunks/blobs/{d}")))
        .header("Range", "bytes=5-9")
        .send()
        .expect("GET range");
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().expect("body").as_ref(), b"56789");
}

#[test]
fn a_content_range_without_a_length_is_refused_with_416() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let location = header(
        &http
            .post(served.url("/v2/huge/blobs/uploads/"))
            .send()
            .expect("POST"),
        "Location",
    );
    // 0-18446744073709551615 would be 2^64 bytes: its length does not fit in a u64.
    for range in [
        "0-18446744073709551615",
        "bytes 0-18446744073709551615/*",
        "0-99999999999999999999",
    ] {
        let refused = http
            .patch(served.url(&location))
            .header("Content-Range", range)
            .body("x")
            .send()
            .expect("PATCH with an impossible range");
        assert_eq!(refused.status().as_u16(), 416, "{range}");
        assert_eq!(error_code(refused), "RANGE_INVALID", "{range}");
    }
    // The session is untouched and still works.
    let status = http.get(served.url(&location)).send().expect("status");
    assert_eq!(status.status().as_u16(), 204);
    assert_eq!(header(&status, "Range"), "0-0");
    let chunk = http
        .patch(served.url(&location))
        .header("Content-Range", "0-0")
        .body("x")
        .send()
        .expect("PATCH");
    assert_eq!(chunk.status().as_u16(), 202);
    let d = digest(b"x");
    let done = http
        .put(served.url(&format!("{location}?digest={d}")))
        .send()
        .expect("PUT");
    assert_eq!(done.status().as_u16(), 201);
}

#[test]
fn blobs_are_per_repository_and_mountable() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let d = push_blob(&served, "a/one", b"shared layer");
    let head = http
        .head(served.url(&format!("/v2/b/two/blobs/{d}")))
        .send()
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 404, "not linked into b/two yet");
    let missing = http
        .get(served.url(&format!("/v2/b/two/blobs/{d}")))
        .send()
        .expect("GET");
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(error_code(missing), "BLOB_UNKNOWN");

    let before = served.stats();
    let mounted = http
        .post(served.url(&format!("/v2/b/two/blobs/uploads/?mount={d}&from=a/one")))
        .send()
        .expect("mount");
    assert_eq!(mounted.status().as_u16(), 201);
    assert_eq!(header(&mounted, "Docker-Content-Digest"), d);
    let after = served.stats();
    assert_eq!(after.blobs_mounted, before.blobs_mounted + 1);
    assert_eq!(after.blobs_uploaded, before.blobs_uploaded);
    let head = http
        .head(served.url(&format!("/v2/b/two/blobs/{d}")))
        .send()
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 200);

    // A mount from a repository that lacks the blob falls back to an upload session.
    let fallback = http
        .post(served.url(&format!(
            "/v2/c/blobs/uploads/?mount={}&from=a/one",
            digest(b"nope")
        )))
        .send()
        .expect("mount fallback");
    assert_eq!(fallback.status().as_u16(), 202);
    assert!(header(&fallback, "Location").starts_with("/v2/c/blobs/uploads/"));

    let deleted = http
        .delete(served.url(&format!("/v2/b/two/blobs/{d}")))
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status().as_u16(), 202);
    let head = http
        .head(served.url(&format!("/v2/b/two/blobs/{d}")))
        .send()
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 404);
    let head = http
        .head(served.url(&format!("/v2/a/one/blobs/{d}")))
        .send()
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 200, "still in a/one");
}

#[test]
fn manifests_keep_their_bytes_media_type_and_references() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let name = "team/app";
    // Bytes with unusual spacing: served back exactly.
    let mut manifest = push_image(&served, name, "exact");
    manifest.extend_from_slice(b"\n  ");
    let d = digest(&manifest);
    let put = put_manifest(&served, name, "v1", OCI_MANIFEST, &manifest);
    assert_eq!(put.status().as_u16(), 201);
    assert_eq!(header(&put, "Docker-Content-Digest"), d);
    assert_eq!(
        header(&put, "Location"),
        format!("/v2/{name}/manifests/{d}")
    );

    for reference in ["v1", d.as_str()] {
        let got = http
            .get(served.url(&format!("/v2/{name}/manifests/{reference}")))
            .header("Accept", OCI_MANIFEST)
            .send()
            .expect("GET manifest");
        assert_eq!(got.status().as_u16(), 200);
        assert_eq!(header(&got, "Content-Type"), OCI_MANIFEST);
        assert_eq!(header(&got, "Docker-Content-Digest"), d);
        assert_eq!(got.bytes().expect("body").as_ref(), manifest.as_slice());
        let head = http
            .head(served.url(&format!("/v2/{name}/manifests/{reference}")))
            .send()
            .expect("HEAD manifest");
        assert_eq!(head.status().as_u16(), 200);
        assert_eq!(header(&head, "Content-Length"), manifest.len().to_string());
    }

    // An index and a Docker manifest list that name it.
    for (tag, media_type) in [("index", OCI_INDEX), ("list", DOCKER_LIST)] {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [{
                "mediaType": OCI_MANIFEST,
                "digest": d,
                "size": manifest.len(),
                "platform": {"architecture": "amd64", "os": "linux"},
            }],
        }))
        .expect("index JSON");
        let put = put_manifest(&served, name, tag, media_type, &index);
        assert_eq!(put.status().as_u16(), 201);
        let got = http
            .get(served.url(&format!("/v2/{name}/manifests/{tag}")))
            .send()
            .expect("GET index");
        assert_eq!(header(&got, "Content-Type"), media_type);
        assert_eq!(got.bytes().expect("body").as_ref(), index.as_slice());
    }

    // References that are not in the repository are refused.
    let dangling = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(b"absent"), "size": 6},
        "layers": [],
    }))
    .expect("JSON");
    let refused = put_manifest(&served, name, "dangling", OCI_MANIFEST, &dangling);
    assert_eq!(refused.status().as_u16(), 400);
    assert_eq!(error_code(refused), "MANIFEST_BLOB_UNKNOWN");
    let refused = put_manifest(&served, name, "bad", OCI_MANIFEST, b"not json");
    assert_eq!(error_code(refused), "MANIFEST_INVALID");
    let refused = put_manifest(&served, name, "bad+tag", OCI_MANIFEST, &manifest);
    assert_eq!(error_code(refused), "TAG_INVALID");

    // Deleting by digest removes the manifest and the tags that pointed at it.
    let deleted = http
        .delete(served.url(&format!("/v2/{name}/manifests/{d}")))
        .send()
        .expect("DELETE");
    assert_eq!(deleted.status().as_u16(), 202);
    let gone = http
        .get(served.url(&format!("/v2/{name}/manifests/v1")))
        .send()
        .expect("GET");
    assert_eq!(gone.status().as_u16(), 404);
    assert_eq!(error_code(gone), "MANIFEST_UNKNOWN");
}

#[test]
fn tags_and_catalog_paginate_with_link_headers() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let name = "paged/app";
    let manifest = push_image(&served, name, "paged");
    let mut expected: Vec<String> = (0..7).map(|i| format!("t{i}")).collect();
    expected.push("latest".into());
    for tag in &expected {
        let put = put_manifest(&served, name, tag, OCI_MANIFEST, &manifest);
        assert_eq!(put.status().as_u16(), 201);
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut next = Some(format!("/v2/{name}/tags/list?n=3"));
    let mut pages = 0;
    while let Some(path) = next.take() {
        let page = http.get(served.url(&path)).send().expect("GET tags");
        assert_eq!(page.status().as_u16(), 200);
        let link = header(&page, "Link");
        let body: serde_json::Value = page.json().expect("JSON");
        assert_eq!(body["name"], name);
        let tags: Vec<String> = body["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        assert!(tags.len() <= 3);
        seen.extend(tags);
        pages += 1;
        if !link.is_empty() {
            assert!(link.ends_with(">; rel=\"next\""), "{link}");
            next = Some(link[1..link.find('>').expect("link")].to_string());
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let all: serde_json::Value = http
        .get(served.url(&format!("/v2/{name}/tags/list")))
        .send()
        .expect("GET all")
        .json()
        .expect("JSON");
    assert_eq!(all["tags"].as_array().map(Vec::len), Some(expected.len()));
    let after: serde_json::Value = http
        .get(served.url(&format!("/v2/{name}/tags/list?last=t5")))
        .send()
        .expect("GET after")
        .json()
        .expect("JSON");
    assert_eq!(after["tags"], serde_json::json!(["t6"]));

    let unknown = http
        .get(served.url("/v2/nobody/tags/list"))
        .send()
        .expect("GET");
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(error_code(unknown), "NAME_UNKNOWN");

    put_manifest(
        &served,
        "another",
        "1",
        OCI_MANIFEST,
        &push_image(&served, "another", "x"),
    );
    let first = http
        .get(served.url("/v2/_catalog?n=1"))
        .send()
        .expect("catalog");
    assert_eq!(
        header(&first, "Link"),
        "</v2/_catalog?n=1&last=another>; rel=\"next\""
    );
    let body: serde_json::Value = first.json().expect("JSON");
    assert_eq!(body["repositories"], serde_json::json!(["another"]));
    let rest: serde_json::Value = http
        .get(served.url("/v2/_catalog?n=1&last=another"))
        .send()
        .expect("catalog 2")
        .json()
        .expect("JSON");
    assert_eq!(rest["repositories"], serde_json::json!([name]));
}

#[test]
fn errors_are_distribution_json() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let http = client();
    let response = http
        .get(served.url(&format!("/v2/app/blobs/{}", digest(b"nothing"))))
        .send()
        .expect("GET");
    assert_eq!(response.status().as_u16(), 404);
    assert!(header(&response, "Content-Type").starts_with("application/json"));
    let body: serde_json::Value = response.json().expect("JSON");
    assert_eq!(body["errors"][0]["code"], "BLOB_UNKNOWN");
    assert!(body["errors"][0]["message"].is_string());

    let bad_name = http
        .get(served.url("/v2/Upper/tags/list"))
        .send()
        .expect("GET");
    assert_eq!(error_code(bad_name), "NAME_INVALID");
    let bad_digest = http
        .get(served.url("/v2/app/blobs/sha256:short"))
        .send()
        .expect("GET");
    assert_eq!(error_code(bad_digest), "DIGEST_INVALID");
    let wrong_method = http
        .post(served.url("/v2/app/tags/list"))
        .send()
        .expect("POST");
    assert_eq!(wrong_method.status().as_u16(), 405);
    assert_eq!(error_code(wrong_method), "UNSUPPORTED");
    let no_session = http
        .patch(served.url("/v2/app/blobs/uploads/not-a-session"))
        .body("x")
        .send()
        .expect("PATCH");
    assert_eq!(error_code(no_session), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn content_survives_a_restart_on_the_same_root() {
    let dir = temp_dir();
    let first = Served::start(dir.path());
    let name = "kept/app";
    let manifest = push_image(&first, name, "kept");
    let put = put_manifest(&first, name, "v1", OCI_MANIFEST, &manifest);
    assert_eq!(put.status().as_u16(), 201);
    let layer = digest(b"layer for kept");
    first.stop();

    let second = Served::start(dir.path());
    let http = client();
    let got = http
        .get(second.url(&format!("/v2/{name}/manifests/v1")))
        .send()
        .expect("GET manifest");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().expect("body").as_ref(), manifest.as_slice());
    let blob = http
        .get(second.url(&format!("/v2/{name}/blobs/{layer}")))
        .send()
        .expect("GET blob");
    assert_eq!(blob.bytes().expect("body").as_ref(), b"layer for kept");
    let tags: serde_json::Value = http
        .get(second.url(&format!("/v2/{name}/tags/list")))
        .send()
        .expect("tags")
        .json()
        .expect("JSON");
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
    let catalog: serde_json::Value = http
        .get(second.url("/v2/_catalog"))
        .send()
        .expect("catalog")
        .json()
        .expect("JSON");
    assert_eq!(catalog["repositories"], serde_json::json!([name]));
}

#[test]
fn concurrent_uploads_of_the_same_blob_are_safe() {
    let dir = temp_dir();
    let served = Served::start(dir.path());
    let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let d = digest(&data);
    std::thread::scope(|scope| {
        for i in 0..6 {
            let (served, data, d) = (&served, &data, &d);
            scope.spawn(move || {
                let http = client();
                let name = format!("race/r{}", i % 2);
                let location = header(
                    &http
                        .post(served.url(&format!("/v2/{name}/blobs/uploads/")))
                        .send()
                        .expect("POST"),
                    "Location",
                );
                let patched = http
                    .patch(served.url(&location))
                    .body(data.clone())
                    .send()
                    .expect("PATCH");
                assert_eq!(patched.status().as_u16(), 202);
                let done = http
                    .put(served.url(&format!("{location}?digest={d}")))
                    .send()
                    .expect("PUT");
                assert_eq!(done.status().as_u16(), 201);
            });
        }
    });
    for name in ["race/r0", "race/r1"] {
        let got = client()
            .get(served.url(&format!("/v2/{name}/blobs/{d}")))
            .send()
            .expect("GET");
        assert_eq!(got.bytes().expect("body").as_ref(), data.as_slice());
    }
    assert_eq!(served.stats().blobs_uploaded, 6);
}

#[test]
fn only_loopback_addresses_are_served_by_default() {
    let dir = temp_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let addr = "0.0.0.0:0".parse().expect("address");
    let refused = runtime.block_on(wharf_registry::LocalRegistry::start(
        dir.path().to_path_buf(),
        addr,
    ));
    assert!(matches!(
        refused,
        Err(wharf_registry::RegistryError::NotLoopback(_))
    ));
}
