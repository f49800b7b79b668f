//! `wharf sign REF --key KEY [--cert CERT] [--format notation|cosign]`, and what the
//! trust commands share: references that must name their registry, key files read
//! without ever showing their content, exit codes (0 done, 1 failed or refused, 2 bad
//! input).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use wharf_registry::ImageRef;
use wharf_registry::referrers::ReferrersMode;
use wharf_trust::keys::SigningKey;
use wharf_trust::ops::{self, Format, SignRequest};

use crate::cli::OutputFormat;
use crate::cli_trust::{ReferrersModeArg, SignArgs, SignatureFormat};
use crate::commands::registry::{block_on, client, print_json, usage};
use crate::commands::{EXIT_FAILED, EXIT_USAGE, print};

/// An image reference that names its registry (`localhost:5000/app:1`,
/// `myreg.azurecr.io/app@sha256:...`): signing what Docker Hub's defaults would pick
/// is never what was meant.
pub(crate) fn explicit_ref(text: &str) -> Result<ImageRef, ExitCode> {
    let text = text.strip_prefix("docker://").unwrap_or(text);
    let first = text.split('/').next().unwrap_or("");
    let names_registry =
        text.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_registry {
        return Err(usage(format!(
            "{text:?} names no registry: write REGISTRY/REPOSITORY:TAG (e.g. myreg.azurecr.io/app:v1 or localhost:5000/app:v1)"
        )));
    }
    ImageRef::parse(text).map_err(usage)
}

/// Prints a trust error with its exit code: 2 for bad input, 1 otherwise.
pub(crate) fn trust_fail(error: &wharf_trust::Error) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(if error.is_bad_input() {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    })
}

/// Reads a file the user named; an error names the file, never its content.
pub(crate) fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path)
        .map_err(|e| usage(format!("cannot read the {what} {}: {e}", path.display())))
}

/// The referrers mode asked for.
pub(crate) fn mode(arg: ReferrersModeArg) -> ReferrersMode {
    match arg {
        ReferrersModeArg::Auto => ReferrersMode::Auto,
        ReferrersModeArg::Api => ReferrersMode::Api,
        ReferrersModeArg::Tag => ReferrersMode::Tag,
    }
}

/// `KEY=VALUE` pairs.
pub(crate) fn pairs(items: &[String], flag: &str) -> Result<BTreeMap<String, String>, ExitCode> {
    let mut map = BTreeMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(usage(format!("{flag} {item:?}: write KEY=VALUE")));
        };
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// `30d`, `24h`, `1h30m`, `90s`.
pub(crate) fn parse_duration(text: &str) -> Result<jiff::SignedDuration, String> {
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("{text:?}: unknown unit {c:?} (use d, h, m, s)")),
        };
        let n: i64 = number
            .parse()
            .map_err(|_| format!("{text:?}: a number must come before {c:?}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() || total <= 0 {
        return Err(format!(
            "{text:?} is not a duration such as 30d, 24h or 1h30m"
        ));
    }
    Ok(jiff::SignedDuration::from_secs(total))
}

/// The agent recorded in notation signatures.
pub(crate) fn agent() -> String {
    format!("wharf/{}", env!("CARGO_PKG_VERSION"))
}

/// `wharf sign`.
pub fn run(args: &SignArgs) -> ExitCode {
    let image = match explicit_ref(&args.reference) {
        Ok(i) => i,
        Err(code) => return code,
    };
    let key_text = match read_file(&args.key, "key") {
        Ok(k) => k,
        Err(code) => return code,
    };
    let key = match SigningKey::from_pem(
        &String::from_utf8_lossy(&key_text),
        &args.key.display().to_string(),
    ) {
        Ok(k) => k,
        Err(e) => return trust_fail(&e),
    };
    let format = match args.format {
        SignatureFormat::Notation => Format::Notation,
        SignatureFormat::Cosign => Format::Cosign,
    };
    let chain = match (&args.cert, format) {
        (Some(path), _) => {
            let text = match read_file(path, "certificate") {
                Ok(t) => t,
                Err(code) => return code,
            };
            match wharf_trust::certs::parse_certificates(&text, &path.display().to_string()) {
                Ok(c) => c,
                Err(e) => return trust_fail(&e),
            }
        }
        (None, Format::Notation) => {
            return usage("a notation signature needs --cert (the key's certificate chain, PEM)");
        }
        (None, Format::Cosign) => Vec::new(),
    };
    let expiry = match args.expiry.as_deref().map(parse_duration).transpose() {
        Ok(e) => e,
        Err(e) => return usage(format!("--expiry {e}")),
    };
    let annotations = match pairs(&args.metadata, "--metadata") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let request = SignRequest {
        format,
        key,
        chain,
        mode: mode(args.referrers_mode),
        expiry,
        annotations,
        agent: agent(),
    };
    let options = args.connection.options(args.output);
    block_on(async {
        let client = match client(&options, Vec::new()) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let signed = match ops::sign(&client, &image, &request).await {
            Ok(s) => s,
            Err(e) => return trust_fail(&e),
        };
        let name = format!("{}@{}", image.name(), signed.subject.digest);
        match args.output {
            OutputFormat::Json => print_json(&json!({
                "reference": name,
                "mediaType": signed.subject.media_type,
                "digest": signed.subject.digest.as_str(),
                "size": signed.subject.size,
                "signature": signed.signature.as_str(),
                "location": signed.location,
                "format": match format { Format::Notation => "notation", Format::Cosign => "cosign" },
            })),
            OutputFormat::Text => print(&format!(
                "Successfully signed {name}\nPushed the signature to {}\n",
                signed.location
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_must_name_a_registry() {
        assert!(explicit_ref("localhost:5000/app:1").is_ok());
        assert!(explicit_ref("myreg.azurecr.io/team/app@sha256:0000000000000000000000000000000000000000000000000000000000000000").is_ok());
        assert!(explicit_ref("app:1").is_err());
        assert!(explicit_ref("team/app:1").is_err());
    }

    #[test]
    fn durations_read_as_notation_writes_them() {
        assert_eq!(
            parse_duration("1h30m").ok(),
            Some(jiff::SignedDuration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("2d").ok(),
            Some(jiff::SignedDuration::from_secs(172_800))
        );
        for bad in ["", "10", "5x", "h", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
