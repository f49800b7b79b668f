// A tagger in TypeScript, checked against the SDK's declarations (tests/sdk_js_types.rs):
// every helper of index.d.ts used as a plugin author would.
import { config, errors, files, log, outputs, secrets, utf8 } from "@wharf/plugin-sdk";
import type { ImageRef, TagResult, Tagger } from "@wharf/plugin-sdk";

export const tag: Tagger = (image: ImageRef): TagResult => {
  const version = config.require("version");
  const prefix: string = config.get("prefix") ?? "";
  const latest: boolean = config.flag("latest", true);
  const extra = config.json<string[]>("extra", []);
  const run = config.run();
  const branch: string | null = run.gitTag;
  log.info(`tagging ${image.repository} at ${run.commit} (${run.stepId})`);
  const keys = config.all().map(([key]) => key);
  const data: Uint8Array = files.read("VERSION", 64);
  const secret = secrets.get("signing");
  let mac: Uint8Array;
  try {
    mac = secret.hmacSha256(utf8(version));
  } finally {
    secret[Symbol.dispose]();
  }
  if (version === "") throw errors.invalidConfig("`with: version` is empty");
  const tags = [prefix + version, ...(latest ? ["latest"] : [])];
  if (Array.isArray(extra)) tags.push(...extra);
  return {
    tags,
    outputs: [
      outputs.text("branch", branch ?? "none"),
      outputs.items("keys", keys),
      outputs.text("size", data.length),
      outputs.text("mac", mac.length),
      outputs.text("digest", image.digest ?? image.tag ?? ""),
    ],
  };
};
