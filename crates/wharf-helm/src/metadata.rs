//! Chart.yaml and Chart.lock as helm models them (`chart.Metadata`,
//! `chart.Dependency`, `chart.Lock`), helm's validation, and the two ways helm
//! writes them out: YAML into the archive (`sigs.k8s.io/yaml.Marshal`) and JSON
//! as the OCI config (`json.Marshal`).

use std::collections::BTreeMap;

use crate::error::{ChartError, Place};
use crate::go_format::{format_float_g, json_float, sanitize};
use crate::version::ChartVersion;
use crate::yaml_emit::{Node, sorted_map, to_yaml};

/// Chart.yaml `apiVersion: v1` (Helm 2 charts).
pub const API_VERSION_V1: &str = "v1";
/// Chart.yaml `apiVersion: v2`.
pub const API_VERSION_V2: &str = "v2";

/// The contents of a Chart.yaml, field for field as helm's `chart.Metadata`.
/// Empty strings and lists are absent fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metadata {
    /// `name`: the chart's name. Required.
    pub name: String,
    /// `home`: the project's URL.
    pub home: String,
    /// `sources`: URLs of the chart's source code.
    pub sources: Vec<String>,
    /// `version`: the chart's version. Required; a semantic version.
    pub version: String,
    /// `description`: one sentence.
    pub description: String,
    /// `keywords`.
    pub keywords: Vec<String>,
    /// `maintainers` (`None` for a null entry, which helm refuses).
    pub maintainers: Vec<Option<Maintainer>>,
    /// `icon`: an icon URL.
    pub icon: String,
    /// `apiVersion`: `v2`, or `v1` (also when absent).
    pub api_version: String,
    /// `condition`.
    pub condition: String,
    /// `tags` (a string in Chart.yaml, unlike a dependency's tags).
    pub tags: String,
    /// `appVersion`: the packaged application's version, free text.
    pub app_version: String,
    /// `deprecated`.
    pub deprecated: bool,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `kubeVersion`: a semver constraint.
    pub kube_version: String,
    /// `dependencies` (`None` for a null entry, which helm refuses).
    pub dependencies: Vec<Option<Dependency>>,
    /// `type`: `application` (also when absent) or `library`.
    pub chart_type: String,
    /// Where each field was written, for messages.
    pub(crate) places: Places,
}

/// Where Chart.yaml fields were written.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Places {
    /// The start of the file.
    pub file: Option<Place>,
    pub fields: BTreeMap<String, Place>,
}

impl Places {
    fn get(&self, field: &str) -> Box<Place> {
        Box::new(
            self.fields
                .get(field)
                .or(self.file.as_ref())
                .cloned()
                .unwrap_or_else(|| Place::start_of("Chart.yaml", "")),
        )
    }

    fn has(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }
}

/// A `maintainers` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintainer {
    /// `name`.
    pub name: String,
    /// `email`.
    pub email: String,
    /// `url`.
    pub url: String,
}

/// A `dependencies` entry (also a Chart.lock entry).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dependency {
    /// `name`: the subchart's name.
    pub name: String,
    /// `version`: a version or a range.
    pub version: String,
    /// `repository`.
    pub repository: String,
    /// `condition`.
    pub condition: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `enabled`.
    pub enabled: bool,
    /// `import-values`: strings or `{child, parent}` mappings, kept as helm keeps them.
    pub import_values: Vec<AnyValue>,
    /// `alias`.
    pub alias: String,
}

/// A Chart.lock (or requirements.lock).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lock {
    /// `generated`, as Go writes a `time.Time` (RFC 3339 with nanoseconds, `Z`
    /// for UTC); `0001-01-01T00:00:00Z` when absent.
    pub generated: String,
    /// `digest`.
    pub digest: String,
    /// `dependencies` (`None` when absent: written as `null`).
    pub dependencies: Option<Vec<Option<Dependency>>>,
}

/// A value of no fixed type (`import-values` items), as Go holds it after a JSON
/// round trip: every number a float64.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyValue {
    /// null.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(String),
    /// A list.
    List(Vec<AnyValue>),
    /// A mapping, keys in byte order.
    Map(BTreeMap<String, AnyValue>),
}

/// The go zero time, which Go writes for a missing `generated`.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn alias_ok(alias: &str) -> bool {
    alias
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Metadata {
    /// helm's `Metadata.Validate`: sanitises the text fields (spaces normalised,
    /// unprintable characters dropped) and checks the required fields, the name,
    /// the version, the type and the dependencies. The first problem is returned.
    pub fn validate(&mut self) -> Result<(), ChartError> {
        for field in [
            &mut self.name,
            &mut self.description,
            &mut self.home,
            &mut self.icon,
            &mut self.condition,
            &mut self.tags,
            &mut self.app_version,
            &mut self.kube_version,
        ] {
            *field = sanitize(field);
        }
        for s in self.sources.iter_mut().chain(self.keywords.iter_mut()) {
            *s = sanitize(s);
        }
        let places = &self.places;
        if self.api_version.is_empty() {
            return Err(ChartError::Required {
                place: places.get("apiVersion"),
                field: "apiVersion",
            });
        }
        if self.name.is_empty() {
            return Err(ChartError::Required {
                place: places.get("name"),
                field: "name",
            });
        }
        if self.name == "." || self.name == ".." {
            return Err(ChartError::InvalidField {
                place: places.get("name"),
                field: "name".into(),
                message: format!("the chart name {:?} is not allowed", self.name),
            });
        }
        if self.name.contains('/') {
            return Err(ChartError::InvalidField {
                place: places.get("name"),
                field: "name".into(),
                message: format!(
                    "the chart name {:?} is invalid: it must not contain '/'",
                    self.name
                ),
            });
        }
        if self.version.is_empty() {
            return Err(ChartError::Required {
                place: places.get("version"),
                field: "version",
            });
        }
        if let Err(reason) = ChartVersion::parse(&self.version) {
            return Err(ChartError::InvalidField {
                place: places.get("version"),
                field: "version".into(),
                message: format!("version {:?} is invalid: {reason}", self.version),
            });
        }
        if !matches!(self.chart_type.as_str(), "" | "application" | "library") {
            return Err(ChartError::InvalidField {
                place: places.get("type"),
                field: "type".into(),
                message: format!(
                    "type {:?} is invalid: it must be application or library",
                    self.chart_type
                ),
            });
        }
        for (i, m) in self.maintainers.iter_mut().enumerate() {
            let Some(m) = m else {
                return Err(ChartError::InvalidField {
                    place: places.get(&format!("maintainers[{i}]")),
                    field: format!("maintainers[{i}]"),
                    message: "maintainers must not contain empty or null entries".into(),
                });
            };
            for s in [&mut m.name, &mut m.email, &mut m.url] {
                *s = sanitize(s);
            }
        }
        let mut seen: BTreeMap<String, ()> = BTreeMap::new();
        for (i, d) in self.dependencies.iter_mut().enumerate() {
            let at = format!("dependencies[{i}]");
            let Some(d) = d else {
                return Err(ChartError::InvalidField {
                    place: places.get(&at),
                    field: at,
                    message: "dependencies must not contain empty or null entries".into(),
                });
            };
            for s in [
                &mut d.name,
                &mut d.version,
                &mut d.repository,
                &mut d.condition,
            ] {
                *s = sanitize(s);
            }
            for t in &mut d.tags {
                *t = sanitize(t);
            }
            if !d.alias.is_empty() && !alias_ok(&d.alias) {
                let field = format!("{at}.alias");
                return Err(ChartError::InvalidField {
                    place: places.get(if places.has(&field) { &field } else { &at }),
                    field,
                    message: format!(
                        "dependency {:?} has disallowed characters in the alias {:?}: use letters, digits, '_' and '-'",
                        d.name, d.alias
                    ),
                });
            }
            let key = if d.alias.is_empty() {
                d.name.clone()
            } else {
                d.alias.clone()
            };
            if seen.insert(key.clone(), ()).is_some() {
                return Err(ChartError::DuplicateDependency {
                    place: places.get(&at),
                    key,
                });
            }
        }
        Ok(())
    }

    /// Where a dependency entry was written.
    pub(crate) fn dependency_place(&self, index: usize) -> Box<Place> {
        self.places.get(&format!("dependencies[{index}]"))
    }

    /// Chart.yaml as helm writes it into an archive: from these fields (comments
    /// and unknown keys are gone), keys sorted, empty fields left out, and for a
    /// `v1` chart without its dependencies (they live in requirements.yaml).
    pub fn to_chart_yaml(&self) -> Result<String, ChartError> {
        check_representable(self)?;
        Ok(to_yaml(&self.yaml_node(self.api_version != API_VERSION_V1)))
    }

    fn yaml_node(&self, with_dependencies: bool) -> Node {
        let mut m: Vec<(String, Node)> = Vec::new();
        let str_field = |m: &mut Vec<(String, Node)>, key: &str, v: &str| {
            if !v.is_empty() {
                m.push((key.into(), Node::Str(v.into())));
            }
        };
        str_field(&mut m, "name", &self.name);
        str_field(&mut m, "home", &self.home);
        str_field(&mut m, "version", &self.version);
        str_field(&mut m, "description", &self.description);
        str_field(&mut m, "icon", &self.icon);
        str_field(&mut m, "apiVersion", &self.api_version);
        str_field(&mut m, "condition", &self.condition);
        str_field(&mut m, "tags", &self.tags);
        str_field(&mut m, "appVersion", &self.app_version);
        str_field(&mut m, "kubeVersion", &self.kube_version);
        str_field(&mut m, "type", &self.chart_type);
        if !self.sources.is_empty() {
            m.push(("sources".into(), str_seq(&self.sources)));
        }
        if !self.keywords.is_empty() {
            m.push(("keywords".into(), str_seq(&self.keywords)));
        }
        if !self.maintainers.is_empty() {
            let items = self
                .maintainers
                .iter()
                .map(|mt| match mt {
                    None => Node::Plain("null".into()),
                    Some(mt) => {
                        let mut e = Vec::new();
                        str_field(&mut e, "name", &mt.name);
                        str_field(&mut e, "email", &mt.email);
                        str_field(&mut e, "url", &mt.url);
                        sorted_map(e)
                    }
                })
                .collect();
            m.push(("maintainers".into(), Node::Seq(items)));
        }
        if self.deprecated {
            m.push(("deprecated".into(), Node::Plain("true".into())));
        }
        if !self.annotations.is_empty() {
            let e = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), Node::Str(v.clone())))
                .collect();
            m.push(("annotations".into(), sorted_map(e)));
        }
        if with_dependencies && !self.dependencies.is_empty() {
            m.push(("dependencies".into(), dependencies_node(&self.dependencies)));
        }
        sorted_map(m)
    }
}

impl Lock {
    /// Chart.lock as helm writes it into an archive.
    pub fn to_yaml(&self) -> String {
        let dependencies = match &self.dependencies {
            None => Node::Plain("null".into()),
            Some(deps) => dependencies_node(deps),
        };
        to_yaml(&sorted_map(vec![
            ("generated".into(), Node::Str(self.generated.clone())),
            ("digest".into(), Node::Str(self.digest.clone())),
            ("dependencies".into(), dependencies),
        ]))
    }
}

fn str_seq(items: &[String]) -> Node {
    Node::Seq(items.iter().map(|s| Node::Str(s.clone())).collect())
}

fn dependencies_node(deps: &[Option<Dependency>]) -> Node {
    Node::Seq(
        deps.iter()
            .map(|d| match d {
                None => Node::Plain("null".into()),
                Some(d) => dependency_node(d),
            })
            .collect(),
    )
}

fn dependency_node(d: &Dependency) -> Node {
    // `name` and `repository` have no omitempty: always written.
    let mut e: Vec<(String, Node)> = vec![
        ("name".into(), Node::Str(d.name.clone())),
        ("repository".into(), Node::Str(d.repository.clone())),
    ];
    for (k, v) in [
        ("version", &d.version),
        ("condition", &d.condition),
        ("alias", &d.alias),
    ] {
        if !v.is_empty() {
            e.push((k.into(), Node::Str(v.clone())));
        }
    }
    if !d.tags.is_empty() {
        e.push(("tags".into(), str_seq(&d.tags)));
    }
    if d.enabled {
        e.push(("enabled".into(), Node::Plain("true".into())));
    }
    if !d.import_values.is_empty() {
        e.push((
            "import-values".into(),
            Node::Seq(d.import_values.iter().map(any_node).collect()),
        ));
    }
    sorted_map(e)
}

/// An `AnyValue` as yaml.v2 writes it after reading helm's JSON back: numbers
/// become integers when their JSON text is one.
fn any_node(v: &AnyValue) -> Node {
    match v {
        AnyValue::Null => Node::Plain("null".into()),
        AnyValue::Bool(b) => Node::Plain(b.to_string()),
        AnyValue::Number(f) => {
            let json = json_float(*f).unwrap_or_default();
            let text = if let Ok(i) = json.parse::<i64>() {
                i.to_string()
            } else if let Ok(u) = json.parse::<u64>() {
                u.to_string()
            } else {
                format_float_g(json.parse::<f64>().unwrap_or(*f), 64)
            };
            Node::Plain(text)
        }
        AnyValue::String(s) => Node::Str(s.clone()),
        AnyValue::List(items) => Node::Seq(items.iter().map(any_node).collect()),
        AnyValue::Map(m) => sorted_map(m.iter().map(|(k, v)| (k.clone(), any_node(v))).collect()),
    }
}

/// Characters that Go's JSON encoder writes raw but yaml.v2 refuses to read back
/// ("control characters are not allowed"), which makes helm's `yaml.Marshal` fail.
fn unreadable_by_yaml(c: char) -> bool {
    let v = c as u32;
    // json.Marshal escapes everything below 0x20; what is left raw must be in
    // YAML's printable set.
    !(v < 0x20
        || (0x20..=0x7e).contains(&v)
        || v == 0x85
        || (0xa0..=0xd7ff).contains(&v)
        || (0xe000..=0xfffd).contains(&v)
        || (0x10000..=0x10ffff).contains(&v))
}

fn check_text(meta: &Metadata, field: &str, value: &str) -> Result<(), ChartError> {
    match value.chars().find(|&c| unreadable_by_yaml(c)) {
        None => Ok(()),
        Some(character) => Err(ChartError::Unrepresentable {
            place: meta.places.get(field),
            field: field.to_string(),
            character,
        }),
    }
}

fn check_any(meta: &Metadata, field: &str, v: &AnyValue) -> Result<(), ChartError> {
    match v {
        AnyValue::String(s) => check_text(meta, field, s),
        AnyValue::List(items) => items.iter().try_for_each(|i| check_any(meta, field, i)),
        AnyValue::Map(m) => m.iter().try_for_each(|(k, i)| {
            check_text(meta, field, k)?;
            check_any(meta, field, i)
        }),
        _ => Ok(()),
    }
}

/// Validation leaves only printable text in most fields; annotations and
/// import values are not sanitised, so they may hold what YAML cannot carry.
fn check_representable(meta: &Metadata) -> Result<(), ChartError> {
    for (k, v) in &meta.annotations {
        let field = format!("annotations.{k}");
        check_text(meta, &field, k)?;
        check_text(meta, &field, v)?;
    }
    for (i, d) in meta.dependencies.iter().enumerate() {
        let Some(d) = d else { continue };
        let field = format!("dependencies[{i}]");
        for v in &d.import_values {
            check_any(meta, &field, v)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        Metadata {
            api_version: "v2".into(),
            name: "web".into(),
            version: "1.2.3".into(),
            ..Metadata::default()
        }
    }

    #[test]
    fn chart_yaml_is_sorted_and_omits_empty_fields() {
        let mut m = meta();
        m.description = "A web app".into();
        m.app_version = "1.0".into();
        m.dependencies = vec![Some(Dependency {
            name: "db".into(),
            version: "~1.0".into(),
            ..Dependency::default()
        })];
        m.annotations.insert("category".into(), "Web".into());
        assert_eq!(
            m.to_chart_yaml().ok().as_deref(),
            Some(
                "annotations:\n  category: Web\napiVersion: v2\nappVersion: \"1.0\"\n\
                 dependencies:\n- name: db\n  repository: \"\"\n  version: ~1.0\n\
                 description: A web app\nname: web\nversion: 1.2.3\n"
            )
        );
        m.api_version = "v1".into();
        assert!(
            !m.to_chart_yaml()
                .unwrap_or_default()
                .contains("dependencies")
        );
    }

    #[test]
    fn validation_sanitises_and_refuses_what_helm_refuses() {
        let mut m = meta();
        m.description = "two\nlines\u{200b}".into();
        assert!(m.validate().is_ok());
        assert_eq!(m.description, "two lines");

        let mut m = meta();
        m.name = "a/b".into();
        assert!(
            matches!(m.validate(), Err(ChartError::InvalidField { field, .. }) if field == "name")
        );
        let mut m = meta();
        m.version = "one".into();
        assert!(
            matches!(m.validate(), Err(ChartError::InvalidField { field, .. }) if field == "version")
        );
        let mut m = meta();
        m.chart_type = "app".into();
        assert!(m.validate().is_err());
        let mut m = meta();
        m.dependencies = vec![
            Some(Dependency {
                name: "db".into(),
                ..Dependency::default()
            }),
            Some(Dependency {
                name: "x".into(),
                alias: "db".into(),
                ..Dependency::default()
            }),
        ];
        assert!(
            matches!(m.validate(), Err(ChartError::DuplicateDependency { key, .. }) if key == "db")
        );
        let mut m = meta();
        m.dependencies = vec![Some(Dependency {
            name: "db".into(),
            alias: "d b".into(),
            ..Dependency::default()
        })];
        assert!(m.validate().is_err());
        let mut m = meta();
        m.api_version.clear();
        assert!(matches!(
            m.validate(),
            Err(ChartError::Required {
                field: "apiVersion",
                ..
            })
        ));
    }

    #[test]
    fn annotations_with_characters_yaml_cannot_carry_are_refused() {
        let mut m = meta();
        m.annotations.insert("k".into(), "a\u{7f}".into());
        assert!(matches!(
            m.to_chart_yaml(),
            Err(ChartError::Unrepresentable {
                character: '\u{7f}',
                ..
            })
        ));
    }

    #[test]
    fn lock_is_written_with_all_its_fields() {
        let lock = Lock {
            generated: GO_ZERO_TIME.into(),
            digest: "sha256:abc".into(),
            dependencies: None,
        };
        assert_eq!(
            lock.to_yaml(),
            "dependencies: null\ndigest: sha256:abc\ngenerated: \"0001-01-01T00:00:00Z\"\n"
        );
    }
}
