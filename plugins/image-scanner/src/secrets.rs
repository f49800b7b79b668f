//! Secrets left in an image's files: private keys, AWS keys, GitHub, Slack and Azure
//! tokens, and `.env` files. A finding names the kind of secret, the file and the
//! line, never the value.

use regex::Regex;

use crate::model::{Finding, Severity};

struct Rule {
    id: &'static str,
    what: &'static str,
    severity: Severity,
    pattern: Regex,
}

/// The compiled rules.
pub struct Rules(Vec<Rule>);

impl Rules {
    /// Compiles the built-in rules.
    pub fn new() -> Rules {
        let table: [(&str, &str, Severity, &str); 10] = [
            (
                "secret/private-key",
                "a private key",
                Severity::Critical,
                r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
            ),
            (
                "secret/aws-access-key-id",
                "an AWS access key ID",
                Severity::High,
                r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b",
            ),
            (
                "secret/aws-secret-access-key",
                "an AWS secret access key",
                Severity::Critical,
                r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40}\b"#,
            ),
            (
                "secret/github-token",
                "a GitHub token",
                Severity::Critical,
                r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})\b",
            ),
            (
                "secret/slack-token",
                "a Slack token",
                Severity::High,
                r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
            ),
            (
                "secret/slack-webhook",
                "a Slack webhook URL",
                Severity::High,
                r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{20,}",
            ),
            (
                "secret/azure-storage-key",
                "an Azure storage account key",
                Severity::Critical,
                r"(?i)AccountKey=[A-Za-z0-9+/]{86}==",
            ),
            (
                "secret/azure-sas-token",
                "an Azure shared access signature",
                Severity::High,
                r"[?&]sig=[A-Za-z0-9%+/]{40,}={0,2}",
            ),
            (
                "secret/azure-client-secret",
                "an Azure AD (Entra ID) client secret",
                Severity::High,
                r"\b[A-Za-z0-9_~.-]{3}\dQ~[A-Za-z0-9_~.-]{31,34}\b",
            ),
            (
                "secret/azure-connection-string",
                "an Azure Service Bus or Event Hubs key",
                Severity::Critical,
                r"(?i)SharedAccessKey=[A-Za-z0-9+/]{43}=",
            ),
        ];
        Rules(
            table
                .into_iter()
                .filter_map(|(id, what, severity, p)| {
                    Regex::new(p).ok().map(|pattern| Rule {
                        id,
                        what,
                        severity,
                        pattern,
                    })
                })
                .collect(),
        )
    }

    /// The findings in one file's text.
    pub fn scan(&self, path: &str, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            for rule in &self.0 {
                if rule.pattern.is_match(line) {
                    out.push(Finding {
                        rule_id: rule.id.into(),
                        severity: rule.severity,
                        message: format!("{} in /{path}", rule.what),
                        path: Some(path.into()),
                        line: u32::try_from(n + 1).ok(),
                    });
                }
            }
        }
        out
    }
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::new()
    }
}

/// Whether `path` is a dotenv file (`.env`, `.env.production`, `prod.env`).
pub fn is_dotenv(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name == ".env" || name.starts_with(".env.") || (name.ends_with(".env") && name.len() > 4)
}

/// A `.env` file's finding: it is a secret store left in the image.
pub fn dotenv_finding(path: &str, text: &str) -> Finding {
    let keys = text
        .lines()
        .filter(|l| {
            let l = l.trim_start();
            !l.starts_with('#') && l.contains('=')
        })
        .count();
    Finding {
        rule_id: "secret/dotenv-file".into(),
        severity: Severity::High,
        message: format!(
            "a .env file with {keys} variable{} in /{path}",
            if keys == 1 { "" } else { "s" }
        ),
        path: Some(path.into()),
        line: None,
    }
}

/// Directories whose files are not looked into (documentation, locales, kernel
/// filesystems).
pub fn skipped(path: &str) -> bool {
    [
        "usr/share/doc/",
        "usr/share/man/",
        "usr/share/locale/",
        "usr/share/i18n/",
        "proc/",
        "sys/",
        "dev/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(path: &str, text: &str) -> Vec<String> {
        Rules::new()
            .scan(path, text)
            .into_iter()
            .map(|f| f.rule_id)
            .collect()
    }

    #[test]
    fn each_kind_of_secret_is_found_and_never_quoted() {
        let aws_id = ["AKIA", "IOSFODNN7EXAMPLE"].concat();
        let gh = ["ghp_", &"a1B2".repeat(9)].concat();
        let text = format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nid={aws_id}\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\ntoken: {gh}\nslack=xoxb-123456789012-abcdefghij\nDefaultEndpointsProtocol=https;AccountName=x;AccountKey={}==\n",
            "A".repeat(86)
        );
        let found = Rules::new().scan("app/config", &text);
        let got: Vec<_> = found.iter().map(|f| (f.rule_id.as_str(), f.line)).collect();
        assert_eq!(
            got,
            [
                ("secret/private-key", Some(1)),
                ("secret/aws-access-key-id", Some(2)),
                ("secret/aws-secret-access-key", Some(3)),
                ("secret/github-token", Some(4)),
                ("secret/slack-token", Some(5)),
                ("secret/azure-storage-key", Some(6)),
            ]
        );
        for f in &found {
            assert!(
                !f.message.contains(&aws_id) && !f.message.contains(&gh),
                "{}",
                f.message
            );
        }
    }

    #[test]
    fn azure_client_secrets_and_sas_tokens_are_found() {
        let client = ["abc8Q~", &"x".repeat(34)].concat();
        assert_eq!(
            ids("e", &format!("AZURE_CLIENT_SECRET={client}")),
            ["secret/azure-client-secret"]
        );
        let sas = format!(
            "https://a.blob.core.windows.net/c?sv=2022&sig={}",
            "Ab%2B".repeat(12)
        );
        assert_eq!(ids("e", &sas), ["secret/azure-sas-token"]);
    }

    #[test]
    fn ordinary_text_has_no_findings() {
        assert!(
            ids(
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nexport PATH=/bin\n"
            )
            .is_empty()
        );
    }

    #[test]
    fn dotenv_files_are_recognised_by_name() {
        assert!(is_dotenv("app/.env") && is_dotenv(".env.production") && is_dotenv("srv/prod.env"));
        assert!(!is_dotenv("etc/environment") && !is_dotenv("app/.envrc") && !is_dotenv(".env/x"));
        let f = dotenv_finding("app/.env", "# c\nA=1\nB=2\n");
        assert_eq!(f.message, "a .env file with 2 variables in /app/.env");
    }
}
