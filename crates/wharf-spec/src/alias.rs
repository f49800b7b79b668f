//! Task aliases (version v1.1.0 and later): `$Registry`, `$ID`, user-defined
//! `$names`, and image aliases such as `bash` in the first word of a `cmd`.
//!
//! Follows Azure/acr-builder `graph/preprocessor.go`: precedence is inline `values`,
//! then `src` files (later ones first), then the global defaults; a name is ASCII
//! letters and digits and ends at the first other character; `$$` is a literal `$`; an
//! unknown `$name` is left as written.

use std::collections::HashMap;

use crate::source::Span;
use crate::source_map::MappedText;

/// The default directive.
pub const DEFAULT_DIRECTIVE: char = '$';

/// ACR's global aliases on Linux: run variables, then image aliases usable as the
/// first word of a `cmd` without the directive.
pub const GLOBAL_ALIASES: &[(&str, &str)] = &[
    ("ID", "{{.Run.ID}}"),
    ("SharedVolume", "{{.Run.SharedVolume}}"),
    ("Registry", "{{.Run.Registry}}"),
    ("RegistryName", "{{.Run.RegistryName}}"),
    ("Date", "{{.Run.Date}}"),
    ("OS", "{{.Run.OS}}"),
    ("Architecture", "{{.Run.Architecture}}"),
    ("Commit", "{{.Run.Commit}}"),
    ("Branch", "{{.Run.Branch}}"),
    ("acr", "mcr.microsoft.com/acr/acr-cli:0.19"),
    ("az", "mcr.microsoft.com/acr/azure-cli:2ff604c"),
    ("bash", "mcr.microsoft.com/acr/bash:2ff604c"),
    ("curl", "mcr.microsoft.com/acr/curl:2ff604c"),
    ("cssc", "mcr.microsoft.com/acr/cssc:2ff604c"),
];

/// The alias table of one task.
#[derive(Clone, Debug)]
pub struct Aliases {
    /// The character that starts an alias.
    pub directive: char,
    map: HashMap<String, String>,
}

impl Default for Aliases {
    fn default() -> Aliases {
        Aliases::with_globals()
    }
}

impl Aliases {
    /// Only the global defaults, with `$` as directive.
    pub fn with_globals() -> Aliases {
        Aliases {
            directive: DEFAULT_DIRECTIVE,
            map: GLOBAL_ALIASES
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Defines (or redefines) `name`.
    pub fn define(&mut self, name: &str, text: &str) {
        self.map.insert(name.to_string(), text.to_string());
    }

    /// The text of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Replaces every `<directive>name` in `input` whose name is defined, as ACR's
    /// scanner does. The result maps back to `input`'s text; substituted text maps
    /// to the `$name` it replaced.
    pub fn substitute(&self, input: &str) -> Substituted {
        let d = self.directive;
        let mut out = MappedText::new();
        let mut unknown = Vec::new();
        // State: `Some(start)` while reading a name that began at byte `start` (the directive).
        let mut pending: Option<usize> = None;
        let mut literal_start = 0;
        for (i, c) in input.char_indices() {
            let Some(start) = pending else {
                if c == d {
                    out.push_copied(&input[literal_start..i], literal_start);
                    pending = Some(i);
                }
                continue;
            };
            let name_start = start + d.len_utf8();
            if c == d && i == name_start {
                // `$$`: an escaped directive.
                out.push_generated(
                    &input[i..i + c.len_utf8()],
                    Span::new(start, i + c.len_utf8()),
                );
                pending = None;
                literal_start = i + c.len_utf8();
                continue;
            }
            if is_name_char(c) {
                continue;
            }
            let name = &input[name_start..i];
            match self.map.get(name) {
                Some(text) => {
                    out.push_generated(text, Span::new(start, i));
                    if c == d {
                        pending = Some(i);
                    } else {
                        pending = None;
                        literal_start = i;
                    }
                }
                None => {
                    if is_valid_name(name) {
                        unknown.push((name.to_string(), Span::new(start, i)));
                    }
                    // Left verbatim, including the character that ended it.
                    pending = None;
                    literal_start = start;
                }
            }
        }
        match pending {
            Some(start) => {
                // The text ended inside a name: keep it as written.
                let name = &input[start + d.len_utf8()..];
                match self.map.get(name) {
                    Some(text) => out.push_generated(text, Span::new(start, input.len())),
                    None => out.push_copied(&input[start..], start),
                }
            }
            None => out.push_copied(&input[literal_start..], literal_start),
        }
        Substituted { text: out, unknown }
    }
}

/// The result of [`Aliases::substitute`].
#[derive(Clone, Debug)]
pub struct Substituted {
    /// The text with aliases replaced.
    pub text: MappedText,
    /// `$names` that were left alone because no alias has that name, with their places.
    pub unknown: Vec<(String, Span)>,
}

/// Whether `c` can be part of an alias name: ACR's `isAlphanumeric` takes ASCII
/// letters and digits only, so `$IDé` is `$ID` followed by `é`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// Whether `name` is a valid alias name (ASCII letters and digits).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char)
}

/// Checks a directive override; returns the character or why it is refused.
pub fn parse_directive(value: &str) -> Result<char, &'static str> {
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if is_name_char(c) => {
            Err("overwritten directives may not be alphanumeric characters")
        }
        (Some(c), None) => Ok(c),
        _ => Err("$ directive can only be overwritten by a single character"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(aliases: &Aliases, s: &str) -> String {
        aliases.substitute(s).text.into_text()
    }

    #[test]
    fn substitutes_like_acr() {
        let mut a = Aliases::with_globals();
        a.define("a", "A");
        a.define("b", "B");
        assert_eq!(
            sub(&a, "-t $Registry/app:$ID ."),
            "-t {{.Run.Registry}}/app:{{.Run.ID}} ."
        );
        assert_eq!(
            sub(&a, "bash -c 'echo $HOME $ID ${X} $(date) $$ID'"),
            "bash -c 'echo $HOME {{.Run.ID}} ${X} $(date) $ID'"
        );
        assert_eq!(sub(&a, "$Registry_x"), "{{.Run.Registry}}_x");
        assert_eq!(sub(&a, "$a$b."), "AB.");
        assert_eq!(sub(&a, "$ID2 $MY_VAR"), "$ID2 $MY_VAR");
        assert_eq!(sub(&a, "cost $ 5 and $"), "cost $ 5 and $");
        assert_eq!(sub(&a, "end $a"), "end A");
        // Names are ASCII: a non-ASCII letter ends them.
        assert_eq!(sub(&a, "$IDé $aé"), "{{.Run.ID}}é Aé");
    }

    #[test]
    fn substitution_maps_back_to_the_alias_use() {
        let a = Aliases::with_globals();
        let s = a.substitute("x: $ID\ny: 1\n");
        let text = s.text.text();
        let y = text.find("y:").unwrap_or_default();
        assert_eq!(s.text.map_offset(y), "x: $ID\n".len());
        let id = text.find("{{").unwrap_or_default();
        assert_eq!(s.text.map_span(Span::new(id, id + 3)), Span::new(3, 6));
        assert_eq!(s.unknown, vec![]);
    }

    #[test]
    fn other_directives_and_escapes() {
        let mut a = Aliases::with_globals();
        a.directive = '🐳';
        a.define("x", "X");
        assert_eq!(sub(&a, "🐳x 🐳🐳 $x"), "X 🐳 $x");
    }

    #[test]
    fn directive_rules() {
        assert_eq!(parse_directive("^"), Ok('^'));
        assert_eq!(parse_directive("🐳"), Ok('🐳'));
        assert!(parse_directive("ab").is_err());
        assert!(parse_directive("a").is_err());
    }
}
