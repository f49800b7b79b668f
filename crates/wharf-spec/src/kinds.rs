//! The kinds of step, in one table: which key makes a step of each kind, whether
//! ACR knows it, and which outputs it gives later steps. The decoder's messages, the
//! compatibility lints and the output checks all read this table, so a new kind
//! (helm, sign) is one more row.

use serde::Serialize;

/// What kind of step a step is: the key that makes it one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// `build:` — build an image.
    Build,
    /// `cmd:` — run a container.
    Cmd,
    /// `push:` — push images.
    Push,
    /// `plugin:` — call a WebAssembly plugin (wharf extension).
    Plugin,
    /// `helm:` — package (and push) a Helm chart (wharf extension).
    Helm,
    /// `sign:` — sign pushed images, Notary Project or cosign (wharf extension).
    Sign,
}

/// One row of [`KINDS`].
#[derive(Clone, Copy, Debug)]
pub struct KindDef {
    /// The kind.
    pub kind: StepKind,
    /// The YAML key that makes a step of this kind.
    pub key: &'static str,
    /// Whether `az acr run` knows this kind (else it is a wharf extension).
    pub acr: bool,
    /// Whether the step runs in a container (and so takes container settings).
    pub container: bool,
    /// The outputs later steps can use as `$(steps.<id>.outputs.<name>)`; `None` when
    /// only the step itself knows them at run time (plugins declare their own).
    pub outputs: Option<&'static [OutputDef]>,
}

/// An output a kind of step gives.
#[derive(Clone, Copy, Debug)]
pub struct OutputDef {
    /// Its name.
    pub name: &'static str,
    /// Whether it is a list of strings (else one string).
    pub list: bool,
    /// What it holds.
    pub doc: &'static str,
}

/// Every kind of step, ACR's first, in the order messages list them.
pub const KINDS: &[KindDef] = &[
    KindDef {
        kind: StepKind::Build,
        key: "build",
        acr: true,
        container: true,
        outputs: Some(&[
            OutputDef {
                name: "image",
                list: false,
                doc: "the first image named by -t",
            },
            OutputDef {
                name: "tags",
                list: true,
                doc: "every image named by -t",
            },
        ]),
    },
    KindDef {
        kind: StepKind::Cmd,
        key: "cmd",
        acr: true,
        container: true,
        outputs: Some(&[]),
    },
    KindDef {
        kind: StepKind::Push,
        key: "push",
        acr: true,
        container: false,
        outputs: Some(&[
            OutputDef {
                name: "refs",
                list: true,
                doc: "every image pushed, as written in the step",
            },
            OutputDef {
                name: "digests",
                list: true,
                doc: "the manifest digest of each image pushed, in the same order",
            },
        ]),
    },
    KindDef {
        kind: StepKind::Plugin,
        key: "plugin",
        acr: false,
        container: false,
        outputs: None,
    },
    KindDef {
        kind: StepKind::Helm,
        key: "helm",
        acr: false,
        container: false,
        outputs: Some(&[
            OutputDef {
                name: "chart",
                list: false,
                doc: "the packaged chart, NAME-VERSION.tgz, as a path in the workspace",
            },
            OutputDef {
                name: "ref",
                list: false,
                doc: "with --push: the chart's reference, REGISTRY/NAMESPACE/NAME:VERSION",
            },
            OutputDef {
                name: "digest",
                list: false,
                doc: "with --push: the manifest digest of the pushed chart",
            },
        ]),
    },
    KindDef {
        kind: StepKind::Sign,
        key: "sign",
        acr: false,
        container: false,
        outputs: Some(&[OutputDef {
            name: "signatures",
            list: true,
            doc: "where each signature went: REPOSITORY@DIGEST (notation) or REPOSITORY:sha256-HEX.sig (cosign)",
        }]),
    },
];

impl StepKind {
    /// This kind's row of [`KINDS`].
    pub fn def(self) -> &'static KindDef {
        KINDS.iter().find(|d| d.kind == self).unwrap_or(&KINDS[0])
    }

    /// The YAML key that makes a step of this kind.
    pub fn key(self) -> &'static str {
        self.def().key
    }
}

/// ACR's kinds as its messages list them: `build, cmd, or push`.
pub fn acr_kind_list() -> String {
    let keys: Vec<&str> = KINDS.iter().filter(|k| k.acr).map(|k| k.key).collect();
    match keys.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{}, or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_string(),
        None => String::new(),
    }
}

/// wharf's extension kinds, for help texts: `plugin`.
pub fn extension_kind_list() -> String {
    let keys: Vec<&str> = KINDS.iter().filter(|k| !k.acr).map(|k| k.key).collect();
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_kinds_read_as_acr_writes_them() {
        assert_eq!(acr_kind_list(), "build, cmd, or push");
        assert_eq!(extension_kind_list(), "plugin, helm, sign");
    }

    #[test]
    fn every_kind_has_one_row() {
        for kind in [
            StepKind::Build,
            StepKind::Cmd,
            StepKind::Push,
            StepKind::Plugin,
            StepKind::Helm,
            StepKind::Sign,
        ] {
            assert_eq!(KINDS.iter().filter(|d| d.kind == kind).count(), 1);
            assert_eq!(kind.def().kind, kind);
        }
    }
}
