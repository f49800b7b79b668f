// Notifiers only: outbound HTTP over wasi:http (import this module in a notifier;
// the other worlds do not import wasi:http).
//
//   import * as http from "@wharf/plugin-sdk/http";
//   const response = http.post(url, JSON.stringify(summary), {
//     headers: { "content-type": "application/json" },
//   });
//   if (!response.ok) throw errors.failed(`${url} answered ${response.status}`);
//
// The host sends a request only to a `host:port` the step's `allow: http:` lists.
// Errors are thrown as the contract's plugin-error, like every other host call: a
// destination the step does not grant throws `access-denied` (naming the grant to
// add), a malformed URL or header `invalid-config`, a connection that fails
// (refused, timed out, reset) `failed`. A response with any status is returned,
// not thrown.

import * as handler from "wasi:http/outgoing-handler@0.2.12";
import * as types from "wasi:http/types@0.2.12";
import { errors, utf8 } from "./index.js";

// wasi:io's blocking-write-and-flush takes at most 4096 bytes a call.
const CHUNK = 4096;

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** UTF-8 text of `bytes`, invalid sequences replaced with U+FFFD. */
export function fromUtf8(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i];
    const need = b < 0x80 ? 0 : b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
    let c = need === 0 ? b : need === 1 ? b & 0x1f : need === 2 ? b & 0x0f : b & 0x07;
    let ok = need >= 0 && i + need < bytes.length;
    for (let k = 1; ok && k <= need; k++) {
      const n = bytes[i + k];
      if ((n & 0xc0) !== 0x80) ok = false;
      else c = (c << 6) | (n & 0x3f);
    }
    if (!ok) {
      out += "\ufffd";
      i += 1;
      continue;
    }
    out += String.fromCodePoint(c);
    i += need + 1;
  }
  return out;
}

/** A response: `status`, `headers` ([name, value] pairs, names lower-cased) and `body` (bytes). */
export class Response {
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** Whether the status is 2xx. */
  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  /** The first header named `name` (case-insensitive), or null. */
  header(name) {
    const want = String(name).toLowerCase();
    const found = this.headers.find(([n]) => n === want);
    return found ? found[1] : null;
  }

  /** The body as UTF-8 text. */
  text() {
    return fromUtf8(this.body);
  }

  /** The body decoded from JSON. */
  json() {
    return JSON.parse(this.text());
  }
}

// The WIT error a failed host call threw: componentize-qjs throws it either as
// it is or (from resource methods) as an Error carrying it as `payload`.
const payload = (e) => (e instanceof Error && "payload" in e ? e.payload : e);

// `{ tag: "connection-refused" }` -> `ErrorCode::ConnectionRefused`, as the Rust SDK shows it.
function codeName(code) {
  const tag = code && typeof code === "object" ? code.tag : String(code);
  const name = String(tag)
    .split("-")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1).toLowerCase())
    .join("");
  const val = code && typeof code === "object" ? code.val : undefined;
  return val === undefined || val === null ? `ErrorCode::${name}` : `ErrorCode::${name}(${JSON.stringify(val)})`;
}

// A wasi:io stream-error, as text.
function streamError(err) {
  if (err && err.tag === "closed") return "closed";
  const e = err && err.val;
  if (e && typeof e.toDebugString === "function") return e.toDebugString();
  return String(err && typeof err === "object" ? err.tag : err);
}

function fail(code, authority) {
  if (code && String(code.tag).toLowerCase() === "http-request-denied") {
    return errors.accessDenied(
      `HTTP to ${authority} is not allowed: add it to the step's \`allow: http:\` list`,
    );
  }
  return errors.failed(`request failed: ${authority}: ${codeName(code)}`);
}

function headerList(headers) {
  if (headers === null || headers === undefined) return [];
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  return pairs.map(([name, value]) => [String(name), typeof value === "string" ? utf8(value) : new Uint8Array(value)]);
}

function parseUrl(url) {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)/.exec(url);
  const scheme = m ? m[1].toLowerCase() : "";
  if (scheme !== "http" && scheme !== "https") {
    throw errors.invalidConfig(
      `invalid request: ${JSON.stringify(url)}: the URL must start with http:// or https://`,
    );
  }
  const authority = m[2];
  if (!authority) throw errors.invalidConfig(`invalid request: ${JSON.stringify(url)} has no host`);
  let path = m[3] || "/";
  if (path.startsWith("?")) path = "/" + path;
  return { scheme, authority, path };
}

// Runs `f(resource)` and drops the resource after, whatever happens: wasi:http
// wants a child (a stream, a pollable) dropped before its parent is finished.
function using(resource, f) {
  try {
    return f(resource);
  } finally {
    resource[Symbol.dispose]();
  }
}

/**
 * Sends `method` to `url` with `body` (bytes, or text sent as UTF-8) and reads the
 * response. Options: `headers` (an object or [name, value] pairs), `timeoutMs`
 * (bounds the connect, the first byte and the gap between bytes; 10 s), `maxBody`
 * (how much of the response body to keep; 64 KiB).
 */
export function request(method, url, body = new Uint8Array(0), options = {}) {
  const { headers = null, timeoutMs = 10_000, maxBody = 64 * 1024 } = options;
  const bytes = typeof body === "string" ? utf8(body) : new Uint8Array(body);
  const { scheme, authority, path } = parseUrl(String(url));

  const entries = headerList(headers);
  if (!entries.some(([n]) => n.toLowerCase() === "content-length")) {
    entries.unshift(["content-length", utf8(String(bytes.length))]);
  }
  let fields;
  try {
    fields = types.Fields.fromList(entries);
  } catch (e) {
    throw errors.invalidConfig(`invalid request: a header is refused: ${codeName(payload(e))}`);
  }

  const upper = String(method).toUpperCase();
  const wasiMethod = METHODS.includes(upper) ? { tag: upper.toLowerCase() } : { tag: "other", val: upper };
  // `fields`, `req`, `opts` and `outgoing` are handed to the host (own<...>), so
  // they are not dropped here.
  const req = new types.OutgoingRequest(fields);
  const set = (what, f) => {
    try {
      f();
    } catch {
      throw errors.invalidConfig(`invalid request: ${what} refused by the host`);
    }
  };
  set("method", () => req.setMethod(wasiMethod));
  set("scheme", () => req.setScheme({ tag: scheme.toUpperCase() }));
  set("authority", () => req.setAuthority(authority));
  set("path", () => req.setPathWithQuery(path));
  const outgoing = req.body();
  const opts = new types.RequestOptions();
  const nanos = Math.round(timeoutMs * 1_000_000);
  for (const setTimeout of ["setConnectTimeout", "setFirstByteTimeout", "setBetweenBytesTimeout"]) {
    try {
      opts[setTimeout](nanos);
    } catch {
      // the host does not support this timeout; it keeps its own
    }
  }

  let pending;
  try {
    pending = handler.handle(req, opts);
  } catch (e) {
    throw fail(payload(e), authority);
  }
  return using(pending, () => {
    using(outgoing.write(), (stream) => {
      for (let at = 0; at < bytes.length; at += CHUNK) {
        try {
          stream.blockingWriteAndFlush(bytes.subarray(at, at + CHUNK));
        } catch (e) {
          throw errors.failed(`request failed: ${authority}: writing the body: ${streamError(payload(e))}`);
        }
      }
    });
    try {
      types.OutgoingBody.finish(outgoing, null);
    } catch (e) {
      throw fail(payload(e), authority);
    }

    using(pending.subscribe(), (ready) => ready.block());
    const got = pending.get();
    if (got === null || got.tag !== "ok") {
      throw errors.failed(`request failed: ${authority}: the response was already taken`);
    }
    if (got.val.tag !== "ok") throw fail(got.val.val, authority);
    return using(got.val.val, (response) => {
      const status = response.status();
      const headersOut = using(response.headers(), (h) =>
        h.entries().map(([n, v]) => [n.toLowerCase(), fromUtf8(v)]),
      );
      const incoming = response.consume();
      const chunks = [];
      let kept = 0;
      using(incoming.stream(), (stream) => {
        for (;;) {
          let data;
          try {
            data = stream.blockingRead(64 * 1024);
          } catch (e) {
            const err = payload(e);
            if (err && err.tag === "closed") break;
            throw errors.failed(`request failed: ${authority}: reading the response: ${streamError(err)}`);
          }
          const room = maxBody - kept;
          if (room > 0) {
            const part = data.subarray ? data.subarray(0, room) : new Uint8Array(data).subarray(0, room);
            chunks.push(part);
            kept += part.length;
          }
        }
      });
      using(types.IncomingBody.finish(incoming), () => {});
      const out = new Uint8Array(kept);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return new Response(status, headersOut, out);
    });
  });
}

/** A POST of `body` to `url`; see `request` for `options`. */
export const post = (url, body, options) => request("POST", url, body, options);

/** A PUT of `body` to `url`; see `request`. */
export const put = (url, body, options) => request("PUT", url, body, options);

/** A GET of `url`; see `request`. */
export const get = (url, options) => request("GET", url, new Uint8Array(0), options);
