//! Text renderings of a resolved task: the readable plan and the step graph
//! (text, Mermaid, Graphviz dot).

use std::collections::HashMap;
use std::fmt::Write as _;

use wharf_spec::task::{DEFAULT_RETRY_DELAY, WORKSPACE};
use wharf_spec::{Action, Step, Task};

/// The readable plan: one block per step with what it does and every non-default setting.
pub fn plan_text(task: &Task, file: &str, run: &wharf_spec::RunInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{file}: version {}, {} step{}, run {}{}",
        task.version,
        task.steps.len(),
        if task.steps.len() == 1 { "" } else { "s" },
        run.id,
        if run.registry.is_empty() {
            String::new()
        } else {
            format!(", registry {}", run.registry)
        }
    );
    if let Some(net) = task.default_network() {
        let _ = writeln!(out, "default network: {}", net.name);
    }
    if !task.secrets.is_empty() {
        let ids: Vec<&str> = task.secrets.iter().map(|s| s.id.as_str()).collect();
        let _ = writeln!(out, "secrets: {}", ids.join(", "));
    }
    for (i, step) in task.steps.iter().enumerate() {
        let _ = writeln!(out);
        let waits = if step.depends_on.is_empty() {
            "starts at once".to_string()
        } else {
            format!("after {}", step.depends_on.join(", "))
        };
        let _ = writeln!(
            out,
            "{}. {} [{}] {waits}",
            i + 1,
            step.id,
            step.action.type_name()
        );
        match &step.action {
            Action::Build { build, .. } => {
                let _ = writeln!(out, "     docker build {build}");
            }
            Action::Cmd { cmd } => {
                let _ = writeln!(out, "     {cmd}");
            }
            Action::Push { push } => {
                for image in push {
                    let _ = writeln!(out, "     push {image}");
                }
            }
        }
        for line in settings(step, task) {
            let _ = writeln!(out, "     {line}");
        }
    }
    out
}

fn settings(step: &Step, task: &Task) -> Vec<String> {
    let mut lines = Vec::new();
    let mut flags = Vec::new();
    for (on, name) in [
        (step.detach, "detach"),
        (step.keep, "keep"),
        (step.ignore_errors, "ignoreErrors"),
        (step.privileged, "privileged"),
        (step.pull, "pull"),
        (
            step.disable_working_directory_override,
            "disableWorkingDirectoryOverride",
        ),
    ] {
        if on {
            flags.push(name);
        }
    }
    if !flags.is_empty() {
        lines.push(flags.join(", "));
    }
    if step.timeout != task.step_timeout {
        lines.push(format!("timeout {}s", step.timeout));
    }
    if step.start_delay > 0 {
        lines.push(format!("startDelay {}s", step.start_delay));
    }
    if step.retries > 0 {
        lines.push(format!(
            "retries {} every {}s",
            step.retries, step.retry_delay
        ));
    } else if step.retry_delay != DEFAULT_RETRY_DELAY {
        lines.push(format!("retryDelay {}s", step.retry_delay));
    }
    if !step.retry_on_errors.is_empty() {
        lines.push(format!(
            "retryOnErrors {}",
            step.retry_on_errors.join(" | ")
        ));
    }
    if step.repeat > 0 {
        lines.push(format!("repeat {}", step.repeat));
    }
    if !step.env.is_empty() {
        lines.push(format!("env {}", step.env.join(" ")));
    }
    let default_network = task.default_network().map(|n| n.name.as_str());
    if step.network.as_deref() != default_network {
        lines.push(format!(
            "network {}",
            step.network.as_deref().unwrap_or("(none)")
        ));
    }
    if step.working_directory != WORKSPACE {
        lines.push(format!("workingDirectory {}", step.working_directory));
    }
    for (name, value) in [
        ("entryPoint", &step.entry_point),
        ("user", &step.user),
        ("isolation", &step.isolation),
        ("cpus", &step.cpus),
    ] {
        if let Some(v) = value {
            lines.push(format!("{name} {v}"));
        }
    }
    if !step.ports.is_empty() {
        lines.push(format!("ports {}", step.ports.join(" ")));
    }
    if !step.expose.is_empty() {
        lines.push(format!("expose {}", step.expose.join(" ")));
    }
    for m in &step.volume_mounts {
        lines.push(format!("volume {} at {}", m.name, m.mount_path));
    }
    lines
}

/// The graph as stages: a step's stage is one more than the latest stage it waits for.
pub fn graph_text(task: &Task) -> String {
    let stages = stages(task);
    let count = stages.values().copied().max().map_or(0, |m| m + 1);
    let mut out = String::new();
    for stage in 0..count {
        let _ = writeln!(out, "stage {}", stage + 1);
        for step in task
            .steps
            .iter()
            .filter(|s| stages.get(s.id.as_str()) == Some(&stage))
        {
            let waits = if step.depends_on.is_empty() {
                String::new()
            } else {
                format!("  <- {}", step.depends_on.join(", "))
            };
            let _ = writeln!(out, "  {} [{}]{waits}", step.id, step.action.type_name());
        }
    }
    out
}

fn stages(task: &Task) -> HashMap<&str, usize> {
    let mut stage: HashMap<&str, usize> = HashMap::new();
    // Steps only wait for earlier steps, so one pass in file order suffices.
    for step in &task.steps {
        let s = step
            .depends_on
            .iter()
            .filter_map(|d| stage.get(d.as_str()))
            .map(|s| s + 1)
            .max()
            .unwrap_or(0);
        stage.insert(&step.id, s);
    }
    stage
}

/// A Mermaid flowchart.
pub fn graph_mermaid(task: &Task) -> String {
    let index: HashMap<&str, usize> = task
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut out = String::from("flowchart TD\n");
    for (i, step) in task.steps.iter().enumerate() {
        let label =
            format!("{}<br/><i>{}</i>", step.id, step.action.type_name()).replace('"', "#quot;");
        let _ = writeln!(out, "  s{i}[\"{label}\"]");
    }
    for (i, step) in task.steps.iter().enumerate() {
        for dep in &step.depends_on {
            if let Some(d) = index.get(dep.as_str()) {
                let _ = writeln!(out, "  s{d} --> s{i}");
            }
        }
    }
    out
}

/// A Graphviz digraph.
pub fn graph_dot(task: &Task) -> String {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let quote = |s: &str| format!("\"{}\"", escape(s));
    let mut out = String::from("digraph acb {\n  rankdir=LR;\n  node [shape=box];\n");
    for step in &task.steps {
        let _ = writeln!(
            out,
            "  {} [label=\"{}\\n{}\"];",
            quote(&step.id),
            escape(&step.id),
            step.action.type_name()
        );
    }
    for step in &task.steps {
        for dep in &step.depends_on {
            let _ = writeln!(out, "  {} -> {};", quote(dep), quote(&step.id));
        }
    }
    out.push_str("}\n");
    out
}

/// `wharf run --dry-run`: what would run, step by step, as the equivalent docker
/// commands (nothing is created).
pub fn dry_run_text(task: &Task, run: &wharf_spec::RunInfo, context: &str, bind: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dry run: {} step{} of run {} (nothing is created)",
        task.steps.len(),
        if task.steps.len() == 1 { "" } else { "s" },
        run.id
    );
    for net in &task.networks {
        if net.skip_creation {
            let _ = writeln!(out, "  use network {}", net.name);
        } else {
            let _ = writeln!(
                out,
                "  docker network create {} --driver {}{}",
                quote(&net.name),
                quote(&net.driver),
                if net.ipv6 { " --ipv6" } else { "" }
            );
        }
    }
    if bind {
        let _ = writeln!(out, "  bind-mount {context} at /workspace");
    } else {
        let _ = writeln!(
            out,
            "  copy {context} into volume {} (mounted at /workspace)",
            run.shared_volume
        );
    }
    for v in &task.volumes {
        let names: Vec<&str> = v.files.iter().map(|(n, _)| n.as_str()).collect();
        let _ = writeln!(out, "  secret volume {} with {}", v.name, names.join(", "));
    }
    for step in &task.steps {
        let _ = writeln!(out);
        let waits = if step.depends_on.is_empty() {
            "starts at once".to_string()
        } else {
            format!("after {}", step.depends_on.join(", "))
        };
        let _ = writeln!(out, "{} ({waits})", step.id);
        match &step.action {
            Action::Build { build, .. } => {
                let _ = writeln!(
                    out,
                    "  docker build {build}   # in {}",
                    step.working_directory
                );
            }
            Action::Push { push } => {
                for image in push {
                    let _ = writeln!(out, "  docker push {}", quote(image));
                }
            }
            Action::Cmd { cmd } => {
                let _ = writeln!(out, "  {}", docker_run(step, run, cmd));
            }
        }
    }
    out
}

fn docker_run(step: &Step, run: &wharf_spec::RunInfo, cmd: &str) -> String {
    let mut args: Vec<String> = vec!["docker run".into()];
    args.push(if step.detach {
        "--detach".into()
    } else {
        "--rm".into()
    });
    args.push(format!("--name {}", quote(&step.id)));
    if let Some(net) = &step.network {
        args.push(format!(
            "--network {} --network-alias {}",
            quote(net),
            quote(&step.id)
        ));
    }
    for p in &step.ports {
        args.push(format!("-p {}", quote(p)));
    }
    for e in &step.expose {
        args.push(format!("--expose {}", quote(e)));
    }
    if step.privileged {
        args.push("--privileged".into());
    }
    if let Some(u) = &step.user {
        args.push(format!("--user {}", quote(u)));
    }
    if let Some(c) = &step.cpus {
        args.push(format!("--cpus {}", quote(c)));
    }
    if let Some(ep) = &step.entry_point {
        args.push(format!("--entrypoint {}", quote(ep)));
    }
    args.push(format!("-v {}:/workspace", run.shared_volume));
    for m in &step.volume_mounts {
        args.push(format!("-v {}:{}", quote(&m.name), quote(&m.mount_path)));
    }
    args.push("-e HOME=/acb/home".into());
    for e in &step.env {
        args.push(format!("-e {}", quote(e)));
    }
    if !step.disable_working_directory_override {
        args.push(format!("-w {}", quote(&step.working_directory)));
    }
    args.push(cmd.to_string());
    args.join(" ")
}

/// Quotes a word for a POSIX shell when it needs it.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
