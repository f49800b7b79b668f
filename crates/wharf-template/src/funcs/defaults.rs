//! Sprig defaults and flow control: `default`, `empty`, `coalesce`, `ternary`,
//! `fail`, JSON helpers and `deepCopy`.

use super::json::{decode, encode};
use super::{Ctx, FuncDef, Since, Ty, a, def, ok, ok_s, s};
use crate::data::{Data, RVal};

const V2: Since = Since::V2;
const V3: Since = Since::V3;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("default", &[Ty::Any], Some(Ty::Any), V2, |_, x| {
        // dfault(d, given...): given[0] unless absent or empty.
        match x.get(1) {
            Some(g) if !g.data().is_empty() => Ok(g.clone()),
            _ => Ok(x[0].clone()),
        }
    }),
    def("empty", &[Ty::Any], None, V2, |_, x| {
        ok(Data::Bool(a(&x, 0).is_empty()))
    }),
    def("coalesce", &[], Some(Ty::Any), V2, |_, x| {
        ok(x.iter()
            .map(RVal::data)
            .find(|d| !d.is_empty())
            .unwrap_or(Data::Nil))
    }),
    def("all", &[], Some(Ty::Any), V3, |_, x| {
        ok(Data::Bool(x.iter().all(|d| !d.data().is_empty())))
    }),
    def("any", &[], Some(Ty::Any), V3, |_, x| {
        ok(Data::Bool(x.iter().any(|d| !d.data().is_empty())))
    }),
    def("compact", &[Ty::Any], None, V2, compact),
    def("mustCompact", &[Ty::Any], None, V3, compact),
    def(
        "ternary",
        &[Ty::Any, Ty::Any, Ty::Bool],
        None,
        V2,
        |_, x| {
            let pick = matches!(a(&x, 2), Data::Bool(true));
            Ok(if pick { x[0].clone() } else { x[1].clone() })
        },
    ),
    def("fail", &[Ty::Str], None, V2, |_, x| Err(s(&x, 0))),
    def("toJson", &[Ty::Any], None, V2, |_, x| {
        ok_s(encode(&a(&x, 0), true, false).unwrap_or_default())
    }),
    def("toPrettyJson", &[Ty::Any], None, V2, |_, x| {
        ok_s(encode(&a(&x, 0), true, true).unwrap_or_default())
    }),
    def("toRawJson", &[Ty::Any], None, V3, |_, x| {
        ok_s(encode(&a(&x, 0), false, false).unwrap_or_default())
    }),
    def("mustToJson", &[Ty::Any], None, V3, |_, x| {
        ok_s(encode(&a(&x, 0), true, false)?)
    }),
    def("mustToPrettyJson", &[Ty::Any], None, V3, |_, x| {
        ok_s(encode(&a(&x, 0), true, true)?)
    }),
    def("mustToRawJson", &[Ty::Any], None, V3, |_, x| {
        ok_s(encode(&a(&x, 0), false, false)?)
    }),
    def("fromJson", &[Ty::Str], None, V3, |_, x| {
        ok(decode(&s(&x, 0)).unwrap_or(Data::Nil))
    }),
    def("mustFromJson", &[Ty::Str], None, V3, |_, x| {
        ok(decode(&s(&x, 0))?)
    }),
    def("deepCopy", &[Ty::Any], None, V2, |_, x| {
        ok(a(&x, 0)
            .deep_copy(0)
            .map_err(|e| format!("deepCopy error: {e}"))?)
    }),
    def("mustDeepCopy", &[Ty::Any], None, V3, |_, x| {
        ok(a(&x, 0).deep_copy(0)?)
    }),
];

fn compact(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    match a(&x, 0) {
        Data::List(l) => ok(Data::list(
            l.iter().filter(|d| !d.is_empty()).cloned().collect(),
        )),
        other => Err(format!("Cannot compact on type {}", other.kind_name())),
    }
}
