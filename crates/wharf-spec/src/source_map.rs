//! Maps positions in derived text back to the text it was derived from.
//!
//! The loader transforms the task file several times before YAML sees it
//! (comment lines dropped, `$aliases` substituted, Go templates rendered).
//! Each transformation records, for every piece of its output, where that piece
//! came from, so that a YAML error found in the final text is reported at the
//! file, line and column the user wrote.

use crate::source::Span;

/// One piece of output and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    out_start: usize,
    out_len: usize,
    src_start: usize,
    src_len: usize,
    /// Copied verbatim: output byte `i` came from source byte `src_start + i`.
    /// Otherwise generated: every byte maps to the whole source span.
    copied: bool,
}

/// A text together with the origin of each of its bytes in a source text.
#[derive(Clone, Debug, Default)]
pub struct MappedText {
    text: String,
    segments: Vec<Segment>,
}

impl MappedText {
    /// An empty text.
    pub fn new() -> MappedText {
        MappedText::default()
    }

    /// `text` copied unchanged from a source that starts at `src_start`.
    pub fn copied(text: &str, src_start: usize) -> MappedText {
        let mut out = MappedText::new();
        out.push_copied(text, src_start);
        out
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Consumes the mapped text, returning the plain text.
    pub fn into_text(self) -> String {
        self.text
    }

    /// Appends `piece`, copied verbatim from source bytes starting at `src_start`.
    pub fn push_copied(&mut self, piece: &str, src_start: usize) {
        if piece.is_empty() {
            return;
        }
        let out_start = self.text.len();
        self.text.push_str(piece);
        if let Some(last) = self.segments.last_mut()
            && last.copied
            && last.out_start + last.out_len == out_start
            && last.src_start + last.src_len == src_start
        {
            last.out_len += piece.len();
            last.src_len += piece.len();
            return;
        }
        self.segments.push(Segment {
            out_start,
            out_len: piece.len(),
            src_start,
            src_len: piece.len(),
            copied: true,
        });
    }

    /// Appends `piece`, generated from (standing for) the source span `src`.
    pub fn push_generated(&mut self, piece: &str, src: Span) {
        if piece.is_empty() {
            return;
        }
        let out_start = self.text.len();
        self.text.push_str(piece);
        self.segments.push(Segment {
            out_start,
            out_len: piece.len(),
            src_start: src.start,
            src_len: src.len(),
            copied: false,
        });
    }

    /// The source offset an output offset came from.
    pub fn map_offset(&self, offset: usize) -> usize {
        self.map_span(Span::at(offset)).start
    }

    /// The source span an output span came from.
    pub fn map_span(&self, span: Span) -> Span {
        if self.segments.is_empty() {
            return Span::at(0);
        }
        let start = self.locate(span.start, false);
        let end = if span.is_empty() {
            start
        } else {
            self.locate(span.end, true)
        };
        Span::new(start.start, end.end.max(start.start))
    }

    /// The source span of a single output position. `is_end` treats `offset` as an
    /// exclusive end, so it belongs to the segment that ends there.
    fn locate(&self, offset: usize, is_end: bool) -> Span {
        let probe = if is_end {
            offset.saturating_sub(1)
        } else {
            offset
        };
        let index = match self.segments.binary_search_by(|s| s.out_start.cmp(&probe)) {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        };
        let seg = self.segments[index];
        if !seg.copied {
            return Span::new(seg.src_start, seg.src_start + seg.src_len);
        }
        let within = offset.saturating_sub(seg.out_start).min(seg.out_len);
        Span::at(seg.src_start + within)
    }
}

/// A chain of transformations, first to last; maps a span in the last output to the
/// original source.
#[derive(Clone, Debug, Default)]
pub struct MapChain<'a> {
    stages: Vec<&'a MappedText>,
}

impl<'a> MapChain<'a> {
    /// An empty chain: maps every span to itself.
    pub fn new() -> MapChain<'a> {
        MapChain::default()
    }

    /// Adds the next stage; `stage`'s source is the previous stage's output.
    pub fn then(mut self, stage: &'a MappedText) -> MapChain<'a> {
        self.stages.push(stage);
        self
    }

    /// Maps a span of the last stage's output to the original source.
    pub fn map_span(&self, mut span: Span) -> Span {
        for stage in self.stages.iter().rev() {
            span = stage.map_span(span);
        }
        span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_pieces_map_byte_for_byte_and_merge() {
        let mut t = MappedText::new();
        t.push_copied("abc", 10);
        t.push_copied("def", 13);
        assert_eq!(t.segments.len(), 1);
        assert_eq!(t.map_offset(4), 14);
        assert_eq!(t.map_span(Span::new(1, 5)), Span::new(11, 15));
    }

    #[test]
    fn generated_pieces_map_to_their_whole_origin() {
        let mut t = MappedText::new();
        t.push_copied("id: ", 0);
        t.push_generated("my step", Span::new(4, 20));
        t.push_copied("\n", 20);
        assert_eq!(t.text(), "id: my step\n");
        assert_eq!(t.map_span(Span::new(4, 11)), Span::new(4, 20));
        assert_eq!(t.map_offset(6), 4);
        assert_eq!(t.map_offset(11), 20);
    }

    #[test]
    fn chains_apply_stages_from_last_to_first() {
        let first = MappedText::copied("xxabcdef", 100);
        let mut second = MappedText::new();
        second.push_copied("cdef", 4);
        let chain = MapChain::new().then(&first).then(&second);
        assert_eq!(chain.map_span(Span::new(1, 3)), Span::new(105, 107));
    }
}
