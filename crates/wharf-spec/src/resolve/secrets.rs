//! Secret declarations: ACR's `Task.Validate` rules for `secrets:`.

use std::collections::HashMap;

use super::text;
use crate::decode::RawSecret;
use crate::diagnostic::{Diagnostic, Location};
use crate::source::{FileId, Span};
use crate::task::Secret;

/// ACR's secret checks (`Task.Validate`): an id without whitespace, a `keyvault`,
/// a GUID `clientID` when there is one, unique ids. Returns the well-formed
/// declarations and the problems, placed in `file`. The loader uses it before
/// resolving secrets and again on the final task.
pub(crate) fn check_secrets(raw: &[RawSecret], file: FileId) -> (Vec<Secret>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut ids: HashMap<&str, Span> = HashMap::new();
    for s in raw {
        let Some(id) = s.id.as_ref().filter(|i| !i.value.is_empty()) else {
            problems.push(
                Diagnostic::error("secret-id", "secret is missing an ID")
                    .with_help("give the secret an `id:`")
                    .at(file, s.span),
            );
            continue;
        };
        let mut ok = true;
        if id.value.chars().any(char::is_whitespace) {
            problems.push(
                Diagnostic::error("secret-id", "secret ID cannot contain spaces").at(file, id.span),
            );
            ok = false;
        }
        let keyvault = s.keyvault.as_ref().filter(|k| !k.value.is_empty());
        let resource = s.aad_resource_id.as_ref().filter(|r| !r.value.is_empty());
        if keyvault.is_none() && resource.is_none() {
            problems.push(
                Diagnostic::error(
                    "secret-source",
                    format!(
                        "secret `{}` should contain either keyvault property for vault secret, or msi clientID/aadresourceid for msi authentication",
                        id.value
                    ),
                )
                .with_help("add `keyvault: https://<vault>.vault.azure.net/secrets/<name>`; for local runs pass the value with --secret")
                .at(file, s.span),
            );
            continue;
        }
        if let Some(client) = s.client_id.as_ref().filter(|c| !c.value.is_empty())
            && !is_guid(&client.value)
        {
            problems.push(
                Diagnostic::error(
                    "secret-client-id",
                    format!("msi client ID of secret `{}` is not a valid guid", id.value),
                )
                .at(file, client.span),
            );
            ok = false;
        }
        if let Some(&first) = ids.get(id.value.as_str()) {
            problems.push(
                Diagnostic::error(
                    "duplicate-secret",
                    format!("duplicate secret found with ID: {}", id.value),
                )
                .with_related(Location { file, span: first }, "first declared here")
                .at(file, id.span),
            );
            continue;
        }
        ids.insert(&id.value, id.span);
        if ok {
            out.push(Secret {
                id: id.value.clone(),
                keyvault: keyvault.map(|k| k.value.clone()).unwrap_or_default(),
                client_id: text(s.client_id.as_ref()),
                aad_resource_id: resource.map(|r| r.value.clone()),
            });
        }
    }
    (out, problems)
}

/// Whether `s` is a GUID as ACR checks it (Go's `uuid.Parse`, google/uuid):
/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, the same after `urn:uuid:` (any case), 32
/// hex digits without hyphens, or 38 characters whose first is dropped and last
/// ignored (`{...}`: Go checks neither brace).
pub fn is_guid(s: &str) -> bool {
    let bytes = s.as_bytes();
    let hyphenated = |b: &[u8]| {
        b.len() >= 36
            && b.iter().take(36).enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    match bytes.len() {
        36 => hyphenated(bytes),
        45 => bytes[..9].eq_ignore_ascii_case(b"urn:uuid:") && hyphenated(&bytes[9..]),
        38 => hyphenated(&bytes[1..]),
        32 => bytes.iter().all(u8::is_ascii_hexdigit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_as_go_parses_them() {
        for good in [
            "A1B2C3D4-0000-1111-2222-333344445555",
            "{a1b2c3d4-0000-1111-2222-333344445555}",
            "urn:uuid:a1b2c3d4-0000-1111-2222-333344445555",
            "URN:UUID:a1b2c3d4-0000-1111-2222-333344445555",
            "a1b2c3d4000011112222333344445555",
            // Go checks neither brace.
            "xa1b2c3d4-0000-1111-2222-333344445555y",
        ] {
            assert!(is_guid(good), "{good}");
        }
        for bad in [
            "a1b2c3d4-0000-1111-2222-33334444555",
            "a1b2c3d4_0000-1111-2222-333344445555",
            "urn:uuix:a1b2c3d4-0000-1111-2222-333344445555",
            "a1b2c3d400001111222233334444555g",
        ] {
            assert!(!is_guid(bad), "{bad}");
        }
    }

    #[test]
    fn guids() {
        assert!(is_guid("a1b2c3d4-0000-1111-2222-333344445555"));
        assert!(!is_guid("not-a-guid"));
    }
}
