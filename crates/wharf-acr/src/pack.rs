//! Packing a local context as `az acr run`/`az acr build` pack it
//! (`_archive_utils._pack_source_code`):
//!
//! - a gzipped tar whose entries are paths relative to the context, without `./`;
//! - the top-level entries `.git`, `.gitignore`, `.bzr`, `bzrignore`, `.hg`,
//!   `.hgignore`, `.svn` are left out (only at the top: `sub/.git` stays), and
//!   what is under them too, unless a `!` rule of `.dockerignore` takes it back;
//! - `.dockerignore` (or `<Dockerfile>.dockerignore` for a build whose
//!   Dockerfile is not named `Dockerfile`): later lines win; `**` is any
//!   number of directories, `*` and `?` stop at `/`; `!` re-includes; with the
//!   override file, `.dockerignore` itself is left out; an
//!   ignored directory is still walked, so re-included children are archived.
//!
//! Unlike the CLI, entries are written in name order with zeroed times and
//! owners, so the same context gives the same archive. Files that must reach
//! ACR (the task file, its values file, the Dockerfile) are kept even when the
//! rules leave them out, and reported in [`Packed::forced`].

use std::io::Write as _;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::{Error, Result};

/// What `az acr` always leaves out at the top level.
pub const VCS_EXCLUDES: [&str; 7] = [
    ".git",
    ".gitignore",
    ".bzr",
    "bzrignore",
    ".hg",
    ".hgignore",
    ".svn",
];

/// One `.dockerignore` rule.
#[derive(Clone, Debug)]
struct Rule {
    text: String,
    ignore: bool,
    regex: Regex,
}

impl Rule {
    fn parse(line: &str) -> std::result::Result<Rule, regex::Error> {
        let mut rule = line;
        let mut ignore = true;
        if let Some(rest) = rule.strip_prefix('!') {
            ignore = false;
            rule = rest;
            rule = rule.strip_prefix('/').unwrap_or(rule);
            rule = rule.strip_suffix('/').unwrap_or(rule);
        }
        let tokens: Vec<&str> = rule.split('/').collect();
        let mut pattern = String::from("^");
        for (i, token) in tokens.iter().enumerate() {
            if *token == "**" {
                pattern.push_str(".*");
            } else {
                pattern.push_str(
                    &token
                        .replace('*', "[^/]*")
                        .replace('?', "[^/]")
                        .replace('.', "\\."),
                );
                if i + 1 < tokens.len() {
                    pattern.push('/');
                }
            }
        }
        pattern.push('$');
        Ok(Rule {
            text: line.to_owned(),
            ignore,
            regex: Regex::new(&pattern)?,
        })
    }
}

/// The rules of a `.dockerignore`, highest priority first.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// Parses `.dockerignore` text (a UTF-8 BOM is accepted; empty and `#`
    /// lines are skipped). `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<IgnoreRules> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let rule = Rule::parse(line).map_err(|e| Error::Context {
                path: format!("{file}:{}", n + 1),
                message: format!("the pattern {line:?} cannot be used: {e}"),
            })?;
            rules.insert(0, rule);
        }
        Ok(IgnoreRules { rules })
    }

    /// Whether `name` is ignored, given its parent's answer and the index of
    /// the rule that decided it (rules of lower priority are not consulted).
    fn check(&self, name: &str, parent: (bool, usize)) -> (bool, usize) {
        if VCS_EXCLUDES.contains(&name) {
            return (true, parent.1);
        }
        for (index, rule) in self.rules.iter().enumerate() {
            if index >= parent.1 {
                break;
            }
            if rule.regex.is_match(name) {
                tracing::trace!(rule = %rule.text, name, "dockerignore rule matches");
                return (rule.ignore, index);
            }
        }
        parent
    }
}

/// What to pack.
#[derive(Clone, Debug, Default)]
pub struct PackOptions {
    /// For a build: the Dockerfile (its `<name>.dockerignore` applies when it
    /// is not named `Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// Paths relative to the context that are archived even when ignored.
    pub keep: Vec<String>,
    /// Files from outside the context, added as `(name in the archive, path)`.
    pub extra: Vec<(String, PathBuf)>,
}

/// A packed context.
#[derive(Clone, Debug)]
pub struct Packed {
    /// The `.tar.gz`.
    pub archive: Vec<u8>,
    /// The entry names, in archive order (directories end with `/`).
    pub entries: Vec<String>,
    /// Files the rules leave out that were archived anyway ([`PackOptions::keep`]).
    pub forced: Vec<String>,
}

/// The `.dockerignore` that applies, read.
fn load_rules(dir: &Path, dockerfile: Option<&Path>) -> Result<IgnoreRules> {
    let mut path = dir.join(".dockerignore");
    let mut overridden = false;
    if let Some(name) = dockerfile
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        && name != "Dockerfile"
    {
        let candidate = dir.join(format!("{name}.dockerignore"));
        if candidate.is_file() {
            path = candidate;
            overridden = true;
        }
    }
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| Error::Context {
            path: path.display().to_string(),
            message: "not UTF-8".into(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IgnoreRules::default()),
        Err(e) => {
            return Err(Error::Context {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    let mut rules = IgnoreRules::parse(&path.display().to_string(), &text)?;
    if overridden {
        // The CLI then leaves `.dockerignore` out (its lowest-priority rule).
        if let Ok(rule) = Rule::parse(".dockerignore") {
            rules.rules.push(rule);
        }
    }
    Ok(rules)
}

struct Walk<'a> {
    rules: &'a IgnoreRules,
    keep: &'a [String],
    builder: tar::Builder<Vec<u8>>,
    entries: Vec<String>,
    forced: Vec<String>,
}

fn io_err(path: &Path, e: &std::io::Error) -> Error {
    Error::Context {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

impl Walk<'_> {
    fn add_file(&mut self, name: &str, path: &Path, meta: &std::fs::Metadata) -> Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let data = std::fs::read(path).map_err(|e| io_err(path, &e))?;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
        self.builder
            .append_data(&mut h, name, data.as_slice())
            .map_err(|e| io_err(path, &e))?;
        self.entries.push(name.to_owned());
        Ok(())
    }

    fn visit(&mut self, name: &str, path: &Path, parent: (bool, usize)) -> Result<()> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| io_err(path, &e))?;
        let (mut ignored, rule) = self.rules.check(name, parent);
        if ignored && meta.is_file() && self.keep.iter().any(|k| k == name) {
            ignored = false;
            self.forced.push(name.to_owned());
        }
        if meta.is_dir() {
            if !ignored {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                let dir_name = format!("{name}/");
                self.builder
                    .append_data(&mut h, &dir_name, std::io::empty())
                    .map_err(|e| io_err(path, &e))?;
                self.entries.push(dir_name);
            }
            self.children(name, path, (ignored, rule))?;
        } else if ignored {
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(path).map_err(|e| io_err(path, &e))?;
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            self.builder
                .append_link(&mut h, name, &target)
                .map_err(|e| io_err(path, &e))?;
            self.entries.push(name.to_owned());
        } else if meta.is_file() {
            self.add_file(name, path, &meta)?;
        } else {
            return Err(Error::Context {
                path: path.display().to_string(),
                message: "not a file, directory or symbolic link: cannot be archived \
                          (add it to .dockerignore)"
                    .into(),
            });
        }
        Ok(())
    }

    fn children(&mut self, name: &str, dir: &Path, parent: (bool, usize)) -> Result<()> {
        let mut names: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, &e))? {
            let entry = entry.map_err(|e| io_err(dir, &e))?;
            let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(Error::Context {
                    path: entry.path().display().to_string(),
                    message: "the name is not UTF-8".into(),
                });
            };
            names.push(file);
        }
        names.sort();
        for file in names {
            let child = if name.is_empty() {
                file.clone()
            } else {
                format!("{name}/{file}")
            };
            self.visit(&child, &dir.join(&file), parent)?;
        }
        Ok(())
    }
}

/// Packs the context directory `dir`.
pub fn pack_context(dir: &Path, options: &PackOptions) -> Result<Packed> {
    let rules = load_rules(dir, options.dockerfile.as_deref())?;
    let mut walk = Walk {
        rules: &rules,
        keep: &options.keep,
        builder: tar::Builder::new(Vec::new()),
        entries: Vec::new(),
        forced: Vec::new(),
    };
    walk.builder.follow_symlinks(false);
    walk.children("", dir, (false, rules.rules.len()))?;
    for (name, path) in &options.extra {
        let meta = std::fs::metadata(path).map_err(|e| io_err(path, &e))?;
        walk.add_file(name, path, &meta)?;
    }
    let Walk {
        builder,
        entries,
        forced,
        ..
    } = walk;
    let tar = builder.into_inner().map_err(|e| io_err(dir, &e))?;
    let mut gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).map_err(|e| io_err(dir, &e))?;
    let archive = gz.finish().map_err(|e| io_err(dir, &e))?;
    Ok(Packed {
        archive,
        entries,
        forced,
    })
}

/// For a quick build (`az acr build`): the pack options and the
/// `dockerFilePath` of the request. As the CLI does, the Dockerfile (`-f`,
/// relative to the context; `Dockerfile` by default) is added to the archive
/// a second time as `<32 hex>_<name>`, so a `.dockerignore` that leaves it
/// out cannot break the build, and the request names that copy.
pub fn quick_build_source(
    context: &Path,
    dockerfile: Option<&str>,
) -> Result<(PackOptions, String)> {
    let given = dockerfile.unwrap_or("Dockerfile");
    let path = context.join(given);
    if !path.is_file() {
        return Err(Error::Context {
            path: path.display().to_string(),
            message: "no such Dockerfile (-f is relative to the context)".into(),
        });
    }
    let base = Path::new(given)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("Dockerfile")
        .to_owned();
    let id: u128 = rand::random();
    let in_tar = format!("{id:032x}_{base}");
    Ok((
        PackOptions {
            dockerfile: Some(path.clone()),
            keep: Vec::new(),
            extra: vec![(in_tar.clone(), path)],
        },
        in_tar,
    ))
}
