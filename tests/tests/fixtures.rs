//! The fixtures themselves work: the base image runs, the registry speaks the
//! distribution API, and an htpasswd registry refuses anonymous pushes.

use std::process::Command;

use wharf_e2e::{Registry, busybox_image, require_docker, sh};

#[test]
fn busybox_image_runs_a_shell() {
    require_docker!();
    let out = sh(Command::new("docker").args([
        "run",
        "--rm",
        busybox_image(),
        "sh",
        "-c",
        "echo hello from $(basename $(readlink /bin/echo))",
    ]));
    assert_eq!(out.trim(), "hello from busybox");
}

#[test]
fn htpasswd_registry_accepts_only_its_user() {
    require_docker!();
    let registry = Registry::start_with_auth("tester", "abc>>>def");
    let image = format!("{}/fixture/busybox:1", registry.host);
    sh(Command::new("docker").args(["tag", busybox_image(), &image]));
    let denied = Command::new("skopeo")
        .args([
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-daemon:{image}"),
            &format!("docker://{image}"),
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(true);
    assert!(!denied, "an anonymous push must be refused");
    sh(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "tester:abc>>>def",
        &format!("docker-daemon:{image}"),
        &format!("docker://{image}"),
    ]));
    assert_eq!(
        registry.tags("fixture/busybox"),
        vec!["1".to_string()],
        "{}",
        registry.log()
    );
    sh(Command::new("docker").args(["rmi", &image]));
}
