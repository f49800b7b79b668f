//! The scanner's own finding type (ordered severities), turned into the
//! contract's records at the end of a scan.

/// How serious a finding is, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// `info` ... `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses `failOn:` (also `none`/`never`, which is `None`).
    pub fn parse(text: &str) -> Result<Option<Severity>, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "never" | "" => Ok(None),
            "info" => Ok(Some(Severity::Info)),
            "low" => Ok(Some(Severity::Low)),
            "medium" | "moderate" => Ok(Some(Severity::Medium)),
            "high" => Ok(Some(Severity::High)),
            "critical" => Ok(Some(Severity::Critical)),
            other => Err(format!(
                "`with: failOn` is none, info, low, medium, high or critical, not {other:?}"
            )),
        }
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// `secret/aws-access-key-id`, `policy/runs-as-root`, `CVE-...`.
    pub rule_id: String,
    /// How serious.
    pub severity: Severity,
    /// For a person; never the secret itself.
    pub message: String,
    /// The file in the image.
    pub path: Option<String>,
    /// 1-based line.
    pub line: Option<u32>,
}

/// Findings counted by severity, highest first, zero counts left out.
pub fn counts(findings: &[Finding]) -> Vec<(Severity, usize)> {
    Severity::ALL
        .iter()
        .rev()
        .map(|s| (*s, findings.iter().filter(|f| f.severity == *s).count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Why the step fails under `failOn`, if it does.
pub fn fail_reason(findings: &[Finding], fail_on: Option<Severity>) -> Option<String> {
    let threshold = fail_on?;
    let n = findings.iter().filter(|f| f.severity >= threshold).count();
    (n > 0).then(|| {
        format!(
            "{n} finding{} at or above {} (failOn: {})",
            if n == 1 { "" } else { "s" },
            threshold.as_str(),
            threshold.as_str()
        )
    })
}
