// The contract suite's tagger guest in JavaScript: the twin of
// guests/rust/contract-tagger/src/lib.rs, mode by mode.
import { config, errors, files, log, outputs, secrets, utf8 } from "@wharf/plugin-sdk";

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function tag(image) {
  const mode = config.require("mode");
  switch (mode) {
    case "tag": {
      const version = config.require("version");
      const run = config.run();
      log.info(`tagging ${image.repository} as ${version}`);
      const keys = config.all().map(([k]) => k);
      return {
        tags: [version, "latest"],
        outputs: [
          outputs.text("run", `${run.id}/${run.stepId}`),
          outputs.items("keys", keys),
          outputs.text("tag-in", image.tag ?? "<none>"),
        ],
      };
    }
    case "fail":
      throw errors.failed("the plugin failed on purpose");
    case "read": {
      const data = files.read("data.txt", 1024);
      return { tags: [`len-${data.length}`], outputs: [] };
    }
    case "secret": {
      const secret = secrets.get(config.require("secret"));
      try {
        const mac = secret.hmacSha256(utf8("data"));
        return { tags: [secret.id()], outputs: [outputs.text("mac", hex(mac))] };
      } finally {
        secret[Symbol.dispose]();
      }
    }
    case "secret-loop": {
      const id = config.require("secret");
      let n = 0;
      for (let i = 0; i < 3000; i++) {
        const s = secrets.get(id);
        n += s.id() ? 1 : 0;
        s[Symbol.dispose]();
      }
      return { tags: [`opened-${n}`], outputs: [] };
    }
    case "print":
      console.log("hello from stdout");
      console.error("hello from stderr");
      return { tags: ["printed"], outputs: [] };
    case "trap":
      throw new Error("the guest trapped on purpose");
    default:
      throw errors.invalidConfig(`unknown mode ${JSON.stringify(mode)}`);
  }
}
