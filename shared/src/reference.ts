// Docker's image reference grammar (distribution/reference): [domain[:port]/]path[:tag][@digest],
// normalised the way the docker CLI does (docker.io, library/, :latest).
import { StrataError } from './errors.js';

export interface ImageReference {
  domain: string;
  path: string;
  tag: string | null;
  digest: string | null;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
export const DEFAULT_DOMAIN = 'docker.io';

function splitDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, name];
  const first = name.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
    return [first, name.slice(slash + 1)];
  }
  return [DEFAULT_DOMAIN, name];
}

export function parseReference(input: string): ImageReference {
  const bad = (why: string) => new StrataError(`invalid reference format: '${input}': ${why}`);
  if (input.length === 0) throw bad('empty');
  let rest = input;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad('bad digest');
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad('bad tag');
  }
  let [domain, path] = splitDomain(rest);
  if (domain !== DEFAULT_DOMAIN || rest.includes('/')) {
    const host = domain.replace(/:\d+$/, '');
    if (domain !== DEFAULT_DOMAIN && !host.split('.').every((c) => DOMAIN_COMPONENT.test(c)))
      throw bad('bad domain');
  }
  if (path.length === 0 || !path.split('/').every((c) => COMPONENT.test(c))) {
    throw bad(path !== path.toLowerCase() ? 'repository name must be lowercase' : 'bad repository name');
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (tag === null && digest === null) tag = 'latest';
  return { domain, path, tag, digest };
}

/** The short name users type and `docker images` shows: busybox, localhost:5000/app. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain === DEFAULT_DOMAIN) {
    return ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : ref.path;
  }
  return `${ref.domain}/${ref.path}`;
}

/** busybox:latest, busybox@sha256:..., as stored in repositories.json. */
export function familiarString(ref: ImageReference): string {
  const name = familiarName(ref);
  if (ref.digest) return `${name}@${ref.digest}`;
  return `${name}:${ref.tag ?? 'latest'}`;
}
