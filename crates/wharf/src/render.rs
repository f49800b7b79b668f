//! Text renderings of a resolved task: the readable plan and the step graph
//! (text, Mermaid, Graphviz dot).

use std::collections::HashMap;
use std::fmt::Write as _;

use wharf_spec::task::{DEFAULT_RETRY_DELAY, WORKSPACE};
use wharf_spec::{Action, Container, Notify, NotifyOn, PluginCall, Step, Task};

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
            Action::Cmd { cmd, .. } => {
                let _ = writeln!(out, "     {cmd}");
            }
            Action::Push { push } => {
                for image in push {
                    let _ = writeln!(out, "     push {image}");
                }
            }
            Action::Plugin(call) => {
                for line in plugin_lines(call) {
                    let _ = writeln!(out, "     {line}");
                }
            }
            Action::Helm(call) => {
                let _ = writeln!(out, "     helm {}", call.helm);
            }
            Action::Sign(call) => {
                let _ = writeln!(out, "     sign ({}) {}", call.format, call.sign.join(" "));
            }
        }
        for line in settings(step, task) {
            let _ = writeln!(out, "     {line}");
        }
    }
    if !task.notify.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "after the run:");
        for entry in &task.notify {
            let _ = writeln!(out, "  {} [notify] {}", entry.step.id, notify_when(entry));
            if let Action::Plugin(call) = &entry.step.action {
                for line in plugin_lines(call) {
                    let _ = writeln!(out, "     {line}");
                }
            }
        }
    }
    out
}

/// `on success`, `on failure` or `on success and failure`.
fn notify_when(entry: &Notify) -> String {
    let names: Vec<&str> = entry
        .on
        .iter()
        .map(|o| match o {
            NotifyOn::Success => "success",
            NotifyOn::Failure => "failure",
        })
        .collect();
    format!("on {}", names.join(" and "))
}

/// A plugin call: its source, `with:` values and grants.
fn plugin_lines(call: &PluginCall) -> Vec<String> {
    let mut lines = vec![format!("plugin {}", call.plugin)];
    for (k, v) in &call.with {
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        lines.push(format!("with {k}={text}"));
    }
    let grants = &call.allow;
    for (name, list) in [
        ("http", &grants.http),
        ("env", &grants.env),
        ("read", &grants.read),
        ("secrets", &grants.secrets),
    ] {
        if !list.is_empty() {
            lines.push(format!("allow {name} {}", list.join(" ")));
        }
    }
    lines
}

fn settings(step: &Step, task: &Task) -> Vec<String> {
    let mut lines = Vec::new();
    let none = Container::default();
    let c = step.container().unwrap_or(&none);
    let mut flags = Vec::new();
    for (on, name) in [
        (c.detach, "detach"),
        (c.keep, "keep"),
        (step.ignore_errors, "ignoreErrors"),
        (c.privileged, "privileged"),
        (c.pull, "pull"),
        (
            c.disable_working_directory_override,
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
    let Some(c) = step.container() else {
        return lines;
    };
    let default_network = task.default_network().map(|n| n.name.as_str());
    if c.network.as_deref() != default_network {
        lines.push(format!(
            "network {}",
            c.network.as_deref().unwrap_or("(none)")
        ));
    }
    if c.working_directory != WORKSPACE {
        lines.push(format!("workingDirectory {}", c.working_directory));
    }
    for (name, value) in [
        ("entryPoint", &c.entry_point),
        ("user", &c.user),
        ("isolation", &c.isolation),
        ("cpus", &c.cpus),
    ] {
        if let Some(v) = value {
            lines.push(format!("{name} {v}"));
        }
    }
    if !c.ports.is_empty() {
        lines.push(format!("ports {}", c.ports.join(" ")));
    }
    if !c.expose.is_empty() {
        lines.push(format!("expose {}", c.expose.join(" ")));
    }
    for m in &c.volume_mounts {
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
    if !task.notify.is_empty() {
        let _ = writeln!(out, "after the run");
        for entry in &task.notify {
            let _ = writeln!(out, "  {} [notify] {}", entry.step.id, notify_when(entry));
        }
    }
    out
}

/// The steps no other step waits for: where the run ends, and notifications follow.
fn last_steps(task: &Task) -> Vec<&Step> {
    task.steps
        .iter()
        .filter(|s| !task.steps.iter().any(|o| o.depends_on.contains(&s.id)))
        .collect()
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
    for (n, entry) in task.notify.iter().enumerate() {
        let label = format!("{}<br/><i>notify {}</i>", entry.step.id, notify_when(entry))
            .replace('"', "#quot;");
        let _ = writeln!(out, "  n{n}[\"{label}\"]");
        for last in last_steps(task) {
            if let Some(i) = index.get(last.id.as_str()) {
                let _ = writeln!(out, "  s{i} -.-> n{n}");
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
    for entry in &task.notify {
        let _ = writeln!(
            out,
            "  {} [label=\"{}\\nnotify {}\", style=dashed];",
            quote(&entry.step.id),
            escape(&entry.step.id),
            notify_when(entry)
        );
        for last in last_steps(task) {
            let _ = writeln!(
                out,
                "  {} -> {} [style=dashed];",
                quote(&last.id),
                quote(&entry.step.id)
            );
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
            Action::Build {
                build, container, ..
            } => {
                let _ = writeln!(
                    out,
                    "  docker build {build}   # in {}",
                    container.working_directory
                );
            }
            Action::Push { push } => {
                for image in push {
                    let _ = writeln!(out, "  docker push {}", quote(image));
                }
            }
            Action::Cmd { cmd, container } => {
                let _ = writeln!(out, "  {}", docker_run(step, container, run, cmd));
            }
            Action::Plugin(call) => {
                let _ = writeln!(out, "  {}", plugin_call_text(call));
            }
            Action::Helm(call) => {
                let _ = writeln!(out, "  helm {}", call.helm);
            }
            Action::Sign(call) => {
                let _ = writeln!(out, "  sign ({}) {}", call.format, call.sign.join(" "));
            }
        }
    }
    for entry in &task.notify {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} (after the run, {})",
            entry.step.id,
            notify_when(entry)
        );
        if let Action::Plugin(call) = &entry.step.action {
            let _ = writeln!(out, "  {}", plugin_call_text(call));
        }
    }
    out
}

/// A plugin call in one line: the plugin, its inputs as JSON, what it may reach.
fn plugin_call_text(call: &PluginCall) -> String {
    let with = serde_json::Value::Object(call.with.clone()).to_string();
    let g = &call.allow;
    let mut grants: Vec<String> = Vec::new();
    for (name, list) in [
        ("http", &g.http),
        ("env", &g.env),
        ("read", &g.read),
        ("secrets", &g.secrets),
    ] {
        if !list.is_empty() {
            grants.push(format!("{name}={}", list.join(",")));
        }
    }
    let allow = if grants.is_empty() {
        "nothing granted".to_string()
    } else {
        format!("allow {}", grants.join(" "))
    };
    format!("plugin {} with {with}   # {allow}", call.plugin)
}

fn docker_run(step: &Step, c: &Container, run: &wharf_spec::RunInfo, cmd: &str) -> String {
    let mut args: Vec<String> = vec!["docker run".into()];
    args.push(if c.detach {
        "--detach".into()
    } else {
        "--rm".into()
    });
    args.push(format!(
        "--name {}",
        quote(&wharf_docker::step_container(&run.id, &step.id))
    ));
    if let Some(net) = &c.network {
        args.push(format!(
            "--network {} --network-alias {}",
            quote(net),
            quote(&step.id)
        ));
    }
    for p in &c.ports {
        args.push(format!("-p {}", quote(p)));
    }
    for e in &c.expose {
        args.push(format!("--expose {}", quote(e)));
    }
    if c.privileged {
        args.push("--privileged".into());
    }
    if let Some(u) = &c.user {
        args.push(format!("--user {}", quote(u)));
    }
    if let Some(c) = &c.cpus {
        args.push(format!("--cpus {}", quote(c)));
    }
    if let Some(ep) = &c.entry_point {
        args.push(format!("--entrypoint {}", quote(ep)));
    }
    args.push(format!("-v {}:/workspace", run.shared_volume));
    for m in &c.volume_mounts {
        args.push(format!("-v {}:{}", quote(&m.name), quote(&m.mount_path)));
    }
    args.push("-e HOME=/acb/home".into());
    for e in &step.env {
        args.push(format!("-e {}", quote(e)));
    }
    if !c.disable_working_directory_override {
        args.push(format!("-w {}", quote(&c.working_directory)));
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
