// Types of @wharf/plugin-sdk: the wharf:plugin@0.1.0 contract as componentize-qjs
// gives it to JavaScript (records with camelCase keys, enums as their case names,
// `option<T>` as `T | null`, `u32`/`u64` as numbers, `list<u8>` as bytes, variants
// as `{ tag, val }`), and the helpers of index.js. A plugin module exports its
// world's function: `tag` (a Tagger), `scan` (a Scanner) or `notify` (a Notifier).

/** An image reference, normalised by the host with Docker's rules. */
export interface ImageRef {
  /** The whole reference: `registry/repository:tag`, or `...@sha256:...`. */
  reference: string;
  /** The registry host, with a port when one was given. */
  registry: string;
  /** The repository inside the registry: `library/busybox`, `team/app`. */
  repository: string;
  /** The tag, if the reference has one. */
  tag: string | null;
  /** The digest (`sha256:<64 hex>`), if the reference has one. */
  digest: string | null;
}

/** What the run knows about itself: ACR's `Run.*` values, and the step. */
export interface RunInfo {
  id: string;
  /** Empty when the run has none. */
  registry: string;
  /** The full commit hash of the context; empty when unknown. */
  commit: string;
  /** Empty when unknown. */
  branch: string;
  /** The git tag that points at the commit (`v1.2.3`). */
  gitTag: string | null;
  /** The run's start, RFC 3339 in UTC. */
  date: string;
  os: string;
  architecture: string;
  /** Empty for a local file. */
  taskName: string;
  /** The id of the step (or `notify:` entry) this call runs. */
  stepId: string;
}

/** How serious a finding is, lowest first. */
export type Severity = "info" | "low" | "medium" | "high" | "critical";

/** One thing a scanner found. */
export interface Finding {
  /** A stable rule id: `secret/aws-access-key-id`, `policy/runs-as-root`. */
  ruleId: string;
  severity: Severity;
  /** What was found, for a person; never the secret it found. */
  message: string;
  /** The file inside the image, when the finding is about one. */
  path: string | null;
  /** The 1-based line in that file, when known. */
  line: number | null;
}

/** A step output's value: one string, or a list. */
export type OutputValue = { tag: "text"; val: string } | { tag: "items"; val: string[] };

/** A named step output, bound by later steps as `$(steps.<id>.outputs.<name>)`. */
export interface Output {
  /** `[a-z][a-z0-9-]*`. */
  name: string;
  value: OutputValue;
}

/** Why a call failed: what a plugin throws, and what a failed host call throws. */
export type PluginError =
  | { tag: "invalid-config"; val: string }
  | { tag: "access-denied"; val: string }
  | { tag: "not-found"; val: string }
  | { tag: "failed"; val: string }
  | { tag: "other"; val: string };

/** What a tagger returns. */
export interface TagResult {
  /** The tags to give the image, without the image name: `1.2.3`, `latest`. */
  tags: string[];
  /** More outputs of the step, beside `tags` and `refs`. */
  outputs: Output[];
}

/** What a scanner returns. */
export interface ScanResult {
  findings: Finding[];
  outputs: Output[];
  /** Set when the step must fail although the scan completed: the reason. */
  fail: string | null;
}

/** How the run ended. */
export type RunStatus = "success" | "failure";

/** One step of the run, as it ended. */
export interface StepSummary {
  id: string;
  /** `succeeded`, `failed`, `skipped`, `cancelled` or `ignored`. */
  status: string;
  /** Wall time of all its attempts, in milliseconds. */
  durationMs: number;
  /** Why it failed, when it did. */
  error: string | null;
}

/** An image the run pushed. */
export interface PushedImage {
  image: ImageRef;
  /** The manifest digest the registry returned, when known. */
  digest: string | null;
  mediaType: string | null;
  size: number | null;
}

/** How many findings of one severity the run's scanners reported. */
export interface FindingCount {
  severity: Severity;
  count: number;
}

/** The run, as it ended: what a notifier is told. */
export interface RunEvent {
  /** The run (its `stepId` is the notify entry's id). */
  run: RunInfo;
  status: RunStatus;
  /** When the run started and ended, RFC 3339 in UTC. */
  started: string;
  finished: string;
  durationMs: number;
  /** Every step, in the task's order. */
  steps: StepSummary[];
  images: PushedImage[];
  /** The scanners' findings by severity (severities without findings omitted). */
  findings: FindingCount[];
  /** Why the run failed, when it did. */
  error: string | null;
}

/** A tagger module's export: the tags of `image` (the step's `with: image`). */
export type Tagger = (image: ImageRef) => TagResult;
/** A scanner module's export: scans `image` (the step's `with: image`). */
export type Scanner = (image: ImageRef) => ScanResult;
/** A notifier module's export: tells about `event`; a throw never changes the run's exit code. */
export type Notifier = (event: RunEvent) => void;

/** Levelled lines in the step's log (`console.*` goes there too). */
export declare const log: {
  trace(message: unknown): void;
  debug(message: unknown): void;
  info(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
};

/** The contract's plugin-error, as values to throw: `throw errors.failed("...")`. */
export declare const errors: {
  invalidConfig(message: string): PluginError & { tag: "invalid-config" };
  accessDenied(message: string): PluginError & { tag: "access-denied" };
  notFound(message: string): PluginError & { tag: "not-found" };
  failed(message: string): PluginError & { tag: "failed" };
  other(message: string): PluginError & { tag: "other" };
};

/** The step's `with:` values (a string as written, other YAML as JSON text) and the run. */
export declare const config: {
  /** `with: <key>`, or null when the step did not set it. */
  get(key: string): string | null;
  /** `with: <key>`; throws invalid-config when it is not set. */
  require(key: string): string;
  /** `with: <key>` decoded from JSON (the text itself when it is not JSON); `fallback` when not set. */
  json<T = unknown>(key: string, fallback?: T | null): T | string | null;
  /** `with: <key>` as `true`/`false`; `fallback` when not set; throws invalid-config otherwise. */
  flag(key: string, fallback?: boolean): boolean;
  /** Every `with:` key and its value, in the order written. */
  all(): Array<[string, string]>;
  /** The run and the step this call belongs to. */
  run(): RunInfo;
};

/** Step outputs, bound by later steps as `$(steps.<id>.outputs.<name>)`. */
export declare const outputs: {
  text(name: string, value: unknown): Output & { value: { tag: "text" } };
  items(name: string, values: Iterable<unknown>): Output & { value: { tag: "items" } };
};

/** A secret the step granted (`allow: secrets:`); the host masks its value in every log. */
export interface Secret {
  /** The secret's id, as the task's `secrets:` block names it. */
  id(): string;
  /** The value itself: only where it must leave the plugin; prefer `hmacSha256`. */
  reveal(): string;
  /** HMAC-SHA256 of `data` keyed with the secret, computed by the host. */
  hmacSha256(data: Uint8Array | number[]): Uint8Array;
  /** Closes the handle. */
  [Symbol.dispose](): void;
}

/** Secrets as handles, for the ids `allow: secrets:` grants. */
export declare const secrets: {
  /** Throws access-denied unless granted, not-found when the run has no such secret. */
  get(id: string): Secret;
};

/** Files under the paths `allow: read:` grants. */
export declare const files: {
  /** At most `maxBytes` (1 MiB) of the file at `path`; throws access-denied outside the grants. */
  read(path: string, maxBytes?: number): Uint8Array;
};

/** UTF-8 bytes of `text` (QuickJS has no TextEncoder), e.g. for `hmacSha256`. */
export declare function utf8(text: unknown): Uint8Array;
