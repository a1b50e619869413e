// strata build / commit / diff / history / tag / rmi / image prune: Docker's image verbs.
import fs from 'node:fs';
import path from 'node:path';
import { Builder } from '../../../shared/src/build/builder.js';
import { parseDockerfile } from '../../../shared/src/dockerfile/index.js';
import {
  commitContainer,
  imageHistory,
  pruneImages,
  removeImage,
  tagImage,
} from '../../../shared/src/engine/image-ops.js';
import { NotFoundError, StrataError, UsageError } from '../../../shared/src/errors.js';
import type { ContainerConfig } from '../../../shared/src/oci/types.js';
import type { Command } from '../context.js';
import { ago, humanSize, table } from '../format.js';
import { bool, list, str } from '../flags.js';

function need(args: string[], cmd: string, n = 1): void {
  if (args.length < n)
    throw new UsageError(
      `"strata ${cmd}" requires at least ${n} argument${n > 1 ? 's' : ''}.\nSee 'strata ${cmd} --help'.`,
    );
}

export const buildCommand: Command = {
  name: 'build',
  usage: 'build [OPTIONS] PATH',
  description: 'Build an image from a Dockerfile',
  flags: [
    { name: 'tag', short: 't', type: 'list', help: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'file', short: 'f', type: 'string', help: "Name of the Dockerfile (default: 'PATH/Dockerfile')" },
    { name: 'build-arg', type: 'list', help: 'Set build-time variables' },
    { name: 'no-cache', type: 'bool', help: 'Do not use cache when building the image' },
    {
      name: 'quiet',
      short: 'q',
      type: 'bool',
      help: 'Suppress the build output and print image ID on success',
    },
  ],
  async run(ctx, p) {
    need(p.args, 'build');
    const contextDir = path.resolve(p.args[0]!);
    if (!fs.existsSync(contextDir) || !fs.statSync(contextDir).isDirectory()) {
      throw new StrataError(`unable to prepare context: path "${p.args[0]}" not found`, 1);
    }
    const file = str(p, 'file');
    const dockerfile = file ? path.resolve(file) : path.join(contextDir, 'Dockerfile');
    const buildArgs = new Map<string, string>();
    for (const a of list(p, 'build-arg')) {
      const eq = a.indexOf('=');
      if (eq > 0) buildArgs.set(a.slice(0, eq), a.slice(eq + 1));
      else if (process.env[a] !== undefined) buildArgs.set(a, process.env[a]!);
    }
    const engine = await ctx.engine();
    const quiet = bool(p, 'quiet');
    const id = await new Builder(engine).build({
      contextDir,
      dockerfile,
      tags: list(p, 'tag'),
      buildArgs,
      noCache: bool(p, 'no-cache'),
      out: (line) => (quiet ? undefined : ctx.out(line)),
    });
    if (quiet) ctx.out(`${id}\n`);
    return 0;
  },
};

/** docker commit -c: Dockerfile instructions that change the config (CMD, ENV, ...). */
function applyChanges(changes: string[]): (cfg: ContainerConfig) => void {
  const parsed = changes.map(
    (c) => parseDockerfile(`FROM scratch\n${c}\n`, { file: '--change' }).instructions[1]!,
  );
  for (const i of parsed) {
    if (
      !['cmd', 'entrypoint', 'env', 'expose', 'label', 'user', 'volume', 'workdir', 'stopsignal'].includes(
        i.name,
      )
    ) {
      throw new UsageError(`${i.keyword.toUpperCase()} is not a valid change command`);
    }
  }
  return (cfg) => {
    for (const i of parsed) {
      const argv = i.json ? i.args : ['/bin/sh', '-c', i.args.join(' ')];
      if (i.name === 'cmd') cfg.Cmd = argv;
      else if (i.name === 'entrypoint') cfg.Entrypoint = argv;
      else if (i.name === 'user') cfg.User = i.args[0] ?? '';
      else if (i.name === 'workdir') cfg.WorkingDir = i.args[0] ?? '';
      else if (i.name === 'stopsignal') cfg.StopSignal = i.args[0] ?? '';
      else if (i.name === 'expose')
        cfg.ExposedPorts = {
          ...(cfg.ExposedPorts ?? {}),
          ...Object.fromEntries(i.args.map((a) => [a.includes('/') ? a : `${a}/tcp`, {}])),
        };
      else if (i.name === 'volume')
        cfg.Volumes = { ...(cfg.Volumes ?? {}), ...Object.fromEntries(i.args.map((a) => [a, {}])) };
      else if ('pairs' in i) {
        for (const pair of i.pairs) {
          if (i.name === 'env')
            cfg.Env = [
              ...(cfg.Env ?? []).filter((e) => !e.startsWith(`${pair.key}=`)),
              `${pair.key}=${pair.value}`,
            ];
          else cfg.Labels = { ...(cfg.Labels ?? {}), [pair.key]: pair.value };
        }
      }
    }
  };
}

export const commitCommand: Command = {
  name: 'commit',
  usage: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: "Create a new image from a container's changes",
  flags: [
    { name: 'message', short: 'm', type: 'string', help: 'Commit message' },
    { name: 'author', short: 'a', type: 'string', help: 'Author' },
    { name: 'change', short: 'c', type: 'list', help: 'Apply Dockerfile instruction to the created image' },
  ],
  async run(ctx, p) {
    need(p.args, 'commit');
    const engine = await ctx.engine();
    const rec = await engine.find(p.args[0]!);
    const id = await commitContainer(engine, rec, {
      reference: p.args[1] ?? null,
      message: str(p, 'message') ?? '',
      author: str(p, 'author') ?? '',
      configure: applyChanges(list(p, 'change')),
    });
    ctx.out(`${id}\n`);
    return 0;
  },
};

export const diffCommand: Command = {
  name: 'diff',
  usage: 'diff CONTAINER',
  description: "Inspect changes to files or directories on a container's filesystem",
  flags: [],
  async run(ctx, p) {
    need(p.args, 'diff');
    const engine = await ctx.engine();
    const rec = await engine.find(p.args[0]!);
    const changes = await engine.backend.snapshots.changes(rec.Strata.layerId);
    ctx.out(changes.map((c) => `${c.kind} ${c.path}\n`).join(''));
    return 0;
  },
};

export const historyCommand: Command = {
  name: 'history',
  usage: 'history [OPTIONS] IMAGE',
  description: 'Show the history of an image',
  flags: [
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only show image IDs' },
  ],
  async run(ctx, p) {
    need(p.args, 'history');
    const engine = await ctx.engine();
    const id = engine.store.images.resolve(p.args[0]!);
    if (!id) throw new NotFoundError(`No such image: ${p.args[0]}`);
    const rows = imageHistory(engine, id);
    const full = bool(p, 'no-trunc');
    const short = (s: string) => (s === '<missing>' || full ? s : s.slice(7, 19));
    if (bool(p, 'quiet')) {
      ctx.out(rows.map((r) => `${short(r.id)}\n`).join(''));
      return 0;
    }
    const by = (s: string) => (full || s.length <= 45 ? s : `${s.slice(0, 44)}…`);
    ctx.out(
      table(
        ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'],
        rows.map((r) => [
          short(r.id),
          r.created ? ago(r.created) : '',
          by(r.createdBy),
          humanSize(r.size),
          r.comment,
        ]),
      ),
    );
    return 0;
  },
};

export const tagCommand: Command = {
  name: 'tag',
  usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  flags: [],
  async run(ctx, p) {
    need(p.args, 'tag', 2);
    tagImage(await ctx.engine(), p.args[0]!, p.args[1]!);
    return 0;
  },
};

export const rmiCommand: Command = {
  name: 'rmi',
  usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Force removal of the image' }],
  async run(ctx, p) {
    need(p.args, 'rmi');
    const engine = await ctx.engine();
    let failed = false;
    for (const ref of p.args) {
      try {
        ctx.out((await removeImage(engine, ref, bool(p, 'force'))).map((l) => `${l}\n`).join(''));
      } catch (e) {
        if (!(e instanceof StrataError)) throw e;
        ctx.err(`Error response from daemon: ${e.message}\n`);
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },
};

export const imageCommand: Command = {
  name: 'image',
  usage: 'image COMMAND',
  description:
    'Manage images\n\nCommands:\n  prune       Remove unused images (-a: all unused, not just dangling)',
  flags: [
    {
      name: 'all',
      short: 'a',
      type: 'bool',
      help: 'prune: remove all unused images, not just dangling ones',
    },
    { name: 'force', short: 'f', type: 'bool', help: 'prune: do not prompt for confirmation' },
  ],
  async run(ctx, p) {
    const [sub] = p.args;
    if (sub !== 'prune')
      throw new UsageError(`strata image: unknown command '${sub ?? ''}'\nSee 'strata image --help'.`);
    const engine = await ctx.engine();
    const lines = await pruneImages(engine, bool(p, 'all'));
    ctx.out(lines.length ? `Deleted Images:\n${lines.join('\n')}\n` : 'Total reclaimed space: 0B\n');
    return 0;
  },
};
