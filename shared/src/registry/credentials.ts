// Stored registry credentials: <root>/auth.json, Docker's config.json "auths" shape
// ({"auths": {"127.0.0.1:5000": {"auth": base64("user:password")}}}), mode 0600 because the
// password is only encoded, not encrypted (as in docker's config.json without a helper).
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { StrataError } from '../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthFile {
  auths: Record<string, { auth?: string }>;
}

export function authFilePath(root: string): string {
  return process.env.STRATA_AUTH_FILE ?? path.join(root, 'auth.json');
}

function readFile(file: string): AuthFile {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { auths: {} };
    throw e;
  }
  try {
    const parsed = JSON.parse(text) as Partial<AuthFile>;
    return { ...parsed, auths: parsed.auths ?? {} };
  } catch (e) {
    throw new StrataError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
}

/** Written to a private temporary file and renamed: never a moment with a readable password. */
function writeFile(file: string, content: AuthFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.writeFileSync(tmp, `${JSON.stringify(content, null, '\t')}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}

export function getCredentials(file: string, server: string): Credentials | null {
  const entry = readFile(file).auths[server];
  if (!entry?.auth) return null;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new StrataError(`${file}: the entry for ${server} is not "user:password"`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export function storeCredentials(file: string, server: string, creds: Credentials): void {
  const content = readFile(file);
  content.auths[server] = {
    auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64'),
  };
  writeFile(file, content);
}

/** Returns false when there was nothing stored for `server`. */
export function removeCredentials(file: string, server: string): boolean {
  const content = readFile(file);
  if (!(server in content.auths)) return false;
  delete content.auths[server];
  writeFile(file, content);
  return true;
}
