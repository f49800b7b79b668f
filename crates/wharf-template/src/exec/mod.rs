//! The executor: Go's `text/template/exec.go` walk, rewritten over [`RVal`].

mod call;
mod methods;

use crate::ast::{Arg, Branch, Node, Pipe, Sp};
use crate::data::{Data, RVal};
use crate::output::Output;
use crate::{Error, ErrorKind, MissingKey, Options, Template};

/// Deepest `{{template}}` nesting (Go allows 100000; wharf keeps the stack bounded).
pub(crate) const MAX_TEMPLATE_DEPTH: usize = 1000;
/// Most nodes and iterations one execution may evaluate.
pub(crate) const MAX_STEPS: u64 = 20_000_000;
/// Largest output one execution may produce.
pub(crate) const MAX_OUTPUT: usize = 64 << 20;

/// Control flow out of a walk: `break`, `continue` or an error.
pub(crate) enum Ctl {
    Break,
    Continue,
    Err(Error),
}

impl From<Error> for Ctl {
    fn from(e: Error) -> Ctl {
        Ctl::Err(e)
    }
}

type W = Result<(), Ctl>;
pub(crate) type E<T> = Result<T, Error>;

/// One execution's state.
pub(crate) struct Exec<'t> {
    pub tmpl: &'t Template,
    pub opts: &'t Options,
    pub out: Output,
    vars: Vec<(String, RVal)>,
    depth: usize,
    steps: u64,
    cur: &'t str,
}

impl<'t> Exec<'t> {
    pub(crate) fn new(tmpl: &'t Template, opts: &'t Options) -> Exec<'t> {
        Exec {
            tmpl,
            opts,
            out: Output::default(),
            vars: Vec::new(),
            depth: 0,
            steps: 0,
            cur: &tmpl.name,
        }
    }

    /// Runs the main template on `data`.
    pub(crate) fn run(&mut self, data: RVal) -> E<()> {
        self.vars.push(("$".into(), data.clone()));
        let tmpl = self.tmpl;
        match self.walk(&data, &tmpl.parsed.main) {
            Ok(()) => Ok(()),
            Err(Ctl::Err(e)) => Err(e),
            Err(_) => Err(self.err(Sp::new(0, 0), "", "break or continue outside range".into())),
        }
    }

    /// A Go-style execution error at the node with `span`, described as `ctx`.
    pub(crate) fn err(&self, span: Sp, ctx: &str, msg: String) -> Error {
        let (line, col) = crate::line_col(&self.tmpl.src, span.start);
        Error {
            kind: ErrorKind::Exec,
            message: format!(
                "template: {}:{}:{}: executing {} at <{}>: {}",
                self.tmpl.name,
                line,
                col,
                crate::format::quote(self.cur),
                ctx,
                msg
            ),
            span: span.range(),
        }
    }

    fn step(&mut self, span: Sp) -> E<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(self.err(
                span,
                "",
                format!("execution exceeded wharf's limit of {MAX_STEPS} steps"),
            ));
        }
        if self.out.text.len() > MAX_OUTPUT {
            return Err(self.err(
                span,
                "",
                format!("output exceeded wharf's limit of {MAX_OUTPUT} bytes"),
            ));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &RVal, list: &'t [Node]) -> W {
        for n in list {
            self.walk_node(dot, n)?;
        }
        Ok(())
    }

    fn walk_node(&mut self, dot: &RVal, node: &'t Node) -> W {
        match node {
            Node::Text(sp) => {
                self.step(*sp)?;
                let src = &self.tmpl.src[sp.range()];
                self.out.push_text(src, sp.start);
            }
            Node::Action { span, pipe } => {
                self.step(*span)?;
                let val = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    let text = match val.as_data() {
                        None => "<no value>".to_string(),
                        Some(d) => crate::format::fmt_v(d),
                    };
                    self.out.push_action(&text, span.range());
                }
            }
            Node::If(b) => self.walk_if_or_with(dot, b, false)?,
            Node::With(b) => self.walk_if_or_with(dot, b, true)?,
            Node::Range(b) => self.walk_range(dot, b)?,
            Node::Template { span, name, pipe } => self.walk_template(dot, *span, name, pipe)?,
            Node::Break => return Err(Ctl::Break),
            Node::Continue => return Err(Ctl::Continue),
        }
        Ok(())
    }

    fn walk_if_or_with(&mut self, dot: &RVal, b: &'t Branch, with: bool) -> W {
        self.step(b.span)?;
        let mark = self.vars.len();
        let r = (|| {
            let val = self.eval_pipeline(dot, &b.pipe)?;
            if val.truth() {
                if with {
                    self.walk(&val, &b.list)
                } else {
                    self.walk(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &RVal, b: &'t Branch) -> W {
        self.step(b.span)?;
        let mark = self.vars.len();
        let r = self.walk_range_inner(dot, b);
        self.vars.truncate(mark);
        match r {
            Err(Ctl::Break) => Ok(()),
            other => other,
        }
    }

    fn walk_range_inner(&mut self, dot: &RVal, b: &'t Branch) -> W {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let items: Vec<(RVal, RVal)> = match val.as_data() {
            None => Vec::new(),
            Some(Data::List(l)) => l
                .iter()
                .enumerate()
                .map(|(i, e)| (RVal::Plain(Data::Int(i as i64)), RVal::Iface(e.clone())))
                .collect(),
            Some(d @ Data::Map(_)) => d
                .map_entries()
                .into_iter()
                .map(|(k, v)| (RVal::Plain(Data::str(k)), RVal::Iface(v)))
                .collect(),
            Some(Data::Int(n)) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self
                        .err(
                            b.span,
                            &b.pipe.to_string(),
                            format!("can't use {n} to iterate over more than one variable"),
                        )
                        .into());
                }
                crate::funcs::check_size((*n).max(0) as u128, "range")
                    .map_err(|m| self.err(b.span, &b.pipe.to_string(), m))?;
                (0..(*n).max(0))
                    .map(|i| (RVal::Invalid, RVal::Plain(Data::Int(i))))
                    .collect()
            }
            Some(d) => {
                return Err(self
                    .err(
                        b.pipe.span,
                        &b.pipe.to_string(),
                        format!("range can't iterate over {}", crate::format::fmt_v(d)),
                    )
                    .into());
            }
        };
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                return self.walk(dot, e);
            }
            return Ok(());
        }
        for (index, elem) in items {
            self.step(b.span)?;
            let decl = &b.pipe.decl;
            if !decl.is_empty() {
                if b.pipe.is_assign {
                    let v = if decl.len() > 1 {
                        index.clone()
                    } else {
                        elem.clone()
                    };
                    self.set_var(&decl[0].0, v, decl[0].1)?;
                } else {
                    let n = self.vars.len();
                    self.vars[n - 1].1 = elem.clone();
                }
            }
            if decl.len() > 1 {
                if b.pipe.is_assign {
                    self.set_var(&decl[1].0, elem.clone(), decl[1].1)?;
                } else {
                    let n = self.vars.len();
                    self.vars[n - 2].1 = index.clone();
                }
            }
            let r = self.walk(&elem, &b.list);
            self.vars.truncate(mark);
            match r {
                Ok(()) | Err(Ctl::Continue) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    fn walk_template(&mut self, dot: &RVal, span: Sp, name: &'t str, pipe: &'t Option<Pipe>) -> W {
        self.step(span)?;
        let tmpl = self.tmpl;
        let body: &'t [Node] = if name == tmpl.name {
            &tmpl.parsed.main
        } else {
            match tmpl.parsed.defs.get(name) {
                Some(b) => b,
                None => {
                    return Err(self
                        .err(
                            span,
                            &format!("{{{{template {}}}}}", crate::format::quote(name)),
                            format!("template {} not defined", crate::format::quote(name)),
                        )
                        .into());
                }
            }
        };
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(self
                .err(
                    span,
                    name,
                    format!("exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})"),
                )
                .into());
        }
        let new_dot = match pipe {
            Some(p) => self.eval_pipeline(dot, p)?,
            None => RVal::Invalid,
        };
        let saved = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let saved_cur = std::mem::replace(&mut self.cur, name);
        self.depth += 1;
        let r = self.walk(&new_dot, body);
        self.depth -= 1;
        self.cur = saved_cur;
        self.vars = saved;
        match r {
            Err(Ctl::Break) | Err(Ctl::Continue) => Ok(()),
            other => other,
        }
    }

    // ---- variables ----

    fn set_var(&mut self, name: &str, v: RVal, sp: Sp) -> E<()> {
        for slot in self.vars.iter_mut().rev() {
            if slot.0 == name {
                slot.1 = v;
                return Ok(());
            }
        }
        Err(self.err(sp, name, format!("undefined variable: {name}")))
    }

    fn var_value(&self, name: &str, sp: Sp) -> E<RVal> {
        for slot in self.vars.iter().rev() {
            if slot.0 == name {
                return Ok(slot.1.clone());
            }
        }
        Err(self.err(sp, name, format!("undefined variable: {name}")))
    }

    // ---- pipelines and commands ----

    pub(crate) fn eval_pipeline(&mut self, dot: &RVal, pipe: &'t Pipe) -> E<RVal> {
        self.step(pipe.span)?;
        let mut value: Option<RVal> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(dot, cmd, value.take())?;
            value = Some(v.unwrap_iface());
        }
        let value = value.unwrap_or(RVal::Invalid);
        for (name, sp) in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone(), *sp)?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<RVal>) -> E<()> {
        if args.len() > 1 || fin.is_some() {
            let a0 = &args[0];
            return Err(self.err(
                a0.span(),
                &a0.to_string(),
                format!("can't give argument to non-function {a0}"),
            ));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &RVal, cmd: &'t crate::ast::Cmd, fin: Option<RVal>) -> E<RVal> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                return self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, fin);
            }
            Arg::Chain { .. } => return self.eval_chain(dot, first, &cmd.args, fin),
            Arg::Identifier { func, name, .. } => {
                return self.eval_call(
                    dot,
                    func,
                    cmd.span,
                    &cmd.to_string(),
                    first,
                    name,
                    &cmd.args[1..],
                    fin,
                );
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Arg::Variable { .. } => return self.eval_variable(dot, first, &cmd.args, fin),
            _ => {}
        }
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Arg::Bool(_, b) => Ok(RVal::Plain(Data::Bool(*b))),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(sp) => Err(self.err(*sp, "nil", "nil is not a command".into())),
            Arg::Number(sp, n) => self.ideal_constant(*sp, n),
            Arg::Str { val, .. } => Ok(RVal::Plain(Data::str(val))),
            other => Err(self.err(
                other.span(),
                &other.to_string(),
                format!(
                    "can't evaluate command {}",
                    crate::format::quote(&other.to_string())
                ),
            )),
        }
    }

    pub(crate) fn ideal_constant(&self, sp: Sp, n: &crate::ast::Number) -> E<RVal> {
        let t = &n.text;
        let is_hex_int =
            t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) && !t.contains(['p', 'P']);
        let is_rune = t.starts_with('\'');
        if n.is_float && !is_hex_int && !is_rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(RVal::Plain(Data::Float(n.float)));
        }
        if n.is_int {
            return Ok(RVal::Plain(Data::Int(n.int)));
        }
        if n.is_uint {
            return Err(self.err(sp, t, format!("{t} overflows int")));
        }
        Ok(RVal::Invalid)
    }

    fn eval_chain(
        &mut self,
        dot: &RVal,
        chain: &'t Arg,
        args: &'t [Arg],
        fin: Option<RVal>,
    ) -> E<RVal> {
        let Arg::Chain { node, fields, span } = chain else {
            return Ok(RVal::Invalid);
        };
        if let Arg::Nil(_) = **node {
            return Err(self.err(
                *span,
                &chain.to_string(),
                format!("indirection through explicit nil in {chain}"),
            ));
        }
        let recv = self.eval_arg(dot, crate::funcs::Ty::Reflect, node)?;
        self.eval_field_chain(dot, recv, chain, fields, args, fin)
    }

    fn eval_variable(
        &mut self,
        dot: &RVal,
        var: &'t Arg,
        args: &'t [Arg],
        fin: Option<RVal>,
    ) -> E<RVal> {
        let Arg::Variable { idents, span } = var else {
            return Ok(RVal::Invalid);
        };
        let value = self.var_value(&idents[0], *span)?;
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, var, &idents[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &RVal,
        mut recv: RVal,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<RVal>,
    ) -> E<RVal> {
        let n = idents.len();
        for id in &idents[..n - 1] {
            recv = self.eval_field(dot, id, node, &[], None, recv)?;
        }
        self.eval_field(dot, &idents[n - 1], node, args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &RVal,
        name: &'t str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<RVal>,
        recv: RVal,
    ) -> E<RVal> {
        let sp = node.span();
        let typ = recv.type_name();
        let d = match recv {
            RVal::Invalid => {
                if self.opts.missing_key == MissingKey::Error {
                    return Err(self.err(
                        sp,
                        &node.to_string(),
                        format!("nil data; no entry for key {}", crate::format::quote(name)),
                    ));
                }
                return Ok(RVal::Invalid);
            }
            RVal::Iface(Data::Nil) | RVal::Plain(Data::Nil) => {
                return Err(self.err(
                    sp,
                    &node.to_string(),
                    format!("nil pointer evaluating {typ}.{name}"),
                ));
            }
            RVal::Iface(d) | RVal::Plain(d) => d,
        };
        if methods::has_method(&d, name) {
            let rest = if args.is_empty() { args } else { &args[1..] };
            return self.eval_method(dot, &d, name, node, rest, fin);
        }
        let has_args = args.len() > 1 || fin.is_some();
        if let Data::Cert(c) = &d
            && let Some(v) = c.field(name)
        {
            if has_args {
                return Err(self.err(
                    sp,
                    &node.to_string(),
                    format!("{name} has arguments but cannot be invoked as function"),
                ));
            }
            return Ok(RVal::Plain(Data::str(v)));
        }
        if let Data::Map(_) = &d {
            if has_args {
                return Err(self.err(
                    sp,
                    &node.to_string(),
                    format!("{name} is not a method but has arguments"),
                ));
            }
            return match d.map_get(name) {
                Some(v) => Ok(RVal::Iface(v)),
                None => match self.opts.missing_key {
                    MissingKey::Default => Ok(RVal::Invalid),
                    MissingKey::Zero => Ok(RVal::Iface(Data::Nil)),
                    MissingKey::Error => Err(self.err(
                        sp,
                        &node.to_string(),
                        format!("map has no entry for key {}", crate::format::quote(name)),
                    )),
                },
            };
        }
        Err(self.err(
            sp,
            &node.to_string(),
            format!("can't evaluate field {name} in type {typ}"),
        ))
    }
}
