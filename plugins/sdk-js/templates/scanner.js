// @NAME@: a scanner. Reports every file of the image whose path contains
// `with: pattern`, one finding each, severity low.
import { config, outputs } from "@wharf/plugin-sdk";
import * as image from "@wharf/plugin-sdk/image";

export function scan(_subject) {
  const pattern = config.require("pattern");
  const findings = image
    .listFiles()
    .filter((f) => f.path.includes(pattern))
    .map((f) => image.finding("pattern", "low", `${f.path} matches ${JSON.stringify(pattern)}`, f.path));
  return { findings, outputs: [outputs.text("count", String(findings.length))], fail: null };
}
