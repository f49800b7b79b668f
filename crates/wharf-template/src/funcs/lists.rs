//! Sprig list functions. Lists are copied, never changed in place.

use super::convert::to_int64;
use super::{Ctx, FuncDef, Since, Ty, a, def, n, ok};
use crate::data::{Data, RVal};

const V2: Since = Since::V2;
const V3: Since = Since::V3;

const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

pub(crate) const FUNCS: &[FuncDef] = &[
    def("list", &[], Some(Ty::Any), V2, list),
    def("tuple", &[], Some(Ty::Any), V2, list),
    def("first", &[Ty::Any], None, V2, first),
    def("mustFirst", &[Ty::Any], None, V3, first),
    def("last", &[Ty::Any], None, V2, last),
    def("mustLast", &[Ty::Any], None, V3, last),
    def("rest", &[Ty::Any], None, V2, rest),
    def("mustRest", &[Ty::Any], None, V3, rest),
    def("initial", &[Ty::Any], None, V2, initial),
    def("mustInitial", &[Ty::Any], None, V3, initial),
    def("append", &[Ty::Any, Ty::Any], None, V2, push),
    def("push", &[Ty::Any, Ty::Any], None, V2, push),
    def("mustAppend", &[Ty::Any, Ty::Any], None, V3, push),
    def("mustPush", &[Ty::Any, Ty::Any], None, V3, push),
    def("prepend", &[Ty::Any, Ty::Any], None, V2, prepend),
    def("mustPrepend", &[Ty::Any, Ty::Any], None, V3, prepend),
    def("concat", &[], Some(Ty::Any), V2, concat),
    def("reverse", &[Ty::Any], None, V2, reverse),
    def("mustReverse", &[Ty::Any], None, V3, reverse),
    def("uniq", &[Ty::Any], None, V2, uniq),
    def("mustUniq", &[Ty::Any], None, V3, uniq),
    def("without", &[Ty::Any], Some(Ty::Any), V2, without),
    def("mustWithout", &[Ty::Any], Some(Ty::Any), V3, without),
    def("has", &[Ty::Any, Ty::Any], None, V2, has),
    def("mustHas", &[Ty::Any, Ty::Any], None, V3, has),
    def("slice", &[Ty::Any], Some(Ty::Any), V2, slice),
    def("mustSlice", &[Ty::Any], Some(Ty::Any), V3, slice),
    def("chunk", &[Ty::Int, Ty::Any], None, V3, chunk),
    def("mustChunk", &[Ty::Int, Ty::Any], None, V3, chunk),
];

/// The list argument, with Sprig's error for other kinds (`what` is the
/// message with `%s` for the kind).
fn need_list(v: &Data, what: &str) -> Result<Vec<Data>, String> {
    match v {
        Data::List(l) => Ok(l.to_vec()),
        Data::Nil => Err(NIL_DEREF.into()),
        other => Err(what.replace("%s", other.kind_name())),
    }
}

fn list(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    ok(Data::list(x.iter().map(RVal::data).collect()))
}

fn first(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let l = need_list(&a(&x, 0), "Cannot find first on type %s")?;
    ok(l.first().cloned().unwrap_or(Data::Nil))
}

fn last(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let l = need_list(&a(&x, 0), "Cannot find last on type %s")?;
    ok(l.last().cloned().unwrap_or(Data::Nil))
}

fn rest(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let l = need_list(&a(&x, 0), "Cannot find rest on type %s")?;
    ok(Data::list(l.get(1..).unwrap_or(&[]).to_vec()))
}

fn initial(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let l = need_list(&a(&x, 0), "Cannot find initial on type %s")?;
    let n = l.len().saturating_sub(1);
    ok(Data::list(l[..n].to_vec()))
}

fn push(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let mut l = need_list(&a(&x, 0), "Cannot push on type %s")?;
    l.push(a(&x, 1));
    ok(Data::list(l))
}

fn prepend(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let mut l = need_list(&a(&x, 0), "Cannot prepend on type %s")?;
    l.insert(0, a(&x, 1));
    ok(Data::list(l))
}

fn concat(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let mut out = Vec::new();
    for v in &x {
        out.extend(need_list(&v.data(), "Cannot concat type %s as list")?);
        super::check_size(out.len() as u128, "concat")?;
    }
    ok(Data::list(out))
}

fn reverse(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let mut l = need_list(&a(&x, 0), "Cannot find reverse on type %s")?;
    l.reverse();
    ok(Data::list(l))
}

fn contains(l: &[Data], v: &Data) -> bool {
    l.iter().any(|e| e.deep_equal(v, 0))
}

fn uniq(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let l = need_list(&a(&x, 0), "Cannot find uniq on type %s")?;
    let mut out: Vec<Data> = Vec::new();
    for e in l {
        if !contains(&out, &e) {
            out.push(e);
        }
    }
    ok(Data::list(out))
}

fn without(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let l = need_list(&a(&x, 0), "Cannot find without on type %s")?;
    let omit: Vec<Data> = x[1..].iter().map(RVal::data).collect();
    ok(Data::list(
        l.into_iter().filter(|e| !contains(&omit, e)).collect(),
    ))
}

fn has(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let hay = a(&x, 1);
    if matches!(hay, Data::Nil) {
        return ok(Data::Bool(false));
    }
    let l = need_list(&hay, "Cannot find has on type %s")?;
    ok(Data::Bool(contains(&l, &a(&x, 0))))
}

fn slice(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let v = a(&x, 0);
    let l = match &v {
        Data::List(l) => l.to_vec(),
        Data::Nil => return Err(NIL_DEREF.into()),
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind_name()
            ));
        }
    };
    let len = l.len() as i64;
    let start = if x.len() > 1 { to_int64(&a(&x, 1)) } else { 0 };
    let end = if x.len() > 2 {
        to_int64(&a(&x, 2))
    } else {
        len
    };
    if start < 0 || end < start || end > len {
        return Err(format!(
            "reflect: slice index out of range [{start}:{end}] with capacity {len}"
        ));
    }
    ok(Data::list(l[start as usize..end as usize].to_vec()))
}

fn chunk(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let size = n(&x, 0);
    let l = need_list(&a(&x, 1), "Cannot chunk type %s")?;
    if size <= 0 {
        return Err("runtime error: chunk size must be positive".into());
    }
    let out: Vec<Data> = l
        .chunks(size as usize)
        .map(|c| Data::list(c.to_vec()))
        .collect();
    ok(Data::list(out))
}
