//! POSIX shell word splitting, as `/bin/sh -c` applies it to the `cmd` and `build`
//! strings that ACR hands to `docker run` and `docker build`.
//!
//! Supports single quotes, double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes),
//! backslash escapes, `#` comments at the start of a word, and — when an
//! environment is given — `$NAME` and `${NAME}` expansion. Command substitution and
//! other expansions are refused with an error rather than guessed at.

use std::fmt;

/// Why a string could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellError {
    /// A quote was opened and never closed.
    UnterminatedQuote(char),
    /// `$(...)` or backquotes: wharf does not run a shell on the host.
    CommandSubstitution,
    /// `${...}` with operators such as `:-`, or an unterminated `${`.
    UnsupportedExpansion(String),
}

impl fmt::Display for ShellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellError::UnterminatedQuote(q) => write!(f, "the quote {q} is never closed"),
            ShellError::CommandSubstitution => f.write_str(
                "command substitution ($(...) or backquotes) is not supported here; quote it with single quotes to pass it to the container's shell",
            ),
            ShellError::UnsupportedExpansion(e) => write!(
                f,
                "the expansion ${{{e}}} is not supported here; only $NAME and ${{NAME}} are"
            ),
        }
    }
}

impl std::error::Error for ShellError {}

/// Variable lookup for `$NAME` expansion.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Splits `text` into words. With `env`, `$NAME`/`${NAME}` outside single quotes are
/// expanded (unset names become empty); without it, `$` is kept literally.
pub fn split(text: &str, env: Option<Lookup<'_>>) -> Result<Vec<String>, ShellError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => word.push(n),
                        None => return Err(ShellError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => return Err(ShellError::UnterminatedQuote('"')),
                        },
                        Some('$') if env.is_some() => expand(&mut chars, &mut word, env)?,
                        Some('`') => return Err(ShellError::CommandSubstitution),
                        Some(n) => word.push(n),
                        None => return Err(ShellError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    in_word = true;
                    word.push(n);
                }
                None => {
                    in_word = true;
                    word.push('\\');
                }
            },
            '`' => return Err(ShellError::CommandSubstitution),
            '$' if env.is_some() => {
                in_word = true;
                expand(&mut chars, &mut word, env)?;
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut String,
    env: Option<Lookup<'_>>,
) -> Result<(), ShellError> {
    let lookup = |name: &str| env.and_then(|e| e(name)).unwrap_or_default();
    match chars.peek().copied() {
        Some('(') => Err(ShellError::CommandSubstitution),
        Some('{') => {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some(c) => name.push(c),
                    None => return Err(ShellError::UnsupportedExpansion(name)),
                }
            }
            if name.is_empty() || !is_name(&name) {
                return Err(ShellError::UnsupportedExpansion(name));
            }
            word.push_str(&lookup(&name));
            Ok(())
        }
        Some(c) if c == '_' || c.is_ascii_alphabetic() => {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c == '_' || c.is_ascii_alphanumeric() {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            word.push_str(&lookup(&name));
            Ok(())
        }
        _ => {
            word.push('$');
            Ok(())
        }
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split(s, None).unwrap_or_else(|e| vec![format!("ERR {e}")])
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(
            words("a  'b c' \"d \\\"e\\\"\" f\\ g"),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert_eq!(words("''"), [""]);
        assert_eq!(words("x # comment\ny"), ["x", "y"]);
        assert_eq!(words("a#b"), ["a#b"]);
        assert_eq!(
            split("'open", None),
            Err(ShellError::UnterminatedQuote('\''))
        );
    }

    #[test]
    fn dollar_is_literal_without_env_and_expanded_with_it() {
        assert_eq!(words("echo $HOME ${X}"), ["echo", "$HOME", "${X}"]);
        let env = |n: &str| (n == "V").then(|| "1 2".to_string());
        assert_eq!(
            split("a=$V \"b=${V}\" 'c=$V' d=$NOPE e$", Some(&env)),
            Ok(vec![
                "a=1 2".into(),
                "b=1 2".into(),
                "c=$V".into(),
                "d=".into(),
                "e$".into()
            ])
        );
        assert_eq!(
            split("$(date)", Some(&env)),
            Err(ShellError::CommandSubstitution)
        );
        assert!(matches!(
            split("${V:-x}", Some(&env)),
            Err(ShellError::UnsupportedExpansion(_))
        ));
    }
}
