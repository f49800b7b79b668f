//! Function and method calls: argument evaluation and Go's assignability rules.

use super::{E, Exec, methods};
use crate::ast::{Arg, Sp};
use crate::data::{Data, RVal};
use crate::funcs::{Ctx, FuncDef, Imp, Ty};
use crate::output::AcrDifference;

impl<'t> Exec<'t> {
    /// Calls `f` with the template arguments `args` (the function word excluded)
    /// and the piped-in `fin`. `call_sp`/`call_ctx` describe the command for errors.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn eval_call(
        &mut self,
        dot: &RVal,
        f: &'static FuncDef,
        call_sp: Sp,
        call_ctx: &str,
        word: &'t Arg,
        name: &str,
        args: &'t [Arg],
        fin: Option<RVal>,
    ) -> E<RVal> {
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = f.params.len();
        if f.variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.err(
                    word.span(),
                    &word.to_string(),
                    format!(
                        "wrong number of args for {name}: want at least {num_fixed} got {}",
                        args.len()
                    ),
                ));
            }
        } else if num_in != num_fixed {
            return Err(self.err(
                word.span(),
                &word.to_string(),
                format!("wrong number of args for {name}: want {num_fixed} got {num_in}"),
            ));
        }
        if let Imp::And | Imp::Or = f.imp {
            let is_or = matches!(f.imp, Imp::Or);
            let mut v = RVal::Invalid;
            for a in args {
                v = self.eval_arg(dot, Ty::Reflect, a)?;
                if v.truth() == is_or {
                    return Ok(v);
                }
            }
            if let Some(fv) = fin {
                v = fv;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let ty = f.params.get(i).copied().or(f.variadic).unwrap_or(Ty::Any);
            argv.push(self.eval_arg(dot, ty, a)?);
        }
        if let Some(fv) = fin {
            let ty = f
                .params
                .get(argv.len())
                .copied()
                .or(f.variadic)
                .unwrap_or(Ty::Any);
            argv.push(self.validate_type(fv, ty, call_sp, call_ctx)?);
        }
        let Imp::Call(imp) = f.imp else {
            return Ok(RVal::Invalid);
        };
        let mut ctx = Ctx::new(self.opts);
        let result = imp(&mut ctx, argv);
        for message in ctx.acr_differences {
            self.out.acr_differences.push(AcrDifference {
                src_start: call_sp.start,
                src_len: call_sp.end.saturating_sub(call_sp.start),
                message,
            });
        }
        match result {
            Ok(RVal::Plain(Data::Nil)) => Ok(RVal::Iface(Data::Nil)),
            Ok(v) => Ok(v),
            Err(msg) => Err(self.err(call_sp, call_ctx, format!("error calling {name}: {msg}"))),
        }
    }

    /// Calls a method (`.Format`, `.Year`, ...) on a time or version value.
    pub(crate) fn eval_method(
        &mut self,
        dot: &RVal,
        recv: &Data,
        name: &str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<RVal>,
    ) -> E<RVal> {
        let params = methods::params(recv, name);
        let num_in = args.len() + usize::from(fin.is_some());
        if num_in != params.len() {
            return Err(self.err(
                node.span(),
                &node.to_string(),
                format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    params.len()
                ),
            ));
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, params[i], a)?);
        }
        if let Some(fv) = fin {
            argv.push(self.validate_type(
                fv,
                params[argv.len()],
                node.span(),
                &node.to_string(),
            )?);
        }
        methods::call(recv, name, &argv)
            .map(RVal::Plain)
            .map_err(|m| {
                self.err(
                    node.span(),
                    &node.to_string(),
                    format!("error calling {name}: {m}"),
                )
            })
    }

    /// Go's `validateType`: checks that `v` can be passed as `ty`.
    pub(crate) fn validate_type(&self, v: RVal, ty: Ty, sp: Sp, ctx: &str) -> E<RVal> {
        match (&v, ty) {
            (_, Ty::Reflect) => Ok(v),
            (RVal::Invalid, Ty::Any) => Ok(RVal::Iface(Data::Nil)),
            (RVal::Invalid, Ty::Map | Ty::List) => Ok(RVal::Plain(Data::Nil)),
            (RVal::Invalid, _) => {
                Err(self.err(sp, ctx, format!("invalid value; expected {}", ty.go_name())))
            }
            (_, Ty::Any) => Ok(v),
            (RVal::Iface(Data::Nil), _) => Err(self.err(
                sp,
                ctx,
                format!(
                    "wrong type for value; expected {}; got interface {{}}",
                    ty.go_name()
                ),
            )),
            (RVal::Iface(d) | RVal::Plain(d), _) => {
                if ty.accepts(d) {
                    Ok(RVal::Plain(d.clone()))
                } else {
                    Err(self.err(
                        sp,
                        ctx,
                        format!(
                            "wrong type for value; expected {}; got {}",
                            ty.go_name(),
                            d.type_name()
                        ),
                    ))
                }
            }
        }
    }

    /// Go's `evalArg`: evaluates an argument node for a parameter of type `ty`.
    pub(crate) fn eval_arg(&mut self, dot: &RVal, ty: Ty, n: &'t Arg) -> E<RVal> {
        let sp = n.span();
        match n {
            Arg::Dot(_) => return self.validate_type(dot.clone(), ty, sp, "."),
            Arg::Nil(_) => {
                if ty.can_be_nil() {
                    return Ok(match ty {
                        Ty::Reflect => RVal::Invalid,
                        Ty::Map | Ty::List => RVal::Plain(Data::Nil),
                        _ => RVal::Iface(Data::Nil),
                    });
                }
                return Err(self.err(sp, "nil", format!("cannot assign nil to {}", ty.go_name())));
            }
            Arg::Field { idents, .. } => {
                let v = self.eval_field_chain(dot, dot.clone(), n, idents, &[], None)?;
                return self.validate_type(v, ty, sp, &n.to_string());
            }
            Arg::Variable { .. } | Arg::Chain { .. } => {
                let v = if matches!(n, Arg::Variable { .. }) {
                    self.eval_variable(dot, n, &[], None)?
                } else {
                    self.eval_chain(dot, n, &[], None)?
                };
                return self.validate_type(v, ty, sp, &n.to_string());
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate_type(v, ty, sp, &n.to_string());
            }
            Arg::Identifier { func, name, .. } => {
                let v = self.eval_call(dot, func, sp, name, n, name, &[], None)?;
                return self.validate_type(v, ty, sp, &n.to_string());
            }
            _ => {}
        }
        let found =
            |what: &str| self.err(sp, &n.to_string(), format!("expected {what}; found {n}"));
        match ty {
            Ty::Bool => match n {
                Arg::Bool(_, b) => Ok(RVal::Plain(Data::Bool(*b))),
                _ => Err(found("bool")),
            },
            Ty::Float => match n {
                Arg::Number(_, num) if num.is_float => Ok(RVal::Plain(Data::Float(num.float))),
                _ => Err(found("float")),
            },
            Ty::Int => match n {
                Arg::Number(_, num) if num.is_int => Ok(RVal::Plain(Data::Int(num.int))),
                _ => Err(found("integer")),
            },
            // reflect's SetUint truncates to the parameter's width.
            Ty::Uint32 => match n {
                Arg::Number(_, num) if num.is_uint => {
                    Ok(RVal::Plain(Data::Int(i64::from(num.uint as u32))))
                }
                _ => Err(found("unsigned integer")),
            },
            Ty::Str => match n {
                Arg::Str { val, .. } => Ok(RVal::Plain(Data::str(val))),
                _ => Err(found("string")),
            },
            Ty::Any | Ty::Reflect => match n {
                Arg::Bool(_, b) => Ok(RVal::Plain(Data::Bool(*b))),
                Arg::Number(nsp, num) => self.ideal_constant(*nsp, num),
                Arg::Str { val, .. } => Ok(RVal::Plain(Data::str(val))),
                _ => Err(self.err(
                    sp,
                    &n.to_string(),
                    format!("can't handle assignment of {n} to empty interface argument"),
                )),
            },
            Ty::Map | Ty::Time | Ty::List | Ty::Cert => Err(self.err(
                sp,
                &n.to_string(),
                format!("can't handle {n} for arg of type {}", ty.go_name()),
            )),
        }
    }
}
