// Validates JSON documents against the OCI image-spec JSON schemas in
// ../shared/testdata/oci-image-spec/schema (next to the repository). A missing schema directory is
// an error, never a skip: tests that call these helpers fail.
//
// The schemas are JSON Schema draft-04. Ajv 8 does not ship draft-04 (that needs the `ajv-draft-04`
// package, which is not installed), so the loader rewrites each schema at load time:
//   - `$schema` draft-04 -> draft-07 (supported by Ajv 8 out of the box);
//   - `id` -> `$id` (draft-06 renamed it); an `id` next to a `$ref` is dropped, since in draft-04
//     a `$ref` object's other members are ignored and the id must not rebase the reference;
//   - each file is registered under https://opencontainers.org/schema/FILE and
//     https://opencontainers.org/schema/image/FILE, as the image-spec's own Go validator does, so
//     the files' relative `$ref`s ("defs.json#/...") resolve from every base they are used from.
// None of the schemas use the keywords whose meaning changed between draft-04 and draft-07
// (boolean exclusiveMinimum/exclusiveMaximum), so the validation semantics are the same.
// `media` (draft-04 hyper-schema annotation used in defs.json) is registered as an annotation.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OCI_SCHEMA_DIR = resolve(repoRoot, '..', 'shared', 'testdata', 'oci-image-spec', 'schema');

const NAMESPACES = ['https://opencontainers.org/schema/', 'https://opencontainers.org/schema/image/'];
const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/** Which schema file validates which document. */
export const OCI_SCHEMA_FILES = {
  config: 'config-schema.json',
  manifest: 'image-manifest-schema.json',
  index: 'image-index-schema.json',
  descriptor: 'content-descriptor.json',
  layout: 'image-layout-schema.json',
} as const;

export type OciSchemaName = keyof typeof OCI_SCHEMA_FILES;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Keys whose values are maps from names to schemas (their member names are not keywords). */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'definitions', 'dependencies']);

function rewrite(node: Json, top: boolean): Json {
  if (Array.isArray(node)) return node.map((n) => rewrite(n, false));
  if (node === null || typeof node !== 'object') return node;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema') {
      out.$schema = DRAFT_07;
    } else if (k === 'id' && typeof v === 'string') {
      if (!top && !('$ref' in node)) out.$id = v;
    } else if (SCHEMA_MAPS.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, rewrite(s, false)]));
    } else {
      out[k] = rewrite(v, false);
    }
  }
  return out;
}

let ajv: Ajv | null = null;

function load(): Ajv {
  if (ajv) return ajv;
  if (!existsSync(OCI_SCHEMA_DIR)) {
    throw new Error(`OCI schema directory missing: ${OCI_SCHEMA_DIR} (expected next to the repository)`);
  }
  const files = readdirSync(OCI_SCHEMA_DIR).filter((f) => f.endsWith('.json'));
  for (const f of Object.values(OCI_SCHEMA_FILES)) {
    if (!files.includes(f)) throw new Error(`OCI schema ${f} missing from ${OCI_SCHEMA_DIR}`);
  }
  const a = new Ajv({ strict: true, strictTypes: false, allErrors: true });
  // ajv-formats is CommonJS: under NodeNext the default import is module.exports, whose `default`
  // property is the plugin itself (it sets exports.default = formatsPlugin).
  addFormatsModule.default(a);
  a.addKeyword({ keyword: 'media' });
  for (const f of files) {
    const raw = JSON.parse(readFileSync(resolve(OCI_SCHEMA_DIR, f), 'utf8')) as Json;
    for (const ns of NAMESPACES) {
      const schema = rewrite(raw, true) as { [k: string]: Json };
      schema.$id = ns + f;
      a.addSchema(schema);
    }
  }
  ajv = a;
  return a;
}

/** The compiled validator for one document kind. */
export function ociValidator(name: OciSchemaName): ValidateFunction {
  const a = load();
  const id = NAMESPACES[1] + OCI_SCHEMA_FILES[name];
  const v = a.getSchema(id);
  if (!v) throw new Error(`OCI schema ${id} not loaded`);
  return v;
}

/** Validates a value (or JSON bytes/text); returns readable error lines, empty when valid. */
export function ociSchemaErrors(name: OciSchemaName, doc: unknown): string[] {
  const value: unknown =
    typeof doc === 'string'
      ? JSON.parse(doc)
      : doc instanceof Uint8Array
        ? JSON.parse(Buffer.from(doc).toString('utf8'))
        : doc;
  const v = ociValidator(name);
  if (v(value)) return [];
  return (v.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? 'invalid'} ${JSON.stringify(e.params)}`,
  );
}

/** Throws with the schema errors when `doc` does not validate. */
export function assertValidOci(name: OciSchemaName, doc: unknown): void {
  const errors = ociSchemaErrors(name, doc);
  if (errors.length > 0) throw new Error(`not a valid OCI ${name}:\n  ${errors.join('\n  ')}`);
}
