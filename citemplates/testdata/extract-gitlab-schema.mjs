// Extract GitLab's ci.json, as bundled by gitlab-ci-local (src/schema.json, fetched by its
// fetch-schema script), from dist/index.js.
import fs from "node:fs";
const src = fs.readFileSync(process.argv[2], "utf8");
const marker = '={$schema:"http://json-schema.org/draft-07/schema#",$id:"https://gitlab.com/.gitlab-ci.yml"';
const at = src.indexOf(marker);
if (at < 0) { console.error("schema literal not found"); process.exit(1); }
let i = at + 1, depth = 0, q = null;
for (; i < src.length; i++) {
  const c = src[i];
  if (q) { if (c === "\\") { i++; continue; } if (c === q) q = null; continue; }
  if (c === '"' || c === "'" || c === "`") { q = c; continue; }
  if (c === "{" || c === "[") depth++;
  else if (c === "}" || c === "]") { depth--; if (depth === 0) break; }
}
const obj = new Function("return " + src.slice(at + 1, i + 1))();
process.stdout.write(JSON.stringify(obj, null, 2) + "\n");
