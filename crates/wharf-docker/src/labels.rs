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

/// On everything one executor creates: a random nonce made when it connects. Two runs
/// with the same run id have different sessions, so each run's cleanup removes only
/// what it created itself.
pub const LABEL_SESSION: &str = "dev.wharf.session";

/// A new session nonce: 128 bits from the standard library's randomly keyed hasher
/// (seeded from the operating system), the time, the process id and a counter.
pub(crate) fn new_session() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut out = String::with_capacity(32);
    for part in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(part);
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        h.write_u64(count);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The labels of an object created by session `session` of run `run_id`.
pub(crate) fn for_run(run_id: &str, session: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_MANAGED.to_string(), "true".to_string()),
        (LABEL_RUN.to_string(), run_id.to_string()),
        (LABEL_SESSION.to_string(), session.to_string()),
    ])
}

/// The labels of the container of step `step_id` in run `run_id`.
pub(crate) fn for_step(run_id: &str, session: &str, step_id: &str) -> HashMap<String, String> {
    let mut labels = for_run(run_id, session);
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

/// Engine list filters selecting the objects one session of run `run_id` created.
pub(crate) fn session_filters(run_id: &str, session: &str) -> HashMap<String, Vec<String>> {
    let mut filters = filters(Some(run_id));
    if let Some(labels) = filters.get_mut("label") {
        labels.push(format!("{LABEL_SESSION}={session}"));
    }
    filters
}

/// Whether `labels` say the object was created by session `session` (this executor).
pub(crate) fn belongs_to(labels: Option<&HashMap<String, String>>, session: &str) -> bool {
    labels.is_some_and(|l| {
        l.get(LABEL_MANAGED).is_some_and(|v| v == "true")
            && l.get(LABEL_SESSION).is_some_and(|v| v == session)
    })
}

/// The wharf run an object belongs to, by its labels; `None` when it is not wharf's.
pub(crate) fn wharf_run(labels: Option<&HashMap<String, String>>) -> Option<&str> {
    let labels = labels?;
    if labels.get(LABEL_MANAGED).is_some_and(|v| v == "true") {
        labels.get(LABEL_RUN).map(String::as_str)
    } else {
        None
    }
}

/// What to tell the user about the `kind` named `name` that is in wharf's way, given
/// its labels. `rename` says how to avoid the name (`change the step id`).
pub(crate) fn in_the_way(
    kind: &str,
    name: &str,
    labels: Option<&HashMap<String, String>>,
    remove: &str,
    rename: &str,
) -> String {
    match wharf_run(labels) {
        Some(run) => format!(
            "a {kind} named {name} already exists: it belongs to wharf run {run}, which may still be running; \
             if it is not, `wharf clean --run {run}` removes it"
        ),
        None => format!(
            "a {kind} named {name} already exists and is not wharf's: remove it (`{remove}`) or {rename}"
        ),
    }
}

/// `text` made safe for a Docker object name (the spec's rule, which also
/// suggests step ids).
pub(crate) use wharf_spec::compat::docker_name_part as name_part;

/// The per-run volume mounted at `/acb/home`.
pub(crate) fn home_volume(run_id: &str) -> String {
    format!("wharf_{}_home", name_part(run_id))
}

/// The Docker volume holding the task volume `name`.
pub(crate) fn secret_volume(run_id: &str, name: &str) -> String {
    format!("wharf_{}_secret_{}", name_part(run_id), name_part(name))
}

/// The container of step `step_id` in run `run_id`: `<run id>-<step id>`. Two runs of
/// one task on one engine then never clash (a run refuses to start while objects of
/// its run id exist, and run ids are new for every run unless `--id` is given); the
/// step id stays the container's network alias, which is how steps reach each other.
pub fn step_container(run_id: &str, step_id: &str) -> String {
    format!("{}-{}", name_part(run_id), name_part(step_id))
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
        assert_eq!(step_container("cb1", "web"), "cb1-web");
        assert_ne!(step_container("cb1", "web"), step_container("cb2", "web"));
    }

    #[test]
    fn ownership_is_by_session() {
        let labels = for_step("r1", "s1", "step");
        assert!(belongs_to(Some(&labels), "s1"));
        assert!(!belongs_to(Some(&labels), "s2"));
        assert!(!belongs_to(None, "s1"));
        assert_eq!(wharf_run(Some(&labels)), Some("r1"));
        assert_eq!(wharf_run(Some(&HashMap::new())), None);
    }

    #[test]
    fn sessions_differ() {
        let a = new_session();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_session());
    }
}
