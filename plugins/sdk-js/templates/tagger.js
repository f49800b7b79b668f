// @NAME@: a tagger. Tags the step's image with `with: version` and `latest`.
import { config, log } from "@wharf/plugin-sdk";

export function tag(image) {
  const version = config.require("version");
  log.info(`tagging ${image.reference} as ${version} and latest`);
  return { tags: [version, "latest"], outputs: [] };
}
