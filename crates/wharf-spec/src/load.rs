//! The loader: task text to [`Task`], through every pass ACR applies, in ACR's
//! order (see docs/task-language.md):
//!
//! 1. drop comment lines;
//! 2. find the version;
//! 3. with v1.1.0 or later, cut out and render the `alias:` block and substitute `$aliases`;
//! 4. render Go templates with `.Run`, `.Values` and `.Secrets` (secrets are resolved
//!    after a first render that finds their declarations);
//! 5. parse YAML;
//! 6. decode, default, validate, build the step graph;
//! 7. expand image aliases in `cmd` steps.
//!
//! Every problem is reported at the file, line and column the user wrote, whatever
//! pass found it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use wharf_template::{
    HostLookup, MissingKey, Options as TemplateOptions, OriginKind, Template, Value,
};

use crate::alias::{self, Aliases};
use crate::decode::{Decoder, RawTask, Spanned};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::preprocess::{self, VersionLine};
use crate::resolve::{self, TaskDefaults};
use crate::source::{FileId, SourceFile, SourceFiles, Span};
use crate::source_map::{MapChain, MappedText};
use crate::task::{Secret, Task};
use crate::values::{self, RunInfo};
use crate::yaml;

/// Reads the other files a task refers to: alias `src` entries.
pub trait Files {
    /// The text of `path` (as written by the user: relative, absolute or a URL).
    fn read(&self, path: &str) -> Result<String, String>;
}

/// Reads local files; relative paths are taken from `base` (the build context, as
/// ACR runs with the context as its working directory). URLs are refused.
#[derive(Clone, Debug)]
pub struct LocalFiles {
    /// Directory relative paths start from.
    pub base: PathBuf,
}

impl Files for LocalFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        if path.starts_with("http://") || path.starts_with("https://") {
            return Err("fetching URLs is not available here".into());
        }
        let full = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            self.base.join(path)
        };
        std::fs::read_to_string(&full).map_err(|e| format!("cannot read {}: {e}", full.display()))
    }
}

/// How to load a task.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The run variables (`.Run.*`).
    pub run: RunInfo,
    /// `--values` files (name as the user wrote it, and contents), in order; later
    /// ones override earlier ones. The caller reads them: they are command-line
    /// arguments, relative to the caller's working directory.
    pub values: Vec<SourceFile>,
    /// `--set key=value` entries, in order.
    pub set: Vec<String>,
    /// Command-line defaults (`--working-directory`, `--network`, `--env`).
    pub defaults: TaskDefaults,
    /// Turn warnings into errors.
    pub strict: bool,
    /// How the template function `getHostByName` resolves names, as ACR does
    /// with DNS while it renders; `None` makes the function fail. The CLI passes
    /// [`system_host_lookup`].
    pub host_lookup: Option<HostLookup>,
}

/// `getHostByName` through the system resolver (`std::net::ToSocketAddrs`,
/// the same `getaddrinfo` Go's `net.LookupHost` uses): the addresses of a name,
/// IPv6 ones without brackets, each once.
pub fn system_host_lookup() -> HostLookup {
    HostLookup::new(|name| {
        use std::net::ToSocketAddrs;
        let addrs = (name, 0).to_socket_addrs().map_err(|e| e.to_string())?;
        let mut out: Vec<String> = Vec::new();
        for a in addrs {
            let ip = a.ip().to_string();
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        Ok(out)
    })
}

/// A loaded task and what was noticed on the way.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The resolved task.
    pub task: Task,
    /// Warnings (never errors).
    pub warnings: Diagnostics,
    /// Every file read, for rendering diagnostics.
    pub sources: SourceFiles,
    /// The task file's id in `sources`.
    pub task_file: FileId,
    /// The version line ACR's scanner found.
    pub version_line: Option<VersionLine>,
    /// Whether the alias pass ran.
    pub aliases_enabled: bool,
    /// The task as written, for compatibility checks.
    pub raw: RawTask,
    /// The text YAML parsed: after comment stripping, aliases and templates.
    pub rendered: String,
    /// Template calls whose result ACR's engine would give differently (for
    /// `wharf validate --acr`), placed in the task file.
    pub acr_differences: Vec<Diagnostic>,
}

/// Loading failed; `diagnostics` holds at least one error.
#[derive(Clone, Debug)]
pub struct LoadFailure {
    /// Every problem found.
    pub diagnostics: Diagnostics,
    /// Every file read.
    pub sources: SourceFiles,
}

/// Resolves secret declarations to values by id (Key Vault, `--secret`, or masks
/// for plans).
pub type SecretResolver<'a> =
    &'a mut dyn FnMut(&[Secret]) -> Result<BTreeMap<String, String>, SecretFailure>;

/// Why a [`SecretResolver`] could not give the values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretFailure {
    /// The id of the declaration that failed, when the failure is one secret's: the
    /// error is reported at that declaration (otherwise at the first one).
    pub id: Option<String>,
    /// What went wrong; never a secret value.
    pub message: String,
}

impl From<String> for SecretFailure {
    /// A failure that belongs to no particular secret.
    fn from(message: String) -> SecretFailure {
        SecretFailure { id: None, message }
    }
}

impl fmt::Display for SecretFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The mask `wharf plan` shows for secret values.
pub const SECRET_MASK: &str = "***";

/// A resolver that never reveals values: every secret renders as [`SECRET_MASK`].
pub fn masked_secrets(secrets: &[Secret]) -> Result<BTreeMap<String, String>, SecretFailure> {
    Ok(secrets
        .iter()
        .map(|s| (s.id.clone(), SECRET_MASK.to_string()))
        .collect())
}

/// Loads a task from text alone: default options (no values, no run variables), no
/// other files, and secrets masked. For tools and tests that need a [`Task`] from
/// a snippet; real runs use [`load`].
pub fn load_task(text: &str) -> Result<Task, LoadFailure> {
    struct NoFiles;
    impl Files for NoFiles {
        fn read(&self, path: &str) -> Result<String, String> {
            Err(format!("{path}: no files are available here"))
        }
    }
    load(
        "acb.yaml",
        text,
        &LoadOptions::default(),
        &NoFiles,
        &mut masked_secrets,
    )
    .map(|l| l.task)
}

/// Loads the task file `name` with contents `text`.
pub fn load(
    name: &str,
    text: &str,
    options: &LoadOptions,
    files: &dyn Files,
    secrets: SecretResolver<'_>,
) -> Result<Loaded, LoadFailure> {
    let mut sources = SourceFiles::new();
    let task_file = sources.add(SourceFile::new(name, text));
    let mut diags = Diagnostics::new();
    let result = Loader {
        name,
        task_file,
        options,
        files,
        sources: &mut sources,
        diags: &mut diags,
        acr_differences: Vec::new(),
    }
    .run(text, secrets);
    match result {
        Some(mut loaded) if !diags.has_errors() => {
            if options.strict {
                diags.make_warnings_errors();
                if diags.has_errors() {
                    diags.sort();
                    return Err(LoadFailure {
                        diagnostics: diags,
                        sources,
                    });
                }
            }
            diags.sort();
            loaded.warnings = diags;
            loaded.sources = sources;
            Ok(loaded)
        }
        _ => {
            if options.strict {
                diags.make_warnings_errors();
            }
            diags.sort();
            Err(LoadFailure {
                diagnostics: diags,
                sources,
            })
        }
    }
}

struct Loader<'a> {
    name: &'a str,
    task_file: FileId,
    options: &'a LoadOptions,
    files: &'a dyn Files,
    sources: &'a mut SourceFiles,
    diags: &'a mut Diagnostics,
    /// The last render's calls whose result ACR would give differently.
    acr_differences: Vec<Diagnostic>,
}

/// The text after the alias pass, with what the alias pass produced.
struct AliasPass {
    /// Text minus the alias block (identity when aliases are off).
    rest: MappedText,
    /// Rest with aliases substituted.
    substituted: MappedText,
    aliases: Option<Aliases>,
}

impl Loader<'_> {
    fn run(mut self, text: &str, secrets: SecretResolver<'_>) -> Option<Loaded> {
        let stripped = preprocess::strip_comment_lines(text);
        let version_line = preprocess::find_version(stripped.text()).map(|mut v| {
            v.span = stripped.map_span(v.span);
            v
        });
        let aliases_enabled = preprocess::aliases_enabled(version_line.as_ref());
        if preprocess::quotes_enable_aliases(version_line.as_ref())
            && let Some(v) = &version_line
        {
            self.diags.push(
                Diagnostic::warning(
                    "alias-version-quoted",
                    "aliases are on because the quotes around the version are removed; older acr-builder releases compare the quoted text and leave aliases off",
                )
                .with_help(format!("write `version: {}` without quotes", v.value))
                .at(self.task_file, v.span),
            );
        }
        if !aliases_enabled {
            self.aliases_written_while_off(&stripped);
        }
        let values = self.values()?;
        let data = self.template_data(&values, &BTreeMap::new())?;

        let pass = if aliases_enabled {
            self.alias_pass(&stripped, &data)?
        } else {
            AliasPass {
                rest: MappedText::copied(stripped.text(), 0),
                substituted: MappedText::copied(stripped.text(), 0),
                aliases: None,
            }
        };
        let base = MapChain::new()
            .then(&stripped)
            .then(&pass.rest)
            .then(&pass.substituted);
        let template = self.parse_template(self.name, pass.substituted.text(), &base)?;

        // First pass: find secret declarations, as ACR does, when the text mentions
        // them. Its problems are the final pass's too, so only that one reports them.
        let mut resolved_secrets = BTreeMap::new();
        if pass.substituted.text().contains("secrets") {
            let outer = std::mem::take(&mut *self.diags);
            let declared = self.render_and_decode(&template, &data, &base);
            *self.diags = outer;
            if let Some((raw, _)) = declared {
                // As in ACR, the declarations are validated before any secret is
                // resolved: when one is malformed, nothing is resolved and the final
                // pass reports it.
                let (decls, problems) = resolve::check_secrets(&raw.secrets, self.task_file);
                if problems.is_empty() && !decls.is_empty() {
                    match secrets(&decls) {
                        Ok(v) => resolved_secrets = v,
                        Err(failure) => {
                            let failed = failure
                                .id
                                .as_deref()
                                .and_then(|id| {
                                    raw.secrets
                                        .iter()
                                        .find(|s| s.id.as_ref().is_some_and(|i| i.value == id))
                                })
                                .or_else(|| raw.secrets.first());
                            self.diags.push(
                                Diagnostic::error(
                                    "secret-resolve",
                                    format!("failed to resolve secrets: {}", failure.message),
                                )
                                .at(
                                    self.task_file,
                                    failed.map_or_else(Span::default, |s| s.span),
                                ),
                            );
                            return None;
                        }
                    }
                }
            }
        }
        let data = self.template_data(&values, &resolved_secrets)?;
        let (raw, rendered) = self.render_and_decode(&template, &data, &base)?;
        if let (false, Some(span)) = (aliases_enabled, raw.alias_span) {
            self.diags.push(
                Diagnostic::warning(
                    "alias-ignored",
                    "the alias block is ignored: aliases need `version: v1.1.0` (or later)",
                )
                .at(self.task_file, span),
            );
        }
        let task = resolve::resolve(
            &raw,
            self.task_file,
            &self.options.defaults,
            pass.aliases.as_ref(),
            self.diags,
        );
        explain_empty_contexts(text, self.task_file, self.diags);
        let task = task?;
        Some(Loaded {
            task,
            warnings: Diagnostics::new(),
            sources: SourceFiles::new(),
            task_file: self.task_file,
            version_line,
            aliases_enabled,
            raw,
            rendered: rendered.into_text(),
            acr_differences: std::mem::take(&mut self.acr_differences),
        })
    }

    /// Warns about `$Registry`, `$ID` and the other run-variable aliases in a file whose
    /// version leaves aliases off: ACR keeps them as written, and an image reference
    /// such as `$Registry/app:$ID` then fails when the step runs.
    fn aliases_written_while_off(&mut self, stripped: &MappedText) {
        let text = stripped.text();
        for (name, value) in alias::GLOBAL_ALIASES {
            if !value.starts_with("{{") {
                continue;
            }
            let needle = format!("${name}");
            let found = text.match_indices(&needle).find(|(at, _)| {
                let before_dollar = text[..*at].ends_with('$');
                let after = text[at + needle.len()..].chars().next();
                !before_dollar && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            });
            if let Some((at, _)) = found {
                let span = stripped.map_span(Span::new(at, at + needle.len()));
                self.diags.push(
                    Diagnostic::warning(
                        "alias-off",
                        format!("`{needle}` is an alias, but aliases are off in this file: ACR leaves it as written"),
                    )
                    .with_label("not substituted")
                    .with_help(format!(
                        "add `version: v1.1.0` to the file to turn aliases on, or write `{value}`"
                    ))
                    .at(self.task_file, span),
                );
            }
        }
    }

    /// The template data, or an error when the values cannot be written as JSON.
    fn template_data(
        &mut self,
        values: &BTreeMap<String, Value>,
        secrets: &BTreeMap<String, String>,
    ) -> Option<Value> {
        match values::template_data(&self.options.run, values, secrets) {
            Ok(data) => Some(data),
            Err(message) => {
                self.diags
                    .push(Diagnostic::error("values-json", message).with_help(
                        "ACR writes the values as JSON for .ValuesJSON, which cannot hold NaN or infinities",
                    ));
                None
            }
        }
    }

    /// Values files, then `--set` on top.
    fn values(&mut self) -> Option<BTreeMap<String, Value>> {
        let mut merged = BTreeMap::new();
        let mut ok = true;
        for values_file in &self.options.values {
            let text = values_file.text().to_string();
            let file = self.sources.add(values_file.clone());
            match yaml::parse(&text) {
                Err(e) => {
                    self.diags.push(
                        Diagnostic::error(
                            "yaml",
                            format!("invalid YAML in values file: {}", e.message),
                        )
                        .at(file, e.span),
                    );
                    ok = false;
                }
                Ok(None) => {}
                Ok(Some(node)) if node.is_null() => {}
                Ok(Some(node)) => {
                    match values::yaml_to_value(&node) {
                        Value::Map(map) => values::merge_values(&mut merged, map),
                        _ => {
                            self.diags.push(
                            Diagnostic::error(
                                "values-file",
                                format!("a values file must be a mapping of names to values, not {}", node.describe()),
                            )
                            .at(file, node.span),
                        );
                            ok = false;
                        }
                    }
                }
            }
        }
        match values::parse_set(&self.options.set) {
            Ok(set) => values::merge_values(&mut merged, set),
            Err(e) => {
                self.diags.push(Diagnostic::error("set", e));
                ok = false;
            }
        }
        ok.then_some(merged)
    }

    fn alias_pass(&mut self, stripped: &MappedText, data: &Value) -> Option<AliasPass> {
        let split = preprocess::split_alias_block(stripped.text());
        let mut aliases = Aliases::with_globals();
        if !split.alias.text().trim().is_empty() {
            let chain = MapChain::new().then(stripped).then(&split.alias);
            let template = self.parse_template("alias", split.alias.text(), &chain)?;
            let rendered = self.execute(&template, data, &chain)?;
            let chain = chain.then(&rendered);
            let node = self.parse_yaml(rendered.text(), &chain)?;
            let mut decoder = Decoder::new(self.task_file, chain.clone(), self.diags);
            let raw = decoder.alias_block(node.as_ref());
            for src in &raw.src {
                self.alias_source(&src.value, src.span, &mut aliases);
            }
            self.define_aliases(self.task_file, &raw.values, &mut aliases);
            if let Some(d) = raw.directive.as_ref().filter(|d| !d.value.is_empty()) {
                match alias::parse_directive(&d.value) {
                    Ok(c) => aliases.directive = c,
                    Err(message) => self.diags.push(
                        Diagnostic::error("alias-directive", message).at(self.task_file, d.span),
                    ),
                }
            }
            if self.diags.has_errors() {
                return None;
            }
        }
        let substituted = aliases.substitute(split.rest.text());
        for (name, span) in &substituted.unknown {
            if name.len() < 4 {
                continue;
            }
            let close = alias::GLOBAL_ALIASES
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| *k != name && strsim::jaro_winkler(k, name) >= 0.92)
                .max_by(|a, b| {
                    strsim::jaro_winkler(a, name).total_cmp(&strsim::jaro_winkler(b, name))
                });
            if let Some(close) = close {
                let at = MapChain::new()
                    .then(stripped)
                    .then(&split.rest)
                    .map_span(*span);
                self.diags.push(
                    Diagnostic::warning(
                        "unknown-alias",
                        format!(
                            "`{}{name}` is not an alias, so it is left as written",
                            aliases.directive
                        ),
                    )
                    .with_help(format!("did you mean `{}{close}`?", aliases.directive))
                    .at(self.task_file, at),
                );
            }
        }
        Some(AliasPass {
            rest: split.rest,
            substituted: substituted.text,
            aliases: Some(aliases),
        })
    }

    fn alias_source(&mut self, path: &str, at: Span, aliases: &mut Aliases) {
        let text = match self.files.read(path) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error("alias-src", format!("cannot read alias source {path}: {e}"))
                        .at(self.task_file, at),
                );
                return;
            }
        };
        let file = self.sources.add(SourceFile::new(path, text.clone()));
        let identity = MappedText::copied(&text, 0);
        let chain = MapChain::new().then(&identity);
        let node = match yaml::parse(&text) {
            Ok(n) => n,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "yaml",
                        format!("invalid YAML in alias source: {}", e.message),
                    )
                    .at(file, e.span),
                );
                return;
            }
        };
        let mut decoder = Decoder::new(file, chain, self.diags);
        let entries = decoder.string_map_document(node.as_ref());
        self.define_aliases(file, &entries, aliases);
    }

    /// Defines `entries` (read from `file`), refusing names that are not ASCII
    /// letters and digits.
    fn define_aliases(
        &mut self,
        file: FileId,
        entries: &[(Spanned<String>, Spanned<String>)],
        aliases: &mut Aliases,
    ) {
        for (name, text) in entries {
            if alias::is_valid_name(&name.value) {
                aliases.define(&name.value, &text.value);
            } else {
                self.diags.push(
                    Diagnostic::error(
                        "alias-name",
                        format!(
                            "alias key names only support alphanumeric characters: {:?}",
                            name.value
                        ),
                    )
                    .at(file, name.span),
                );
            }
        }
    }

    fn parse_template(&mut self, name: &str, text: &str, chain: &MapChain<'_>) -> Option<Template> {
        match Template::parse(name, text) {
            Ok(t) => {
                for (function, span) in t.sprig_v3_only_calls() {
                    self.diags.push(
                        Diagnostic::warning(
                            "sprig-v3",
                            format!("`{function}` exists only in Sprig v3; ACR renders with Sprig v2.22, where it is not defined, so az acr run fails"),
                        )
                        .with_label("not in Sprig v2.22")
                        .at(self.task_file, chain.map_span(Span::new(span.start, span.end))),
                    );
                }
                Some(t)
            }
            Err(e) => {
                self.template_error(&e, chain);
                None
            }
        }
    }

    fn execute(
        &mut self,
        template: &Template,
        data: &Value,
        chain: &MapChain<'_>,
    ) -> Option<MappedText> {
        let options = TemplateOptions {
            missing_key: MissingKey::Zero,
            now: self.options.run.date.to_zoned(jiff::tz::TimeZone::UTC),
            env: BTreeMap::new(),
            host_lookup: self.options.host_lookup.clone(),
        };
        match template.execute(data, &options) {
            Ok(mut out) => {
                self.acr_differences = out
                    .acr_differences
                    .iter()
                    .map(|d| {
                        let span = chain.map_span(Span::new(d.src_start, d.src_start + d.src_len));
                        Diagnostic::warning("acr-template", d.message.clone())
                            .at(self.task_file, span)
                    })
                    .collect();
                out.remove_all("<no value>");
                let mut mapped = MappedText::new();
                for o in &out.origins {
                    let piece = &out.text[o.out_start..o.out_start + o.out_len];
                    match o.kind {
                        OriginKind::Text => mapped.push_copied(piece, o.src_start),
                        OriginKind::Action => mapped
                            .push_generated(piece, Span::new(o.src_start, o.src_start + o.src_len)),
                    }
                }
                Some(mapped)
            }
            Err(e) => {
                self.template_error(&e, chain);
                None
            }
        }
    }

    /// Reports a template error at its place in the task file.
    fn template_error(&mut self, e: &wharf_template::Error, chain: &MapChain<'_>) {
        let span = chain.map_span(Span::new(e.span.start, e.span.end));
        self.diags.push(
            Diagnostic::error("template", template_message(&e.message)).at(self.task_file, span),
        );
    }

    fn parse_yaml(&mut self, text: &str, chain: &MapChain<'_>) -> Option<Option<yaml::Node>> {
        match yaml::parse(text) {
            Ok(node) => Some(node),
            Err(e) => {
                self.diags.push(
                    Diagnostic::error("yaml", e.message).at(self.task_file, chain.map_span(e.span)),
                );
                None
            }
        }
    }

    /// Renders the task template, parses the YAML and decodes it.
    fn render_and_decode(
        &mut self,
        template: &Template,
        data: &Value,
        base: &MapChain<'_>,
    ) -> Option<(RawTask, MappedText)> {
        let rendered = self.execute(template, data, base)?;
        // ACR (templating/base_render_options.go): a file with text that renders to
        // nothing is refused; an empty file is not.
        if rendered.text().is_empty() && !template.source().is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "template-empty",
                    "the file renders to nothing: ACR refuses it (rendered template was empty)",
                )
                .with_help("check the conditions of the file's templates and the values they use")
                .at(self.task_file, Span::new(0, 0)),
            );
            return None;
        }
        let chain = base.clone().then(&rendered);
        let node = self.parse_yaml(rendered.text(), &chain)?;
        let raw = Decoder::new(self.task_file, chain, self.diags).task(node.as_ref());
        Some((raw, rendered))
    }
}

/// A build step without a context whose arguments come from templates: says which
/// values they use, since one of them probably rendered empty.
fn explain_empty_contexts(text: &str, file: FileId, diags: &mut Diagnostics) {
    for d in diags.iter_mut() {
        let Some(location) = d.location.filter(|l| l.file == file) else {
            continue;
        };
        if d.code != "build-args" || !d.message.contains("no build context") {
            continue;
        }
        // A template that rendered nothing maps to no output, so the mapped span can
        // stop before it: look on to the end of the line.
        let end = text[location.span.end.min(text.len())..]
            .find('\n')
            .map_or(text.len(), |n| location.span.end + n);
        let Some(written) = text.get(location.span.start..end) else {
            continue;
        };
        let mut names: Vec<&str> = Vec::new();
        for (i, _) in written.match_indices(".Values.") {
            let rest = &written[i + ".Values.".len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(rest.len());
            let name = rest[..end].trim_end_matches('.');
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        if !written.contains("{{") {
            continue;
        }
        d.help = Some(if names.is_empty() {
            "the arguments come from a template: check that it renders the context".to_string()
        } else {
            let list: Vec<String> = names.iter().map(|n| format!("`.Values.{n}`")).collect();
            format!(
                "the context may come from {}, which rendered empty: set {} with --set or in a values file",
                list.join(", "),
                if names.len() == 1 { "it" } else { "them" }
            )
        });
    }
}

/// Go's template errors start with `template: NAME:LINE:COL: ` and, when executing,
/// `executing "NAME" at <NODE>: `. Positions there refer to the text after aliases;
/// the diagnostic carries the real place, so only the node and the reason are kept.
fn template_message(message: &str) -> String {
    let mut rest = message;
    if let Some(after) = rest.strip_prefix("template: ") {
        // Skip NAME:LINE[:COL]: — the name may contain ':' but is followed by digits.
        let mut cut = None;
        for (i, _) in after.match_indices(": ") {
            let head = &after[..i];
            let numeric_tail = head
                .rsplit(':')
                .take_while(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
                .count();
            if numeric_tail > 0 {
                cut = Some(i + 2);
                break;
            }
        }
        if let Some(c) = cut {
            rest = &after[c..];
        }
    }
    if let Some(after) = rest.strip_prefix("executing \"")
        && let Some(at) = after.find("\" at <")
    {
        return after[at + 5..].to_string();
    }
    rest.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_failure_place(failure: SecretFailure) -> Option<String> {
        let text = "secrets:\n  - id: a\n    keyvault: https://v.vault.azure.net/secrets/a\n  - id: b\n    keyvault: https://v.vault.azure.net/secrets/b\nsteps:\n  - cmd: busybox true\n";
        let files = LocalFiles { base: ".".into() };
        let mut resolver = |_: &[Secret]| Err(failure.clone());
        let result = load(
            "acb.yaml",
            text,
            &LoadOptions::default(),
            &files,
            &mut resolver,
        );
        let failure = result.err()?;
        let first = failure.diagnostics.iter().next()?;
        Some(first.short(&failure.sources))
    }

    #[test]
    fn secret_failures_are_placed_at_their_declaration() {
        assert_eq!(
            secret_failure_place(SecretFailure {
                id: Some("b".into()),
                message: "denied".into(),
            })
            .as_deref(),
            Some("acb.yaml:4:5: error[secret-resolve]: failed to resolve secrets: denied")
        );
        // A failure of no particular secret (or of an unknown id) goes to the first.
        for failure in [
            SecretFailure::from("no network".to_string()),
            SecretFailure {
                id: Some("zz".into()),
                message: "no network".into(),
            },
        ] {
            assert_eq!(
                secret_failure_place(failure).as_deref(),
                Some("acb.yaml:2:5: error[secret-resolve]: failed to resolve secrets: no network")
            );
        }
    }

    fn render_with_lookup(lookup: Option<HostLookup>) -> Result<String, String> {
        let text = "steps:\n  - cmd: busybox ping -c1 {{ getHostByName \"db.internal\" }}\n";
        let options = LoadOptions {
            host_lookup: lookup,
            ..LoadOptions::default()
        };
        let files = LocalFiles { base: ".".into() };
        load("acb.yaml", text, &options, &files, &mut masked_secrets)
            .map(|l| l.rendered)
            .map_err(|f| {
                f.diagnostics
                    .iter()
                    .map(|d| d.short(&f.sources))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
    }

    #[test]
    fn get_host_by_name_uses_the_options_lookup() {
        let lookup = HostLookup::new(|name| match name {
            "db.internal" => Ok(vec!["10.9.8.7".into()]),
            _ => Err("no such host".into()),
        });
        let rendered = render_with_lookup(Some(lookup)).unwrap_or_default();
        assert!(rendered.contains("ping -c1 10.9.8.7\n"), "{rendered}");
        let err = render_with_lookup(None).err().unwrap_or_default();
        assert!(err.contains("host name lookups are not enabled"), "{err}");
    }

    #[test]
    fn system_host_lookup_resolves_loopback() {
        let lookup = system_host_lookup();
        assert_eq!(
            lookup.lookup("127.0.0.1"),
            Ok(vec!["127.0.0.1".to_string()])
        );
        assert_eq!(lookup.lookup("::1"), Ok(vec!["::1".to_string()]));
        assert!(lookup.lookup("").is_err());
    }

    #[test]
    fn go_template_prefixes_are_dropped() {
        assert_eq!(
            template_message("template: acb.yaml:2:36: function \"x\" not defined"),
            "function \"x\" not defined"
        );
        assert_eq!(
            template_message(
                "template: acb.yaml:3:5: executing \"acb.yaml\" at <.Values.a.b>: nil pointer evaluating interface {}.b"
            ),
            "<.Values.a.b>: nil pointer evaluating interface {}.b"
        );
        assert_eq!(template_message("plain"), "plain");
    }
}
