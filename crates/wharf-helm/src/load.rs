//! Loading a chart as helm's `loader.LoadDir`, `LoadFiles` and `LoadArchive` do.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::decode;
use crate::error::ChartError;
use crate::ignore::IgnoreRules;
use crate::metadata::{API_VERSION_V1, Lock, Metadata};

/// The largest file helm loads (`MaxDecompressedFileSize`, 5 MiB).
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024;
/// The most a packed chart may unpack to (`MaxDecompressedChartSize`, 100 MiB).
pub const MAX_CHART_SIZE: u64 = 100 * 1024 * 1024;

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// A file of a chart: its path from the chart root, with `/` separators.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartFile {
    /// The path from the chart root (`templates/deployment.yaml`).
    pub name: String,
    /// The contents (a leading UTF-8 byte order mark removed, as helm does).
    pub data: Vec<u8>,
}

/// A loaded chart: what helm's `chart.Chart` holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Chart.yaml, validated.
    pub metadata: Metadata,
    /// Chart.lock (or, for a v2 chart, requirements.lock).
    pub lock: Option<Lock>,
    /// values.yaml as written.
    pub values: Option<Vec<u8>>,
    /// values.schema.json as written.
    pub schema: Option<Vec<u8>>,
    /// Files under templates/, in load order.
    pub templates: Vec<ChartFile>,
    /// Every other file (README, LICENSE, .helmignore, crds/, ...), in load order.
    pub files: Vec<ChartFile>,
    /// Subcharts from charts/ (directories and .tgz archives), by their entry name.
    pub dependencies: Vec<Chart>,
    /// The chart as the user should see it in messages.
    pub(crate) origin: String,
}

impl Chart {
    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// Where the chart was loaded from, as messages show it.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// A file read for loading: its chart path, contents, and how to name it in messages.
#[derive(Clone, Debug)]
pub(crate) struct LoadedFile {
    pub name: String,
    pub data: Vec<u8>,
    pub display: String,
}

/// Loads the chart in directory `dir` as `helm package` does: `.helmignore`
/// applied (with helm's default rule), symbolic links followed, irregular files
/// and files over 5 MiB refused, Chart.yaml read and validated, values.yaml
/// checked, subcharts in charts/ loaded (directories and .tgz archives).
pub fn load_dir(dir: &Path) -> Result<Chart, ChartError> {
    let display = display_dir(dir);
    let meta = fs::metadata(dir).map_err(|e| ChartError::io(&display, e))?;
    if !meta.is_dir() {
        return Err(ChartError::io(
            &display,
            std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a directory: give the chart's directory (the one holding Chart.yaml)",
            ),
        ));
    }
    let ignore_path = dir.join(".helmignore");
    let rules = match fs::read(&ignore_path) {
        Ok(data) => IgnoreRules::parse(
            &format!("{display}/.helmignore"),
            &String::from_utf8_lossy(&data),
        )?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => IgnoreRules::defaults(),
        Err(e) => return Err(ChartError::io(format!("{display}/.helmignore"), e)),
    };
    let mut walk = Walk {
        rules,
        root_display: display.clone(),
        files: Vec::new(),
        stack: Vec::new(),
    };
    let root = fs::canonicalize(dir).map_err(|e| ChartError::io(&display, e))?;
    walk.stack.push(root.clone());
    walk.dir(&root, "")?;
    load_files(walk.files, &display)
}

fn display_dir(dir: &Path) -> String {
    let s = dir.display().to_string();
    let trimmed = s.trim_end_matches('/');
    if trimmed.is_empty() {
        s
    } else {
        trimmed.to_string()
    }
}

struct Walk {
    rules: IgnoreRules,
    root_display: String,
    files: Vec<LoadedFile>,
    /// The real directories being walked, to catch symbolic link loops.
    stack: Vec<PathBuf>,
}

impl Walk {
    fn display(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root_display)
    }

    /// Walks `real` (a directory) whose chart path is `rel`, entries in byte order.
    fn dir(&mut self, real: &Path, rel: &str) -> Result<(), ChartError> {
        let here = if rel.is_empty() {
            self.root_display.clone()
        } else {
            self.display(rel)
        };
        let mut names: Vec<std::ffi::OsString> = fs::read_dir(real)
            .map_err(|e| ChartError::io(&here, e))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| ChartError::io(&here, e))?;
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        for name in names {
            let Some(name_str) = name.to_str() else {
                return Err(ChartError::Archive {
                    path: format!("{here}/{}", name.to_string_lossy()),
                    message: "the file name is not valid UTF-8; rename it or remove it".into(),
                });
            };
            let child_rel = if rel.is_empty() {
                name_str.to_string()
            } else {
                format!("{rel}/{name_str}")
            };
            self.entry(&real.join(&name), &child_rel)?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &str) -> Result<(), ChartError> {
        let display = self.display(rel);
        let lmeta = fs::symlink_metadata(path).map_err(|e| ChartError::io(&display, e))?;
        let (meta, real) = if lmeta.file_type().is_symlink() {
            let target = fs::canonicalize(path).map_err(|e| {
                ChartError::io(
                    &display,
                    std::io::Error::new(e.kind(), format!("cannot follow the symbolic link: {e}")),
                )
            })?;
            let meta = fs::metadata(&target).map_err(|e| ChartError::io(&display, e))?;
            (meta, target)
        } else {
            (lmeta, path.to_path_buf())
        };
        if meta.is_dir() {
            if self.rules.ignores(rel, true) {
                return Ok(());
            }
            let canonical = fs::canonicalize(&real).map_err(|e| ChartError::io(&display, e))?;
            if self.stack.contains(&canonical) {
                return Err(ChartError::SymlinkLoop {
                    path: display,
                    target: canonical.display().to_string(),
                });
            }
            self.stack.push(canonical);
            let result = self.dir(&real, rel);
            self.stack.pop();
            return result;
        }
        if self.rules.ignores(rel, false) {
            return Ok(());
        }
        if !meta.is_file() {
            return Err(ChartError::Irregular { path: display });
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(ChartError::FileTooLarge {
                path: display,
                size: meta.len(),
                limit: MAX_FILE_SIZE,
            });
        }
        let mut data = fs::read(&real).map_err(|e| ChartError::io(&display, e))?;
        strip_bom(&mut data);
        self.files.push(LoadedFile {
            name: rel.to_string(),
            data,
            display,
        });
        Ok(())
    }
}

fn strip_bom(data: &mut Vec<u8>) {
    if data.starts_with(UTF8_BOM) {
        data.drain(..UTF8_BOM.len());
    }
}

/// helm's `LoadFiles`: sorts the files into a chart and loads its subcharts.
pub(crate) fn load_files(files: Vec<LoadedFile>, origin: &str) -> Result<Chart, ChartError> {
    let mut metadata: Option<Metadata> = None;
    for f in files.iter().filter(|f| f.name == "Chart.yaml") {
        let meta = metadata.get_or_insert_with(Metadata::default);
        decode::chart_yaml(meta, &f.display, &f.data)?;
        if meta.api_version.is_empty() {
            meta.api_version = API_VERSION_V1.into();
        }
    }
    let Some(mut metadata) = metadata else {
        return Err(ChartError::NoChartYaml {
            dir: origin.to_string(),
        });
    };
    let mut chart = Chart {
        metadata: Metadata::default(),
        lock: None,
        values: None,
        schema: None,
        templates: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
        origin: origin.to_string(),
    };
    let mut subcharts: BTreeMap<String, Vec<LoadedFile>> = BTreeMap::new();
    for f in files {
        let keep = |f: LoadedFile| crate::ChartFile {
            name: f.name,
            data: f.data,
        };
        let name = f.name.clone();
        match name.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" => chart.lock = Some(decode::lock(&f.display, &f.data)?),
            "values.yaml" => {
                decode::values(&f.display, &f.data)?;
                chart.values = Some(f.data);
            }
            "values.schema.json" => chart.schema = Some(f.data),
            "requirements.yaml" => {
                decode::chart_yaml(&mut metadata, &f.display, &f.data)?;
                if metadata.api_version == API_VERSION_V1 {
                    chart.files.push(keep(f));
                }
            }
            "requirements.lock" => {
                chart.lock = Some(decode::lock(&f.display, &f.data)?);
                if metadata.api_version == API_VERSION_V1 {
                    chart.files.push(keep(f));
                }
            }
            name if name.starts_with("templates/") => chart.templates.push(keep(f)),
            name if name.starts_with("charts/") => {
                if Path::new(name).extension().is_some_and(|e| e == "prov") {
                    chart.files.push(keep(f));
                    continue;
                }
                let rest = &name["charts/".len()..];
                let key = rest.split('/').next().unwrap_or(rest).to_string();
                let mut f = f;
                f.name = rest.to_string();
                subcharts.entry(key).or_default().push(f);
            }
            _ => chart.files.push(keep(f)),
        }
    }
    metadata.validate()?;
    chart.metadata = metadata;
    for (key, mut files) in subcharts {
        if key.starts_with(['_', '.']) {
            continue;
        }
        let sub_display = format!("{origin}/charts/{key}");
        let sub = if Path::new(&key).extension().is_some_and(|e| e == "tgz") {
            let file = files.remove(0);
            if file.name != key {
                return Err(ChartError::Subchart {
                    path: sub_display,
                    message: format!(
                        "a directory named like an archive: expected the file {key}, got {}",
                        file.name
                    ),
                });
            }
            load_archive_bytes(&file.data, &file.display)?
        } else {
            let inner: Vec<LoadedFile> = files
                .into_iter()
                .filter_map(|mut f| {
                    let (_, rest) = f.name.split_once('/')?;
                    f.name = rest.to_string();
                    Some(f)
                })
                .collect();
            if inner.is_empty() {
                return Err(ChartError::Subchart {
                    path: sub_display,
                    message: "not a chart: entries in charts/ must be chart directories or .tgz archives (names starting with _ or . are skipped)".into(),
                });
            }
            load_files(inner, &sub_display)?
        };
        chart.dependencies.push(sub);
    }
    Ok(chart)
}

/// Loads a packed chart (`NAME-VERSION.tgz`) from its bytes, as helm's
/// `LoadArchive` does; `display` names the archive in messages.
pub fn load_archive_bytes(data: &[u8], display: &str) -> Result<Chart, ChartError> {
    let files = archive_files(data, display)?;
    load_files(files, display)
}

/// Loads a packed chart file.
pub fn load_archive(path: &Path) -> Result<Chart, ChartError> {
    let display = path.display().to_string();
    let data = fs::read(path).map_err(|e| ChartError::io(&display, e))?;
    load_archive_bytes(&data, &display)
}

/// helm's `LoadArchiveFiles`: the files of a gzipped tar, the first path element
/// (the chart's directory) removed, with helm's path checks and size limits.
fn archive_files(data: &[u8], display: &str) -> Result<Vec<LoadedFile>, ChartError> {
    let bad = |message: String| ChartError::Archive {
        path: display.to_string(),
        message,
    };
    if !data.starts_with(b"\x1f\x8b\x08") {
        return Err(bad("not a gzipped chart archive (.tgz)".into()));
    }
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(data));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("cannot read the archive: {e}")))?;
    let mut files = Vec::new();
    let mut remaining = MAX_CHART_SIZE;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("cannot read the archive: {e}")))?;
        let header = entry.header();
        let kind = header.entry_type();
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mode = header.mode().unwrap_or(0);
        let is_dir = kind.is_dir()
            || (kind == tar::EntryType::Regular
                && header.as_bytes()[156] == 0
                && raw_name.ends_with('/'))
            || mode & 0o170000 == 0o040000;
        if is_dir
            || matches!(
                kind,
                tar::EntryType::XHeader
                    | tar::EntryType::XGlobalHeader
                    | tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink
            )
        {
            continue;
        }
        let delimiter = if raw_name.contains('\\') { '\\' } else { '/' };
        let parts: Vec<&str> = raw_name.split(delimiter).collect();
        let joined = parts[1..].join("/");
        if joined.starts_with('/') {
            return Err(bad("chart illegally contains absolute paths".into()));
        }
        let name = wharf_template::go::clean_path(&joined);
        if name == "." {
            return Err(bad(format!(
                "chart illegally contains content outside the base directory: {raw_name:?}"
            )));
        }
        if name.starts_with("..") {
            return Err(bad("chart illegally references parent directory".into()));
        }
        let b = name.as_bytes();
        if b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'/' {
            return Err(bad("chart contains illegally named files".into()));
        }
        if parts[0] == "Chart.yaml" {
            return Err(bad("chart yaml not in base directory".into()));
        }
        let size = entry.size();
        if size > remaining {
            return Err(ChartError::ChartTooLarge {
                path: display.to_string(),
                limit: MAX_CHART_SIZE,
            });
        }
        if size > MAX_FILE_SIZE {
            return Err(ChartError::FileTooLarge {
                path: format!("{display}!{raw_name}"),
                size,
                limit: MAX_FILE_SIZE,
            });
        }
        let mut data = Vec::new();
        let read = (&mut entry)
            .take(remaining)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("cannot read {raw_name}: {e}")))? as u64;
        remaining -= read;
        if read < size || remaining == 0 {
            return Err(ChartError::ChartTooLarge {
                path: display.to_string(),
                limit: MAX_CHART_SIZE,
            });
        }
        strip_bom(&mut data);
        files.push(LoadedFile {
            name,
            data,
            display: format!("{display}!{raw_name}"),
        });
    }
    if files.is_empty() {
        return Err(bad("no files in chart archive".into()));
    }
    Ok(files)
}
