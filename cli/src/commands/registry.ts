// strata push / pull / login / logout: images to and from registries (docker's verbs and lines).
import { StrataError, UsageError } from '../../../shared/src/errors.js';
import type { Command } from '../context.js';
import { bool, list, str, type Parsed } from '../flags.js';

const insecureFlag = {
  name: 'insecure-registry',
  type: 'list' as const,
  help: 'Allow plain HTTP to this registry (loopback registries always are)',
};

function oneArg(p: Parsed, cmd: string): string {
  if (p.args.length !== 1)
    throw new UsageError(`"strata ${cmd}" requires exactly 1 argument.\nSee 'strata ${cmd} --help'.`);
  return p.args[0]!;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const pushCommand: Command = {
  name: 'push',
  usage: 'push [OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', help: 'Suppress verbose output' }, insecureFlag],
  async run(ctx, p) {
    const name = oneArg(p, 'push');
    const { pushImage } = await import('../../../shared/src/registry/index.js');
    // The store only: loading the backend would cost a push 0.1 CPU second for nothing.
    await pushImage(ctx.store(), name, {
      root: ctx.root,
      insecure: list(p, 'insecure-registry'),
      out: process.stdout,
      quiet: bool(p, 'quiet'),
    });
    return 0;
  },
};

export const pullCommand: Command = {
  name: 'pull',
  usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', help: 'Suppress verbose output' }, insecureFlag],
  async run(ctx, p) {
    const name = oneArg(p, 'pull');
    const { pullImage } = await import('../../../shared/src/registry/index.js');
    await pullImage(ctx.store(), name, {
      root: ctx.root,
      insecure: list(p, 'insecure-registry'),
      out: process.stdout,
      quiet: bool(p, 'quiet'),
    });
    return 0;
  },
};

export const loginCommand: Command = {
  name: 'login',
  usage: 'login [OPTIONS] SERVER',
  description: 'Log in to a registry (credentials are kept in <root>/auth.json, mode 0600)',
  flags: [
    { name: 'username', short: 'u', type: 'string', help: 'Username' },
    { name: 'password', short: 'p', type: 'string', help: 'Password' },
    { name: 'password-stdin', type: 'bool', help: 'Take the password from stdin' },
    insecureFlag,
  ],
  async run(ctx, p) {
    const server = oneArg(p, 'login');
    const username = str(p, 'username');
    let password = str(p, 'password');
    if (bool(p, 'password-stdin')) {
      if (password !== null) throw new UsageError('--password and --password-stdin are mutually exclusive');
      if (username === null) throw new UsageError('Must provide --username with --password-stdin');
      password = (await readStdin()).replace(/\r?\n$/, '');
    } else if (password !== null) {
      ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    }
    // No prompt: strata is driven by scripts and tests; a missing value is a usage error.
    if (username === null || password === null || password === '')
      throw new StrataError(
        'Cannot perform an interactive login: give -u USER and -p PASS or --password-stdin',
      );
    const { login } = await import('../../../shared/src/registry/index.js');
    await login(ctx.root, server, { username, password }, list(p, 'insecure-registry'));
    ctx.out('Login Succeeded\n');
    return 0;
  },
};

export const logoutCommand: Command = {
  name: 'logout',
  usage: 'logout SERVER',
  description: 'Log out from a registry (removes its entry from <root>/auth.json)',
  flags: [],
  async run(ctx, p) {
    const server = oneArg(p, 'logout');
    const { logout, normaliseServer } = await import('../../../shared/src/registry/index.js');
    if (logout(ctx.root, server)) ctx.out(`Removing login credentials for ${normaliseServer(server)}\n`);
    else ctx.out(`Not logged in to ${normaliseServer(server)}\n`);
    return 0;
  },
};
