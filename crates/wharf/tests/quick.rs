//! Quick tasks end to end: `wharf build` from a directory, a git repository and a
//! tarball URL, and `wharf run --cmd`, with the real binary, dockerd and a real
//! distribution registry.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use wharf_e2e::{Registry, busybox_image, labelled, require_docker, sh};

/// The binary, with its data directory (run history, wharf's registry) under `data`.
fn wharf(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1")
        .env_remove("WHARF_REGISTRY")
        .env("XDG_DATA_HOME", data);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

fn both(out: &Output) -> String {
    format!("{}\n{}", text(&out.stdout), text(&out.stderr))
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("{e}"));
}

fn assert_nothing_left(run_id: &str) {
    let left = labelled(&format!("dev.wharf.run={run_id}"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Whether `docker://host/repo:tag` exists, asked with skopeo.
fn in_registry(image: &str) -> bool {
    Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            &format!("docker://{image}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Text unique to this test run, so that BuildKit's cache never hides a step's output.
fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}")
}

/// Removes the images the test's builds tagged for `registry`.
fn remove_images(registry: &str) {
    let out = sh(Command::new("docker").args(["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    for image in out
        .lines()
        .filter(|l| l.starts_with(&format!("{registry}/")))
    {
        let _ = Command::new("docker").args(["rmi", "-f", image]).output();
    }
}

fn dockerfile() -> String {
    format!(
        "FROM {}\nARG A\nARG TOKEN\nRUN echo \"a=$A token=$TOKEN\" && echo {} > /built\n",
        busybox_image(),
        nonce()
    )
}

#[test]
fn build_from_a_directory_prefixes_the_registry_pushes_and_masks_secret_build_args() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start();
    write(dir.path(), "ctx/Dockerfile", &dockerfile());
    let out = output(
        wharf(&dir.path().join("data"))
            .current_dir(dir.path())
            .args([
                "build",
                "--id",
                "e2eqdir",
                "-t",
                "quick/app:1",
                "-t",
                "quick/app:also",
            ])
            .args(["--registry", &registry.host])
            .args([
                "--build-arg",
                "A=plain-value",
                "--secret-build-arg",
                "TOKEN=hunter2-quick",
            ])
            .arg("ctx"),
    );
    let all = both(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("a=plain-value"),
        "the build log is shown: {all}"
    );
    assert!(
        !all.contains("hunter2-quick"),
        "a secret build arg leaked: {all}"
    );
    assert!(all.contains("token=***"), "{all}");
    remove_images(&registry.host);
    let mut tags = registry.tags("quick/app");
    tags.sort();
    assert_eq!(tags, ["1", "also"]);
    assert_nothing_left("e2eqdir");

    // The history has the run, its masked log, the images and their base.
    let data = dir.path().join("data");
    let ls = output(wharf(&data).args(["runs", "ls", "-o", "json"]));
    let runs: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap_or_default();
    let run = &runs[0];
    assert_eq!(run["runId"], "e2eqdir", "{runs}");
    assert_eq!(run["status"], "Succeeded", "{runs}");
    assert_eq!(run["trigger"], "Manual", "{runs}");
    assert_eq!(run["task"], "(wharf build)", "{runs}");
    let pushed: Vec<&str> = run["pushed"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(pushed.len(), 2, "{runs}");
    assert!(
        pushed
            .iter()
            .all(|p| p.contains("/quick/app:") && p.contains("@sha256:")),
        "{pushed:?}"
    );
    let logs = text(&output(wharf(&data).args(["runs", "logs", "e2eqdir"])).stdout);
    assert!(
        logs.contains("a=plain-value") && logs.contains("token=***"),
        "{logs}"
    );
    assert!(!logs.contains("hunter2-quick"), "{logs}");
    let table = text(&output(wharf(&data).args(["runs", "ls"])).stdout);
    assert!(
        table.starts_with("RUN ID") && table.contains("TRIGGER") && table.contains("DURATION"),
        "{table}"
    );
    assert!(
        table.contains("e2eqdir") && table.contains("Succeeded"),
        "{table}"
    );
    let show = text(&output(wharf(&data).args(["runs", "show", "e2eqdir"])).stdout);
    assert!(
        show.contains(&format!("runtime base: {} @ sha256:", busybox_image())),
        "{show}"
    );
    assert!(
        show.contains("build  succeeded") && show.contains("push  succeeded"),
        "{show}"
    );
    let missing = output(wharf(&data).args(["runs", "show", "nosuchrun"]));
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn build_from_a_git_repository_ref_and_subdir_with_no_push() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap_or_else(|e| panic!("{e}"));
    let git = |args: &[&str]| {
        sh(Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args))
    };
    git(&["init", "-q", "-b", "main"]);
    write(
        &repo,
        "app/Dockerfile",
        &format!("FROM {}\nRUN echo from-main {}\n", busybox_image(), nonce()),
    );
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "main"]);
    git(&["checkout", "-q", "-b", "feature"]);
    write(
        &repo,
        "app/Dockerfile",
        &format!(
            "FROM {}\nRUN echo from-feature {}\n",
            busybox_image(),
            nonce()
        ),
    );
    git(&["commit", "-q", "-am", "feature"]);
    git(&["checkout", "-q", "main"]);

    let image = format!("{}/quick/git:1", registry.host);
    let out = output(
        wharf(&dir.path().join("data"))
            .args(["build", "--id", "e2eqgit", "-t", "quick/git:1", "--no-push"])
            .args(["--registry", &registry.host])
            .arg(format!("{}#feature:app", repo.display())),
    );
    let all = both(&out);
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("from-feature") && !all.contains("from-main"),
        "{all}"
    );
    assert!(!in_registry(&image), "--no-push pushed {image}");
    assert_nothing_left("e2eqgit");
}

/// Serves `body` to every GET on 127.0.0.1 (one thread, until the process ends).
fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}/src.tar.gz")
}

#[test]
fn build_from_a_tarball_url() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let registry = Registry::start();
    let src = dir.path().join("src");
    write(
        &src,
        "Dockerfile",
        &format!(
            "FROM {}\nCOPY hello.txt /\nRUN cat /hello.txt\n",
            busybox_image()
        ),
    );
    write(
        &src,
        "hello.txt",
        &format!("hello from the tarball {}\n", nonce()),
    );
    let tarball = dir.path().join("src.tar.gz");
    sh(Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .arg("."));
    let url = serve(std::fs::read(&tarball).unwrap_or_else(|e| panic!("{e}")));
    let out = output(
        wharf(&dir.path().join("data"))
            .args(["build", "--id", "e2eqtar", "-t", "quick/tar:1"])
            .args(["--registry", &registry.host])
            .arg(&url),
    );
    let all = both(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("hello from the tarball"), "{all}");
    remove_images(&registry.host);
    assert_eq!(registry.tags("quick/tar"), ["1"]);
    assert_nothing_left("e2eqtar");
}

#[test]
fn build_without_a_registry_targets_wharfs_own_and_bad_contexts_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    write(dir.path(), "Dockerfile", "FROM scratch\n");
    let out = output(
        wharf(&dir.path().join("data"))
            .current_dir(dir.path())
            .args(["build", "-n", "-t", "app:1", "."]),
    );
    let all = both(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("127.0.0.1:5050/app:1"), "{all}");

    let bad_id = output(wharf(&dir.path().join("data")).args(["build", "--id", "a#b", "."]));
    assert_eq!(bad_id.status.code(), Some(2), "{}", both(&bad_id));
    let missing =
        output(wharf(&dir.path().join("data")).args(["build", "-t", "a:1", "/no/such/ctx"]));
    assert_eq!(missing.status.code(), Some(2), "{}", both(&missing));
    assert!(both(&missing).contains("/no/such/ctx does not exist"));
    let outside = output(
        wharf(&dir.path().join("data"))
            .current_dir(dir.path())
            .args(["build", "-f", "/etc/hostname", "."]),
    );
    assert_eq!(outside.status.code(), Some(2), "{}", both(&outside));
    assert!(
        both(&outside).contains("outside the context"),
        "{}",
        both(&outside)
    );

    // No Dockerfile where the build would read it: exit 2 before any step, named as
    // the user gave it (not as /workspace/Dockerfile in a failed build step).
    write(dir.path(), "empty/README", "no Dockerfile here\n");
    write(dir.path(), "empty/sub/README", "nor here\n");
    for (args, named) in [
        (
            &["build", "-t", "a:1", "empty"][..],
            "the Dockerfile Dockerfile is not a file in the context empty; name another with -f FILE",
        ),
        (
            &["build", "-t", "a:1", "-f", "empty/sub", "empty"][..],
            "the Dockerfile empty/sub is not a file in the context empty",
        ),
    ] {
        let out = output(
            wharf(&dir.path().join("data"))
                .current_dir(dir.path())
                .args(args),
        );
        let all = both(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains(named), "{args:?}: {all}");
        assert!(!all.contains("/workspace"), "{args:?}: {all}");
    }
}

#[test]
fn run_cmd_runs_one_command_with_aliases_and_registry() {
    require_docker!();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = output(
        wharf(&dir.path().join("data"))
            .args(["run", "--id", "e2eqcmd", "--registry", "quick.example.io"])
            .args([
                "--cmd",
                &format!("{} echo pushed-to $Registry run $ID", busybox_image()),
            ])
            .arg("/dev/null"),
    );
    let all = both(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("pushed-to quick.example.io run e2eqcmd"),
        "{all}"
    );
    assert_nothing_left("e2eqcmd");

    let both_given =
        output(wharf(&dir.path().join("data")).args(["run", "--cmd", "x", "-f", "acb.yaml"]));
    assert_eq!(both_given.status.code(), Some(2), "{}", both(&both_given));
}
