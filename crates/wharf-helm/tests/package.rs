//! `helm package` behaviour on fixture charts: the archive is read back entry by
//! entry (names, modes, times, contents, the rewritten Chart.yaml), packaging is
//! reproducible, and broken charts fail with located errors.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use wharf_helm::{ChartError, GZIP_EXTRA, PackageOptions, oci, package};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temporary directory: {e}"))
}

/// Copies a fixture so a test may change it.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn options(dest: &Path) -> PackageOptions {
    PackageOptions {
        destination: dest.to_path_buf(),
        ..PackageOptions::default()
    }
}

fn pack(dir: &Path, options: &PackageOptions) -> wharf_helm::Packaged {
    package(dir, options).unwrap_or_else(|e| panic!("packaging {} failed: {e}", dir.display()))
}

/// One tar entry as read back.
#[derive(Debug)]
struct Entry {
    name: String,
    mode: u32,
    mtime: u64,
    uid: u64,
    gid: u64,
    user: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
}

fn read_entries(tgz: &[u8]) -> Vec<Entry> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut out = Vec::new();
    for e in archive
        .entries()
        .unwrap_or_else(|e| panic!("not a tar: {e}"))
    {
        let mut e = e.unwrap_or_else(|e| panic!("bad entry: {e}"));
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap_or_else(|e| panic!("{e}"));
        out.push(Entry {
            name: String::from_utf8_lossy(&e.path_bytes()).into_owned(),
            mode: h.mode().unwrap_or(0),
            mtime: h.mtime().unwrap_or(u64::MAX),
            uid: h.uid().unwrap_or(u64::MAX),
            gid: h.gid().unwrap_or(u64::MAX),
            user: h.username_bytes().unwrap_or_default().to_vec(),
            kind: h.entry_type(),
            data,
        });
    }
    out
}

fn text_of<'a>(entries: &'a [Entry], name: &str) -> &'a str {
    let e = entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the archive"));
    std::str::from_utf8(&e.data).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn a_chart_is_packed_with_helms_layout_entry_by_entry() {
    let out = tempdir();
    let packaged = pack(&fixture("web"), &options(out.path()));
    assert_eq!(packaged.path, out.path().join("web-0.1.0.tgz"));
    let on_disk = fs::read(&packaged.path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(on_disk, packaged.bytes);

    let entries = read_entries(&packaged.bytes);
    assert_eq!(
        names(&entries),
        [
            "web/Chart.yaml",
            "web/Chart.lock",
            "web/values.yaml",
            "web/values.schema.json",
            "web/templates/_helpers.tpl",
            "web/templates/deployment.yaml",
            "web/.helmignore",
            "web/README.md",
            "web/crds/crd.yaml",
            "web/charts/cache/Chart.yaml",
            "web/charts/cache/values.yaml",
            "web/charts/cache/templates/service.yaml",
            "web/charts/db/Chart.yaml",
            "web/charts/db/values.yaml",
            "web/charts/db/templates/statefulset.yaml",
        ],
        "ignored files (*.bak, secrets/, /notes.txt, templates/.*) must be left out"
    );
    for e in &entries {
        assert_eq!(e.kind, tar::EntryType::Regular, "{}", e.name);
        assert_eq!(e.mode, 0o644, "{}", e.name);
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 0), "{}", e.name);
        assert!(e.user.is_empty(), "{}", e.name);
    }

    assert_eq!(
        text_of(&entries, "web/Chart.yaml"),
        "annotations:\n  artifacthub.io/license: Apache-2.0\n  category: Demo\n\
         apiVersion: v2\nappVersion: \"1\"\n\
         dependencies:\n- condition: db.enabled\n  name: db\n  repository: file://charts/db\n  version: ~0.3.0\n\
         - import-values:\n  - child: exports\n    parent: cache\n  name: cache\n  repository: https://charts.example.com\n  version: 0.2.0\n\
         description: A small web application used by wharf's tests, with a description long\n  enough that helm folds it.\n\
         home: https://example.com/web\nkeywords:\n- web\n- demo\n\
         maintainers:\n- email: ann@example.com\n  name: Ann Example\n\
         name: web\nsources:\n- https://git.example.com/web\ntype: application\nversion: 0.1.0\n",
        "Chart.yaml is written from the metadata: sorted keys, no comments, `appVersion: 1.0` read as the number 1"
    );
    assert_eq!(
        text_of(&entries, "web/Chart.lock"),
        "dependencies:\n- name: db\n  repository: file://charts/db\n  version: 0.3.1\n\
         - name: cache\n  repository: https://charts.example.com\n  version: 0.2.0\n\
         digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
         generated: \"2024-05-01T10:00:00.5Z\"\n"
    );
    let source =
        |p: &str| fs::read_to_string(fixture("web").join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(text_of(&entries, "web/values.yaml"), source("values.yaml"));
    assert_eq!(
        text_of(&entries, "web/values.schema.json"),
        source("values.schema.json")
    );
    assert_eq!(
        text_of(&entries, "web/templates/deployment.yaml"),
        source("templates/deployment.yaml")
    );
    assert_eq!(text_of(&entries, "web/.helmignore"), source(".helmignore"));
    assert_eq!(
        text_of(&entries, "web/charts/cache/Chart.yaml"),
        "apiVersion: v2\ndescription: 'cache: a subchart packed as .tgz'\nname: cache\nversion: 0.2.0\n",
        "a packed subchart is written as a directory, its Chart.yaml rewritten too"
    );
    assert_eq!(
        text_of(&entries, "web/charts/db/Chart.yaml"),
        "apiVersion: v2\nappVersion: \"16\"\nname: db\nversion: 0.3.1\n"
    );
    assert_eq!(
        text_of(&entries, "web/charts/cache/values.yaml"),
        "exports:\n  port: 6379\n"
    );
    assert!(
        packaged.digest.as_str().starts_with("sha256:") && packaged.digest.as_str().len() == 71
    );
}

#[test]
fn the_gzip_header_is_helms() {
    let out = tempdir();
    let bytes = pack(&fixture("lib"), &options(out.path())).bytes;
    // ID, deflate, FEXTRA|FCOMMENT, mtime 0, no extra flags, OS unknown.
    assert_eq!(&bytes[..10], b"\x1f\x8b\x08\x14\0\0\0\0\0\xff");
    assert_eq!(
        usize::from(u16::from_le_bytes([bytes[10], bytes[11]])),
        GZIP_EXTRA.len()
    );
    assert_eq!(&bytes[12..12 + GZIP_EXTRA.len()], GZIP_EXTRA);
    assert_eq!(
        &bytes[12 + GZIP_EXTRA.len()..17 + GZIP_EXTRA.len()],
        b"Helm\0"
    );
    // The tar ends with two zero blocks and is not padded further.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tar.len() % 512, 0);
    assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
    assert_ne!(tar.len() % 10240, 0, "not padded to a 10 KiB record");
}

#[test]
fn the_same_chart_gives_the_same_bytes_whatever_the_file_times() {
    let work = tempdir();
    let chart = work.path().join("web");
    copy_tree(&fixture("web"), &chart);
    let first = pack(&chart, &options(&work.path().join("a"))).bytes;
    let again = pack(&chart, &options(&work.path().join("b"))).bytes;
    assert_eq!(first, again, "packaging twice differs");

    // Touching files (a fresh clone, an editor) changes nothing.
    let later = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000);
    for f in ["Chart.yaml", "values.yaml", "templates/deployment.yaml"] {
        let file = fs::File::options()
            .write(true)
            .open(chart.join(f))
            .unwrap_or_else(|e| panic!("{e}"));
        file.set_modified(later).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(pack(&chart, &options(&work.path().join("c"))).bytes, first);

    // SOURCE_DATE_EPOCH stamps every entry, and Chart.lock's `generated` as helm v4 does.
    let stamped = PackageOptions {
        source_date_epoch: Some(1_700_000_000),
        ..options(&work.path().join("d"))
    };
    let epoch = pack(&chart, &stamped).bytes;
    let epoch_again = pack(
        &chart,
        &PackageOptions {
            destination: work.path().join("e"),
            ..stamped.clone()
        },
    )
    .bytes;
    assert_eq!(epoch, epoch_again);
    assert_ne!(epoch, first);
    let entries = read_entries(&epoch);
    assert!(entries.iter().all(|e| e.mtime == 1_700_000_000));
    assert!(text_of(&entries, "web/Chart.lock").ends_with("generated: \"2023-11-14T22:13:20Z\"\n"));
}

#[test]
fn version_and_app_version_overrides_are_applied() {
    let out = tempdir();
    let dest = out.path().join("new/dist");
    let packaged = pack(
        &fixture("web"),
        &PackageOptions {
            version: Some("1.2.3+build.5".into()),
            app_version: Some("abc123".into()),
            ..options(&dest)
        },
    );
    assert_eq!(
        packaged.path,
        dest.join("web-1.2.3+build.5.tgz"),
        "the destination is created"
    );
    assert!(packaged.path.is_file());
    let entries = read_entries(&packaged.bytes);
    let chart_yaml = text_of(&entries, "web/Chart.yaml");
    assert!(
        chart_yaml.contains("\nappVersion: abc123\n"),
        "{chart_yaml}"
    );
    assert!(
        chart_yaml.ends_with("\nversion: 1.2.3+build.5\n"),
        "{chart_yaml}"
    );
    // The subcharts keep their own versions.
    assert!(text_of(&entries, "web/charts/db/Chart.yaml").contains("version: 0.3.1"));

    let err = package(
        &fixture("web"),
        &PackageOptions {
            version: Some("1.2.x".into()),
            ..options(&dest)
        },
    )
    .err();
    assert!(
        matches!(err, Some(ChartError::VersionOverride { .. })),
        "{err:?}"
    );
}

#[test]
fn a_library_chart_keeps_its_type_and_lenient_version() {
    let out = tempdir();
    let packaged = pack(&fixture("lib"), &options(out.path()));
    assert_eq!(
        packaged.path.file_name().and_then(|n| n.to_str()),
        Some("common-v1.2.tgz")
    );
    let entries = read_entries(&packaged.bytes);
    assert_eq!(
        names(&entries),
        ["common/Chart.yaml", "common/templates/_names.tpl"]
    );
    assert_eq!(
        text_of(&entries, "common/Chart.yaml"),
        "apiVersion: v2\ndescription: Shared templates\nname: common\ntype: library\nversion: v1.2\n"
    );
}

#[test]
fn helms_own_v1_fixture_packs_without_dependencies_in_chart_yaml() {
    let out = tempdir();
    let packaged = pack(&fixture("helm/frobnitz"), &options(out.path()));
    assert_eq!(
        packaged.path.file_name().and_then(|n| n.to_str()),
        Some("frobnitz-1.2.3.tgz")
    );
    let entries = read_entries(&packaged.bytes);
    assert_eq!(
        names(&entries),
        [
            "frobnitz/Chart.yaml",
            "frobnitz/values.yaml",
            "frobnitz/templates/template.tpl",
            "frobnitz/.helmignore",
            "frobnitz/INSTALL.txt",
            "frobnitz/LICENSE",
            "frobnitz/README.md",
            "frobnitz/docs/README.md",
            "frobnitz/icon.svg",
            "frobnitz/charts/alpine/Chart.yaml",
            "frobnitz/charts/alpine/values.yaml",
            "frobnitz/charts/alpine/templates/alpine-pod.yaml",
            "frobnitz/charts/alpine/README.md",
            "frobnitz/charts/alpine/charts/mast1/Chart.yaml",
            "frobnitz/charts/alpine/charts/mast1/values.yaml",
            "frobnitz/charts/alpine/charts/mast2/Chart.yaml",
            "frobnitz/charts/alpine/charts/mast2/values.yaml",
            "frobnitz/charts/mariner/Chart.yaml",
            "frobnitz/charts/mariner/values.yaml",
            "frobnitz/charts/mariner/templates/placeholder.tpl",
            "frobnitz/charts/mariner/charts/albatross/Chart.yaml",
            "frobnitz/charts/mariner/charts/albatross/values.yaml",
        ],
        "ignore/ is in .helmignore, charts/_ignore_me starts with _, and a v1 chart has no Chart.lock entry"
    );
    let chart_yaml = text_of(&entries, "frobnitz/Chart.yaml");
    assert!(
        !chart_yaml.contains("dependencies"),
        "a v1 chart's dependencies are not written: {chart_yaml}"
    );
    assert!(
        chart_yaml.starts_with(
            "annotations:\n  anotherkey: anothervalue\n  extrakey: extravalue\napiVersion: v1\n"
        ),
        "{chart_yaml}"
    );
    assert!(chart_yaml.contains("\nmaintainers:\n- email: helm@example.com\n  name: The Helm Team\n- email: nobody@example.com\n  name: Someone Else\n"), "{chart_yaml}");

    // The v1 chart with requirements.yaml keeps that file, and its dependencies
    // are checked against charts/.
    let packaged = pack(
        &fixture("helm/frobnitz.v1"),
        &options(&out.path().join("v1")),
    );
    let v1 = read_entries(&packaged.bytes);
    assert!(names(&v1).contains(&"frobnitz/requirements.yaml"));
    assert!(!names(&v1).contains(&"frobnitz/Chart.lock"));
}

#[test]
fn a_packed_chart_loads_back_and_packs_to_the_same_bytes() {
    let out = tempdir();
    let packaged = pack(&fixture("web"), &options(out.path()));
    let loaded = wharf_helm::load_archive_bytes(&packaged.bytes, "web-0.1.0.tgz")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.metadata.to_json(), packaged.chart.metadata.to_json());
    let (_, again) = wharf_helm::package_chart(loaded, &PackageOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, packaged.bytes);

    // The OCI push of that archive: config is the metadata as JSON, the tag the version.
    let push = oci::ChartPush::new(
        &packaged.chart.metadata,
        packaged.bytes.clone(),
        None,
        "2024-01-01T00:00:00Z",
    );
    let config: serde_json::Value = serde_json::from_slice(&push.config).unwrap_or_default();
    assert_eq!(config["name"], "web");
    assert_eq!(config["apiVersion"], "v2");
    assert_eq!(
        config["dependencies"][1]["import-values"][0]["child"],
        "exports"
    );
    assert_eq!(push.layers[0].0.media_type, oci::CHART_LAYER_MEDIA_TYPE);
    assert_eq!(push.layers[0].0.digest, packaged.digest);
    assert_eq!(push.tag, "0.1.0");
}

fn broken(name: &str) -> ChartError {
    let out = tempdir();
    match package(&fixture(&format!("broken/{name}")), &options(out.path())) {
        Ok(p) => panic!("{name} packaged to {}", p.path.display()),
        Err(e) => {
            assert!(
                fs::read_dir(out.path()).map(|d| d.count()).unwrap_or(0) == 0,
                "a failed package left files behind"
            );
            e
        }
    }
}

#[test]
fn broken_charts_fail_with_located_errors() {
    let err = broken("no-chart-yaml");
    assert!(
        matches!(&err, ChartError::NoChartYaml { dir } if dir.ends_with("broken/no-chart-yaml")),
        "{err}"
    );

    let err = broken("bad-version");
    let place = err.place().unwrap_or_else(|| panic!("no place: {err}"));
    assert!(
        place.file.ends_with("broken/bad-version/Chart.yaml"),
        "{}",
        place.file
    );
    assert_eq!(
        (place.line, place.column, place.line_text.as_str()),
        (3, 10, "version: 1.x.y")
    );
    assert!(
        err.to_string().contains("version \"1.x.y\" is invalid"),
        "{err}"
    );

    let err = broken("missing-dependency");
    let ChartError::MissingDependencies { place, names } = &err else {
        panic!("expected a missing dependency, got {err}")
    };
    assert_eq!(names, &["db"]);
    assert_eq!((place.line, place.column), (5, 5));
    assert!(
        err.to_string()
            .contains("found in Chart.yaml, but missing in charts/ directory: db")
    );

    let err = broken("duplicate-dependency");
    let ChartError::DuplicateDependency { place, key } = &err else {
        panic!("expected a duplicate dependency, got {err}")
    };
    assert_eq!(key, "db");
    assert_eq!(place.line, 7);
}

#[test]
fn more_broken_charts() {
    let work = tempdir();
    let write = |dir: &str, files: &[(&str, &str)]| -> PathBuf {
        let root = work.path().join(dir);
        for (name, text) in files {
            let path = root.join(name);
            fs::create_dir_all(path.parent().unwrap_or(&root)).unwrap_or_else(|e| panic!("{e}"));
            fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
        }
        root
    };
    let chart_yaml = "apiVersion: v2\nname: x\nversion: 1.0.0\n";
    type Case<'a> = (PathBuf, &'a str, Option<(usize, usize)>);
    let cases: Vec<Case> = vec![
        (
            write("syntax", &[("Chart.yaml", "name: [x\n")]),
            "invalid YAML",
            Some((2, 1)),
        ),
        (
            write(
                "type",
                &[(
                    "Chart.yaml",
                    "apiVersion: v2\nname: x\nversion: 1.0.0\ntype: app\n",
                )],
            ),
            "application or library",
            Some((4, 7)),
        ),
        (
            write(
                "values",
                &[
                    ("Chart.yaml", chart_yaml),
                    ("values.yaml", "a: 1\n---\n- b\n"),
                ],
            ),
            "must be a mapping",
            Some((3, 1)),
        ),
        (
            write(
                "schema",
                &[
                    ("Chart.yaml", chart_yaml),
                    ("values.schema.json", "{\n  \"type\": object\n}\n"),
                ],
            ),
            "invalid JSON",
            Some((2, 11)),
        ),
        (
            write(
                "ignore",
                &[
                    ("Chart.yaml", chart_yaml),
                    (".helmignore", "ok\n**/*.txt\n"),
                ],
            ),
            "double-star",
            Some((2, 1)),
        ),
        (
            write(
                "name",
                &[("Chart.yaml", "apiVersion: v2\nname: a/b\nversion: 1.0.0\n")],
            ),
            "must not contain '/'",
            Some((2, 7)),
        ),
        (
            write("required", &[("Chart.yaml", "apiVersion: v2\nname: x\n")]),
            "`version` is required",
            Some((1, 1)),
        ),
        (
            write(
                "stray",
                &[("Chart.yaml", chart_yaml), ("charts/notes.txt", "x")],
            ),
            "not a chart",
            None,
        ),
        (
            write(
                "subchart",
                &[
                    ("Chart.yaml", chart_yaml),
                    (
                        "charts/sub/Chart.yaml",
                        "apiVersion: v2\nname: sub\nversion: nope\n",
                    ),
                ],
            ),
            "charts/sub/Chart.yaml",
            Some((3, 10)),
        ),
    ];
    for (dir, expected, at) in cases {
        let err = package(&dir, &options(&work.path().join("out")))
            .err()
            .unwrap_or_else(|| panic!("{} packaged", dir.display()));
        assert!(
            err.to_string().contains(expected),
            "{}: {err}",
            dir.display()
        );
        assert!(err.is_input());
        assert_eq!(
            err.place().map(|p| (p.line, p.column)),
            at,
            "{}: {err}",
            dir.display()
        );
    }
}

#[test]
fn irregular_files_are_refused_and_symlinks_followed() {
    let work = tempdir();
    let chart = work.path().join("c");
    copy_tree(&fixture("lib"), &chart);
    std::os::unix::fs::symlink(
        fixture("web/templates/deployment.yaml"),
        chart.join("templates/linked.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let packaged = pack(&chart, &options(&work.path().join("out")));
    let entries = read_entries(&packaged.bytes);
    assert!(text_of(&entries, "common/templates/linked.yaml").starts_with("apiVersion: apps/v1"));

    std::os::unix::fs::symlink(&chart, chart.join("templates/loop"))
        .unwrap_or_else(|e| panic!("{e}"));
    let err = package(&chart, &options(&work.path().join("out"))).err();
    assert!(
        matches!(err, Some(ChartError::SymlinkLoop { .. })),
        "{err:?}"
    );
    fs::remove_file(chart.join("templates/loop")).unwrap_or_else(|e| panic!("{e}"));

    let status = std::process::Command::new("mkfifo")
        .arg(chart.join("pipe"))
        .status()
        .unwrap_or_else(|e| panic!("mkfifo: {e}"));
    assert!(status.success());
    let err = package(&chart, &options(&work.path().join("out"))).err();
    assert!(
        matches!(&err, Some(ChartError::Irregular { path }) if path.ends_with("/pipe")),
        "{err:?}"
    );
    // ...unless .helmignore leaves it out.
    fs::write(chart.join(".helmignore"), "pipe\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(package(&chart, &options(&work.path().join("out"))).is_ok());

    let big = work.path().join("big");
    copy_tree(&fixture("lib"), &big);
    fs::write(big.join("blob.bin"), vec![0u8; 5 * 1024 * 1024 + 1])
        .unwrap_or_else(|e| panic!("{e}"));
    let err = package(&big, &options(&work.path().join("out"))).err();
    assert!(
        matches!(err, Some(ChartError::FileTooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn names_in_config_and_annotations_come_from_the_packed_chart() {
    let out = tempdir();
    let packaged = pack(&fixture("web"), &options(out.path()));
    let a: BTreeMap<String, String> =
        oci::annotations(&packaged.chart.metadata, "2024-01-01T00:00:00Z");
    assert_eq!(
        a.get(oci::ANNOTATION_TITLE).map(String::as_str),
        Some("web")
    );
    assert_eq!(
        a.get(oci::ANNOTATION_AUTHORS).map(String::as_str),
        Some("Ann Example (ann@example.com)")
    );
    assert_eq!(
        a.get(oci::ANNOTATION_SOURCE).map(String::as_str),
        Some("https://git.example.com/web")
    );
    assert_eq!(a.get("category").map(String::as_str), Some("Demo"));
}
