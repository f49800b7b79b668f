//! The arguments of a `helm:` step, parsed as `helm package` (and `helm push`) take
//! them.

use crate::shell_words;
use crate::task::HelmCall;

impl HelmCall {
    /// Parses `package CHART [--version V] [--app-version A] [-d|--destination DIR]
    /// [--push oci://REGISTRY/NAMESPACE]`; flags may come before or after the chart,
    /// and may be written `--flag=value`.
    pub fn parse(text: &str) -> Result<HelmCall, String> {
        let words = shell_words::split(text, None).map_err(|e| e.to_string())?;
        let mut words = words.into_iter();
        match words.next().as_deref() {
            Some("package") => {}
            Some(other) => {
                return Err(format!(
                    "`{other}` is not a helm step command: write `helm: package ./chart [--version V] [--app-version A] [--push oci://REGISTRY/NAMESPACE]`"
                ));
            }
            None => return Err("the helm step is empty: write `helm: package ./chart`".into()),
        }
        let mut call = HelmCall {
            helm: text.to_string(),
            chart: String::new(),
            version: None,
            app_version: None,
            destination: None,
            push: None,
        };
        let mut charts = Vec::new();
        while let Some(word) = words.next() {
            if !word.starts_with('-') || word == "-" {
                charts.push(word);
                continue;
            }
            let (flag, inline) = match word.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (word.clone(), None),
            };
            let slot = match flag.as_str() {
                "--version" => &mut call.version,
                "--app-version" => &mut call.app_version,
                "-d" | "--destination" => &mut call.destination,
                "--push" => &mut call.push,
                _ => {
                    return Err(format!(
                        "helm package has no flag {flag} here; wharf takes --version, --app-version, -d/--destination and --push"
                    ));
                }
            };
            let value = match inline {
                Some(v) => v,
                None => words
                    .next()
                    .ok_or_else(|| format!("{flag} needs a value"))?,
            };
            if value.is_empty() {
                return Err(format!("{flag} needs a value"));
            }
            *slot = Some(value);
        }
        match charts.as_slice() {
            [chart] => call.chart = chart.clone(),
            [] => return Err("name the chart directory: `helm: package ./chart`".into()),
            _ => {
                return Err(format!(
                    "helm package takes one chart directory here, found {}: {}",
                    charts.len(),
                    charts.join(" ")
                ));
            }
        }
        if let Some(push) = &call.push {
            let rest = push.strip_prefix("oci://").ok_or_else(|| {
                format!("--push takes an oci:// reference (oci://REGISTRY/NAMESPACE), not {push}")
            })?;
            if rest.is_empty() || rest.split('/').any(str::is_empty) {
                return Err(format!(
                    "--push {push}: write oci://REGISTRY/NAMESPACE (helm adds /NAME:VERSION)"
                ));
            }
        }
        Ok(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_helm_package_and_push_take() {
        let c = HelmCall::parse(
            "package ./chart --version 1.2.3 --app-version=abc -d out --push oci://r.io/charts",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.chart, "./chart");
        assert_eq!(c.version.as_deref(), Some("1.2.3"));
        assert_eq!(c.app_version.as_deref(), Some("abc"));
        assert_eq!(c.destination.as_deref(), Some("out"));
        assert_eq!(c.push.as_deref(), Some("oci://r.io/charts"));
        assert!(HelmCall::parse("package").is_err());
        assert!(HelmCall::parse("install ./chart").is_err());
        assert!(HelmCall::parse("package a b").is_err());
        assert!(HelmCall::parse("package ./c --sign").is_err());
        assert!(HelmCall::parse("package ./c --push r.io/charts").is_err());
        assert!(HelmCall::parse("package ./c --version").is_err());
    }
}
