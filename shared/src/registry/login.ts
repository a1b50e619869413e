// `strata login` / `logout`: credentials are checked against the registry (GET /v2/ answered with
// them, or a token fetched with them) before anything is written; a refusal stores nothing.
import { RegistryClient } from './client.js';
import { authFilePath, removeCredentials, storeCredentials, type Credentials } from './credentials.js';
import { endpointFor, normaliseServer } from './host.js';

export async function login(
  root: string,
  server: string,
  creds: Credentials,
  insecure: string[] = [],
): Promise<string> {
  const domain = normaliseServer(server);
  const client = new RegistryClient(endpointFor(domain, insecure), { credentials: creds });
  await client.ping();
  storeCredentials(authFilePath(root), domain, creds);
  return domain;
}

/** False when nothing was stored for the server. */
export function logout(root: string, server: string): boolean {
  return removeCredentials(authFilePath(root), normaliseServer(server));
}
