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
        let Some(keyvault) = s.keyvault.as_ref().filter(|k| !k.value.is_empty()) else {
            problems.push(
                Diagnostic::error(
                    "secret-source",
                    format!("secret `{}` should contain either keyvault property", id.value),
                )
                .with_help("add `keyvault: https://<vault>.vault.azure.net/secrets/<name>`; for local runs pass the value with --secret")
                .at(file, s.span),
            );
            continue;
        };
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
                keyvault: keyvault.value.clone(),
                client_id: text(s.client_id.as_ref()),
            });
        }
    }
    (out, problems)
}

/// Whether `s` is a GUID (8-4-4-4-12 hex digits).
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups
            .iter()
            .zip(lens)
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("a1b2c3d4-0000-1111-2222-333344445555"));
        assert!(!is_guid("not-a-guid"));
    }
}
