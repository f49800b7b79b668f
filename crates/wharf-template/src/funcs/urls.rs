//! `urlParse` and `urlJoin` (Sprig v2.22), over Go's `net/url` rules
//! ([`crate::net_url`]).

use std::collections::BTreeMap;

use super::{Ctx, FuncDef, Since, Ty, def, ok, ok_s, s};
use crate::data::{Data, RVal};
use crate::net_url;

pub(crate) const FUNCS: &[FuncDef] = &[
    def("urlParse", &[Ty::Str], None, Since::V2, url_parse),
    def("urlJoin", &[Ty::Map], None, Since::V2, url_join),
];

fn text(b: &[u8]) -> Data {
    Data::str(String::from_utf8_lossy(b))
}

/// The dict Sprig builds from `url.Parse`: scheme, host, hostname, path
/// (decoded), query (raw), opaque, fragment (decoded), userinfo (escaped).
fn url_parse(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let u = net_url::parse(&s(&x, 0)).map_err(|e| format!("unable to parse url: {e}"))?;
    let mut m = BTreeMap::new();
    m.insert("scheme".to_string(), text(&u.scheme));
    m.insert("host".to_string(), text(&u.host));
    m.insert("hostname".to_string(), text(&u.hostname()));
    m.insert("path".to_string(), text(&u.path));
    m.insert("query".to_string(), text(&u.raw_query));
    m.insert("opaque".to_string(), text(&u.opaque));
    m.insert("fragment".to_string(), text(&u.fragment));
    let user = u.user.as_ref().map(net_url::Userinfo::string);
    m.insert("userinfo".to_string(), text(&user.unwrap_or_default()));
    ok(Data::map(m))
}

/// Sprig's `dictGetOrEmpty`: a missing key is empty, a non-string panics.
fn dict_string(d: &Data, key: &str) -> Result<Vec<u8>, String> {
    match d.map_get(key) {
        None => Ok(Vec::new()),
        Some(Data::Str(v)) => Ok(v.as_bytes().to_vec()),
        // reflect.TypeOf(nil).Kind() dereferences a nil Type.
        Some(Data::Nil) => {
            Err("runtime error: invalid memory address or nil pointer dereference".into())
        }
        Some(other) => Err(format!(
            "unable to parse {key} key, must be of type string, but {} found",
            other.kind_name()
        )),
    }
}

/// A `url.URL` from the dict's parts, printed by `URL.String`.
fn url_join(_: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let d = x.first().map(RVal::data).unwrap_or(Data::Nil);
    let mut u = net_url::Url {
        scheme: dict_string(&d, "scheme")?,
        host: dict_string(&d, "host")?,
        path: dict_string(&d, "path")?,
        raw_query: dict_string(&d, "query")?,
        opaque: dict_string(&d, "opaque")?,
        fragment: dict_string(&d, "fragment")?,
        ..net_url::Url::default()
    };
    let userinfo = dict_string(&d, "userinfo")?;
    if !userinfo.is_empty() {
        let raw = format!("proto://{}@host", String::from_utf8_lossy(&userinfo));
        let parsed =
            net_url::parse(&raw).map_err(|e| format!("unable to parse userinfo in dict: {e}"))?;
        u.user = parsed.user;
    }
    ok_s(String::from_utf8_lossy(&u.string()))
}
