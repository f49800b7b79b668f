//! Why a chart could not be loaded or packaged, and where.

use std::fmt;

/// A place in a chart file: the file as the user should see it, and a 1-based
/// line and column (in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The file: a path on disk (`mychart/Chart.yaml`), or for a file inside a
    /// packed subchart the archive and the entry (`mychart/charts/db-1.0.0.tgz!db/Chart.yaml`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The text of that line, without its line break, for a snippet.
    pub line_text: String,
    /// How many characters from `column` the problem covers (at least 1).
    pub width: usize,
}

impl Place {
    /// The place of the byte range `start..end` of `text`, a file named `file`.
    pub(crate) fn of(file: &str, text: &str, start: usize, end: usize) -> Place {
        let start = floor_boundary(text, start.min(text.len()));
        let end = floor_boundary(text, end.clamp(start, text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let width = text[start..end.min(line_end).max(start)]
            .chars()
            .count()
            .max(1);
        Place {
            file: file.to_string(),
            line,
            column,
            line_text: text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            width,
        }
    }

    /// [`Place::of`], boxed for an error.
    pub(crate) fn at(file: &str, text: &str, start: usize, end: usize) -> Box<Place> {
        Box::new(Place::of(file, text, start, end))
    }

    /// The start of a file (for problems that belong to the whole file).
    pub(crate) fn start_of(file: &str, text: &str) -> Place {
        Place::of(file, text, 0, 0)
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Why a version string is not one helm accepts (Masterminds `semver.NewVersion`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// Empty.
    #[error("the version is empty")]
    Empty,
    /// Not of the form `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`.
    #[error(
        "not a semantic version: use MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], such as 1.2.3"
    )]
    Syntax,
    /// A number too large for 64 bits.
    #[error("a version number is larger than 18446744073709551615")]
    TooLarge,
    /// A numeric pre-release identifier with a leading zero (`1.0.0-01`).
    #[error("the pre-release identifier {0:?} is numeric and starts with 0")]
    LeadingZero(String),
}

/// Why a chart could not be loaded or packaged. Every variant names the file, and
/// where the problem has a position, its line and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// The directory holds no `Chart.yaml`.
    #[error(
        "{dir}: no Chart.yaml here; a chart directory needs one (create it with apiVersion, name and version)"
    )]
    NoChartYaml {
        /// The chart directory (or subchart) as the user should see it.
        dir: String,
    },
    /// A file is not well-formed YAML or JSON.
    #[error("{place}: {message}")]
    Syntax {
        /// Where.
        place: Box<Place>,
        /// The parser's message.
        message: String,
    },
    /// A Chart.yaml or Chart.lock field holds the wrong kind of value.
    #[error("{place}: `{field}` must be {expected}, not {found}")]
    WrongType {
        /// Where the value is.
        place: Box<Place>,
        /// The field, as in Chart.yaml (`maintainers[0].email`).
        field: String,
        /// What it must be ("a string", "a list of strings", ...).
        expected: &'static str,
        /// What it is.
        found: String,
    },
    /// A required Chart.yaml field is missing or empty.
    #[error("{place}: `{field}` is required in Chart.yaml")]
    Required {
        /// The file (at its start, or at the empty value).
        place: Box<Place>,
        /// The field.
        field: &'static str,
    },
    /// A Chart.yaml field has a value helm refuses.
    #[error("{place}: {message}")]
    InvalidField {
        /// Where the value is.
        place: Box<Place>,
        /// The field.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Two dependencies share a name (or alias).
    #[error(
        "{place}: more than one dependency with name or alias {key:?}; give one of them an `alias`"
    )]
    DuplicateDependency {
        /// The second one.
        place: Box<Place>,
        /// The shared name or alias.
        key: String,
    },
    /// Chart.yaml declares dependencies that are not in `charts/`.
    #[error("{place}: found in Chart.yaml, but missing in charts/ directory: {}; put the charts in charts/ (as directories or .tgz files), e.g. with `helm dependency build`", names.join(", "))]
    MissingDependencies {
        /// The first missing dependency's entry.
        place: Box<Place>,
        /// Every missing dependency's name.
        names: Vec<String>,
    },
    /// A `.helmignore` line is not a pattern helm accepts.
    #[error("{place}: {message}")]
    Ignore {
        /// The line.
        place: Box<Place>,
        /// What is wrong.
        message: String,
    },
    /// A file in the chart is a device, socket or pipe.
    #[error(
        "{path}: cannot load an irregular file (a device, socket or pipe) into a chart; remove it or list it in .helmignore"
    )]
    Irregular {
        /// The file.
        path: String,
    },
    /// A file in the chart is larger than helm loads.
    #[error(
        "{path}: {size} bytes is larger than the maximum file size {limit}; list it in .helmignore"
    )]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit (5 MiB).
        limit: u64,
    },
    /// A packed subchart unpacks to more than helm allows.
    #[error("{path}: decompressed chart is larger than the maximum size {limit}")]
    ChartTooLarge {
        /// The archive.
        path: String,
        /// The limit (100 MiB).
        limit: u64,
    },
    /// A packed subchart is not a chart archive helm would load.
    #[error("{path}: {message}")]
    Archive {
        /// The archive.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A subchart directory or archive is not a chart.
    #[error("{path}: {message}")]
    Subchart {
        /// The entry under `charts/`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A value holds a character YAML cannot carry, so helm cannot write Chart.yaml.
    #[error(
        "{place}: `{field}` holds the character {character:?}, which YAML cannot carry; remove it"
    )]
    Unrepresentable {
        /// Where the value is.
        place: Box<Place>,
        /// The field.
        field: String,
        /// The character.
        character: char,
    },
    /// `--version` is not a version helm accepts.
    #[error("--version {version:?}: {reason}")]
    VersionOverride {
        /// The value given.
        version: String,
        /// Why not.
        reason: VersionError,
    },
    /// `SOURCE_DATE_EPOCH` is not a usable timestamp.
    #[error("SOURCE_DATE_EPOCH={value:?} is invalid: {reason}")]
    SourceDateEpoch {
        /// The value given.
        value: String,
        /// Why not.
        reason: &'static str,
    },
    /// A symbolic link in the chart leads back into a directory being walked.
    #[error("{path}: symbolic link loops back to {target}; remove it or list it in .helmignore")]
    SymlinkLoop {
        /// The link.
        path: String,
        /// The directory it leads to.
        target: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl ChartError {
    /// The place in a file the problem is at, when it has one.
    pub fn place(&self) -> Option<&Place> {
        match self {
            ChartError::Syntax { place, .. }
            | ChartError::WrongType { place, .. }
            | ChartError::Required { place, .. }
            | ChartError::InvalidField { place, .. }
            | ChartError::DuplicateDependency { place, .. }
            | ChartError::MissingDependencies { place, .. }
            | ChartError::Ignore { place, .. }
            | ChartError::Unrepresentable { place, .. } => Some(place),
            _ => None,
        }
    }

    /// Whether the chart (or an argument) is at fault, rather than the system:
    /// everything but I/O errors.
    pub fn is_input(&self) -> bool {
        !matches!(self, ChartError::Io { .. })
    }

    pub(crate) fn io(path: impl fmt::Display, source: std::io::Error) -> ChartError {
        ChartError::Io {
            path: path.to_string(),
            source,
        }
    }
}
