//! Login and logout stored the way `docker login` stores them: docker (the CLI and
//! dockerd) uses what wharf stored, wharf uses what docker stored, and credential
//! helpers get `store`/`erase` as docker calls them.

mod support;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::{Command, Stdio};

use support::{client, skopeo};
use wharf_e2e::{Registry, busybox_image, require_docker};
use wharf_registry::credentials::{CredentialLookup, StoredIn};
use wharf_registry::{Credential, ImageRef, Keychain};

const USER: &str = "wharf";
const PASSWORD: &str = "abc>>>def";

fn docker(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("docker runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_uses_what_wharf_stored_and_wharf_uses_what_docker_stored() {
    require_docker!();
    let registry = Registry::start_with_auth(USER, PASSWORD);
    let image = format!("{}/login/busybox:1", registry.host);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        &format!("{USER}:{PASSWORD}"),
        &format!("docker-daemon:{}", busybox_image()),
        &format!("docker://{image}"),
    ]);

    // wharf checks the login as docker does, then stores it.
    let dir = tempfile::tempdir().expect("temp");
    let credential = Credential::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let anonymous = client(Keychain::anonymous());
    let to_store = anonymous
        .check_login(&registry.host, &credential)
        .await
        .expect("login accepted");
    assert_eq!(
        to_store, credential,
        "htpasswd registries issue no refresh token"
    );
    let lookup = CredentialLookup::new(dir.path().to_path_buf());
    let stored = lookup.store(&registry.host, &to_store).expect("stored");
    assert_eq!(stored, StoredIn::ConfigFile(dir.path().join("config.json")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("config.json"))
            .expect("config")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // docker pulls with it.
    let pulled = docker(dir.path(), &["pull", &image]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();

    // After logout, docker cannot.
    assert!(lookup.erase(&registry.host).expect("erased"));
    assert!(!lookup.erase(&registry.host).expect("nothing left"));
    let refused = docker(dir.path(), &["pull", &image]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        stderr.contains("auth") || stderr.contains("unauthorized"),
        "{stderr}"
    );

    // docker logs in; wharf reads what it stored.
    let mut login = Command::new("docker")
        .arg("--config")
        .arg(dir.path())
        .args(["login", "-u", USER, "--password-stdin", &registry.host])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker login");
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(PASSWORD.as_bytes())
        .expect("password");
    let out = login.wait_with_output().expect("docker login");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wharf = client(Keychain::docker_config(dir.path().to_path_buf()));
    let reference = ImageRef::parse(&image).expect("ref");
    wharf
        .pull_manifest(&reference)
        .await
        .expect("wharf pulls with docker's login");
}

/// A `docker-credential-fake` that logs each call's action and input.
fn fake_helper() -> (tempfile::TempDir, OsString) {
    let dir = tempfile::tempdir().expect("temp");
    let log = dir.path().join("calls.log");
    let script = format!(
        "#!/bin/sh\ninput=$(cat)\nprintf '%s %s\\n' \"$1\" \"$input\" >> '{}'\ncase \"$1\" in\n  get) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
        log.display()
    );
    let source = dir.path().join("helper.sh");
    std::fs::write(&source, script).expect("script");
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(&source)
        .arg(dir.path().join("docker-credential-fake"))
        .status()
        .expect("install");
    assert!(status.success());
    let mut path = OsString::from(dir.path());
    if let Some(system) = std::env::var_os("PATH") {
        path.push(":");
        path.push(system);
    }
    (dir, path)
}

#[test]
fn credential_helpers_get_store_and_erase_and_the_file_keeps_the_rest() {
    let (helper_dir, path) = fake_helper();
    let dir = tempfile::tempdir().expect("temp");
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"credsStore":"fake","auths":{"other.example":{"auth":"dTpw"}},"psFormat":"table {{.ID}}"}"#,
    )
    .expect("config");
    let lookup = CredentialLookup::new(dir.path().to_path_buf()).helper_path(path);
    let stored = lookup
        .store(
            "reg.example",
            &Credential::Basic {
                username: "me".into(),
                password: "pw-in-helper".into(),
            },
        )
        .expect("stored");
    assert_eq!(stored, StoredIn::Helper("docker-credential-fake".into()));
    lookup
        .store(
            "tok.example",
            &Credential::IdentityToken("refresh-xyz".into()),
        )
        .expect("stored token");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("read"))
            .expect("json");
    // Like docker: an empty entry in auths, the secret in the helper, the rest kept.
    assert_eq!(config["auths"]["reg.example"], serde_json::json!({}));
    assert_eq!(config["auths"]["other.example"]["auth"], "dTpw");
    assert_eq!(config["psFormat"], "table {{.ID}}");
    let text = std::fs::read_to_string(dir.path().join("config.json")).expect("read");
    assert!(
        !text.contains("pw-in-helper") && !text.contains("refresh-xyz"),
        "{text}"
    );
    let calls = std::fs::read_to_string(helper_dir.path().join("calls.log")).expect("calls");
    assert!(
        calls.contains(
            r#"store {"ServerURL":"reg.example","Username":"me","Secret":"pw-in-helper"}"#
        ),
        "{calls}"
    );
    assert!(
        calls.contains(r#""Username":"<token>","Secret":"refresh-xyz""#),
        "{calls}"
    );

    assert!(lookup.erase("reg.example").expect("erased"));
    let calls = std::fs::read_to_string(helper_dir.path().join("calls.log")).expect("calls");
    assert!(calls.lines().any(|l| l == "erase reg.example"), "{calls}");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("read"))
            .expect("json");
    assert!(config["auths"].get("reg.example").is_none());
    assert_eq!(config["auths"]["other.example"]["auth"], "dTpw");
}

#[test]
fn a_broken_config_file_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("temp");
    std::fs::write(dir.path().join("config.json"), "{\n  \"auths\": {,\n}").expect("config");
    let err = CredentialLookup::new(dir.path().to_path_buf())
        .store(
            "reg.example",
            &Credential::Basic {
                username: "u".into(),
                password: "secret-value".into(),
            },
        )
        .expect_err("invalid JSON");
    let text = err.to_string();
    assert!(
        text.contains("config.json") && text.contains("line 2"),
        "{text}"
    );
    assert!(!text.contains("secret-value"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).expect("read"),
        "{\n  \"auths\": {,\n}"
    );
}
