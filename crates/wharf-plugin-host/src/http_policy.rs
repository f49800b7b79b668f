//! Outbound HTTP for notifiers: a request leaves only for a `host:port` the step's
//! `allow: http:` lists. Anything else is answered `HTTP-request-denied` before a
//! connection is made, and remembered so a failing step says what to grant.

use std::future::Future;
use std::sync::{Arc, Weak};

use crate::error::Denied;
use crate::grants::http_allowed;
use crate::state::CallShared;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The allowlist of one call.
pub(crate) struct HttpPolicy {
    pub(crate) shared: Weak<CallShared>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let Some(shared): Option<Arc<CallShared>> = self.shared.upgrade() else {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        };
        let uri = request.uri();
        let https = uri.scheme_str() == Some("https");
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if !http_allowed(&shared.grants, https, &authority) {
            let shown = if authority.contains(':') {
                authority.clone()
            } else {
                format!("{authority}:{}", if https { 443 } else { 80 })
            };
            shared.deny(Denied {
                message: format!(
                    "plugin {} tried to send HTTP to {shown}, which the step does not allow: add \
                     allow: {{ http: [\"{shown}\"] }}",
                    shared.plugin
                ),
                grant: vec!["http".into()],
            });
            tracing::warn!(plugin = %shared.plugin, destination = %shown, "denied an HTTP request");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        tracing::debug!(plugin = %shared.plugin, destination = %authority, "HTTP request allowed");
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
