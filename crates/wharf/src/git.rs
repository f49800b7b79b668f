//! The commit, branch and remote of the context's git repository, read straight
//! from `.git` (no `git` process): HEAD, loose and packed refs, worktree links.

use std::fs;
use std::path::{Path, PathBuf};

/// What the run knows of the source repository; empty fields when unknown.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repo {
    /// The commit HEAD points at.
    pub commit: String,
    /// The branch HEAD is on (empty when detached).
    pub branch: String,
    /// The `origin` remote URL.
    pub remote: String,
}

/// Describes the repository containing `dir`, if any.
pub fn describe(dir: &Path) -> Repo {
    let Some(git_dir) = find_git_dir(dir) else {
        return Repo::default();
    };
    let common = fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.clone());
    let head = fs::read_to_string(git_dir.join("HEAD")).unwrap_or_default();
    let head = head.trim();
    let (branch, commit) = match head.strip_prefix("ref: ") {
        Some(reference) => (
            reference
                .strip_prefix("refs/heads/")
                .unwrap_or(reference)
                .to_string(),
            resolve_ref(&git_dir, &common, reference).unwrap_or_default(),
        ),
        None => (String::new(), head.to_string()),
    };
    Repo {
        commit,
        branch,
        remote: origin_url(&common).unwrap_or_default(),
    }
}

/// The commit branch `branch` points at in the repository containing `dir`.
pub fn branch_head(dir: &Path, branch: &str) -> Option<String> {
    let git_dir = find_git_dir(dir)?;
    let common = fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map(|c| git_dir.join(c.trim()))
        .unwrap_or_else(|| git_dir.clone());
    resolve_ref(&git_dir, &common, &format!("refs/heads/{branch}"))
}

fn find_git_dir(start: &Path) -> Option<PathBuf> {
    let start = fs::canonicalize(start).ok()?;
    for dir in start.ancestors() {
        let candidate = dir.join(".git");
        if candidate.is_dir() {
            return Some(candidate);
        }
        if let Ok(text) = fs::read_to_string(&candidate)
            && let Some(path) = text.trim().strip_prefix("gitdir: ")
        {
            return Some(dir.join(path));
        }
    }
    None
}

fn resolve_ref(git_dir: &Path, common: &Path, reference: &str) -> Option<String> {
    for base in [git_dir, common] {
        if let Ok(text) = fs::read_to_string(base.join(reference)) {
            return Some(text.trim().to_string());
        }
    }
    let packed = fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (hash, name) = line.split_once(' ')?;
        (name == reference).then(|| hash.to_string())
    })
}

fn origin_url(common: &Path) -> Option<String> {
    let config = fs::read_to_string(common.join("config")).ok()?;
    let mut in_origin = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_origin = line == "[remote \"origin\"]";
        } else if in_origin
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "url"
        {
            return Some(value.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_branch_commit_and_remote() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let git = dir.path().join(".git");
        fs::create_dir_all(git.join("refs/heads"))?;
        fs::write(git.join("HEAD"), "ref: refs/heads/main\n")?;
        fs::write(
            git.join("packed-refs"),
            "# pack-refs\nabc123 refs/heads/main\n",
        )?;
        fs::write(
            git.join("config"),
            "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://example.com/r.git\n",
        )?;
        fs::create_dir_all(dir.path().join("sub"))?;
        let repo = describe(&dir.path().join("sub"));
        assert_eq!(
            repo,
            Repo {
                commit: "abc123".into(),
                branch: "main".into(),
                remote: "https://example.com/r.git".into()
            }
        );
        fs::write(git.join("refs/heads/main"), "def456\n")?;
        assert_eq!(describe(dir.path()).commit, "def456");
        fs::write(git.join("HEAD"), "0123abcd\n")?;
        let detached = describe(dir.path());
        assert_eq!(
            (detached.branch.as_str(), detached.commit.as_str()),
            ("", "0123abcd")
        );
        Ok(())
    }
}
