//! Sprig dictionary functions. Maps are shared references as in Go: `set`,
//! `unset`, `merge` and `mergeOverwrite` change the map they are given.
//!
//! `keys` and `values` return entries in sorted key order (Go's order is
//! random); `keys` of several maps concatenates each map's sorted keys.

use std::collections::BTreeMap;

use super::convert::strval;
use super::{Ctx, FuncDef, Since, Ty, a, def, ok, s};
use crate::data::{Data, MAX_NESTING, MapRef, RVal};

const V2: Since = Since::V2;
const V3: Since = Since::V3;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("dict", &[], Some(Ty::Any), V2, dict),
    def("get", &[Ty::Map, Ty::Str], None, V3, |_, x| {
        ok(a(&x, 0).map_get(&s(&x, 1)).unwrap_or_else(|| Data::str("")))
    }),
    def("set", &[Ty::Map, Ty::Str, Ty::Any], None, V2, set),
    def("unset", &[Ty::Map, Ty::Str], None, V2, |_, x| {
        let d = a(&x, 0);
        if let Data::Map(m) = &d {
            borrow_mut(m)?.remove(&s(&x, 1));
        }
        ok(d)
    }),
    def("hasKey", &[Ty::Map, Ty::Str], None, V2, |_, x| {
        ok(Data::Bool(a(&x, 0).map_get(&s(&x, 1)).is_some()))
    }),
    def("pluck", &[Ty::Str], Some(Ty::Map), V2, |_, x| {
        let k = s(&x, 0);
        ok(Data::list(
            x[1..].iter().filter_map(|m| m.data().map_get(&k)).collect(),
        ))
    }),
    def("keys", &[], Some(Ty::Map), V2, |_, x| {
        let mut out = Vec::new();
        for m in &x {
            out.extend(m.data().map_entries().into_iter().map(|(k, _)| k));
        }
        ok(Data::strings(out))
    }),
    def("values", &[Ty::Map], None, V2, |_, x| {
        ok(Data::list(
            a(&x, 0).map_entries().into_iter().map(|(_, v)| v).collect(),
        ))
    }),
    def("pick", &[Ty::Map], Some(Ty::Str), V2, |_, x| {
        let d = a(&x, 0);
        let mut out = BTreeMap::new();
        for k in x[1..].iter().map(|k| strval(&k.data())) {
            if let Some(v) = d.map_get(&k) {
                out.insert(k, v);
            }
        }
        ok(Data::map(out))
    }),
    def("omit", &[Ty::Map], Some(Ty::Str), V2, |_, x| {
        let omit: Vec<String> = x[1..].iter().map(|k| strval(&k.data())).collect();
        let out: BTreeMap<String, Data> = a(&x, 0)
            .map_entries()
            .into_iter()
            .filter(|(k, _)| !omit.contains(k))
            .collect();
        ok(Data::map(out))
    }),
    def("merge", &[Ty::Map], Some(Ty::Map), V2, |_, x| {
        merge(x, false)
    }),
    def("mustMerge", &[Ty::Map], Some(Ty::Map), V3, |_, x| {
        merge(x, false)
    }),
    def("mergeOverwrite", &[Ty::Map], Some(Ty::Map), V2, |_, x| {
        merge(x, true)
    }),
    def(
        "mustMergeOverwrite",
        &[Ty::Map],
        Some(Ty::Map),
        V3,
        |_, x| merge(x, true),
    ),
    def("dig", &[], Some(Ty::Any), V3, dig),
];

fn borrow_mut(m: &MapRef) -> Result<std::cell::RefMut<'_, BTreeMap<String, Data>>, String> {
    m.try_borrow_mut()
        .map_err(|_| "concurrent map writes".to_string())
}

fn dict(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let mut m = BTreeMap::new();
    let mut i = 0;
    while i < x.len() {
        let k = strval(&x[i].data());
        let v = x
            .get(i + 1)
            .map(RVal::data)
            .unwrap_or_else(|| Data::str(""));
        m.insert(k, v);
        i += 2;
    }
    ok(Data::map(m))
}

fn set(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let d = a(&x, 0);
    match &d {
        Data::Map(m) => {
            borrow_mut(m)?.insert(s(&x, 1), a(&x, 2));
            ok(d)
        }
        _ => Err("assignment to entry in nil map".into()),
    }
}

/// mergo's map merge (what Sprig's `merge`/`mergeOverwrite` use).
fn merge_into(dst: &MapRef, src: &Data, overwrite: bool, depth: usize) -> Result<(), String> {
    if depth > MAX_NESTING {
        return Err("merge: maps nest too deeply".into());
    }
    for (k, sv) in src.map_entries() {
        if matches!(sv, Data::Nil) {
            continue;
        }
        let dv = dst
            .try_borrow()
            .map_err(|e| e.to_string())?
            .get(&k)
            .cloned();
        let dst_empty = dv.as_ref().is_none_or(Data::is_empty);
        match (&sv, &dv) {
            (Data::Map(_), Some(Data::Map(dm))) => {
                if !std::rc::Rc::ptr_eq(dm, dst) {
                    merge_into(dm, &sv, overwrite, depth + 1)?;
                }
                continue;
            }
            (Data::Map(_), _) if !dst_empty => continue,
            (Data::List(l), _) if !dst_empty => {
                if !overwrite || l.is_empty() {
                    continue;
                }
            }
            _ => {
                if !(overwrite || dst_empty) {
                    continue;
                }
            }
        }
        borrow_mut(dst)?.insert(k, sv);
    }
    Ok(())
}

fn merge(x: Vec<RVal>, overwrite: bool) -> Result<RVal, String> {
    let dst = a(&x, 0);
    let Data::Map(m) = &dst else {
        // A nil destination: mergo makes a new map only to drop it.
        return ok(dst);
    };
    for src in &x[1..] {
        merge_into(m, &src.data(), overwrite, 0)?;
    }
    ok(dst)
}

fn dig(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    if x.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let dict = x[x.len() - 1].data();
    let default = x[x.len() - 2].data();
    let mut keys = Vec::new();
    for k in &x[..x.len() - 2] {
        match k.data() {
            Data::Str(s) => keys.push(s.to_string()),
            other => {
                return Err(format!(
                    "interface conversion: interface {{}} is {}, not string",
                    other.type_name()
                ));
            }
        }
    }
    let mut cur = dict;
    for (i, k) in keys.iter().enumerate() {
        if !matches!(cur, Data::Map(_)) {
            return Err(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                cur.type_name()
            ));
        }
        match cur.map_get(k) {
            None => return ok(default),
            Some(v) if i + 1 == keys.len() => return ok(v),
            Some(v) => cur = v,
        }
    }
    ok(default)
}
