// Validates Prometheus Operator resources (which kubernetes-validate skips)
// against the operator's schemas, offline, with @kubernetes-models.
// Usage: node validate-crds.mjs FILE.json... (each a JSON array of documents)
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

// The package exports ES modules only; import its v1 index by path.
const v1 = await import(
  pathToFileURL(
    `${process.env.NODE_TOOLS}/node_modules/@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js`,
  ).href
);

let checked = 0;
let failed = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of JSON.parse(readFileSync(file, "utf8"))) {
    if (doc?.apiVersion !== "monitoring.coreos.com/v1") continue;
    const Model = v1[doc.kind];
    if (!Model) {
      console.error(`${file}: no schema for ${doc.kind}`);
      failed++;
      continue;
    }
    try {
      new Model(doc).validate();
      checked++;
    } catch (err) {
      console.error(`${file}: ${doc.kind}/${doc.metadata?.name}: ${err.message}`);
      failed++;
    }
  }
}
console.log(`prometheus-operator resources: ${checked} valid, ${failed} invalid`);
process.exit(failed > 0 || checked === 0 ? 1 : 0);
