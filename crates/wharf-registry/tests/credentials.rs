//! Credential lookup against real config directories and a fake credential helper
//! (a shell script) found on `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use wharf_registry::credentials::CredentialLookup;
use wharf_registry::{Credential, lookup_in};

fn config_dir(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("config.json"), json).expect("config.json");
    dir
}

fn basic(username: &str, password: &str) -> Option<Credential> {
    Some(Credential::Basic {
        username: username.into(),
        password: password.into(),
    })
}

fn auth(user_password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(user_password)
}

fn found(dir: &Path, host: &str) -> Option<Credential> {
    lookup_in(dir, host).unwrap_or_else(|e| panic!("lookup {host}: {e}"))
}

/// A `docker-credential-fake` that knows `fake.example` (basic), `token.example`
/// (identity token), fails for `broken.example`, prints a secret without JSON for
/// `garbled.example`, and says "credentials not found" otherwise. It records each
/// server URL it is asked about in `asked.log`.
fn fake_helper() -> (tempfile::TempDir, OsString) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("asked.log");
    let script = format!(
        r#"#!/bin/sh
[ "$1" = get ] || exit 2
server=$(cat)
echo "$server" >> '{log}'
case "$server" in
  fake.example) echo '{{"ServerURL":"fake.example","Username":"helper-user","Secret":"helper-pass"}}' ;;
  token.example) echo '{{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-token-value"}}' ;;
  https://index.docker.io/v1/) echo '{{"Username":"hub-user","Secret":"hub-pass"}}' ;;
  broken.example) echo 'keychain locked' >&2; exit 1 ;;
  garbled.example) echo 'garbled-secret-value' ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#,
        log = log.display()
    );
    // Written by `install`, not by this process: a file this process had open for
    // writing could be inherited by a child another test thread is forking, and
    // running the script would then fail with "text file busy".
    let source = dir.path().join("helper.sh");
    std::fs::write(&source, script).expect("helper source");
    let helper = dir.path().join("docker-credential-fake");
    let installed = Command::new("install")
        .args(["-m", "0755"])
        .arg(&source)
        .arg(&helper)
        .status()
        .expect("install");
    assert!(installed.success());
    let mut path = OsString::from(dir.path());
    if let Some(system) = std::env::var_os("PATH") {
        path.push(":");
        path.push(system);
    }
    (dir, path)
}

fn asked(helper_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(helper_dir.join("asked.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn auths_entries_in_every_key_form() {
    let dir = config_dir(&format!(
        r#"{{"auths": {{
            "plain.example": {{"auth": "{}"}},
            "https://scheme.example": {{"auth": "{}"}},
            "http://legacy.example/v1/": {{"username": "u3", "password": "p3"}},
            "https://index.docker.io/v1/": {{"auth": "{}"}},
            "acr.example": {{"identitytoken": "refresh-me"}},
            "ported.example:5000": {{"auth": "{}"}},
            "empty.example": {{}}
        }}}}"#,
        auth("u1:p1"),
        auth("u2:p2:with:colons"),
        auth("hub:secret"),
        auth("u5:p5"),
    ));
    let d = dir.path();
    assert_eq!(found(d, "plain.example"), basic("u1", "p1"));
    assert_eq!(found(d, "scheme.example"), basic("u2", "p2:with:colons"));
    assert_eq!(found(d, "legacy.example"), basic("u3", "p3"));
    assert_eq!(found(d, "docker.io"), basic("hub", "secret"));
    assert_eq!(found(d, "index.docker.io"), basic("hub", "secret"));
    assert_eq!(
        found(d, "acr.example"),
        Some(Credential::IdentityToken("refresh-me".into()))
    );
    assert_eq!(found(d, "ported.example:5000"), basic("u5", "p5"));
    assert_eq!(
        found(d, "ported.example"),
        None,
        "the port is part of the host"
    );
    assert_eq!(found(d, "empty.example"), None);
    assert_eq!(found(d, "unknown.example"), None);
}

#[test]
fn docker_hub_keys_match_docker_io() {
    let dir = config_dir(&format!(
        r#"{{"auths": {{"docker.io": {{"auth": "{}"}}}}}}"#,
        auth("a:b")
    ));
    assert_eq!(found(dir.path(), "docker.io"), basic("a", "b"));
    assert_eq!(found(dir.path(), "registry-1.docker.io"), basic("a", "b"));
}

#[test]
fn no_config_file_means_no_credential() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert_eq!(found(dir.path(), "any.example"), None);
    assert_eq!(found(&dir.path().join("missing"), "any.example"), None);
}

#[test]
fn errors_never_show_secrets() {
    let dir = config_dir(r#"{"auths": {"x.example": {"auth": "not base64 TOPSECRET!"}}}"#);
    let err = lookup_in(dir.path(), "x.example").expect_err("bad auth");
    let message = err.to_string();
    assert!(message.contains("x.example"), "{message}");
    assert!(!message.contains("TOPSECRET"), "{message}");

    let dir = config_dir(r#"{"auths": "TOPSECRET"}"#);
    let err = lookup_in(dir.path(), "x.example").expect_err("bad shape");
    let message = err.to_string();
    assert!(message.contains("config.json"), "{message}");
    assert!(!message.contains("TOPSECRET"), "{message}");
    assert!(!format!("{err:?}").contains("TOPSECRET"));

    let (helper_dir, path) = fake_helper();
    let dir = config_dir(r#"{"credsStore": "fake"}"#);
    let lookup = CredentialLookup::new(dir.path().to_path_buf()).helper_path(path);
    let err = lookup
        .lookup("garbled.example")
        .expect_err("garbled helper");
    assert!(!err.to_string().contains("garbled-secret-value"), "{err}");
    assert!(!format!("{err:?}").contains("garbled-secret-value"));
    let err = lookup.lookup("broken.example").expect_err("failing helper");
    assert!(err.to_string().contains("keychain locked"), "{err}");
    drop(helper_dir);
}

#[test]
fn cred_helpers_then_creds_store_then_auths() {
    let (helper_dir, path) = fake_helper();
    let dir = config_dir(&format!(
        r#"{{
            "credsStore": "fake",
            "credHelpers": {{"token.example": "fake", "off.example": "absent-helper"}},
            "auths": {{
                "fake.example": {{"auth": "{}"}},
                "fileonly.example": {{"auth": "{}"}}
            }}
        }}"#,
        auth("file-user:file-pass"),
        auth("f:g"),
    ));
    let lookup = CredentialLookup::new(dir.path().to_path_buf()).helper_path(path);
    let get = |host: &str| {
        lookup
            .lookup(host)
            .unwrap_or_else(|e| panic!("{host}: {e}"))
    };

    // credHelpers names the helper for the host; its token comes back as one.
    assert_eq!(
        get("token.example"),
        Some(Credential::IdentityToken("refresh-token-value".into()))
    );
    // credsStore answers before auths.
    assert_eq!(get("fake.example"), basic("helper-user", "helper-pass"));
    // Docker Hub is asked for by its legacy server URL.
    assert_eq!(get("docker.io"), basic("hub-user", "hub-pass"));
    // "credentials not found" from the store: auths is next, then nothing.
    assert_eq!(get("fileonly.example"), basic("f", "g"));
    assert_eq!(get("nowhere.example"), None);
    assert_eq!(
        asked(helper_dir.path()),
        [
            "token.example",
            "fake.example",
            "https://index.docker.io/v1/",
            "fileonly.example",
            "nowhere.example"
        ]
    );
    // A helper that is not installed is an error naming it.
    let err = lookup.lookup("off.example").expect_err("missing helper");
    assert!(
        err.to_string().contains("docker-credential-absent-helper"),
        "{err}"
    );
}

/// The environment-driven `lookup()`, checked in a child process started with
/// `DOCKER_CONFIG` and `PATH` set (this crate forbids `unsafe`, so a test cannot
/// change its own environment). The child runs this same test, which sees
/// `WHARF_EXPECT_USER` and does the lookup.
#[test]
fn lookup_reads_docker_config_and_path() {
    if let Some(expected) = std::env::var_os("WHARF_EXPECT_USER") {
        let found = wharf_registry::lookup("fake.example").expect("lookup");
        let Some(Credential::Basic { username, .. }) = found else {
            panic!("no basic credential: {found:?}");
        };
        assert_eq!(OsString::from(username), expected);
        return;
    }
    let (_helper_dir, path) = fake_helper();
    let dir = config_dir(r#"{"credHelpers": {"fake.example": "fake"}}"#);
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "lookup_reads_docker_config_and_path"])
        .env("DOCKER_CONFIG", dir.path())
        .env("PATH", &path)
        .env("WHARF_EXPECT_USER", "helper-user")
        .output()
        .expect("child test");
    let output = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "{output}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(output.contains("1 passed"), "the child test ran: {output}");
}

#[test]
fn default_config_dir_is_docker_config_or_home() {
    let dir: Option<PathBuf> = wharf_registry::credentials::docker_config_dir();
    if let Some(explicit) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        assert_eq!(dir, Some(PathBuf::from(explicit)));
    } else if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        assert_eq!(dir, Some(PathBuf::from(home).join(".docker")));
    }
}
