//! Sprig reflection helpers: `typeOf`, `typeIs`, `typeIsLike`, `kindOf`,
//! `kindIs`, `deepEqual`. Every integer reports Go's `int` (see the README).

use super::{FuncDef, Since, Ty, a, def, ok, ok_s, s};
use crate::data::Data;

const V2: Since = Since::V2;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("typeOf", &[Ty::Any], None, V2, |_, x| {
        ok_s(a(&x, 0).type_name())
    }),
    def("typeIs", &[Ty::Str, Ty::Any], None, V2, |_, x| {
        ok(Data::Bool(s(&x, 0) == a(&x, 1).type_name()))
    }),
    def("typeIsLike", &[Ty::Str, Ty::Any], None, V2, |_, x| {
        let (t, v) = (s(&x, 0), a(&x, 1).type_name());
        ok(Data::Bool(t == v || format!("*{t}") == v))
    }),
    def("kindOf", &[Ty::Any], None, V2, |_, x| {
        ok_s(a(&x, 0).kind_name())
    }),
    def("kindIs", &[Ty::Str, Ty::Any], None, V2, |_, x| {
        ok(Data::Bool(s(&x, 0) == a(&x, 1).kind_name()))
    }),
    def("deepEqual", &[Ty::Any, Ty::Any], None, V2, |_, x| {
        ok(Data::Bool(a(&x, 0).deep_equal(&a(&x, 1), 0)))
    }),
];
