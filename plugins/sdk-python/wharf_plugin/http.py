"""Notifiers only: outbound HTTP over ``wasi:http`` (import this module in a notifier).

The host sends a request only to a ``host:port`` the step's ``allow: http:`` lists::

    from wharf_plugin import http

    response = http.post(url, json.dumps(summary), headers={"content-type": "application/json"})
    if not response.ok:
        raise errors.failed(f"{url} answered {response.status}")

Errors are raised as the contract's ``plugin-error``, like every other host call:
a destination the step does not grant raises ``access-denied`` (naming the grant
to add), a malformed URL or header ``invalid-config``, a connection that fails
(refused, timed out, reset) ``failed``. A response with any status is returned,
not raised.
"""

import json as _json
from urllib.parse import urlsplit as _urlsplit

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler as _handler
from wit_world.imports import streams as _streams
from wit_world.imports import wasi_http_types as _h

from . import errors

_METHODS = {
    "GET": _h.Method_Get,
    "HEAD": _h.Method_Head,
    "POST": _h.Method_Post,
    "PUT": _h.Method_Put,
    "PATCH": _h.Method_Patch,
    "DELETE": _h.Method_Delete,
    "OPTIONS": _h.Method_Options,
}

# wasi:io's blocking-write-and-flush takes at most 4096 bytes a call.
_CHUNK = 4096


class Response:
    """A response: ``status``, ``headers`` (names lower-cased, in order) and ``body`` (bytes)."""

    def __init__(self, status: int, headers: list, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str):
        """The first header named ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None

    def text(self) -> str:
        """The body as UTF-8 text (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body decoded from JSON."""
        return _json.loads(self.body)

    def __repr__(self):
        return f"Response(status={self.status}, headers={self.headers!r}, body={len(self.body)} bytes)"


def _code_name(code) -> str:
    """``ErrorCode_ConnectionRefused()`` -> ``ErrorCode::ConnectionRefused`` (as the Rust SDK shows it)."""
    name = type(code).__name__.replace("_", "::", 1)
    value = getattr(code, "value", None)
    return f"{name}({value!r})" if value is not None else name


def _fail(code, authority: str) -> Err:
    if isinstance(code, _h.ErrorCode_HttpRequestDenied):
        return errors.access_denied(
            f"HTTP to {authority} is not allowed: add it to the step's `allow: http:` list"
        )
    return errors.failed(f"request failed: {authority}: {_code_name(code)}")


def _header_list(headers) -> list:
    if headers is None:
        return []
    if isinstance(headers, dict):
        headers = headers.items()
    out = []
    for name, value in headers:
        if isinstance(value, str):
            value = value.encode()
        out.append((str(name), bytes(value)))
    return out


def request(
    method: str,
    url: str,
    body=b"",
    headers=None,
    timeout: float = 10.0,
    max_body: int = 64 * 1024,
) -> Response:
    """Sends ``method`` to ``url`` with ``body`` (bytes, or text sent as UTF-8) and
    ``headers`` (a dict or ``(name, value)`` pairs) and reads the response, keeping at
    most ``max_body`` bytes of its body. ``timeout`` (seconds) bounds the connect, the
    first byte and the gap between bytes."""
    if isinstance(body, str):
        body = body.encode()
    body = bytes(body)
    parts = _urlsplit(url)
    if parts.scheme == "http":
        scheme = _h.Scheme_Http()
    elif parts.scheme == "https":
        scheme = _h.Scheme_Https()
    else:
        raise errors.invalid_config(
            f"invalid request: {url!r}: the URL must start with http:// or https://"
        )
    authority = parts.netloc
    if not authority:
        raise errors.invalid_config(f"invalid request: {url!r} has no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    entries = _header_list(headers)
    if not any(n.lower() == "content-length" for n, _ in entries):
        entries.insert(0, ("content-length", str(len(body)).encode()))
    try:
        fields = _h.Fields.from_list(entries)
    except Err as e:
        raise errors.invalid_config(f"invalid request: a header is refused: {_code_name(e.value)}")

    upper = method.upper()
    wasi_method = _METHODS[upper]() if upper in _METHODS else _h.Method_Other(upper)
    # `fields`, `req`, `options` and `outgoing` are handed to the host (own<...>),
    # so they are not dropped here.
    req = _h.OutgoingRequest(fields)
    for setter, value, what in (
        (req.set_method, wasi_method, "method"),
        (req.set_scheme, scheme, "scheme"),
        (req.set_authority, authority, "authority"),
        (req.set_path_with_query, path, "path"),
    ):
        try:
            setter(value)
        except Err:
            raise errors.invalid_config(f"invalid request: {what} refused by the host")
    outgoing = req.body()
    options = _h.RequestOptions()
    nanos = int(timeout * 1_000_000_000)
    for set_timeout in (
        options.set_connect_timeout,
        options.set_first_byte_timeout,
        options.set_between_bytes_timeout,
    ):
        try:
            set_timeout(nanos)
        except Err:
            pass  # the host does not support this timeout; it keeps its own
    try:
        pending = _handler.handle(req, options)
    except Err as e:
        raise _fail(e.value, authority)
    with pending:
        with outgoing.write() as stream:
            for at in range(0, len(body), _CHUNK):
                try:
                    stream.blocking_write_and_flush(body[at : at + _CHUNK])
                except Err as e:
                    raise errors.failed(f"request failed: {authority}: writing the body: {e.value}")
        try:
            _h.OutgoingBody.finish(outgoing, None)
        except Err as e:
            raise _fail(e.value, authority)

        with pending.subscribe() as ready:
            ready.block()
        got = pending.get()
        if got is None or isinstance(got, Err):
            raise errors.failed(f"request failed: {authority}: the response was already taken")
        inner = got.value
        if isinstance(inner, Err):
            raise _fail(inner.value, authority)
        assert isinstance(inner, Ok)
        with inner.value as response:
            status = response.status()
            with response.headers() as fields:
                headers_out = [
                    (n.lower(), v.decode("utf-8", "replace")) for n, v in fields.entries()
                ]
            incoming = response.consume()
            chunks = []
            kept = 0
            with incoming.stream() as stream:
                while True:
                    try:
                        data = stream.blocking_read(64 * 1024)
                    except Err as e:
                        if isinstance(e.value, _streams.StreamError_Closed):
                            break
                        raise errors.failed(
                            f"request failed: {authority}: reading the response: "
                            f"{e.value.value.to_debug_string()}"
                        )
                    room = max_body - kept
                    if room > 0:
                        chunks.append(data[:room])
                        kept += min(room, len(data))
            with _h.IncomingBody.finish(incoming):
                pass
    return Response(status, headers_out, b"".join(chunks))


def post(url: str, body=b"", headers=None, **options) -> Response:
    """A ``POST`` of ``body`` to ``url``; see :func:`request` for ``options``."""
    return request("POST", url, body, headers, **options)


def put(url: str, body=b"", headers=None, **options) -> Response:
    """A ``PUT`` of ``body`` to ``url``; see :func:`request`."""
    return request("PUT", url, body, headers, **options)


def get(url: str, headers=None, **options) -> Response:
    """A ``GET`` of ``url``; see :func:`request`."""
    return request("GET", url, b"", headers, **options)
