// Types of @wharf/plugin-sdk/image: scanners only, the image being scanned.

import type { Finding, Severity } from "./index.js";

/** What a file-system entry is. */
export type FileKind = "file" | "directory" | "symlink" | "hardlink" | "other";

/** One entry of the image's merged file system (whiteouts applied). */
export interface FileEntry {
  /** The path without a leading `/`: `etc/passwd`. */
  path: string;
  kind: FileKind;
  /** Permission bits, with setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  mode: number;
  uid: number;
  gid: number;
  /** Size in bytes (0 for anything but a regular file). */
  size: number;
  /** Where a symlink or hardlink points. */
  linkTarget: string | null;
}

/** The image's config as JSON text (the OCI image config). */
export declare function config(): string;
/** Every entry of the merged file system, sorted by path. */
export declare function listFiles(): FileEntry[];
/** At most `maxBytes` (1 MiB) of the regular file at `path`; throws not-found when there is none. */
export declare function readFile(path: string, maxBytes?: number): Uint8Array;
/** A finding. */
export declare function finding(
  ruleId: string,
  severity: Severity,
  message: string,
  path?: string | null,
  line?: number | null,
): Finding;
