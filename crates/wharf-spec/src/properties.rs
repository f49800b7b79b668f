//! The keys each object of the task file accepts, with their types and docs.
//!
//! One table drives the decoder (unknown-key warnings, "did you mean"), the JSON
//! Schema (`wharf schema`) and the docs, so the three cannot drift apart.

/// The shape of a property's value.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Any scalar, taken as text.
    String,
    /// An integer.
    Int,
    /// A boolean (`true`/`false`, also YAML 1.1's `yes`/`no`/`on`/`off`).
    Bool,
    /// A list of scalars, taken as text.
    StringList,
    /// A list of integers.
    IntList,
    /// A mapping of file name to base64 content.
    StringMap,
    /// A list of objects described by another table.
    ObjectList(&'static [Property]),
    /// An object described by another table.
    Object(&'static [Property]),
    /// A mapping of names to any YAML values (strings, numbers, booleans, lists,
    /// mappings), kept as JSON values.
    AnyMap,
}

/// One accepted key.
#[derive(Clone, Copy, Debug)]
pub struct Property {
    /// The YAML key, exactly as written.
    pub key: &'static str,
    /// Its value's shape.
    pub kind: Kind,
    /// One or two sentences for editors and docs.
    pub doc: &'static str,
    /// Allowed values, when ACR checks them against a fixed set (case-insensitively).
    pub one_of: &'static [&'static str],
    /// ACR parses the key but never acts on it.
    pub inert: bool,
    /// A wharf extension: `az acr run` does not know the key.
    pub extension: bool,
    /// The key only applies to steps that run a container (cmd, build).
    pub container: bool,
}

const fn prop(key: &'static str, kind: Kind, doc: &'static str) -> Property {
    Property {
        key,
        kind,
        doc,
        one_of: &[],
        inert: false,
        extension: false,
        container: false,
    }
}

/// A wharf extension key.
const fn ext(key: &'static str, kind: Kind, doc: &'static str) -> Property {
    Property {
        extension: true,
        ..prop(key, kind, doc)
    }
}

/// A key of steps that run a container.
const fn ctr(key: &'static str, kind: Kind, doc: &'static str) -> Property {
    Property {
        container: true,
        ..prop(key, kind, doc)
    }
}

/// Top-level keys.
pub const TASK: &[Property] = &[
    prop(
        "version",
        Kind::String,
        "Task format version: v1.0.0 (default), v1.1.0 (enables aliases) or 1.0-preview-1. Must be the first key for aliases to work.",
    ),
    prop(
        "alias",
        Kind::Object(ALIAS),
        "Aliases substituted for $name before templates are rendered (version v1.1.0 or later).",
    ),
    prop(
        "stepTimeout",
        Kind::Int,
        "Default timeout of every step, in seconds. Default 600; 0 or less means 600.",
    ),
    prop(
        "workingDirectory",
        Kind::String,
        "Default working directory of every step. Default /workspace.",
    ),
    prop(
        "env",
        Kind::StringList,
        "Environment variables (K=V) for every step. ACR splits each entry on commas.",
    ),
    prop(
        "secrets",
        Kind::ObjectList(SECRET),
        "Secrets from Azure Key Vault, available as {{.Secrets.<id>}}.",
    ),
    prop(
        "networks",
        Kind::ObjectList(NETWORK),
        "Docker networks for the run. Without any, steps share acb_default_network.",
    ),
    prop(
        "volumes",
        Kind::ObjectList(VOLUME),
        "Volumes built from secret files, mounted into steps with volumeMounts.",
    ),
    prop("steps", Kind::ObjectList(STEP), "The steps to run."),
    prop(
        "isbuildtask",
        Kind::Bool,
        "Read by acr-builder (a Go field without a YAML name): true creates no default network, as for az acr build.",
    ),
    ext(
        "notify",
        Kind::ObjectList(NOTIFY),
        "wharf extension: notifier plugins that run after the steps, also after a failed run, and cannot change its outcome.",
    ),
];

/// Keys of one step.
pub const STEP: &[Property] = &[
    prop(
        "id",
        Kind::String,
        "Step id, also the container name and DNS name on the run's network. Default acb_step_<index>.",
    ),
    prop(
        "cmd",
        Kind::String,
        "Runs a container: the image, then its arguments.",
    ),
    prop(
        "build",
        Kind::String,
        "Builds an image: the arguments of docker build (-t, -f, --build-arg, context, ...).",
    ),
    prop(
        "push",
        Kind::StringList,
        "Pushes images to their registries.",
    ),
    ext(
        "plugin",
        Kind::String,
        "wharf extension: calls a WebAssembly plugin: a bundled name (semver-tagger), ./path/to.wasm, or oci://REGISTRY/REPO:TAG or @sha256:...",
    ),
    ext(
        "helm",
        Kind::String,
        "wharf extension: packages a Helm chart as helm package does, and pushes it as helm push does: package ./chart [--version V] [--app-version A] [-d DIR] [--push oci://REGISTRY/NAMESPACE].",
    ),
    ext(
        "sign",
        Kind::StringList,
        "wharf extension: signs these images (the digest each resolves to when the step runs) and pushes the signatures next to them, as notation sign or cosign sign --key do.",
    ),
    ext(
        "key",
        Kind::String,
        "wharf extension (sign steps): the private key, PEM: a secret id of the task (Key Vault, --secret, --secret-file) or a file in the context.",
    ),
    ext(
        "cert",
        Kind::String,
        "wharf extension (sign steps): the certificate chain, PEM, for a notation signature: a secret id of the task or a file in the context.",
    ),
    ext(
        "format",
        Kind::String,
        "wharf extension (sign steps): notation (default) or cosign.",
    ),
    ext(
        "with",
        Kind::AnyMap,
        "wharf extension: the plugin's inputs, rendered like the rest of the file.",
    ),
    ext(
        "allow",
        Kind::Object(ALLOW),
        "wharf extension: what the plugin may reach beyond its inputs; nothing by default.",
    ),
    prop(
        "when",
        Kind::StringList,
        "Ids of the steps this one waits for. [\"-\"] starts it at once; without when it waits for the previous step.",
    ),
    prop(
        "timeout",
        Kind::Int,
        "Seconds before the step is stopped. Default stepTimeout.",
    ),
    prop(
        "startDelay",
        Kind::Int,
        "Seconds to wait before starting; not counted in the timeout.",
    ),
    prop(
        "retries",
        Kind::Int,
        "Extra attempts after a failure (cmd and build steps).",
    ),
    prop(
        "retryDelay",
        Kind::Int,
        "Seconds between attempts. Default 5; 0 or less means 5.",
    ),
    prop(
        "retryOnErrors",
        Kind::StringList,
        "Retry only when the step's output contains one of these texts.",
    ),
    prop(
        "repeat",
        Kind::Int,
        "Extra runs of the step after the first; it fails if any run failed.",
    ),
    prop(
        "ignoreErrors",
        Kind::Bool,
        "Treat a failure as success, so dependent steps run.",
    ),
    ctr(
        "detach",
        Kind::Bool,
        "Run the container in the background; the step is done once it has started.",
    ),
    ctr(
        "keep",
        Kind::Bool,
        "Keep the container after it exits, until the end of the run.",
    ),
    ctr("privileged", Kind::Bool, "Run the container privileged."),
    ctr("user", Kind::String, "User (and group) to run as."),
    ctr(
        "network",
        Kind::String,
        "Network to attach the container to. Default: the run's default network.",
    ),
    ctr(
        "isolation",
        Kind::String,
        "Container isolation, as docker run --isolation (Windows: default, process, hyperv).",
    ),
    ctr(
        "entryPoint",
        Kind::String,
        "Overrides the image's entrypoint (cmd steps).",
    ),
    ctr(
        "ports",
        Kind::StringList,
        "Ports to publish, as docker run -p.",
    ),
    ctr(
        "expose",
        Kind::StringList,
        "Ports to expose, as docker run --expose.",
    ),
    ctr(
        "cpus",
        Kind::String,
        "Number of CPUs, as docker run --cpus.",
    ),
    ctr(
        "workingDirectory",
        Kind::String,
        "Working directory in the container; a relative path is under /workspace.",
    ),
    ctr(
        "disableWorkingDirectoryOverride",
        Kind::Bool,
        "Keep the image's WORKDIR instead of setting the working directory.",
    ),
    prop(
        "env",
        Kind::StringList,
        "Environment variables (K=V); they override the task's.",
    ),
    ctr(
        "pull",
        Kind::Bool,
        "Pull the image before running (cmd steps).",
    ),
    ctr(
        "cmdDownloadRetries",
        Kind::Int,
        "Extra attempts of the pull requested by pull: true.",
    ),
    ctr(
        "cmdDownloadRetryDelay",
        Kind::Int,
        "Seconds between pull attempts.",
    ),
    Property {
        one_of: &["enabled", "disabled"],
        ..ctr(
            "cache",
            Kind::String,
            "Use a registry build cache for this build step.",
        )
    },
    ctr(
        "tags",
        Kind::StringList,
        "Read by acr-builder (a Go field without a YAML name): the images a build step tags, instead of the ones named by -t.",
    ),
    ctr(
        "volumeMounts",
        Kind::ObjectList(VOLUME_MOUNT),
        "Volumes (declared under volumes) to mount into the container.",
    ),
    Property {
        inert: true,
        ..ctr("exitedWith", Kind::IntList, "Parsed but never used by ACR.")
    },
    Property {
        inert: true,
        ..ctr(
            "exitedWithout",
            Kind::IntList,
            "Parsed but never used by ACR.",
        )
    },
];

/// Keys of a step's `allow:` block (wharf extension).
pub const ALLOW: &[Property] = &[
    prop(
        "http",
        Kind::StringList,
        "Hosts the plugin may send HTTP requests to, as host:port.",
    ),
    prop(
        "env",
        Kind::StringList,
        "Environment variables the plugin may read: the step's env first, then wharf's own environment.",
    ),
    prop(
        "read",
        Kind::StringList,
        "Paths under the context the plugin may read.",
    ),
    prop(
        "secrets",
        Kind::StringList,
        "Ids of task secrets the plugin may use, as opaque handles.",
    ),
];

/// Keys of one `notify:` entry (wharf extension).
pub const NOTIFY: &[Property] = &[
    prop(
        "id",
        Kind::String,
        "Name of the notification in logs and events. Default notify_<index>.",
    ),
    prop(
        "plugin",
        Kind::String,
        "The notifier plugin: a bundled name (webhook-notifier), ./path/to.wasm, or an oci:// reference.",
    ),
    prop(
        "with",
        Kind::AnyMap,
        "The plugin's inputs, rendered like the rest of the file.",
    ),
    prop(
        "allow",
        Kind::Object(ALLOW),
        "What the plugin may reach beyond its inputs; nothing by default.",
    ),
    Property {
        one_of: &["success", "failure"],
        ..prop(
            "on",
            Kind::StringList,
            "When it runs: success, failure, or both (the default). An interrupted run counts as failed.",
        )
    },
    prop(
        "timeout",
        Kind::Int,
        "Seconds before the notification is stopped. Default 60.",
    ),
];

/// Keys of one secret.
pub const SECRET: &[Property] = &[
    prop(
        "id",
        Kind::String,
        "Name of the secret, used as {{.Secrets.<id>}}.",
    ),
    prop(
        "keyvault",
        Kind::String,
        "Key Vault secret URL, e.g. https://myvault.vault.azure.net/secrets/name.",
    ),
    prop(
        "clientID",
        Kind::String,
        "Client id (a GUID) of the user-assigned managed identity used to read it.",
    ),
    prop(
        "aadresourceid",
        Kind::String,
        "Read by acr-builder (a Go field without a YAML name): the secret is an Azure AD access token for this resource, from the managed identity (clientID), instead of a Key Vault secret.",
    ),
];

/// Keys of one network.
pub const NETWORK: &[Property] = &[
    prop("name", Kind::String, "Network name."),
    prop("driver", Kind::String, "Network driver. Default bridge."),
    prop("ipv6", Kind::Bool, "Enable IPv6."),
    prop(
        "skipCreation",
        Kind::Bool,
        "Use an existing network instead of creating it.",
    ),
    prop(
        "isDefault",
        Kind::Bool,
        "Attach steps without a network to this one (the last such network wins).",
    ),
];

/// Keys of one volume.
pub const VOLUME: &[Property] = &[
    prop("name", Kind::String, "Volume name."),
    prop(
        "secret",
        Kind::StringMap,
        "Files of the volume: file name to base64 content.",
    ),
];

/// Keys of one volume mount.
pub const VOLUME_MOUNT: &[Property] = &[
    prop(
        "name",
        Kind::String,
        "Name of a volume declared under volumes.",
    ),
    prop("mountPath", Kind::String, "Path in the container."),
];

/// Keys of the alias block.
pub const ALIAS: &[Property] = &[
    prop(
        "values",
        Kind::StringMap,
        "Alias name (letters and digits) to its text.",
    ),
    prop(
        "src",
        Kind::StringList,
        "Files or http(s) URLs with more aliases; later ones win.",
    ),
    prop(
        "directive",
        Kind::String,
        "The character that starts an alias. Default $.",
    ),
];

/// Finds the property for `key`.
pub fn find(table: &'static [Property], key: &str) -> Option<&'static Property> {
    table.iter().find(|p| p.key == key)
}

/// The known key most like `key`, when it is close enough to be a likely typo.
pub fn suggest(table: &'static [Property], key: &str) -> Option<&'static str> {
    let lower = key.to_ascii_lowercase();
    table
        .iter()
        .map(|p| {
            (
                strsim::jaro_winkler(&lower, &p.key.to_ascii_lowercase()),
                p.key,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, key)| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggest(STEP, "volumeMount"), Some("volumeMounts"));
        assert_eq!(suggest(STEP, "timout"), Some("timeout"));
        assert_eq!(suggest(STEP, "retryDelays"), Some("retryDelay"));
        assert_eq!(suggest(STEP, "entrypoint"), Some("entryPoint"));
        assert_eq!(suggest(STEP, "zzzz"), None);
        assert_eq!(suggest(TASK, "step"), Some("steps"));
    }

    #[test]
    fn find_returns_static_entries() {
        assert_eq!(find(STEP, "cache").map(|p| p.one_of.len()), Some(2));
        assert!(find(STEP, "nope").is_none());
    }
}
