// Write wharf plugin steps in JavaScript.
//
// A plugin is an ES module built with componentize-qjs (`--stub-wasi --sync`)
// against one world of wharf:plugin@0.1.0 (tagger, scanner, notifier; the WIT
// ships in this package under wit/). It exports the world's function:
//
//   import { config, log } from "@wharf/plugin-sdk";
//   export function tag(image) {
//     const version = config.require("version");
//     log.info(`tagging ${image.reference} as ${version}`);
//     return { tags: [version, "latest"], outputs: [] };
//   }
//
// Importing this module routes console.* to the step's log (the stubbed WASI
// would otherwise trap). Errors are thrown: `throw errors.failed("...")`; a host
// call's error (an ungranted secret, a missing file) is thrown by the call and,
// left uncaught, becomes the step's error unchanged.

import * as wlog from "wharf:plugin/log@0.1.0";
import * as wconfig from "wharf:plugin/config@0.1.0";
import * as wsecrets from "wharf:plugin/secrets@0.1.0";
import * as wfiles from "wharf:plugin/files@0.1.0";

const text = (args) =>
  args
    .map((a) => (typeof a === "string" ? a : (() => { try { return JSON.stringify(a); } catch { return String(a); } })()))
    .join(" ");

/** Levelled lines in the step's log. */
export const log = {
  trace: (message) => wlog.log("trace", String(message)),
  debug: (message) => wlog.log("debug", String(message)),
  info: (message) => wlog.log("info", String(message)),
  warn: (message) => wlog.log("warn", String(message)),
  error: (message) => wlog.log("error", String(message)),
};

globalThis.console = {
  log: (...a) => log.info(text(a)),
  info: (...a) => log.info(text(a)),
  debug: (...a) => log.debug(text(a)),
  trace: (...a) => log.trace(text(a)),
  warn: (...a) => log.warn(text(a)),
  error: (...a) => log.error(text(a)),
};

/** The contract's plugin-error, as values to throw. */
export const errors = {
  invalidConfig: (message) => ({ tag: "invalid-config", val: message }),
  accessDenied: (message) => ({ tag: "access-denied", val: message }),
  notFound: (message) => ({ tag: "not-found", val: message }),
  failed: (message) => ({ tag: "failed", val: message }),
  other: (message) => ({ tag: "other", val: message }),
};

/** The step's `with:` values (text: a string as written, other YAML as JSON) and the run. */
export const config = {
  get: (key) => wconfig.get(key) ?? null,
  require(key) {
    const value = wconfig.get(key);
    if (value === null || value === undefined) throw errors.invalidConfig(`\`with: ${key}\` is required`);
    return value;
  },
  json(key, fallback = null) {
    const value = wconfig.get(key);
    if (value === null || value === undefined) return fallback;
    try { return JSON.parse(value); } catch { return value; }
  },
  flag(key, fallback = false) {
    const value = wconfig.get(key);
    if (value === null || value === undefined) return fallback;
    if (value === "true" || value === "false") return value === "true";
    throw errors.invalidConfig(`\`with: ${key}\` must be true or false, not ${JSON.stringify(value)}`);
  },
  all: () => wconfig.getAll(),
  run: () => wconfig.run(),
};

/** Step outputs, bound by later steps as $(steps.<id>.outputs.<name>). */
export const outputs = {
  text: (name, value) => ({ name, value: { tag: "text", val: String(value) } }),
  items: (name, values) => ({ name, value: { tag: "items", val: Array.from(values, String) } }),
};

/** Secrets as handles (ids granted by `allow: secrets:`); dispose with `using` or [Symbol.dispose](). */
export const secrets = {
  get: (id) => wsecrets.get(id),
};

/** Files under the paths `allow: read:` grants. */
export const files = {
  read: (path, maxBytes = 1 << 20) => wfiles.readFile(path, maxBytes),
};

/** UTF-8 bytes of `text` (QuickJS has no TextEncoder), e.g. for `hmacSha256`. */
export function utf8(text) {
  const out = [];
  for (const ch of String(text)) {
    const c = ch.codePointAt(0);
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}
