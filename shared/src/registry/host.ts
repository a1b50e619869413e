// Where a reference's registry is and how to talk to it: Docker's defaults (docker.io is served by
// registry-1.docker.io), HTTPS everywhere except loopback (as Docker treats localhost) and hosts the
// user named insecure (`--insecure-registry`, or $STRATA_INSECURE_REGISTRIES, comma-separated).
import { DEFAULT_DOMAIN, parseReference, type ImageReference } from '../reference.js';

export interface RegistryEndpoint {
  /** The name as written in references and auth.json: docker.io, 127.0.0.1:5000. */
  domain: string;
  /** host[:port] actually contacted. */
  host: string;
  /** http is only ever chosen for loopback or an explicitly insecure registry. */
  scheme: 'http' | 'https';
}

/** The domain Docker's CLI keys credentials of Docker Hub under is a URL; we keep docker.io. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}

/** Loopback names without their port: localhost, 127.0.0.0/8, ::1. */
export function isLoopback(domain: string): boolean {
  const host = domain.startsWith('[') ? domain.slice(1, domain.indexOf(']')) : domain.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Insecure registries: loopback always; others only when named by a flag or the environment. */
export function isInsecure(domain: string, extra: readonly string[] = []): boolean {
  if (isLoopback(domain)) return true;
  const fromEnv = (process.env.STRATA_INSECURE_REGISTRIES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return [...extra, ...fromEnv].includes(domain);
}

export function endpointFor(domain: string, insecure: readonly string[] = []): RegistryEndpoint {
  return { domain, host: registryHost(domain), scheme: isInsecure(domain, insecure) ? 'http' : 'https' };
}

/** A reference plus its endpoint; `repository` is the path inside the registry (library/busybox). */
export interface RemoteRef {
  ref: ImageReference;
  endpoint: RegistryEndpoint;
  repository: string;
}

export function remoteRef(input: string, insecure: readonly string[] = []): RemoteRef {
  const ref = parseReference(input);
  return { ref, endpoint: endpointFor(ref.domain, insecure), repository: ref.path };
}

/** A server argument as `login` takes it: a bare domain, or a URL (https://host:port/v2/). */
export function normaliseServer(server: string): string {
  let s = server.trim().replace(/^[a-z]+:\/\//, '');
  s = s.replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io') return DEFAULT_DOMAIN;
  return s;
}
