//! Shared fixtures for tests that need real parts: a Docker engine, a base image
//! built locally (no image can be pulled here), and a real distribution registry
//! (`docker-registry` from Debian) with optional htpasswd auth.
//!
//! Tests that need Docker call [`require_docker!`]: in CI (`CI=true`) a missing
//! engine fails the test; elsewhere the test is skipped with a printed reason.

pub mod plugin_langs;
pub mod plugins;
pub mod receiver;

pub use receiver::{Received, Receiver};

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Whether a Docker engine answers.
pub fn docker_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Whether this run is CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns from the test (with a printed reason) when Docker is missing, except in
/// CI, where it fails.
#[macro_export]
macro_rules! require_docker {
    () => {
        if !$crate::docker_available() {
            if $crate::in_ci() {
                panic!("this test needs a Docker engine, and CI=true: start dockerd (see .ci/run)");
            }
            eprintln!("skipped: no Docker engine answers (set CI=true to make this a failure)");
            return;
        }
    };
}

/// Runs a command and returns its stdout; panics with its stderr on failure.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The name of a small local image with a static busybox: `/bin/sh`, `echo`,
/// `sleep`, `wget`, `httpd`, `nc`, ... Built once per test process from Debian's
/// busybox-static, `FROM scratch`.
pub fn busybox_image() -> &'static str {
    const IMAGE: &str = "wharf-test/busybox:1";
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let present = Command::new("docker")
            .args(["image", "inspect", IMAGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if present {
            return;
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| panic!("busybox-static is not installed (apt-get install busybox-static)"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(busybox, dir.path().join("busybox")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\nCMD [\"sh\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        sh(Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args(["build", "-q", "-t", IMAGE])
            .arg(dir.path()));
    });
    IMAGE
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A running distribution registry (`docker-registry serve`) on loopback, removed on drop.
pub struct Registry {
    /// `127.0.0.1:PORT`, usable as an image name prefix.
    pub host: String,
    /// The htpasswd user and password, when auth is on.
    pub credentials: Option<(String, String)>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// The registry server's process id (benchmarks read its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts a registry without auth.
    pub fn start() -> Registry {
        Registry::start_with(None)
    }

    /// Starts a registry with htpasswd auth for one user (bcrypt, as distribution requires).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::start_with(Some((user.to_string(), password.to_string())))
    }

    /// Starts a registry with distribution's token auth: clients are sent to `realm`
    /// for a JWT issued by `issuer` for `service`, signed by a key whose certificate
    /// is in `rootcertbundle` (PEM). The test provides the token server.
    pub fn start_with_token(
        realm: &str,
        service: &str,
        issuer: &str,
        rootcertbundle: &Path,
    ) -> Registry {
        Registry::start_configured(
            None,
            &format!(
                "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
                rootcertbundle.display()
            ),
        )
    }

    fn start_with(credentials: Option<(String, String)>) -> Registry {
        Registry::start_configured(credentials, "")
    }

    fn start_configured(credentials: Option<(String, String)>, auth: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = &credentials {
            let htpasswd = dir.path().join("htpasswd");
            let line = sh(Command::new("htpasswd").args(["-Bbn", user, password]));
            std::fs::write(&htpasswd, line.trim()).unwrap_or_else(|e| panic!("{e}"));
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wharf-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        config.push_str(auth);
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap_or_else(|e| panic!("{e}"));
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start docker-registry (apt-get install docker-registry): {e}")
            });
        let registry = Registry {
            host,
            credentials,
            child,
            _dir: dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(&self.host) {
                let _ = write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
                let mut response = String::new();
                let _ = std::io::Read::read_to_string(&mut stream, &mut response);
                if response.starts_with("HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry at {} did not start", self.host);
    }

    /// The registry's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Writes a docker config.json that logs in to this registry, and returns its directory
    /// (for `DOCKER_CONFIG`).
    pub fn docker_config(&self, dir: &Path) -> PathBuf {
        use base64::Engine as _;
        let auths = match &self.credentials {
            Some((user, password)) => {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                format!(
                    "{{\"auths\":{{\"{}\":{{\"auth\":\"{auth}\"}}}}}}",
                    self.host
                )
            }
            None => "{\"auths\":{}}".to_string(),
        };
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("config.json"), auths).unwrap_or_else(|e| panic!("{e}"));
        dir.to_path_buf()
    }

    /// The tags of `repository`, read with skopeo (an independent client).
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let mut cmd = Command::new("skopeo");
        cmd.args(["list-tags", "--tls-verify=false"]);
        if let Some((user, password)) = &self.credentials {
            cmd.arg("--creds").arg(format!("{user}:{password}"));
        }
        cmd.arg(format!("docker://{}/{repository}", self.host));
        let out = sh(&mut cmd);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        json["Tags"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Docker objects (containers, networks, volumes) carrying a label, as `kind name` lines.
pub fn labelled(label: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (kind, args) in [
        (
            "container",
            vec!["ps", "-a", "--format", "{{.Names}}", "--filter"],
        ),
        (
            "network",
            vec!["network", "ls", "--format", "{{.Name}}", "--filter"],
        ),
        (
            "volume",
            vec!["volume", "ls", "--format", "{{.Name}}", "--filter"],
        ),
    ] {
        let out = sh(Command::new("docker")
            .args(args)
            .arg(format!("label={label}")));
        found.extend(
            out.lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{kind} {l}")),
        );
    }
    found
}

/// Removes `repository:tag` from the engine for each tag, ignoring ones that are
/// not there (a test's cleanup of the images it made).
pub fn remove_images(repository: &str, tags: &[&str]) {
    for tag in tags {
        let _ = Command::new("docker")
            .args(["rmi", &format!("{repository}:{tag}")])
            .output();
    }
}

/// Builds the hello-web example's static binary (in its own target dir, so the
/// nested cargo does not wait for the outer one).
pub fn hello_web_binary() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/hello-web-static");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let host = sh(Command::new(rustc).arg("-vV"))
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap_or_else(|| panic!("rustc -vV printed no host"));
    sh(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args([
                "build",
                "-q",
                "--release",
                "-p",
                "hello-web",
                "--target",
                &host,
            ])
            .env("CARGO_TARGET_DIR", &target)
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    );
    target.join(&host).join("release/hello-web")
}
