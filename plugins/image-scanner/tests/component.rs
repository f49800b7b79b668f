//! image-scanner as a component in the real host, on an image built by the real
//! Docker engine and read from its `docker save` archive.

use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use wharf_e2e::{busybox_image, require_docker, sh};
use wharf_plugin_host::*;

fn host() -> &'static PluginHost {
    static HOST: OnceLock<PluginHost> = OnceLock::new();
    HOST.get_or_init(|| {
        PluginHost::new(HostConfig {
            cache_dir: Some(wharf_e2e::plugins::workspace_root().join("target/plugin-cache-tests")),
            ..HostConfig::default()
        })
        .expect("host")
    })
}

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn line(&self, _: LogSource, text: &str) {
        self.0.lock().expect("lock").push(text.into());
    }
}

const FAKE_KEY_LINE: &str = "MIIEowIBAAKCAQEAwharfTestKeyNotARealKeyAtAll0123456789";
const DB_PASSWORD: &str = "hunter2-do-not-ship";

/// Builds a busybox image with planted problems and saves it; returns the archive
/// (in `dir`) and the image name.
fn planted_image(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(ctx.join("app")).expect("mkdir");
    std::fs::write(
        ctx.join("app/id_rsa"),
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{FAKE_KEY_LINE}\n-----END RSA PRIVATE KEY-----\n"
        ),
    )
    .expect("write");
    std::fs::write(
        ctx.join("app/.env"),
        format!("DB_PASSWORD={DB_PASSWORD}\nPORT=80\n"),
    )
    .expect("write");
    std::fs::write(ctx.join("app/tool"), "#!/bin/sh\necho tool\n").expect("write");
    std::fs::write(ctx.join("app/open.txt"), "anyone may write me\n").expect("write");
    std::fs::write(
        ctx.join("status"),
        "Package: openssl\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\n\nPackage: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n",
    )
    .expect("write");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nCOPY app /app\nCOPY status /var/lib/dpkg/status\nRUN chmod 4755 /app/tool && chmod 666 /app/open.txt\nLABEL org.opencontainers.image.source=https://example.com/app\n",
            busybox_image()
        ),
    )
    .expect("write");
    let image = "wharf-test/scan-planted:1".to_string();
    sh(Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &image])
        .arg(&ctx));
    let archive = dir.join("image.tar");
    sh(Command::new("docker")
        .args(["save", "-o"])
        .arg(&archive)
        .arg(&image));
    (archive, image)
}

async fn scan(
    archive: &std::path::Path,
    image: &str,
    with: &[(&str, &str)],
    read: &[String],
    context: &std::path::Path,
) -> (Result<CallOutcome, CallError>, Arc<Lines>) {
    let plugin = host()
        .load_file(&wharf_e2e::plugins::plugin_wasm("image-scanner"))
        .expect("load");
    assert_eq!(plugin.world(), World::Scanner);
    let lines = Arc::new(Lines::default());
    let access = ImageArchive::open(archive).expect("archive");
    let input = CallInput {
        with: with
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect(),
        grants: Grants {
            read: read.to_vec(),
            ..Grants::default()
        },
        limits: Limits {
            timeout: Duration::from_secs(60),
            ..Limits::default()
        },
        run: RunInfo {
            id: "scan1".into(),
            step_id: "scan".into(),
            ..RunInfo::default()
        },
        context_dir: Some(context.to_path_buf()),
        env: vec![],
        secrets: vec![],
        subject: Subject::Image(ImageRef {
            reference: image.into(),
            registry: "docker.io".into(),
            repository: "wharf-test/scan-planted".into(),
            tag: Some("1".into()),
            digest: None,
        }),
    };
    let services = Services {
        log: lines.clone(),
        image: Some(Arc::new(access)),
        tags: None,
        reports: Some(Arc::new(DirectoryReports {
            dir: context.join("reports"),
            prefix: "reports".into(),
        })),
    };
    (host().call(&plugin, input, services).await, lines)
}

#[tokio::test]
async fn planted_secrets_policy_problems_and_vulnerable_packages_are_found_and_reported() {
    require_docker!();
    let dir = tempfile::tempdir().expect("tempdir");
    let (archive, image) = planted_image(dir.path());
    std::fs::write(
        dir.path().join("osv.json"),
        r#"[{"id": "CVE-2099-0001", "summary": "a planted hole", "database_specific": {"severity": "CRITICAL"},
             "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}]}]}]"#,
    )
    .expect("write");
    let (r, lines) = scan(
        &archive,
        &image,
        &[("osv", "osv.json")],
        &["osv.json".to_string()],
        dir.path(),
    )
    .await;
    let outcome = r.expect("scanned");
    let rules: Vec<(&str, Option<&str>)> = outcome
        .findings
        .iter()
        .map(|f| (f.rule_id.as_str(), f.path.as_deref()))
        .collect();
    for want in [
        ("secret/private-key", Some("app/id_rsa")),
        ("secret/dotenv-file", Some("app/.env")),
        ("policy/setuid", Some("app/tool")),
        ("policy/world-writable", Some("app/open.txt")),
        ("policy/runs-as-root", None),
        ("policy/no-healthcheck", None),
        ("CVE-2099-0001", Some("var/lib/dpkg/status")),
    ] {
        assert!(rules.contains(&want), "{want:?} not in {rules:?}");
    }
    // One OCI label is set, two are missing.
    assert_eq!(
        rules
            .iter()
            .filter(|(r, _)| *r == "policy/missing-label")
            .count(),
        2,
        "{rules:?}"
    );
    for f in &outcome.findings {
        assert!(
            !f.message.contains(FAKE_KEY_LINE) && !f.message.contains(DB_PASSWORD),
            "a finding quotes a secret: {}",
            f.message
        );
    }
    assert_eq!(
        outcome.output("packages"),
        Some(&OutputValue::Text("2".into()))
    );
    assert_eq!(
        outcome.output("critical"),
        Some(&OutputValue::Text("2".into()))
    );
    assert_eq!(outcome.failed, None, "no failOn, no failure");
    let sarif: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("reports/scan.sarif")).expect("sarif written"),
    )
    .expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(outcome.findings.len())
    );
    let bom: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("reports/sbom.cdx.json")).expect("sbom written"),
    )
    .expect("bom json");
    assert_eq!(bom["components"].as_array().map(Vec::len), Some(2));
    assert_eq!(bom["vulnerabilities"][0]["id"], "CVE-2099-0001");
    let log = lines.0.lock().expect("lock").join("\n");
    assert!(log.contains("scanned wharf-test/scan-planted:1"), "{log}");

    // failOn: the scan completes and fails the step.
    let (r, _) = scan(&archive, &image, &[("failOn", "critical")], &[], dir.path()).await;
    let outcome = r.expect("scanned");
    assert!(
        outcome
            .failed
            .as_deref()
            .is_some_and(|f| f.contains("at or above critical")),
        "{:?}",
        outcome.failed
    );

    // The OSV file without a read grant: refused, naming the grant.
    let (r, _) = scan(&archive, &image, &[("osv", "osv.json")], &[], dir.path()).await;
    let e = r.expect_err("denied");
    assert!(e.to_string().contains("allow"), "{e}");
    let _ = Command::new("docker").args(["rmi", &image]).output();
}
