//! `helm package`: load, override, check dependencies, write `NAME-VERSION.tgz`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::archive::{MAX_MTIME, write_archive};
use crate::error::ChartError;
use crate::load::{Chart, load_dir};
use crate::version::ChartVersion;

/// The modification time of every archive entry when `SOURCE_DATE_EPOCH` is not
/// set: the Unix epoch, so the same chart always packs to the same bytes.
pub const DEFAULT_MTIME: u64 = 0;

/// What `helm package` takes besides the chart.
#[derive(Clone, Debug, Default)]
pub struct PackageOptions {
    /// `--version`: replaces Chart.yaml's version (checked as a semantic version).
    pub version: Option<String>,
    /// `--app-version`: replaces Chart.yaml's appVersion.
    pub app_version: Option<String>,
    /// `--destination`: where `NAME-VERSION.tgz` goes, created if missing.
    pub destination: PathBuf,
    /// `SOURCE_DATE_EPOCH` when set ([`source_date_epoch`]); `None` for
    /// [`DEFAULT_MTIME`].
    pub source_date_epoch: Option<u64>,
}

/// A packaged chart.
#[derive(Clone, Debug)]
pub struct Packaged {
    /// The archive written (`DESTINATION/NAME-VERSION.tgz`).
    pub path: PathBuf,
    /// The chart as packaged (overrides applied, metadata sanitised).
    pub chart: Chart,
    /// The archive's bytes.
    pub bytes: Vec<u8>,
    /// `sha256:<hex>` of the bytes.
    pub digest: wharf_registry::Digest,
}

/// Reads `SOURCE_DATE_EPOCH` as helm does: unset or empty is `None`; otherwise a
/// decimal number of seconds, not negative (and, for a USTAR header, not past 2242).
pub fn source_date_epoch(value: Option<&str>) -> Result<Option<u64>, ChartError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let invalid = |reason| ChartError::SourceDateEpoch {
        value: value.to_string(),
        reason,
    };
    let digits = value.strip_prefix('+').unwrap_or(value);
    if let Some(rest) = digits.strip_prefix('-') {
        return Err(invalid(
            if rest.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty() {
                "must not be negative"
            } else {
                "not a whole number of seconds since 1970-01-01"
            },
        ));
    }
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("not a whole number of seconds since 1970-01-01"));
    }
    let seconds: u64 = digits
        .parse()
        .map_err(|_| invalid("not a whole number of seconds since 1970-01-01"))?;
    if seconds > MAX_MTIME {
        return Err(invalid(
            "later than a tar header can hold (8589934591, in the year 2242)",
        ));
    }
    Ok(Some(seconds))
}

/// Packages the chart in `dir` as `helm package [--version] [--app-version]
/// [--destination]` does, and writes the archive.
pub fn package(dir: &Path, options: &PackageOptions) -> Result<Packaged, ChartError> {
    let chart = load_dir(dir)?;
    let (chart, bytes) = package_chart(chart, options)?;
    let file_name = format!("{}-{}.tgz", chart.name(), chart.metadata.version);
    let destination = &options.destination;
    let dest_display = if destination.as_os_str().is_empty() {
        ".".to_string()
    } else {
        destination.display().to_string()
    };
    match fs::metadata(destination) {
        Ok(m) if !m.is_dir() => {
            return Err(ChartError::io(
                &dest_display,
                std::io::Error::new(std::io::ErrorKind::NotADirectory, "is not a directory"),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(destination).map_err(|e| ChartError::io(&dest_display, e))?;
        }
        Err(e) => return Err(ChartError::io(&dest_display, e)),
    }
    let path = destination.join(&file_name);
    write_file(&path, &bytes)?;
    let digest = wharf_registry::Digest::sha256(&bytes);
    Ok(Packaged {
        path,
        chart,
        bytes,
        digest,
    })
}

/// Writes through a temporary file in the same directory, so a failed write
/// never leaves half an archive under the final name.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ChartError> {
    let display = path.display().to_string();
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(ChartError::io(display, e));
    }
    Ok(())
}

/// The pure half of [`package`]: applies the overrides and `SOURCE_DATE_EPOCH`,
/// checks the dependencies, and returns the chart and its archive bytes.
pub fn package_chart(
    mut chart: Chart,
    options: &PackageOptions,
) -> Result<(Chart, Vec<u8>), ChartError> {
    if let Some(version) = options.version.as_deref().filter(|v| !v.is_empty()) {
        ChartVersion::parse(version).map_err(|reason| ChartError::VersionOverride {
            version: version.to_string(),
            reason,
        })?;
        chart.metadata.version = version.to_string();
    }
    if let Some(app_version) = options.app_version.as_deref().filter(|v| !v.is_empty()) {
        chart.metadata.app_version = app_version.to_string();
    }
    if let Some(seconds) = options.source_date_epoch {
        stamp_locks(&mut chart, seconds);
    }
    check_dependencies(&chart)?;
    chart.metadata.validate()?;
    let mtime = options.source_date_epoch.unwrap_or(DEFAULT_MTIME);
    let bytes = write_archive(&chart, mtime)?;
    Ok((chart, bytes))
}

/// helm v4's `StampModTimes` also sets every Chart.lock's `generated`.
fn stamp_locks(chart: &mut Chart, seconds: u64) {
    if let Some(lock) = &mut chart.lock {
        let generated = i64::try_from(seconds)
            .ok()
            .and_then(|s| jiff::Timestamp::from_second(s).ok())
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        if let Some(generated) = generated {
            lock.generated = generated;
        }
    }
    for dep in &mut chart.dependencies {
        stamp_locks(dep, seconds);
    }
}

/// helm's `CheckDependencies`: every dependency Chart.yaml declares must be a
/// subchart in charts/ with that name.
fn check_dependencies(chart: &Chart) -> Result<(), ChartError> {
    let mut missing = Vec::new();
    let mut first = None;
    for (i, dep) in chart.metadata.dependencies.iter().enumerate() {
        let Some(dep) = dep else { continue };
        if !chart.dependencies.iter().any(|c| c.name() == dep.name) {
            first.get_or_insert(i);
            missing.push(dep.name.clone());
        }
    }
    match first {
        None => Ok(()),
        Some(i) => Err(ChartError::MissingDependencies {
            place: chart.metadata.dependency_place(i),
            names: missing,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_is_read_as_helm_reads_it() {
        assert_eq!(source_date_epoch(None).ok(), Some(None));
        assert_eq!(source_date_epoch(Some("")).ok(), Some(None));
        assert_eq!(
            source_date_epoch(Some("1700000000")).ok(),
            Some(Some(1_700_000_000))
        );
        assert_eq!(source_date_epoch(Some("+5")).ok(), Some(Some(5)));
        assert!(matches!(
            source_date_epoch(Some("-1")),
            Err(ChartError::SourceDateEpoch {
                reason: "must not be negative",
                ..
            })
        ));
        assert!(source_date_epoch(Some("soon")).is_err());
        assert!(source_date_epoch(Some("99999999999")).is_err());
    }
}
