//! `wharf helm package` as a user runs it: where the archive goes, what it
//! holds, reproducible bytes, and located errors with exit code 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wharf() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf"));
    cmd.env("NO_COLOR", "1").env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wharf-helm/tests/fixtures")
        .join(name)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run wharf: {e}"))
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temporary directory: {e}"))
}

#[test]
fn package_writes_the_archive_with_the_overrides() {
    let out = tempdir();
    let dest = out.path().join("dist");
    let o = run(wharf()
        .args(["helm", "package"])
        .arg(fixture("web"))
        .args(["--version", "1.4.0-rc.1", "--app-version", "9f3c2e1", "-d"])
        .arg(&dest));
    assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
    let archive = dest.join("web-1.4.0-rc.1.tgz");
    assert_eq!(
        text(&o.stdout),
        format!(
            "Successfully packaged chart and saved it to: {}\n",
            archive.display()
        )
    );
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    let chart = wharf_helm::load_archive(&archive).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(chart.metadata.version, "1.4.0-rc.1");
    assert_eq!(chart.metadata.app_version, "9f3c2e1");
    let subcharts: Vec<&str> = chart.dependencies.iter().map(|c| c.name()).collect();
    assert_eq!(subcharts, ["cache", "db"]);
}

#[test]
fn package_is_reproducible_and_honours_source_date_epoch() {
    let out = tempdir();
    let pack = |dir: &str, epoch: Option<&str>| -> Vec<u8> {
        let dest = out.path().join(dir);
        let mut cmd = wharf();
        cmd.args(["helm", "package"])
            .arg(fixture("lib"))
            .arg("-d")
            .arg(&dest);
        if let Some(epoch) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch);
        }
        let o = run(&mut cmd);
        assert_eq!(o.status.code(), Some(0), "stderr: {}", text(&o.stderr));
        std::fs::read(dest.join("common-v1.2.tgz")).unwrap_or_else(|e| panic!("{e}"))
    };
    let plain = pack("a", None);
    assert_eq!(pack("b", None), plain);
    let stamped = pack("c", Some("1700000000"));
    assert_eq!(pack("d", Some("1700000000")), stamped);
    assert_ne!(stamped, plain);

    let o = run(wharf()
        .env("SOURCE_DATE_EPOCH", "-5")
        .args(["helm", "package"])
        .arg(fixture("lib"))
        .arg("-d")
        .arg(out.path().join("e")));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("SOURCE_DATE_EPOCH=\"-5\" is invalid: must not be negative"));
}

#[test]
fn broken_charts_exit_2_with_the_place_and_a_snippet() {
    let out = tempdir();
    let cases = [
        (
            "bad-version",
            "bad-version/Chart.yaml:3:10: version \"1.x.y\" is invalid",
            "3 | version: 1.x.y\n  |          ^^^^^\n",
        ),
        (
            "missing-dependency",
            "missing-dependency/Chart.yaml:5:5: found in Chart.yaml, but missing in charts/ directory: db",
            "5 |   - name: db\n",
        ),
        (
            "duplicate-dependency",
            "duplicate-dependency/Chart.yaml:7:5: more than one dependency with name or alias \"db\"",
            "7 |   - name: db\n",
        ),
        ("no-chart-yaml", "no-chart-yaml: no Chart.yaml here", ""),
    ];
    for (name, message, snippet) in cases {
        let o = run(wharf()
            .args(["helm", "package"])
            .arg(fixture(&format!("broken/{name}")))
            .arg("-d")
            .arg(out.path()));
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(message),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(snippet), "{name}: {stderr}");
        assert!(o.stdout.is_empty(), "{name}");
    }
    assert_eq!(
        std::fs::read_dir(out.path())
            .map(|d| d.count())
            .unwrap_or(1),
        0
    );

    let o = run(wharf()
        .args(["helm", "package"])
        .arg(out.path().join("nowhere")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("nowhere"));
}
