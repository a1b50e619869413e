// strata ps / inspect / exec / logs / stop / kill / rm / wait: Docker's container verbs.
import fs from 'node:fs';
import type { ContainerRecord } from '../../../shared/src/container/types.js';
import { mergeEnv } from '../../../shared/src/engine/run-options.js';
import { portsText } from '../../../shared/src/engine/network-config.js';
import { NotFoundError, StrataError, UsageError } from '../../../shared/src/errors.js';
import type { Command, Context } from '../context.js';
import { ago, quoteCommand, statusText, table } from '../format.js';
import { bool, int, list, str, type Parsed } from '../flags.js';
import { renderTemplate } from '../template.js';
import { imageInspect } from './images.js';

function need(p: Parsed, cmd: string, n = 1): void {
  if (p.args.length < n) {
    throw new UsageError(
      `"strata ${cmd}" requires at least ${n} argument${n > 1 ? 's' : ''}.\nSee 'strata ${cmd} --help'.`,
    );
  }
}

/** Docker's inspect output for a container (its record minus Strata's private bookkeeping). */
export function containerInspect(c: ContainerRecord): Record<string, unknown> {
  const { Strata: _private, ...rest } = c;
  void _private;
  return { ...rest, LogPath: '', RestartCount: 0, Platform: 'linux' };
}

export const psCommand: Command = {
  name: 'ps',
  usage: 'ps [OPTIONS]',
  description: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display container IDs' },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
  ],
  async run(ctx, p) {
    const engine = await ctx.engine();
    const rows = await engine.list(bool(p, 'all'));
    const full = bool(p, 'no-trunc');
    const id = (c: ContainerRecord) => (full ? c.Id : c.Id.slice(0, 12));
    if (bool(p, 'quiet')) {
      ctx.out(rows.map((c) => `${id(c)}\n`).join(''));
      return 0;
    }
    ctx.out(
      table(
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
        rows.map((c) => [
          id(c),
          c.Config.Image,
          quoteCommand(c),
          ago(c.Created),
          statusText(c),
          portsText(c),
          c.Name.slice(1),
        ]),
      ),
    );
    return 0;
  },
};

export const inspectCommand: Command = {
  name: 'inspect',
  usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
  description: 'Return low-level information on containers and images',
  flags: [
    { name: 'format', short: 'f', type: 'string', help: 'Format output using a Go template' },
    {
      name: 'type',
      type: 'string',
      help: 'Only inspect objects of the given type (container, image, volume)',
    },
  ],
  async run(ctx, p) {
    need(p, 'inspect');
    const engine = await ctx.engine();
    const type = str(p, 'type');
    const objects: unknown[] = [];
    let failed = false;
    for (const ref of p.args) {
      try {
        if (type === null || type === 'container') {
          try {
            objects.push(containerInspect(await engine.find(ref)));
            continue;
          } catch (e) {
            if (!(e instanceof NotFoundError) || type === 'container') throw e;
          }
        }
        if (type === null || type === 'image') {
          const id = engine.store.images.resolve(ref);
          if (id) {
            objects.push(await imageInspect(engine, id));
            continue;
          }
          if (type === 'image') throw new NotFoundError(`No such image: ${ref}`);
        }
        if (type === null || type === 'volume') {
          const v = engine.store.volumes.get(ref);
          if (v) {
            objects.push(v);
            continue;
          }
        }
        throw new NotFoundError(`No such object: ${ref}`);
      } catch (e) {
        if (!(e instanceof NotFoundError)) throw e;
        ctx.err(`Error: ${e.message}\n`);
        failed = true;
      }
    }
    const format = str(p, 'format');
    if (format !== null) ctx.out(objects.map((o) => renderTemplate(format, o) + '\n').join(''));
    else ctx.out(JSON.stringify(objects, null, 4) + '\n');
    return failed ? 1 : 0;
  },
};

export const execCommand: Command = {
  name: 'exec',
  usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  interspersed: false,
  flags: [
    { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
    { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
    { name: 'env', short: 'e', type: 'list', help: 'Set environment variables' },
    { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
    {
      name: 'user',
      short: 'u',
      type: 'string',
      help: 'Username or UID (format: "<name|uid>[:<group|gid>]")',
    },
  ],
  async run(ctx, p) {
    need(p, 'exec', 2);
    const engine = await ctx.engine();
    const rec = await engine.find(p.args[0]!);
    if (!rec.State.Running) throw new StrataError(`container ${rec.Id} is not running`);
    const tty = bool(p, 'tty');
    const spec = await engine.spec(rec);
    const env = mergeEnv(rec.Config.Env ?? [], list(p, 'env'), rec.Config.Hostname, tty, process.env);
    return engine.backend.runtime.exec(
      spec,
      rec.State.Pid,
      {
        args: p.args.slice(1),
        env,
        cwd: str(p, 'workdir') ?? (rec.Config.WorkingDir || '/'),
        user: str(p, 'user') ?? rec.Config.User ?? '',
        terminal: tty,
      },
      { kind: 'attach', tty, stdin: bool(p, 'interactive') },
    );
  },
};

export const logsCommand: Command = {
  name: 'logs',
  usage: 'logs [OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  flags: [{ name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' }],
  async run(ctx, p) {
    need(p, 'logs');
    const engine = await ctx.engine();
    const rec = await engine.find(p.args[0]!);
    const file = engine.logPath(rec);
    let offset = 0;
    const drain = () => {
      if (!fs.existsSync(file)) return;
      const fd = fs.openSync(file, 'r');
      try {
        const buf = Buffer.alloc(1 << 16);
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, offset);
          if (n <= 0) break;
          offset += n;
          process.stdout.write(buf.subarray(0, n));
        }
      } finally {
        fs.closeSync(fd);
      }
    };
    drain();
    if (bool(p, 'follow')) {
      while ((await engine.refresh(rec)).State.Running) {
        await new Promise((r) => setTimeout(r, 100));
        drain();
      }
      drain();
    }
    return 0;
  },
};

async function eachContainer(
  ctx: Context,
  p: Parsed,
  cmd: string,
  fn: (c: ContainerRecord) => Promise<void>,
): Promise<number> {
  need(p, cmd);
  const engine = await ctx.engine();
  let failed = false;
  for (const ref of p.args) {
    try {
      await fn(await engine.find(ref));
      ctx.out(`${ref}\n`);
    } catch (e) {
      if (!(e instanceof StrataError)) throw e;
      ctx.err(`Error response from daemon: ${e.message}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

export const stopCommand: Command = {
  name: 'stop',
  usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Stop one or more running containers',
  flags: [
    {
      name: 'time',
      short: 't',
      type: 'int',
      help: 'Seconds to wait before killing the container',
      default: 10,
    },
    { name: 'signal', short: 's', type: 'string', help: 'Signal to send to the container' },
  ],
  async run(ctx, p) {
    const engine = await ctx.engine();
    const sig = (str(p, 'signal') ?? 'SIGTERM').toUpperCase();
    return eachContainer(ctx, p, 'stop', (c) =>
      engine.stop(c, int(p, 'time') ?? 10, (sig.startsWith('SIG') ? sig : `SIG${sig}`) as NodeJS.Signals),
    );
  },
};

export const killCommand: Command = {
  name: 'kill',
  usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  flags: [
    { name: 'signal', short: 's', type: 'string', help: 'Signal to send to the container', default: 'KILL' },
  ],
  async run(ctx, p) {
    const engine = await ctx.engine();
    const raw = (str(p, 'signal') ?? 'KILL').toUpperCase();
    const sig: NodeJS.Signals | number = /^\d+$/.test(raw)
      ? Number(raw)
      : ((raw.startsWith('SIG') ? raw : `SIG${raw}`) as NodeJS.Signals);
    return eachContainer(ctx, p, 'kill', (c) => engine.kill(c, sig));
  },
};

export const rmCommand: Command = {
  name: 'rm',
  usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  flags: [
    {
      name: 'force',
      short: 'f',
      type: 'bool',
      help: 'Force the removal of a running container (uses SIGKILL)',
    },
    {
      name: 'volumes',
      short: 'v',
      type: 'bool',
      help: 'Remove anonymous volumes associated with the container',
    },
  ],
  async run(ctx, p) {
    const engine = await ctx.engine();
    return eachContainer(ctx, p, 'rm', (c) =>
      engine.remove(c, { force: bool(p, 'force'), volumes: bool(p, 'volumes') }),
    );
  },
};

export const waitCommand: Command = {
  name: 'wait',
  usage: 'wait CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  flags: [],
  async run(ctx, p) {
    need(p, 'wait');
    const engine = await ctx.engine();
    for (const ref of p.args) ctx.out(`${await engine.wait(await engine.find(ref))}\n`);
    return 0;
  },
};
