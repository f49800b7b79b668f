//! Secret masking for streamed output.
//!
//! Output reaches the engine in arbitrary chunks: a secret can be split across two
//! writes (dagger#4864). [`LineScrubber`] assembles lines before masking, and a line
//! that grows too long without a newline is flushed in pieces that never cut through
//! a possible secret.

use std::sync::{Arc, PoisonError, RwLock};

/// What replaces a secret in output.
pub const MASK: &str = "***";

/// The shortest line of a multi-line secret that is masked on its own.
pub const MIN_LINE_PART: usize = 4;

/// Flush a line without a newline once it grows past this many bytes.
const MAX_PENDING: usize = 16 * 1024;

/// The secret values to hide. Cheap to clone; clones share their values, so a value
/// [added](Masker::add) through one (by an executor that learns a secret while a step
/// runs) is masked by all of them from then on.
#[derive(Clone, Debug, Default)]
pub struct Masker {
    /// Longest first, so that a secret containing another is masked whole.
    needles: Arc<RwLock<Arc<Vec<Vec<u8>>>>>,
}

impl Masker {
    /// A masker for `secrets`. Output is line-based, so a multi-line secret is also
    /// masked line by line (each line without its indentation) — but only its lines
    /// that could identify it (at least
    /// [`MIN_LINE_PART`] characters with a letter or digit): lines such as `{` or `}`
    /// of a JSON key would otherwise mask ordinary text. Empty values are ignored.
    pub fn new<I, S>(secrets: I) -> Masker
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let masker = Masker::default();
        masker.add(secrets);
        masker
    }

    /// Masks `secrets` too (with the rules of [`Masker::new`]), in this masker and
    /// every clone of it, from now on.
    pub fn add<I, S>(&self, secrets: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut slot = self.needles.write().unwrap_or_else(PoisonError::into_inner);
        let mut needles: Vec<Vec<u8>> = slot.as_ref().clone();
        let before = needles.len();
        let mut add = |part: &str| {
            if !part.is_empty() && !needles.iter().any(|n| n == part.as_bytes()) {
                needles.push(part.as_bytes().to_vec());
            }
        };
        for secret in secrets {
            let secret = secret.as_ref();
            add(secret.trim_end_matches(['\r', '\n']));
            if secret.contains('\n') {
                for line in secret.lines() {
                    let line = line.trim();
                    let telling = line.chars().count() >= MIN_LINE_PART
                        && line.chars().any(char::is_alphanumeric);
                    if telling {
                        add(line);
                    }
                }
            }
        }
        if needles.len() != before {
            needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
            *slot = Arc::new(needles);
        }
    }

    /// The values to mask now.
    fn needles(&self) -> Arc<Vec<Vec<u8>>> {
        Arc::clone(&self.needles.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.needles().is_empty()
    }

    /// Masks every secret in `text`.
    pub fn mask(&self, text: &str) -> String {
        let needles = self.needles();
        if needles.is_empty() {
            return text.to_string();
        }
        String::from_utf8_lossy(&mask_bytes(&needles, text.as_bytes())).into_owned()
    }
}

fn mask_bytes(needles: &[Vec<u8>], bytes: &[u8]) -> Vec<u8> {
    if needles.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut last = 0;
    for (start, end) in occurrences(needles, bytes) {
        out.extend_from_slice(&bytes[last..start]);
        out.extend_from_slice(MASK.as_bytes());
        last = end;
    }
    out.extend_from_slice(&bytes[last..]);
    out
}

/// Occurrences of `needles` (longest first) in `bytes`, as `[start, end)` ranges, left
/// to right (the longest secret wins where several start at the same byte).
fn occurrences(needles: &[Vec<u8>], bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    if needles.is_empty() {
        return found;
    }
    let mut i = 0;
    'outer: while i < bytes.len() {
        for needle in needles {
            if bytes[i..].starts_with(needle) {
                found.push((i, i + needle.len()));
                i += needle.len();
                continue 'outer;
            }
        }
        i += 1;
    }
    found
}

/// Turns a stream of byte chunks into masked lines.
#[derive(Debug)]
pub struct LineScrubber {
    masker: Masker,
    pending: Vec<u8>,
}

impl LineScrubber {
    /// A scrubber masking with `masker`.
    pub fn new(masker: Masker) -> LineScrubber {
        LineScrubber {
            masker,
            pending: Vec::new(),
        }
    }

    /// Adds a chunk; returns the complete lines it finished (without line endings), masked.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut pieces = chunk.split(|&b| b == b'\n').peekable();
        while let Some(piece) = pieces.next() {
            self.pending.extend_from_slice(piece);
            if pieces.peek().is_none() {
                break; // the last piece has no newline after it (yet)
            }
            if self.pending.last() == Some(&b'\r') {
                self.pending.pop();
            }
            lines.push(self.take_all());
        }
        if self.pending.len() > MAX_PENDING {
            lines.push(self.take_safe_prefix());
        }
        lines
    }

    /// Returns what is left (a last line without a newline), masked.
    pub fn finish(&mut self) -> Option<String> {
        if self.pending.is_empty() {
            None
        } else {
            Some(self.take_all())
        }
    }

    fn take_all(&mut self) -> String {
        let line = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&mask_bytes(&self.masker.needles(), &line)).into_owned()
    }

    /// Takes a prefix of a long pending line that cannot contain the start of a secret
    /// that continues in bytes not yet seen, and no cut secret.
    fn take_safe_prefix(&mut self) -> String {
        let needles = self.masker.needles();
        let keep = needles.first().map_or(0, Vec::len).saturating_sub(1);
        let mut cut = self.pending.len() - keep.min(self.pending.len());
        for (start, end) in occurrences(&needles, &self.pending) {
            if start < cut && cut < end {
                cut = start;
            }
        }
        while cut > 0 && cut < self.pending.len() && (self.pending[cut] & 0xC0) == 0x80 {
            cut -= 1; // do not split a UTF-8 sequence
        }
        let rest = self.pending.split_off(cut);
        let head = std::mem::replace(&mut self.pending, rest);
        String::from_utf8_lossy(&mask_bytes(&needles, &head)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_whole_and_multiline_secrets() {
        let m = Masker::new(["hunter2", "line one\nline two", ""]);
        assert_eq!(m.mask("pw=hunter2!"), "pw=***!");
        assert_eq!(m.mask("a line two b"), "a *** b");
        assert_eq!(m.mask("nothing"), "nothing");
    }

    #[test]
    fn short_lines_of_multiline_secrets_are_not_masked_alone() {
        let key = "{\n  \"type\": \"service_account\",\n  \"private_key\": \"abcd1234\"\n}";
        let m = Masker::new([key]);
        assert_eq!(m.mask("if (x) { y }"), "if (x) { y }");
        assert_eq!(m.mask("key: \"private_key\": \"abcd1234\""), "key: ***");
        assert_eq!(m.mask(key), "***");
    }

    #[test]
    fn a_value_added_later_is_masked_by_every_clone() {
        let run = Masker::new(["first"]);
        let mut step = LineScrubber::new(run.clone());
        assert_eq!(step.push(b"late value\n"), vec!["late value"]);
        run.clone().add(["late value\n"]);
        assert_eq!(step.push(b"the late value\n"), vec!["the ***"]);
        assert_eq!(run.mask("first, late value"), "***, ***");
        assert!(Masker::default().mask("late value") == "late value");
    }

    #[test]
    fn longer_secrets_win() {
        let m = Masker::new(["abc", "abcdef"]);
        assert_eq!(m.mask("xabcdefx"), "x***x");
    }

    #[test]
    fn secret_split_across_writes_is_masked() {
        let mut s = LineScrubber::new(Masker::new(["s3cr3t"]));
        assert!(s.push(b"token: s3").is_empty());
        assert_eq!(s.push(b"cr3t and more\nnext"), vec!["token: *** and more"]);
        assert_eq!(s.finish().as_deref(), Some("next"));
    }

    #[test]
    fn crlf_lines() {
        let mut s = LineScrubber::new(Masker::default());
        assert_eq!(s.push(b"a\r\nb\n"), vec!["a", "b"]);
    }

    #[test]
    fn long_lines_flush_without_cutting_secrets() {
        let secret = "TOPSECRETVALUE";
        let mut s = LineScrubber::new(Masker::new([secret]));
        let mut out = String::new();
        let filler = "x".repeat(MAX_PENDING - 5);
        for chunk in [filler.as_bytes(), b"TOPSEC", b"RETVALUE tail"] {
            for line in s.push(chunk) {
                out.push_str(&line);
            }
        }
        out.push_str(&s.finish().unwrap_or_default());
        assert!(!out.contains("TOPSEC"));
        assert!(out.ends_with("*** tail"));
    }

    proptest! {
        #[test]
        fn no_secret_survives_any_chunking(
            secret in "[a-zA-Z0-9!@#]{3,20}",
            before in "[a-z \n]{0,50}",
            after in "[a-z \n]{0,50}",
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let text = format!("{before}{secret}{after}");
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut s = LineScrubber::new(Masker::new([secret.as_str()]));
            let mut out = Vec::new();
            let mut last = 0;
            for p in points.into_iter().chain(std::iter::once(bytes.len())) {
                out.extend(s.push(&bytes[last..p]));
                last = p;
            }
            out.extend(s.finish());
            let joined = out.join("\n");
            prop_assert!(!joined.contains(&secret), "{joined:?}");
        }
    }
}
