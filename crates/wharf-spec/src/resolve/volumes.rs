//! Secret volumes and volume mounts.

use std::collections::HashMap;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::Resolver;
use crate::decode::{RawMount, RawStep, RawVolume};
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use crate::task::Volume;

/// Go's `base64.StdEncoding.DecodeString`: padding is required, the unused bits
/// of the last character need not be zero (`YR==` is `a`), and line breaks
/// anywhere are skipped, so the wrapped output of `base64` decodes.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    const GO_STD: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    GO_STD.decode(compact)
}

impl Resolver<'_> {
    pub(super) fn volumes(&mut self, raw: &[RawVolume]) -> Vec<Volume> {
        let mut out = Vec::new();
        let mut names: HashMap<&str, Span> = HashMap::new();
        for v in raw {
            let name = v
                .name
                .as_ref()
                .map(|n| n.value.as_str())
                .unwrap_or_default();
            let name_span = v.name.as_ref().map_or(v.span, |n| n.span);
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.error(
                    Diagnostic::error(
                        "volume-name",
                        format!("volume name {name:?} is not well formed"),
                    )
                    .with_help("use letters, digits, '-' and '_' only"),
                    name_span,
                );
            }
            let Some(secret) = v.secret.as_ref() else {
                self.error(
                    Diagnostic::error(
                        "volume-source",
                        format!("volume `{name}`: currently only support for source type secret"),
                    )
                    .with_help("add `secret:` with file names and their base64 contents"),
                    v.span,
                );
                continue;
            };
            if secret.value.is_empty() {
                self.error(
                    Diagnostic::error("volume-source", format!("volume `{name}`: secret is empty")),
                    secret.span,
                );
            }
            let mut files = Vec::new();
            for (file, content) in &secret.value {
                if file.value.is_empty()
                    || !file
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                {
                    self.error(
                        Diagnostic::error(
                            "volume-file-name",
                            format!("file name, {}, is not well formed", file.value),
                        )
                        .with_help("use letters, digits, '-', '_' and '.' only"),
                        file.span,
                    );
                }
                // wharf: ACR finds bad base64 only when the run starts; we report it here.
                match decode_base64(&content.value) {
                    Ok(bytes) => files.push((file.value.clone(), bytes)),
                    Err(_) => self.error(
                        Diagnostic::error(
                            "volume-base64",
                            format!("failed to decode Base64 value of file `{}`", file.value),
                        )
                        .with_label("not base64"),
                        content.span,
                    ),
                }
            }
            if let Some(&first) = names.get(name) {
                self.duplicate(
                    Diagnostic::error("duplicate-volume", "volume with duplicate name found"),
                    name_span,
                    first,
                    "first declared here",
                );
                continue;
            }
            names.insert(name, name_span);
            out.push(Volume {
                name: name.to_string(),
                files,
            });
        }
        out
    }

    pub(super) fn mount_names(&mut self, step: &RawStep, volumes: &[RawVolume]) {
        for m in &step.volume_mounts {
            let Some(name) = m.name.as_ref().filter(|n| !n.value.is_empty()) else {
                continue;
            };
            let declared = volumes
                .iter()
                .any(|v| v.name.as_ref().is_some_and(|n| n.value == name.value));
            if !declared {
                let mut d = Diagnostic::error(
                    "unknown-volume",
                    format!(
                        "mount name, {}, does not correspond to a volume",
                        name.value
                    ),
                );
                d = d.with_help(if volumes.is_empty() {
                    "declare it under the top-level `volumes:`".to_string()
                } else {
                    let known: Vec<&str> = volumes
                        .iter()
                        .filter_map(|v| v.name.as_ref().map(|n| n.value.as_str()))
                        .collect();
                    format!("declared volumes: {}", known.join(", "))
                });
                self.error(d, name.span);
            }
        }
    }

    pub(super) fn mounts(&mut self, mounts: &[RawMount]) {
        let mut paths: HashMap<&str, Span> = HashMap::new();
        for m in mounts {
            let name = m
                .name
                .as_ref()
                .map(|n| n.value.as_str())
                .unwrap_or_default();
            let path = m
                .mount_path
                .as_ref()
                .map(|p| p.value.as_str())
                .unwrap_or_default();
            if name.is_empty() || path.is_empty() {
                self.error(
                    Diagnostic::error("mount", "mount name or mount path is empty")
                        .with_help("each volume mount needs `name:` and `mountPath:`"),
                    m.span,
                );
                continue;
            }
            let path_span = m.mount_path.as_ref().map_or(m.span, |p| p.span);
            if let Some(&first) = paths.get(path) {
                self.duplicate(
                    Diagnostic::error("mount", "mount with duplicate container file path found"),
                    path_span,
                    first,
                    "first mounted here",
                );
                continue;
            }
            paths.insert(path, path_span);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_follows_go() {
        assert_eq!(decode_base64("YQ==").ok(), Some(b"a".to_vec()));
        // Non-zero trailing bits, line breaks anywhere, an empty value.
        assert_eq!(decode_base64("YR==").ok(), Some(b"a".to_vec()));
        assert_eq!(
            decode_base64("YW\r\nJj\nZA=\n=\n").ok(),
            Some(b"abcd".to_vec())
        );
        assert_eq!(decode_base64("").ok(), Some(Vec::new()));
        // Padding is required; spaces, data after padding and bad padding are not base64.
        for bad in [
            "YQ", "YQ=", " YQ==", "YQ== ", "YQ==YQ==", "Y===", "====", "YQ=\t=",
        ] {
            assert!(decode_base64(bad).is_err(), "{bad:?}");
        }
    }
}
