//! The rendered text and its source map.

/// Where a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginKind {
    /// Copied verbatim from template text: byte `i` maps to `src_start + i`.
    Text,
    /// Produced by the action `{{...}}` at the source span.
    Action,
}

/// Output bytes `[out_start, out_start+out_len)` came from template bytes
/// `[src_start, src_start+src_len)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// Start of the piece in [`Output::text`].
    pub out_start: usize,
    /// Length of the piece in bytes.
    pub out_len: usize,
    /// Start of the source span in the template text.
    pub src_start: usize,
    /// Length of the source span.
    pub src_len: usize,
    /// Whether the bytes were copied or produced.
    pub kind: OriginKind,
}

/// A rendered template: text plus a gapless source map, in output order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// The rendered text.
    pub text: String,
    /// Origins covering `text` without gaps or overlaps.
    pub origins: Vec<Origin>,
    /// Calls whose result differs from what ACR's engine would give.
    pub acr_differences: Vec<AcrDifference>,
}

/// A call whose result differs from what ACR's engine gives for it: wharf keeps its
/// sound behaviour; `wharf validate --acr` reports the place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcrDifference {
    /// Start of the call in the template text.
    pub src_start: usize,
    /// Length of the call in the template text.
    pub src_len: usize,
    /// What ACR would do.
    pub message: String,
}

impl Output {
    /// Appends verbatim template text that starts at `src_start`.
    pub(crate) fn push_text(&mut self, s: &str, src_start: usize) {
        if s.is_empty() {
            return;
        }
        let out_start = self.text.len();
        self.text.push_str(s);
        if let Some(last) = self.origins.last_mut()
            && last.kind == OriginKind::Text
            && last.out_start + last.out_len == out_start
            && last.src_start + last.src_len == src_start
        {
            last.out_len += s.len();
            last.src_len += s.len();
            return;
        }
        self.origins.push(Origin {
            out_start,
            out_len: s.len(),
            src_start,
            src_len: s.len(),
            kind: OriginKind::Text,
        });
    }

    /// Appends text produced by the action spanning `src`.
    pub(crate) fn push_action(&mut self, s: &str, src: std::ops::Range<usize>) {
        if s.is_empty() {
            return;
        }
        let out_start = self.text.len();
        self.text.push_str(s);
        self.origins.push(Origin {
            out_start,
            out_len: s.len(),
            src_start: src.start,
            src_len: src.end - src.start,
            kind: OriginKind::Action,
        });
    }

    /// The origin covering output byte `offset`, if any.
    pub fn origin_at(&self, offset: usize) -> Option<&Origin> {
        let i = self
            .origins
            .partition_point(|o| o.out_start + o.out_len <= offset);
        self.origins
            .get(i)
            .filter(|o| o.out_start <= offset && offset < o.out_start + o.out_len)
    }

    /// Maps an output byte offset to the template byte offset it came from
    /// (the action's start for produced text).
    pub fn source_offset(&self, offset: usize) -> Option<usize> {
        let o = self.origin_at(offset)?;
        Some(match o.kind {
            OriginKind::Text => o.src_start + (offset - o.out_start),
            OriginKind::Action => o.src_start,
        })
    }

    /// Deletes every occurrence of `needle` (ACR deletes `"<no value>"`), left
    /// to right without overlaps like Go's `strings.Replace`, keeping `origins`
    /// exact. An empty needle changes nothing.
    pub fn remove_all(&mut self, needle: &str) {
        if needle.is_empty() || !self.text.contains(needle) {
            return;
        }
        // Removed output ranges.
        let cuts: Vec<(usize, usize)> = self
            .text
            .match_indices(needle)
            .map(|(i, m)| (i, i + m.len()))
            .collect();
        let mut text = String::with_capacity(self.text.len());
        let mut origins: Vec<Origin> = Vec::with_capacity(self.origins.len());
        let mut ci = 0;
        for o in &self.origins {
            let (start, end) = (o.out_start, o.out_start + o.out_len);
            let mut pos = start;
            while pos < end {
                while ci < cuts.len() && cuts[ci].1 <= pos {
                    ci += 1;
                }
                let (keep_end, skip_to) = match cuts.get(ci) {
                    Some(&(cs, ce)) if cs < end => (cs.max(pos), ce.min(end)),
                    _ => (end, end),
                };
                if keep_end > pos {
                    let piece = &self.text[pos..keep_end];
                    let out_start = text.len();
                    text.push_str(piece);
                    match o.kind {
                        OriginKind::Text => {
                            let src_start = o.src_start + (pos - start);
                            match origins.last_mut() {
                                Some(l)
                                    if l.kind == OriginKind::Text
                                        && l.out_start + l.out_len == out_start
                                        && l.src_start + l.src_len == src_start =>
                                {
                                    l.out_len += piece.len();
                                    l.src_len += piece.len();
                                }
                                _ => origins.push(Origin {
                                    out_start,
                                    out_len: piece.len(),
                                    src_start,
                                    src_len: piece.len(),
                                    kind: OriginKind::Text,
                                }),
                            }
                        }
                        OriginKind::Action => match origins.last_mut() {
                            Some(l)
                                if l.kind == OriginKind::Action
                                    && l.src_start == o.src_start
                                    && l.src_len == o.src_len
                                    && l.out_start + l.out_len == out_start =>
                            {
                                l.out_len += piece.len();
                            }
                            _ => origins.push(Origin {
                                out_start,
                                out_len: piece.len(),
                                src_start: o.src_start,
                                src_len: o.src_len,
                                kind: OriginKind::Action,
                            }),
                        },
                    }
                }
                pos = skip_to.max(keep_end);
            }
        }
        self.text = text;
        self.origins = origins;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(o: &Output) {
        let mut at = 0;
        for g in &o.origins {
            assert_eq!(g.out_start, at);
            assert!(g.out_len > 0);
            at += g.out_len;
        }
        assert_eq!(at, o.text.len());
    }

    #[test]
    fn remove_across_pieces() {
        let mut o = Output::default();
        o.push_text("a: <no ", 0);
        o.push_action("value>", 10..20);
        o.push_text("b<no value>c", 20);
        o.remove_all("<no value>");
        assert_eq!(o.text, "a: bc");
        check(&o);
        assert_eq!(o.source_offset(0), Some(0));
        assert_eq!(o.source_offset(3), Some(20));
        assert_eq!(o.source_offset(4), Some(31));
    }

    #[test]
    fn remove_nothing() {
        let mut o = Output::default();
        o.push_text("abc", 5);
        o.remove_all("");
        o.remove_all("zz");
        assert_eq!(o.origins.len(), 1);
        assert_eq!(o.source_offset(2), Some(7));
    }
}
