//! The parser: Go's `text/template/parse/parse.go` grammar over [`lexer`] items.

use std::collections::BTreeMap;

use crate::ast::{Arg, Branch, Cmd, Node, Pipe, Sp, is_empty_tree, parse_number, unquote};
use crate::funcs::{self, Lookup};
use crate::lexer::{Item, ItemType, lex};
use crate::{Error, ErrorKind};

/// Nesting limit for control structures and parentheses.
pub(crate) const MAX_PARSE_DEPTH: usize = 1000;
/// Most commands in one pipeline (Go: "pipeline too long").
pub(crate) const MAX_PIPELINE_CMDS: usize = 1000;

/// The result of parsing one source text: the main list and the defined templates.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub main: Vec<Node>,
    pub defs: BTreeMap<String, Vec<Node>>,
}

struct Parser<'a> {
    name: &'a str,
    src: &'a str,
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    defs: BTreeMap<String, Vec<Node>>,
}

type PResult<T> = Result<T, Error>;

/// Parses a whole template text.
pub(crate) fn parse(name: &str, src: &str) -> PResult<Parsed> {
    let mut p = Parser {
        name,
        src,
        items: lex(src),
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        depth: 0,
        defs: BTreeMap::new(),
    };
    let mut main = Vec::new();
    loop {
        let t = p.peek();
        if t.typ == ItemType::Eof {
            break;
        }
        if t.typ == ItemType::LeftDelim {
            let save = p.i;
            p.next();
            if p.next_non_space().typ == ItemType::Define {
                p.parse_definition()?;
                continue;
            }
            p.i = save;
        }
        match p.text_or_action()? {
            Parsed1::Node(n) => main.push(n),
            Parsed1::End(sp) => return Err(p.err_at(sp, "unexpected {{end}}".into())),
            Parsed1::Else(sp) => return Err(p.err_at(sp, "unexpected {{else}}".into())),
        }
    }
    let mut defs = std::mem::take(&mut p.defs);
    if let Some(existing) = defs.get(name)
        && !is_empty_tree(src, existing)
        && !is_empty_tree(src, &main)
    {
        return Err(p.err_at(
            Sp::new(0, 0),
            format!(
                "template: multiple definition of template {}",
                crate::format::quote(name)
            ),
        ));
    }
    if let Some(def) = defs.remove(name)
        && is_empty_tree(src, &main)
        && !is_empty_tree(src, &def)
    {
        main = def;
    }
    Ok(Parsed { main, defs })
}

enum Parsed1 {
    Node(Node),
    End(Sp),
    Else(Sp),
}

impl<'a> Parser<'a> {
    fn err_at(&self, sp: Sp, msg: String) -> Error {
        let (line, col) = crate::line_col(self.src, sp.start);
        Error {
            kind: ErrorKind::Parse,
            message: format!("template: {}:{}:{}: {}", self.name, line, col, msg),
            span: sp.range(),
        }
    }

    fn err_item(&self, item: &Item, msg: String) -> Error {
        self.err_at(Sp::new(item.pos, item.end), msg)
    }

    fn peek(&self) -> Item {
        self.items
            .get(self.i)
            .or(self.items.last())
            .cloned()
            .unwrap_or(Item {
                typ: ItemType::Eof,
                pos: self.src.len(),
                end: self.src.len(),
                val: String::new(),
            })
    }

    fn next(&mut self) -> Item {
        let t = self.peek();
        if self.i < self.items.len() {
            self.i += 1;
        }
        t
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let t = self.next();
            if t.typ != ItemType::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    /// Error for an unexpected item; lexer errors are reported as themselves.
    fn unexpected(&self, item: &Item, context: &str) -> Error {
        if item.typ == ItemType::Error {
            return self.err_item(item, item.val.clone());
        }
        self.err_item(
            item,
            format!("unexpected {} in {}", item.describe(), context),
        )
    }

    fn expect(&mut self, typ: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != typ {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn enter(&mut self, sp: Sp) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_PARSE_DEPTH {
            return Err(self.err_at(sp, "max expression depth exceeded".into()));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let t = self.next_non_space();
        if t.typ != ItemType::String && t.typ != ItemType::RawString {
            return Err(self.unexpected(&t, context));
        }
        let name = unquote(&t.val).map_err(|e| self.err_item(&t, e))?;
        self.expect(ItemType::RightDelim, context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if let Parsed1::Else(sp) = end {
            return Err(self.err_at(sp, format!("unexpected {{{{else}}}} in {context}")));
        }
        self.add_def(name, list, t)
    }

    fn add_def(&mut self, name: String, list: Vec<Node>, at: Item) -> PResult<()> {
        match self.defs.get(&name) {
            Some(old) if !is_empty_tree(self.src, old) => {
                if !is_empty_tree(self.src, &list) {
                    return Err(self.err_item(
                        &at,
                        format!(
                            "template: multiple definition of template {}",
                            crate::format::quote(&name)
                        ),
                    ));
                }
            }
            _ => {
                self.defs.insert(name, list);
            }
        }
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, Parsed1)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed1::Node(n) => list.push(n),
                end => return Ok((list, end)),
            }
        }
        let t = self.peek();
        Err(self.err_item(&t, "unexpected EOF".into()))
    }

    fn text_or_action(&mut self) -> PResult<Parsed1> {
        let t = self.next_non_space();
        match t.typ {
            ItemType::Text => Ok(Parsed1::Node(Node::Text(Sp::new(t.pos, t.end)))),
            ItemType::LeftDelim => self.action(t.pos),
            _ => Err(self.unexpected(&t, "input")),
        }
    }

    fn action(&mut self, start: usize) -> PResult<Parsed1> {
        let t = self.next_non_space();
        match t.typ {
            ItemType::Block => return self.block_control(start).map(Parsed1::Node),
            ItemType::Break | ItemType::Continue => {
                let end = self.next_non_space();
                let word = if t.typ == ItemType::Break {
                    "break"
                } else {
                    "continue"
                };
                if end.typ != ItemType::RightDelim {
                    return Err(self.unexpected(&end, &format!("{{{{{word}}}}}")));
                }
                let sp = Sp::new(start, end.end);
                if self.range_depth == 0 {
                    return Err(self.err_at(sp, format!("{{{{{word}}}}} outside {{{{range}}}}")));
                }
                return Ok(Parsed1::Node(if t.typ == ItemType::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                if peek.typ == ItemType::If || peek.typ == ItemType::With {
                    return Ok(Parsed1::Else(Sp::new(start, peek.pos)));
                }
                let end = self.expect(ItemType::RightDelim, "else")?;
                return Ok(Parsed1::Else(Sp::new(start, end.end)));
            }
            ItemType::End => {
                let end = self.expect(ItemType::RightDelim, "end")?;
                return Ok(Parsed1::End(Sp::new(start, end.end)));
            }
            ItemType::If => return self.control(start, "if").map(Parsed1::Node),
            ItemType::Range => return self.control(start, "range").map(Parsed1::Node),
            ItemType::With => return self.control(start, "with").map(Parsed1::Node),
            ItemType::Template => return self.template_control(start).map(Parsed1::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        let end = self
            .items
            .get(self.i.saturating_sub(1))
            .map_or(pipe.span.end, |i| i.end);
        Ok(Parsed1::Node(Node::Action {
            span: Sp::new(start, end),
            pipe,
        }))
    }

    fn control(&mut self, start: usize, context: &str) -> PResult<Node> {
        self.enter(Sp::new(start, start + 2))?;
        let nvars = self.vars.len();
        let r = self.control_inner(start, context);
        self.vars.truncate(nvars);
        self.leave();
        r
    }

    fn control_inner(&mut self, start: usize, context: &str) -> PResult<Node> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        let mut end_pos = self
            .items
            .get(self.i.saturating_sub(1))
            .map_or(start, |i| i.end);
        if let Parsed1::Else(else_sp) = next {
            let peek = self.peek();
            if context == "if" && peek.typ == ItemType::If {
                self.next();
                let n = self.control(else_sp.start, "if")?;
                else_list = Some(vec![n]);
            } else if context == "with" && peek.typ == ItemType::With {
                self.next();
                let n = self.control(else_sp.start, "with")?;
                else_list = Some(vec![n]);
            } else {
                let (l, n2) = self.item_list()?;
                if let Parsed1::Else(sp) = n2 {
                    return Err(self.err_at(sp, "expected end; found {{else}}".into()));
                }
                else_list = Some(l);
            }
            end_pos = self
                .items
                .get(self.i.saturating_sub(1))
                .map_or(start, |i| i.end);
        }
        let b = Branch {
            span: Sp::new(start, end_pos),
            pipe,
            list,
            else_list,
        };
        Ok(match context {
            "if" => Node::If(b),
            "range" => Node::Range(b),
            _ => Node::With(b),
        })
    }

    fn template_name(&mut self, t: &Item, context: &str) -> PResult<String> {
        match t.typ {
            ItemType::String | ItemType::RawString => {
                unquote(&t.val).map_err(|e| self.err_item(t, e))
            }
            _ => Err(self.unexpected(t, context)),
        }
    }

    fn template_control(&mut self, start: usize) -> PResult<Node> {
        let context = "template clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, context)?;
        let mut pipe = None;
        let n = self.next_non_space();
        if n.typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, ItemType::RightDelim)?);
        }
        let end = self
            .items
            .get(self.i.saturating_sub(1))
            .map_or(start, |i| i.end);
        Ok(Node::Template {
            span: Sp::new(start, end),
            name,
            pipe,
        })
    }

    fn block_control(&mut self, start: usize) -> PResult<Node> {
        let context = "block clause";
        let t = self.next_non_space();
        let name = self.template_name(&t, context)?;
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        let head_end = self
            .items
            .get(self.i.saturating_sub(1))
            .map_or(start, |i| i.end);
        self.enter(Sp::new(start, head_end))?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        self.leave();
        let (list, end) = r?;
        if let Parsed1::Else(sp) = end {
            return Err(self.err_at(sp, format!("unexpected {{{{else}}}} in {context}")));
        }
        self.add_def(name.clone(), list, t)?;
        Ok(Node::Template {
            span: Sp::new(start, head_end),
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let first = self.peek_non_space();
        let mut pipe = Pipe {
            span: Sp::new(first.pos, first.pos),
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            let save = self.i;
            self.next_non_space();
            let after = self.peek();
            let next = self.peek_non_space();
            if next.typ == ItemType::Assign || next.typ == ItemType::Declare {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push((v.val.clone(), Sp::new(v.pos, v.end)));
                self.vars.push(v.val.clone());
                break;
            } else if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push((v.val.clone(), Sp::new(v.pos, v.end)));
                self.vars.push(v.val.clone());
                if context == "range" && pipe.decl.len() < 2 {
                    let p = self.peek_non_space();
                    match p.typ {
                        ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                            continue;
                        }
                        _ => {
                            return Err(
                                self.err_item(&p, "range can only initialize variables".into())
                            );
                        }
                    }
                }
                return Err(self.err_item(&next, format!("too many declarations in {context}")));
            } else {
                let _ = after;
                self.i = save;
                break;
            }
        }
        loop {
            let t = self.next_non_space();
            if t.typ == end {
                if pipe.cmds.is_empty() {
                    return Err(self.err_item(&t, format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args.first(),
                        Some(
                            Arg::Bool(..)
                                | Arg::Dot(_)
                                | Arg::Nil(_)
                                | Arg::Number(..)
                                | Arg::Str { .. }
                        )
                    ) {
                        return Err(self.err_at(
                            c.span,
                            format!("non executable command in pipeline stage {}", i + 1),
                        ));
                    }
                }
                pipe.span = Sp::new(pipe.span.start, t.pos);
                if let Some(last) = pipe.cmds.last() {
                    pipe.span = Sp::new(pipe.span.start, last.span.end);
                }
                return Ok(pipe);
            }
            match t.typ {
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                    if pipe.cmds.len() > MAX_PIPELINE_CMDS {
                        return Err(self.err_item(&t, "pipeline too long".into()));
                    }
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let first = self.peek_non_space();
        let mut cmd = Cmd {
            span: Sp::new(first.pos, first.pos),
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.span = cmd.span.to(op.span());
                cmd.args.push(op);
            }
            let t = self.next();
            match t.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return Err(self.unexpected(&t, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.err_at(cmd.span, "empty command".into()));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let mut fields = Vec::new();
        let mut end = node.span().end;
        while self.peek().typ == ItemType::Field {
            let f = self.next();
            end = f.end;
            fields.push(f.val[1..].to_string());
        }
        let span = Sp::new(node.span().start, end);
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { span, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { span, idents }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.err_at(
                    span,
                    format!(
                        "unexpected . after term {}",
                        crate::format::quote(&node.to_string())
                    ),
                ));
            }
            other => Arg::Chain {
                span,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let sp = Sp::new(t.pos, t.end);
        Ok(Some(match t.typ {
            ItemType::Identifier => match funcs::lookup(&t.val) {
                Lookup::Found(func) => Arg::Identifier {
                    span: sp,
                    name: t.val.clone(),
                    func,
                },
                Lookup::Unsupported => {
                    return Err(self.err_item(
                        &t,
                        format!(
                            "function {} exists only in Sprig v3; ACR renders with Sprig v2.22, where it is not defined, and wharf does not implement it",
                            crate::format::quote(&t.val)
                        ),
                    ));
                }
                Lookup::Unknown => {
                    return Err(self.err_item(
                        &t,
                        format!("function {} not defined", crate::format::quote(&t.val)),
                    ));
                }
            },
            ItemType::Dot => Arg::Dot(sp),
            ItemType::Nil => Arg::Nil(sp),
            ItemType::Variable => {
                let idents: Vec<String> = t.val.split('.').map(str::to_string).collect();
                if !self.vars.iter().any(|v| *v == idents[0]) {
                    return Err(self.err_item(
                        &t,
                        format!("undefined variable {}", crate::format::quote(&idents[0])),
                    ));
                }
                Arg::Variable { span: sp, idents }
            }
            ItemType::Field => Arg::Field {
                span: sp,
                idents: vec![t.val[1..].to_string()],
            },
            ItemType::Bool => Arg::Bool(sp, t.val == "true"),
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                let n = parse_number(&t.val, t.typ == ItemType::CharConstant)
                    .map_err(|e| self.err_item(&t, e))?;
                Arg::Number(sp, n)
            }
            ItemType::LeftParen => {
                self.enter(sp)?;
                let p = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.leave();
                let mut p = p?;
                let close = self
                    .items
                    .get(self.i.saturating_sub(1))
                    .map_or(t.end, |i| i.end);
                p.span = Sp::new(t.pos, close);
                Arg::Pipe(Box::new(p))
            }
            ItemType::String | ItemType::RawString => {
                let val = unquote(&t.val).map_err(|e| self.err_item(&t, e))?;
                Arg::Str {
                    span: sp,
                    text: t.val.clone(),
                    val,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}
