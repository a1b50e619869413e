// strata save / load / import: image archives in, out and from a root filesystem (docker's verbs).
import { importRootfs, loadArchive, saveImages } from '../../../shared/src/engine/archive.js';
import {
  silentProgress,
  streamProgress,
  type ProgressReporter,
} from '../../../shared/src/engine/progress.js';
import { UsageError } from '../../../shared/src/errors.js';
import type { Command } from '../context.js';
import { bool, str, type Parsed } from '../flags.js';

function progressFor(p: Parsed): ProgressReporter {
  return bool(p, 'quiet') ? silentProgress : streamProgress(process.stderr);
}

function argCount(p: Parsed, cmd: string, min: number, max: number): void {
  if (p.args.length >= min && p.args.length <= max) return;
  const what =
    min === max
      ? `exactly ${min}`
      : max === Infinity
        ? `at least ${min}`
        : `at least ${min} and at most ${max}`;
  throw new UsageError(
    `"strata ${cmd}" requires ${what} argument${max === 1 && min === 1 ? '' : 's'}.\nSee 'strata ${cmd} --help'.`,
  );
}

export const saveCommand: Command = {
  name: 'save',
  usage: 'save [OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  flags: [
    { name: 'output', short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the progress output' },
  ],
  async run(ctx, p) {
    argCount(p, 'save', 1, Infinity);
    const output = str(p, 'output');
    // As docker: a tar on a terminal is useless and can upset it.
    if (output === null && process.stdout.isTTY)
      throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const engine = await ctx.engine();
    await saveImages(engine, p.args, output ?? process.stdout, progressFor(p));
    return 0;
  },
};

export const loadCommand: Command = {
  name: 'load',
  usage: 'load [OPTIONS]',
  description:
    'Load images from a tar archive (docker save or OCI layout, optionally gzipped) or an OCI layout directory, or from STDIN',
  flags: [
    {
      name: 'input',
      short: 'i',
      type: 'string',
      help: 'Read from tar archive file or OCI layout directory, instead of STDIN',
    },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the load output' },
  ],
  async run(ctx, p) {
    argCount(p, 'load', 0, 0);
    const input = str(p, 'input');
    if (input === null && process.stdin.isTTY)
      throw new UsageError('requested load from stdin, but stdin is empty');
    const engine = await ctx.engine();
    const loaded = await loadArchive(engine, input ?? process.stdin, progressFor(p));
    for (const image of loaded) {
      for (const [name, old] of image.replaced)
        ctx.out(`The image ${name} already exists, renaming the old one with ID ${old} to empty string\n`);
      if (image.tags.length === 0) ctx.out(`Loaded image ID: ${image.id}\n`);
      for (const tag of image.tags) ctx.out(`Loaded image: ${tag}\n`);
    }
    return 0;
  },
};

export const importCommand: Command = {
  name: 'import',
  usage: 'import [OPTIONS] file|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  flags: [
    { name: 'message', short: 'm', type: 'string', help: 'Set commit message for imported image' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the progress output' },
  ],
  async run(ctx, p) {
    argCount(p, 'import', 1, 2);
    const [file, ref] = p.args as [string, string | undefined];
    if (file === '-' && process.stdin.isTTY)
      throw new UsageError('import from stdin: stdin is a terminal, not a tar stream');
    const engine = await ctx.engine();
    const id = await importRootfs(engine, file === '-' ? process.stdin : file, ref ?? null, {
      source: file,
      progress: progressFor(p),
      ...(str(p, 'message') !== null ? { message: str(p, 'message')! } : {}),
    });
    ctx.out(`${id}\n`);
    return 0;
  },
};
