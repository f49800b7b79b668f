//! The labels wharf puts on everything it creates, and names derived from the run id.

use std::collections::HashMap;

/// On every container, network and volume wharf creates: `true`.
pub const LABEL_MANAGED: &str = "dev.wharf.managed";
/// The run that created the object.
pub const LABEL_RUN: &str = "dev.wharf.run";
/// On step containers: the step id.
pub const LABEL_STEP: &str = "dev.wharf.step";
/// On the helper container that copies files in and out of volumes: `true`.
pub const LABEL_HELPER: &str = "dev.wharf.helper";

/// The labels of an object of run `run_id`.
pub(crate) fn for_run(run_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_RUN.to_string(), run_id.to_string()),
    ])
}

/// The labels of the container of step `step_id` in run `run_id`.
pub(crate) fn for_step(run_id: &str, step_id: &str) -> HashMap<String, String> {
    let mut labels = for_run(run_id);
    labels.insert(LABEL_STEP.to_string(), step_id.to_string());
    labels
}

/// Engine list filters selecting wharf's objects, of one run or of all runs.
pub(crate) fn filters(run_id: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut labels = vec![format!("{LABEL_MANAGED}=true")];
    if let Some(run) = run_id {
        labels.push(format!("{LABEL_RUN}={run}"));
    }
    HashMap::from([("label".to_string(), labels)])
}

/// Whether `labels` say the object belongs to run `run_id`.
pub(crate) fn belongs_to(labels: Option<&HashMap<String, String>>, run_id: &str) -> bool {
    labels.is_some_and(|l| {
        l.get(LABEL_MANAGED).is_some_and(|v| v == "true")
            && l.get(LABEL_RUN).is_some_and(|v| v == run_id)
    })
}

/// `text` made safe for a Docker object name (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub(crate) fn name_part(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// The per-run volume mounted at `/acb/home`.
pub(crate) fn home_volume(run_id: &str) -> String {
    format!("wharf_{}_home", name_part(run_id))
}

/// The Docker volume holding the task volume `name`.
pub(crate) fn secret_volume(run_id: &str, name: &str) -> String {
    format!("wharf_{}_secret_{}", name_part(run_id), name_part(name))
}

/// The helper container of the run.
pub(crate) fn helper_container(run_id: &str) -> String {
    format!("wharf-helper-{}", name_part(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_docker_safe() {
        assert_eq!(name_part("a b/c"), "a_b_c");
        assert_eq!(name_part(""), "x");
        assert_eq!(home_volume("r1"), "wharf_r1_home");
        assert_eq!(secret_volume("r1", "creds"), "wharf_r1_secret_creds");
    }

    #[test]
    fn ownership_needs_both_labels() {
        let labels = for_step("r1", "s");
        assert!(belongs_to(Some(&labels), "r1"));
        assert!(!belongs_to(Some(&labels), "r2"));
        assert!(!belongs_to(None, "r1"));
    }
}
