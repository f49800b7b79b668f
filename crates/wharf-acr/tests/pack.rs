//! Packing rules as `az acr run` applies them, as table tests: each case is
//! a context (files), a `.dockerignore`, and the entries the archive must hold.

use std::io::Read as _;
use std::path::Path;

use wharf_acr::pack::{PackOptions, pack_context};

fn make(dir: &Path, files: &[&str]) {
    for f in files {
        let path = dir.join(f);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        if !f.ends_with('/') {
            std::fs::write(&path, format!("content of {f}")).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

/// The archive's entry names, read back with the tar reader.
fn names(archive: &[u8]) -> Vec<String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut out = Vec::new();
    for entry in tar.entries().unwrap_or_else(|e| panic!("{e}")) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let mut name = entry
            .path()
            .unwrap_or_else(|e| panic!("{e}"))
            .display()
            .to_string();
        if entry.header().entry_type().is_dir() && !name.ends_with('/') {
            name.push('/');
        }
        out.push(name);
    }
    out
}

struct Case {
    name: &'static str,
    files: &'static [&'static str],
    dockerignore: Option<&'static str>,
    want: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "VCS entries are left out at the top level only",
        files: &[
            ".git/config",
            ".gitignore",
            ".hg/x",
            ".svn/x",
            "bzrignore",
            "sub/.git/HEAD",
            "sub/.gitignore",
            "acb.yaml",
        ],
        dockerignore: None,
        want: &[
            "acb.yaml",
            "sub/",
            "sub/.git/",
            "sub/.git/HEAD",
            "sub/.gitignore",
        ],
    },
    Case {
        name: "a ! rule takes a file back from under .git",
        files: &[".git/config", ".git/HEAD", "a"],
        dockerignore: Some("!.git/HEAD\n"),
        want: &[".dockerignore", ".git/HEAD", "a"],
    },
    Case {
        name: "* stops at / while ** crosses directories",
        files: &["a.log", "d/b.log", "d/e/c.log", "keep.txt"],
        dockerignore: Some("*.log\n"),
        want: &[
            ".dockerignore",
            "d/",
            "d/b.log",
            "d/e/",
            "d/e/c.log",
            "keep.txt",
        ],
    },
    Case {
        name: "**/ matches at any depth",
        files: &["a.log", "d/b.log", "d/e/c.log", "keep.txt"],
        dockerignore: Some("**/*.log\n"),
        want: &[".dockerignore", "d/", "d/e/", "keep.txt"],
    },
    Case {
        name: "later lines win; an ignored directory is still walked",
        files: &["build/a.o", "build/keep.me", "src/x.c"],
        dockerignore: Some("# comment\n\nbuild\n!build/keep.me\n"),
        want: &[".dockerignore", "build/keep.me", "src/", "src/x.c"],
    },
    Case {
        name: "an earlier ! loses to a later ignore",
        files: &["build/a.o", "build/keep.me"],
        dockerignore: Some("!build/keep.me\nbuild\n"),
        want: &[".dockerignore"],
    },
    Case {
        name: "? is one character, . is literal",
        files: &["a1.txt", "a12.txt", "axtxt"],
        dockerignore: Some("a?.txt\n"),
        want: &[".dockerignore", "a12.txt", "axtxt"],
    },
    Case {
        name: "a UTF-8 BOM and trailing spaces are accepted; patterns are anchored",
        files: &["secret.env", "my-secret.env", "dir/secret.env"],
        dockerignore: Some("\u{feff}secret.env   \n"),
        want: &[".dockerignore", "dir/", "dir/secret.env", "my-secret.env"],
    },
    Case {
        name: "the .dockerignore itself can be ignored",
        files: &["a"],
        dockerignore: Some(".dockerignore\n"),
        want: &["a"],
    },
];

#[test]
fn contexts_are_packed_as_az_acr_run_packs_them() {
    for case in CASES {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        make(dir.path(), case.files);
        if let Some(text) = case.dockerignore {
            std::fs::write(dir.path().join(".dockerignore"), text)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let packed = pack_context(dir.path(), &PackOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let got = names(&packed.archive);
        assert_eq!(got, case.want, "{}", case.name);
        assert_eq!(packed.entries, case.want, "{}", case.name);
    }
}

#[test]
fn the_task_file_is_kept_even_when_ignored_and_reported() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    make(dir.path(), &["acb.yaml", "values.yaml", "app.yaml"]);
    std::fs::write(dir.path().join(".dockerignore"), "*.yaml\n").unwrap_or_else(|e| panic!("{e}"));
    let options = PackOptions {
        keep: vec!["acb.yaml".into(), "values.yaml".into()],
        ..PackOptions::default()
    };
    let packed = pack_context(dir.path(), &options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        names(&packed.archive),
        [".dockerignore", "acb.yaml", "values.yaml"]
    );
    assert_eq!(packed.forced, ["acb.yaml", "values.yaml"]);
}

#[test]
fn a_named_dockerfile_uses_its_own_dockerignore() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    make(dir.path(), &["Dockerfile.prod", "a.txt", "b.txt"]);
    std::fs::write(dir.path().join(".dockerignore"), "a.txt\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("Dockerfile.prod.dockerignore"), "b.txt\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let options = PackOptions {
        dockerfile: Some(dir.path().join("Dockerfile.prod")),
        ..PackOptions::default()
    };
    let packed = pack_context(dir.path(), &options).unwrap_or_else(|e| panic!("{e}"));
    // The override applies instead of .dockerignore, and, as the CLI does,
    // adds a rule leaving `.dockerignore` out.
    assert_eq!(
        names(&packed.archive),
        ["Dockerfile.prod", "Dockerfile.prod.dockerignore", "a.txt"]
    );
}

#[test]
fn packing_is_deterministic_and_keeps_contents_and_modes() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    make(dir.path(), &["z", "a/run.sh", "m"]);
    let script = dir.path().join("a/run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o775))
        .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("z", dir.path().join("link")).unwrap_or_else(|e| panic!("{e}"));
    let first = pack_context(dir.path(), &PackOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    // Touch a file: times are not archived.
    std::fs::write(dir.path().join("z"), "content of z").unwrap_or_else(|e| panic!("{e}"));
    let second =
        pack_context(dir.path(), &PackOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.archive, second.archive);
    assert_eq!(first.entries, ["a/", "a/run.sh", "link", "m", "z"]);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(first.archive.as_slice()));
    for entry in tar.entries().unwrap_or_else(|e| panic!("{e}")) {
        let mut entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let name = entry
            .path()
            .unwrap_or_else(|e| panic!("{e}"))
            .display()
            .to_string();
        assert_eq!(entry.header().mtime().ok(), Some(0), "{name}");
        match name.as_str() {
            "a/run.sh" => assert_eq!(entry.header().mode().ok(), Some(0o755)),
            "link" => assert_eq!(
                entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|p| p.display().to_string()),
                Some("z".into())
            ),
            "m" => {
                let mut text = String::new();
                entry
                    .read_to_string(&mut text)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(text, "content of m");
                assert_eq!(entry.header().mode().ok(), Some(0o644));
            }
            _ => {}
        }
    }
}
