//! The template lexer: Go's `text/template/parse/lex.go` state machine, rewritten.
//!
//! Produces every item up front; the first error ends the stream.

/// Item kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // keywords
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

/// One lexed item; `val` is the item text (or the error message).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub typ: ItemType,
    pub pos: usize,
    pub end: usize,
    pub val: String,
}

impl Item {
    /// Go's `item.String()`, used in "unexpected X" messages.
    pub(crate) fn describe(&self) -> String {
        match self.typ {
            ItemType::Eof => "EOF".into(),
            ItemType::Error => self.val.clone(),
            t if t as u8 >= ItemType::Block as u8 => format!("<{}>", self.val),
            _ => {
                if self.val.chars().count() > 10 {
                    let short: String = self.val.chars().take(10).collect();
                    format!("{}...", crate::format::quote(&short))
                } else {
                    crate::format::quote(&self.val)
                }
            }
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    start: usize,
    items: Vec<Item>,
    paren_depth: i32,
    in_action: bool,
}

/// Lexes `src` into items ending with `Eof` or `Error`.
pub(crate) fn lex(src: &str) -> Vec<Item> {
    let mut l = Lexer {
        src,
        pos: 0,
        start: 0,
        items: Vec::new(),
        paren_depth: 0,
        in_action: false,
    };
    l.run();
    l.items
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn emit(&mut self, typ: ItemType) {
        self.items.push(Item {
            typ,
            pos: self.start,
            end: self.pos,
            val: self.src[self.start..self.pos].to_string(),
        });
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) -> bool {
        self.items.push(Item {
            typ: ItemType::Error,
            pos: self.start,
            end: self.pos.max(self.start),
            val: msg,
        });
        false
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn run(&mut self) {
        loop {
            let ok = if self.in_action {
                self.lex_inside_action()
            } else {
                self.lex_text()
            };
            if !ok {
                return;
            }
            if matches!(self.items.last(), Some(i) if i.typ == ItemType::Eof) {
                return;
            }
        }
    }

    fn lex_text(&mut self) -> bool {
        match self.rest().find(LEFT) {
            Some(x) => {
                let delim_pos = self.pos + x;
                let after = &self.src[delim_pos + LEFT.len()..];
                let trim = has_left_trim(after);
                let mut text_end = delim_pos;
                if trim {
                    while text_end > self.start && is_space(self.src.as_bytes()[text_end - 1]) {
                        text_end -= 1;
                    }
                }
                self.pos = text_end;
                if self.pos > self.start {
                    self.emit(ItemType::Text);
                }
                self.pos = delim_pos;
                self.start = delim_pos;
                self.lex_left_delim(trim)
            }
            None => {
                self.pos = self.src.len();
                if self.pos > self.start {
                    self.emit(ItemType::Text);
                }
                self.emit(ItemType::Eof);
                true
            }
        }
    }

    fn lex_left_delim(&mut self, trim: bool) -> bool {
        self.pos += LEFT.len();
        let after_marker = if trim { 2 } else { 0 };
        if self.src[self.pos + after_marker..].starts_with("/*") {
            self.pos += after_marker;
            return self.lex_comment();
        }
        self.emit(ItemType::LeftDelim);
        self.pos += after_marker;
        self.start = self.pos;
        self.paren_depth = 0;
        self.in_action = true;
        true
    }

    fn lex_comment(&mut self) -> bool {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            return self.error("unclosed comment".into());
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        self.start = self.pos;
        if trim {
            self.skip_trailing_space();
        }
        true
    }

    fn skip_trailing_space(&mut self) {
        let n = self.rest().bytes().take_while(|c| is_space(*c)).count();
        self.pos += n;
        self.start = self.pos;
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if has_right_trim(r) && r[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (r.starts_with(RIGHT), false)
    }

    fn lex_right_delim(&mut self, trim: bool) -> bool {
        if trim {
            self.pos += 2;
            self.start = self.pos;
        }
        self.pos += RIGHT.len();
        self.emit(ItemType::RightDelim);
        if trim {
            self.skip_trailing_space();
        }
        self.in_action = false;
        true
    }

    fn lex_inside_action(&mut self) -> bool {
        let (delim, trim) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.lex_right_delim(trim);
            }
            return self.error("unclosed left paren".into());
        }
        let Some(c) = self.next() else {
            return self.error("unclosed action".into());
        };
        match c {
            c if c.is_ascii() && is_space(c as u8) => {
                self.pos -= 1;
                self.lex_space()
            }
            '=' => {
                self.emit(ItemType::Assign);
                true
            }
            ':' => {
                if self.next() != Some('=') {
                    return self.error("expected :=".into());
                }
                self.emit(ItemType::Declare);
                true
            }
            '|' => {
                self.emit(ItemType::Pipe);
                true
            }
            '"' => self.lex_quote(),
            '`' => self.lex_raw_quote(),
            '$' => self.lex_variable(),
            '\'' => self.lex_char(),
            '.' => {
                if let Some(n) = self.peek()
                    && !n.is_ascii_digit()
                {
                    return self.lex_field_or_variable(ItemType::Field);
                }
                self.pos -= 1;
                self.lex_number()
            }
            '+' | '-' | '0'..='9' => {
                self.pos -= 1;
                self.lex_number()
            }
            c if is_alnum(c) => {
                self.pos -= c.len_utf8();
                self.lex_identifier()
            }
            '(' => {
                self.emit(ItemType::LeftParen);
                self.paren_depth += 1;
                true
            }
            ')' => {
                self.emit(ItemType::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.error("unexpected right paren".into());
                }
                true
            }
            c if c.is_ascii() && !c.is_ascii_control() => {
                self.emit(ItemType::Char);
                true
            }
            c => self.error(format!(
                "unrecognized character in action: {}",
                unicode_desc(c)
            )),
        }
    }

    fn lex_space(&mut self) -> bool {
        let mut n = 0;
        while let Some(c) = self.peek() {
            if !(c.is_ascii() && is_space(c as u8)) {
                break;
            }
            self.pos += 1;
            n += 1;
        }
        let before = &self.src[self.pos - 1..];
        if has_right_trim(before) && before[2..].starts_with(RIGHT) {
            self.pos -= 1;
            if n == 1 {
                return true;
            }
        }
        self.emit(ItemType::Space);
        true
    }

    fn lex_identifier(&mut self) -> bool {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.error(format!("bad character {}", unicode_desc(c)));
        }
        let word = &self.src[self.start..self.pos];
        let typ = match word {
            "block" => ItemType::Block,
            "break" => ItemType::Break,
            "continue" => ItemType::Continue,
            "define" => ItemType::Define,
            "else" => ItemType::Else,
            "end" => ItemType::End,
            "if" => ItemType::If,
            "range" => ItemType::Range,
            "nil" => ItemType::Nil,
            "template" => ItemType::Template,
            "with" => ItemType::With,
            "true" | "false" => ItemType::Bool,
            _ => ItemType::Identifier,
        };
        self.emit(typ);
        true
    }

    fn lex_variable(&mut self) -> bool {
        if self.at_terminator() {
            self.emit(ItemType::Variable);
            return true;
        }
        self.lex_field_or_variable(ItemType::Variable)
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> bool {
        if self.at_terminator() {
            self.emit(if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            });
            return true;
        }
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.error(format!("bad character {}", unicode_desc(c)));
        }
        self.emit(typ);
        true
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn lex_char(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => {
                        return self.error("unterminated character constant".into());
                    }
                    _ => {}
                },
                None | Some('\n') => return self.error("unterminated character constant".into()),
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(ItemType::CharConstant);
        true
    }

    fn lex_quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some('\n') | None => return self.error("unterminated quoted string".into()),
                    _ => {}
                },
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some('"') => break,
                _ => {}
            }
        }
        self.emit(ItemType::String);
        true
    }

    fn lex_raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => return self.error("unterminated raw quoted string".into()),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(ItemType::RawString);
        true
    }

    fn lex_number(&mut self) -> bool {
        if !self.scan_number() {
            let t = self.src[self.start..self.pos].to_string();
            return self.error(format!("bad number syntax: {}", crate::format::quote(&t)));
        }
        if let Some(c @ ('+' | '-')) = self.peek() {
            let _ = c;
            if !self.scan_number() || !self.src[..self.pos].ends_with('i') {
                let t = self.src[self.start..self.pos].to_string();
                return self.error(format!("bad number syntax: {}", crate::format::quote(&t)));
            }
            self.emit(ItemType::Complex);
        } else {
            self.emit(ItemType::Number);
        }
        true
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek()
            && is_alnum(c)
        {
            self.next();
            return false;
        }
        true
    }
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1])
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0]) && b[1] == b'-'
}

/// Go's `%#U`: `U+0041 'A'`.
fn unicode_desc(c: char) -> String {
    if crate::format::is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<ItemType> {
        lex(s).into_iter().map(|i| i.typ).collect()
    }

    #[test]
    fn basic_items() {
        use ItemType::*;
        assert_eq!(
            kinds("a{{.b | c 1 \"x\"}}d"),
            vec![
                Text, LeftDelim, Field, Space, Pipe, Space, Identifier, Space, Number, Space,
                String, RightDelim, Text, Eof
            ]
        );
        assert_eq!(kinds("{{- /* c */ -}}"), vec![Eof]);
        assert_eq!(
            kinds("{{$x := 1}}"),
            vec![
                LeftDelim, Variable, Space, Declare, Space, Number, RightDelim, Eof
            ]
        );
    }

    #[test]
    fn trim_positions() {
        let items = lex("a  {{- 1 -}}  b");
        assert_eq!(items[0].val, "a");
        assert_eq!((items[0].pos, items[0].end), (0, 1));
        let last_text = items
            .iter()
            .rfind(|i| i.typ == ItemType::Text)
            .expect("text");
        assert_eq!(last_text.val, "b");
        assert_eq!(last_text.pos, 14);
    }

    #[test]
    fn errors() {
        assert_eq!(
            lex("{{").last().map(|i| i.val.clone()),
            Some("unclosed action".into())
        );
        assert_eq!(
            lex("{{\"x").last().map(|i| i.val.clone()),
            Some("unterminated quoted string".into())
        );
        assert_eq!(
            lex("{{/* x").last().map(|i| i.val.clone()),
            Some("unclosed comment".into())
        );
    }
}
