//! `getHostByName`: Sprig v2.22's one network function. The template engine
//! does no I/O of its own: the lookup is the caller's [`crate::HostLookup`]
//! in [`crate::Options`], and without one the call fails.

use rand::Rng;

use super::{Ctx, FuncDef, Since, Ty, def, ok_s, s};
use crate::data::RVal;

pub(crate) const FUNCS: &[FuncDef] = &[def(
    "getHostByName",
    &[Ty::Str],
    None,
    Since::V2,
    get_host_by_name,
)];

/// One address of `name`, picked at random as Sprig does. Sprig ignores the
/// lookup's error and then panics with `invalid argument to Intn`; wharf says
/// what the lookup said instead.
fn get_host_by_name(ctx: &mut Ctx<'_>, x: Vec<RVal>) -> Result<RVal, String> {
    let name = s(&x, 0);
    let Some(lookup) = &ctx.opts.host_lookup else {
        return Err(format!(
            "cannot look up {}: host name lookups are not enabled for this render",
            crate::format::quote(&name)
        ));
    };
    let addrs = lookup
        .lookup(&name)
        .map_err(|e| format!("lookup {name}: {e}"))?;
    if addrs.is_empty() {
        return Err(format!("lookup {name}: no such host"));
    }
    let i = rand::rng().random_range(0..addrs.len());
    ok_s(&addrs[i])
}
