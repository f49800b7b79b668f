//! Secret values given on the command line (`--secret`, `--secret-file`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::Path;

use crate::SecretError;
use crate::dotenv;

/// Secret values given locally, by id. A local value for an id wins over Key
/// Vault when the task declares that id.
///
/// Values are never shown by `Debug`: it prints the ids only.
#[derive(Clone, Default)]
pub struct LocalSecrets {
    values: BTreeMap<String, String>,
    /// How many `--secret` flags have been applied (or refused), to name a bad
    /// one by its position.
    flags: usize,
}

/// The forms a `--secret` flag may take, for error messages.
const EXPECTED_FLAG: &str = "expected --secret ID=VALUE, or --secret ID to take the value \
                             of the environment variable ID";

impl LocalSecrets {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one `--secret` flag: `id=value` sets the value (everything after
    /// the first `=`, which may be empty); a bare `id` takes the value of the
    /// environment variable `id` (like act's `-s NAME`). A later flag for the
    /// same id replaces the earlier value.
    ///
    /// Errors name the flag by its position among the `--secret` flags
    /// applied to this value (the 1st, the 2nd, …) and say what form is
    /// expected; they never repeat any of the flag's text, which may be a value
    /// whose `ID=` was forgotten.
    pub fn parse_flag(&mut self, arg: &str) -> Result<(), SecretError> {
        self.parse_flag_with(arg, |name| std::env::var_os(name))
    }

    /// [`parse_flag`](Self::parse_flag) with the environment given as a lookup.
    pub(crate) fn parse_flag_with(
        &mut self,
        arg: &str,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<(), SecretError> {
        self.flags += 1;
        let position = self.flags;
        // No message below may contain `arg` or any part of it.
        let error = |reason: String| SecretError::Flag { position, reason };
        match arg.split_once('=') {
            Some((id, value)) => {
                validate_id(id).map_err(|reason| {
                    error(format!(
                        "the text before the first `=` is not a secret id ({reason}); \
                         {EXPECTED_FLAG}"
                    ))
                })?;
                self.values.insert(id.to_owned(), value.to_owned());
            }
            None => {
                validate_id(arg).map_err(|reason| {
                    error(format!(
                        "it has no `=` and is not a secret id ({reason}); {EXPECTED_FLAG}"
                    ))
                })?;
                let value = env(arg).ok_or_else(|| {
                    error(format!(
                        "it has no `=`, and no environment variable of that name is set \
                         (the argument is not shown, in case it is a value); {EXPECTED_FLAG}"
                    ))
                })?;
                let value = value.into_string().map_err(|_| {
                    error(
                        "it has no `=`, and the environment variable it names is not valid \
                         UTF-8"
                            .to_owned(),
                    )
                })?;
                self.values.insert(arg.to_owned(), value);
            }
        }
        Ok(())
    }

    /// Apply a `--secret-file`: dotenv syntax (`KEY=VALUE` lines, `#`
    /// comments, blank lines, optional `export `, single-quoted literal values,
    /// double-quoted values with `\n`, `\r`, `\t`, `\"`, `\\`, `\$` escapes;
    /// quoted values may span lines; no `${VAR}` interpolation). Entries
    /// replace earlier values for the same id. The file is applied entirely or
    /// not at all.
    ///
    /// Errors name `file:line`, never the value.
    pub fn read_file(&mut self, path: &Path) -> Result<(), SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Io {
            path: path.to_owned(),
            source,
        })?;
        let entries = dotenv::parse(&text).map_err(|e| SecretError::Dotenv {
            path: path.to_owned(),
            line: e.line,
            reason: e.reason,
        })?;
        self.values.extend(entries);
        Ok(())
    }

    /// The local value for `id`, if any.
    pub fn get(&self, id: &str) -> Option<&str> {
        self.values.get(id).map(String::as_str)
    }

    /// The ids that have a local value, sorted (e.g. to warn about values no
    /// declaration uses).
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// How many ids have a local value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no local value was given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl fmt::Debug for LocalSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Redacted;
        impl fmt::Debug for Redacted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<redacted>")
            }
        }
        f.debug_map()
            .entries(self.values.keys().map(|k| (k, Redacted)))
            .finish()
    }
}

/// Check a secret id (or dotenv key): non-empty, no whitespace, no NUL. The
/// reason never repeats the id, which may be a mistyped value.
pub(crate) fn validate_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        Err("the id is empty")
    } else if id.chars().any(char::is_whitespace) {
        Err("the id contains whitespace")
    } else if id.contains('\0') {
        Err("the id contains a NUL character")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(name: &str) -> Option<OsString> {
        match name {
            "FROM_ENV" => Some(OsString::from("env-value")),
            "EMPTY" => Some(OsString::new()),
            _ => None,
        }
    }

    #[test]
    fn flags_with_values_and_from_env() -> Result<(), SecretError> {
        let mut local = LocalSecrets::new();
        local.parse_flag_with("pw=a=b=c", env)?;
        local.parse_flag_with("empty=", env)?;
        local.parse_flag_with("FROM_ENV", env)?;
        local.parse_flag_with("EMPTY", env)?;
        local.parse_flag_with("again=1", env)?;
        local.parse_flag_with("again=2", env)?;
        assert_eq!(local.get("pw"), Some("a=b=c"));
        assert_eq!(local.get("empty"), Some(""));
        assert_eq!(local.get("FROM_ENV"), Some("env-value"));
        assert_eq!(local.get("EMPTY"), Some(""));
        assert_eq!(local.get("again"), Some("2"));
        assert_eq!(local.len(), 5);
        assert_eq!(
            local.ids().collect::<Vec<_>>(),
            ["EMPTY", "FROM_ENV", "again", "empty", "pw"]
        );
        Ok(())
    }

    #[test]
    fn bad_flags_name_the_position_never_the_text() -> Result<(), SecretError> {
        let mut local = LocalSecrets::new();
        local.parse_flag_with("ok=1", env)?;
        let cases = [
            // `ID=` forgotten: the value itself, a value with blanks, a value
            // with `=` in it.
            (
                "hunter2",
                "the 2nd --secret: it has no `=`, and no environment variable",
            ),
            (
                "hunter2 and more",
                "the 3rd --secret: it has no `=` and is not a secret id",
            ),
            (
                "hunter2 x=y",
                "the 4th --secret: the text before the first `=` is not",
            ),
            (
                "=hunter2",
                "the 5th --secret: the text before the first `=` is not",
            ),
        ];
        for (arg, expected) in cases {
            let Err(e) = local.parse_flag_with(arg, env) else {
                panic!("{arg:?} should fail");
            };
            let msg = e.to_string();
            assert!(msg.starts_with(expected), "{msg}");
            assert!(msg.contains("expected --secret ID=VALUE"), "{msg}");
            assert_eq!(e.id(), None);
            for shown in [msg, format!("{e:?}")] {
                assert!(!shown.contains("hunter2"), "{shown}");
                assert!(!shown.contains("x=y"), "{shown}");
            }
        }
        assert_eq!(local.ids().collect::<Vec<_>>(), ["ok"]);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_environment_value_is_refused_without_naming_it() {
        use std::os::unix::ffi::OsStringExt;
        let mut local = LocalSecrets::new();
        let Err(e) = local.parse_flag_with("hunter2", |_| Some(OsString::from_vec(vec![0xff])))
        else {
            panic!("accepted a non-UTF-8 value");
        };
        let msg = e.to_string();
        assert!(msg.starts_with("the 1st --secret: "), "{msg}");
        assert!(msg.contains("not valid UTF-8"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn debug_shows_ids_only() -> Result<(), SecretError> {
        let mut local = LocalSecrets::new();
        local.parse_flag_with("pw=hunter2", env)?;
        let debug = format!("{local:?}");
        assert_eq!(debug, r#"{"pw": <redacted>}"#);
        Ok(())
    }

    #[test]
    fn read_file_applies_dotenv() -> Result<(), Box<dyn std::error::Error>> {
        let mut file = tempfile::NamedTempFile::new()?;
        write!(
            file,
            "# secrets\nexport pw='p w'\ntoken=\"a\\nb\" # c\nplain = x \n"
        )?;
        let mut local = LocalSecrets::new();
        local.parse_flag_with("pw=old", env)?;
        local.read_file(file.path())?;
        assert_eq!(local.get("pw"), Some("p w"));
        assert_eq!(local.get("token"), Some("a\nb"));
        assert_eq!(local.get("plain"), Some("x"));
        Ok(())
    }

    #[test]
    fn read_file_errors_are_file_line_and_atomic() -> Result<(), Box<dyn std::error::Error>> {
        let mut file = tempfile::NamedTempFile::new()?;
        write!(file, "a=1\n\n# c\nb=\"hunter2\n")?;
        let mut local = LocalSecrets::new();
        let Err(e) = local.read_file(file.path()) else {
            panic!("should fail");
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}:4: ", file.path().display())),
            "{msg}"
        );
        assert!(!msg.contains("hunter2"), "{msg}");
        assert!(local.is_empty(), "nothing applied from a bad file");

        let missing = file.path().with_extension("missing");
        let Err(e) = local.read_file(&missing) else {
            panic!("should fail");
        };
        assert!(matches!(e, SecretError::Io { .. }), "{e:?}");
        Ok(())
    }
}
