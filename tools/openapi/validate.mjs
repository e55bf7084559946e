// Validates an OpenAPI document with a real OpenAPI 3 validator (JSON Schema of the specification, and every
// $ref resolved). Usage: node validate.mjs FILE. Exit 0 if valid; the errors and exit 1 otherwise.
import { Validator } from "@seriousme/openapi-schema-validator";

const file = process.argv[2];
const validator = new Validator();
const result = await validator.validate(file);
if (!result.valid) {
  console.error(`openapi: ${file} is not a valid OpenAPI ${validator.version} document:`);
  console.error(JSON.stringify(result.errors, null, 2));
  process.exit(1);
}
// The validator checks the schema; a dangling local $ref is checked here too, explicitly.
const spec = validator.specification;
const dangling = [];
const walk = (node, path) => {
  if (Array.isArray(node)) return node.forEach((x, i) => walk(x, `${path}/${i}`));
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (key === "$ref" && typeof value === "string" && value.startsWith("#/")) {
      let target = spec;
      for (const part of value.slice(2).split("/")) target = target?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      if (target === undefined) dangling.push(`${path}: ${value}`);
    } else {
      walk(value, `${path}/${key}`);
    }
  }
};
walk(spec, "");
if (dangling.length > 0) {
  console.error(`openapi: ${file} has dangling references:\n  ${dangling.join("\n  ")}`);
  process.exit(1);
}
console.log(`openapi: ${file} is a valid OpenAPI ${validator.version} document`);
