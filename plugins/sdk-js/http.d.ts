// Types of @wharf/plugin-sdk/http: notifiers only, outbound HTTP over wasi:http to
// the `host:port`s the step's `allow: http:` lists. Failures are thrown as the
// contract's plugin-error (access-denied, invalid-config, failed); a response with
// any status is returned.

/** Headers: an object, or [name, value] pairs (a value as text or bytes). */
export type Headers =
  | Record<string, string | Uint8Array | number[]>
  | Array<[string, string | Uint8Array | number[]]>;

/** Options of a request. */
export interface RequestOptions {
  headers?: Headers;
  /** Bounds the connect, the first byte and the gap between bytes (10 s). */
  timeoutMs?: number;
  /** How much of the response body to keep (64 KiB). */
  maxBody?: number;
}

/** A request's method: one of these, or any other token (sent as it is, upper-cased). */
export type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | (string & {});

/** A body: bytes, or text sent as UTF-8. */
export type Body = Uint8Array | number[] | string;

/** A response. */
export declare class Response {
  constructor(status: number, headers: Array<[string, string]>, body: Uint8Array);
  status: number;
  /** [name, value] pairs, names lower-cased. */
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** Whether the status is 2xx. */
  get ok(): boolean;
  /** The first header named `name` (case-insensitive), or null. */
  header(name: string): string | null;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body decoded from JSON. */
  json<T = unknown>(): T;
}

/** UTF-8 text of `bytes`, invalid sequences replaced with U+FFFD. */
export declare function fromUtf8(bytes: Uint8Array | number[]): string;
/** Sends `method` to `url` with `body` and reads the response. */
export declare function request(method: Method, url: string, body?: Body, options?: RequestOptions): Response;
/** A POST of `body` to `url`. */
export declare function post(url: string, body: Body, options?: RequestOptions): Response;
/** A PUT of `body` to `url`. */
export declare function put(url: string, body: Body, options?: RequestOptions): Response;
/** A GET of `url`. */
export declare function get(url: string, options?: RequestOptions): Response;
