// Mistakes the SDK's declarations must catch: tests/sdk_js_types.rs expects a
// type error on each line whose comment says so, and on no other.
import { config, outputs } from "@wharf/plugin-sdk";
import type { Scanner, TagResult, Tagger } from "@wharf/plugin-sdk";
import * as image from "@wharf/plugin-sdk/image";

export const tag: Tagger = (img): TagResult => {
  const tag: string = img.tag; // error: a tag may be absent (null)
  return { tags: tag, outputs: [] }; // error: tags is a list
};

export const scan: Scanner = () => ({
  findings: [image.finding("r", "severe", "no such severity")], // error: not a severity
  outputs: [outputs.text("n", 1), { name: "x", value: { tag: "list", val: [] } }], // error: no such output variant
  fail: config.require(1), // error: keys are strings
});
