// A client for one registry (distribution HTTP API v2 / OCI distribution spec): ping and
// authentication (Basic, Bearer tokens from the challenge's realm), requests with retries on
// transient failures, and the error shapes registries answer with.
import { StrataError } from '../errors.js';
import { parseChallenges, type Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import type { RegistryEndpoint } from './host.js';
import {
  DEFAULT_RETRY,
  TransientError,
  discard,
  isTransientStatus,
  readBody,
  send,
  withRetry,
  type HttpResponse,
  type RetryPolicy,
} from './http.js';
import type { BufferSource } from './layer-thread.js';

export class RegistryError extends StrataError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export class UnauthorizedError extends RegistryError {}

export const BAD_PASSWORD = 'unauthorized: incorrect username or password';

export interface ClientOptions {
  credentials: Credentials | null;
  /** Token scopes to ask for ("repository:app:pull,push"); challenges may add theirs. */
  scopes?: string[];
  retry?: RetryPolicy;
  timeoutMs?: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A list of buffers goes out as one body, without being joined first. */
  body?: Buffer | Buffer[] | null;
  /** Statuses the caller handles itself; any other is an error (5xx retried first). */
  ok: number[];
  /** false for requests that must not be repeated blindly (the caller retries at its level). */
  retry?: boolean;
  /** A blob download, read with `pour` (see HttpRequest.bulk). */
  bulk?: boolean;
  /** Where a bulk body is read into (see HttpRequest.readInto). */
  readInto?: BufferSource;
}

/** "manifest unknown: manifest unknown" from {"errors":[{"code":...,"message":...}]}, as docker shows. */
export function describeErrors(status: number, body: Buffer): string {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      errors?: Array<{ code?: string; message?: string }>;
    };
    const parts = (parsed.errors ?? []).map((e) =>
      [e.code?.toLowerCase().replace(/_/g, ' '), e.message].filter(Boolean).join(': '),
    );
    if (parts.length > 0) return parts.join('; ');
  } catch {
    // Not the registry's JSON error shape: fall back to the status line.
  }
  const text = body.toString('utf8').trim().slice(0, 200);
  return `HTTP ${status}${text ? `: ${text}` : ''}`;
}

export class RegistryClient {
  private authorization: string | null = null;
  private readonly scopes: Set<string>;
  private readonly retry: RetryPolicy;

  constructor(
    readonly endpoint: RegistryEndpoint,
    private readonly opts: ClientOptions,
  ) {
    this.scopes = new Set(opts.scopes ?? []);
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  url(pathOrUrl: string): URL {
    return new URL(pathOrUrl, `${this.endpoint.scheme}://${this.endpoint.host}`);
  }

  /** GET /v2/: checks the registry speaks the API and, given credentials, that they are accepted. */
  async ping(): Promise<void> {
    const res = await this.request('GET', '/v2/', { ok: [200] });
    await discard(res);
  }

  /**
   * One request, authenticated: a 401 answers with a challenge, which we meet (Basic with the
   * stored credentials, or a Bearer token fetched from the realm) and try once more.
   */
  async request(method: string, pathOrUrl: string, opts: RequestOptions): Promise<HttpResponse> {
    const once = async (): Promise<HttpResponse> => {
      let res = await this.exchange(method, pathOrUrl, opts);
      if (res.status === 401) {
        const sentAuth = this.authorization !== null;
        const challenges = parseChallenges(res.headers['www-authenticate']);
        await discard(res);
        await this.meet(challenges, sentAuth);
        res = await this.exchange(method, pathOrUrl, opts);
        if (res.status === 401) {
          await discard(res);
          throw new UnauthorizedError(
            this.opts.credentials ? BAD_PASSWORD : 'unauthorized: authentication required',
            401,
          );
        }
      }
      if (!opts.ok.includes(res.status)) {
        const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
        const message = `${method} ${this.url(pathOrUrl).pathname}: ${describeErrors(res.status, body)}`;
        if (isTransientStatus(res.status)) throw new TransientError(message);
        if (res.status === 403 || res.status === 401)
          throw new UnauthorizedError(`denied: ${message}`, res.status);
        throw new RegistryError(message, res.status);
      }
      return res;
    };
    return opts.retry === false ? once() : withRetry(once, this.retry);
  }

  /** Follows redirects (blob storage may live elsewhere); credentials never leave the registry host. */
  private async exchange(method: string, pathOrUrl: string, opts: RequestOptions): Promise<HttpResponse> {
    let url = this.url(pathOrUrl);
    for (let hops = 0; hops < 5; hops++) {
      const headers: Record<string, string> = { ...opts.headers };
      if (this.authorization && url.host === this.endpoint.host) headers.Authorization = this.authorization;
      const res = await send({
        method,
        url,
        headers,
        body: opts.body ?? null,
        timeoutMs: this.opts.timeoutMs,
        bulk: opts.bulk,
        readInto: opts.readInto,
      });
      const location = res.headers.location;
      if ([301, 302, 303, 307, 308].includes(res.status) && location && ['GET', 'HEAD'].includes(method)) {
        await discard(res);
        url = new URL(location, url);
        continue;
      }
      return res;
    }
    throw new RegistryError(`${method} ${pathOrUrl}: too many redirects`, 0);
  }

  private async meet(challenges: Challenge[], alreadySent: boolean): Promise<void> {
    const creds = this.opts.credentials;
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      if (bearer.params.scope) for (const s of bearer.params.scope.split(' ')) this.scopes.add(s);
      this.authorization = `Bearer ${await this.fetchToken(bearer)}`;
      return;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (!creds) throw new UnauthorizedError('unauthorized: authentication required', 401);
      if (alreadySent) throw new UnauthorizedError(BAD_PASSWORD, 401);
      this.authorization = basic(creds);
      return;
    }
    throw new UnauthorizedError('unauthorized: the registry sent no challenge this client can answer', 401);
  }

  /** The token endpoint of the challenge's realm (Docker's token auth spec), with Basic credentials if any. */
  private async fetchToken(ch: Challenge): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new UnauthorizedError('unauthorized: Bearer challenge without a realm', 401);
    const url = new URL(realm);
    if (url.protocol === 'http:' && this.endpoint.scheme !== 'http')
      throw new StrataError(`refusing to send credentials to ${realm} over plain HTTP`);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    for (const s of this.scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.opts.credentials) headers.Authorization = basic(this.opts.credentials);
    const res = await send({ method: 'GET', url, headers, timeoutMs: this.opts.timeoutMs });
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw new UnauthorizedError(
        this.opts.credentials ? BAD_PASSWORD : `unauthorized: ${describeErrors(res.status, body)}`,
        res.status,
      );
    }
    if (isTransientStatus(res.status)) throw new TransientError(`token endpoint: HTTP ${res.status}`);
    if (res.status !== 200)
      throw new RegistryError(`token endpoint: ${describeErrors(res.status, body)}`, res.status);
    const parsed = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string };
    const token = parsed.token ?? parsed.access_token;
    if (!token) throw new RegistryError('token endpoint answered without a token', res.status);
    return token;
  }
}

function basic(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
}
