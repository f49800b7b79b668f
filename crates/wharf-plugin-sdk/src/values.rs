//! Reading `with:` values, which the host passes as text: a string as written, any
//! other YAML value (number, boolean, list, map) as JSON. These functions need no
//! host, so plugins can test their configuration handling natively.

/// Decodes a `with:` value: JSON when it is JSON, else the text as a JSON string
/// (so `with: {name: web}` decodes into a `String` as `"web"`).
pub fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(first) => {
            serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| first)
        }
    }
}

/// A `with:` value as a list of strings: a JSON list (of strings, numbers or
/// booleans, each as text), else the text split at commas and newlines, trimmed,
/// empty pieces dropped.
pub fn list(text: &str) -> Vec<String> {
    if let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(text) {
        return items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect();
    }
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A `with:` value as a boolean: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`
/// (any case); `None` for anything else.
pub fn flag(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_list_and_a_comma_separated_string_give_the_same_list() {
        assert_eq!(list(r#"["a", "b", 3]"#), ["a", "b", "3"]);
        assert_eq!(list("a, b,\n3\n"), ["a", "b", "3"]);
        assert!(list("").is_empty());
    }

    #[test]
    fn plain_strings_decode_as_strings_and_json_as_json() {
        let s: String = decode("web").expect("string");
        assert_eq!(s, "web");
        let n: u32 = decode("42").expect("number");
        assert_eq!(n, 42);
        let m: std::collections::BTreeMap<String, u32> = decode(r#"{"a":1}"#).expect("map");
        assert_eq!(m["a"], 1);
        assert!(decode::<u32>("forty").is_err());
    }

    #[test]
    fn flags_accept_yaml_spellings_and_refuse_the_rest() {
        assert_eq!(flag("Yes"), Some(true));
        assert_eq!(flag("0"), Some(false));
        assert_eq!(flag("maybe"), None);
    }
}
