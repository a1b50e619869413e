// `strata build`: Dockerfile instructions executed on the engine's backend, each filesystem change a
// layer, with a build cache keyed like Docker's (parent image + instruction + source checksum).
import fs from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Engine } from '../engine/engine.js';
import { StrataError } from '../errors.js';
import { DockerfileSyntaxError, parseDockerfile, processWord, processWords, type Instruction, type KeyValueInstruction, type OnbuildInstruction } from '../dockerfile/index.js';
import type { ContainerConfig, HistoryEntry, ImageConfig } from '../oci/types.js';
import type { Digest } from '../store/digest.js';
import { sha256 } from '../store/digest.js';
import { addImage, addLayer, storeBlobStream } from '../engine/image-writer.js';
import { runOptions } from '../engine/run-options.js';
import { TarWriter } from '../tar/writer.js';
import { readTar } from '../tar/reader.js';
import { cleanComponents } from '../tar/extract.js';
import type { TarInput } from '../tar/types.js';
import { atomicWrite, readTextIfExists } from '../store/fsutil.js';
import { BuildContext, copyEntries } from './context.js';
import { DEFAULT_PATH } from '../engine/run-options.js';

export interface BuildOptions {
  contextDir: string;
  dockerfile: string;
  tags: string[];
  buildArgs: Map<string, string>;
  noCache: boolean;
  out: (line: string) => void;
}

interface State {
  imageId: Digest | null;
  config: ImageConfig;
  args: Map<string, string>;
}

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const CACHE_DIR = 'buildcache';

class BuildError extends StrataError {
  constructor(file: string, line: number, message: string, exitCode = 1) {
    super(`${file}:${line}: ${message}`, exitCode);
  }
}

function scratchConfig(): ImageConfig {
  return { architecture: 'amd64', os: 'linux', config: { Env: [`PATH=${DEFAULT_PATH}`] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
}

function envList(config: ImageConfig): string[] {
  return config.config?.Env ?? [];
}

function setEnv(cfg: ContainerConfig, key: string, value: string): void {
  const env = (cfg.Env ?? []).filter((e) => !e.startsWith(`${key}=`));
  env.push(`${key}=${value}`);
  cfg.Env = env;
}

/** Expansion environment: ARGs first, then ENV (ENV wins, as in Docker). */
function expansionEnv(state: State): string[] {
  return [...envList(state.config), ...[...state.args].map(([k, v]) => `${k}=${v}`)];
}

function cloneConfig(c: ImageConfig): ImageConfig {
  return JSON.parse(JSON.stringify(c)) as ImageConfig;
}

export class Builder {
  private readonly cacheDir: string;

  constructor(private readonly engine: Engine) {
    this.cacheDir = path.join(engine.store.layout.imageDir, CACHE_DIR);
    fs.mkdirSync(this.cacheDir, { recursive: true });
  }

  private cacheGet(key: string): Digest | null {
    const id = readTextIfExists(path.join(this.cacheDir, key))?.trim() ?? null;
    return id && this.engine.store.images.hasImage(id) ? (id as Digest) : null;
  }

  private cachePut(key: string, id: Digest): void {
    atomicWrite(path.join(this.cacheDir, key), id);
  }

  async build(opts: BuildOptions): Promise<Digest> {
    const file = path.basename(opts.dockerfile);
    let text: string;
    try {
      text = fs.readFileSync(opts.dockerfile, 'utf8');
    } catch {
      throw new StrataError(`failed to read Dockerfile: open ${opts.dockerfile}: no such file or directory`, 1);
    }
    let ast;
    try {
      ast = parseDockerfile(text, { file });
    } catch (e) {
      // Docker's build failures exit 1, parse errors included.
      if (e instanceof DockerfileSyntaxError) throw new StrataError(e.message, 1);
      throw e;
    }
    const ctx = new BuildContext(opts.contextDir);
    const instructions = ast.instructions;
    const firstFrom = instructions.findIndex((i) => i.name === 'from');
    const beforeFrom = instructions.slice(0, Math.max(firstFrom, 0));
    if (firstFrom < 0) throw new BuildError(file, instructions[0]?.startLine ?? 1, 'no FROM instruction: a Dockerfile must start with FROM (after ARG and parser directives)');
    const bad = beforeFrom.find((i) => i.name !== 'arg');
    if (bad) throw new BuildError(file, bad.startLine, `${bad.keyword.toUpperCase()} before FROM: only ARG may precede the first FROM`);
    const globalArgs = new Map<string, string>();
    for (const i of beforeFrom) this.declareArg(i, globalArgs, opts.buildArgs, []);

    let state: State | null = null;
    const total = instructions.length - beforeFrom.length;
    let step = 0;
    for (const instr of instructions.slice(beforeFrom.length)) {
      step++;
      opts.out(`Step ${step}/${total} : ${instr.original}\n`);
      try {
        if (instr.name === 'from') {
          state = await this.from(instr, globalArgs);
        } else {
          if (!state) throw new StrataError('no FROM');
          state = await this.step(instr, state, ctx, opts);
        }
      } catch (e) {
        if (e instanceof BuildError) throw e;
        if (e instanceof StrataError) throw new BuildError(file, instr.startLine, `${instr.name.toUpperCase()}: ${e.message}`, e.exitCode === 125 ? 1 : e.exitCode);
        throw e;
      }
      opts.out(` ---> ${state.imageId ? state.imageId.slice(7, 19) : 'scratch'}\n`);
    }
    const final = state!;
    let id = final.imageId;
    if (id === null) id = addImage(this.engine.store, final.config, []);
    for (const t of opts.tags) this.engine.store.images.tag(t, id);
    this.engine.store.images.setImageMeta(id, 'built', '1');
    opts.out(`Successfully built ${id.slice(7, 19)}\n`);
    for (const t of opts.tags) opts.out(`Successfully tagged ${t.includes(':') ? t : `${t}:latest`}\n`);
    return id;
  }

  private declareArg(instr: Instruction, into: Map<string, string>, buildArgs: Map<string, string>, env: string[]): void {
    for (const word of instr.args) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      const def = eq < 0 ? undefined : processWord(word.slice(eq + 1), [...env, ...[...into].map(([k, v]) => `${k}=${v}`)]);
      const value = buildArgs.get(name) ?? def;
      if (value !== undefined) into.set(name, value);
      else into.set(name, '');
    }
  }

  private async from(instr: Instruction, globalArgs: Map<string, string>): Promise<State> {
    this.setCmdInThisStage = false;
    const ref = processWord(instr.args[0] ?? '', [...globalArgs].map(([k, v]) => `${k}=${v}`));
    if (instr.args.length > 1 && instr.args[1]?.toLowerCase() !== 'as') throw new StrataError(`FROM takes one image (and AS name), got: ${instr.args.join(' ')}`);
    if (ref === 'scratch') return { imageId: null, config: scratchConfig(), args: new Map() };
    const image = await this.engine.resolveImage(ref);
    await this.engine.materialise(image);
    return { imageId: image.id, config: cloneConfig(image.config), args: new Map() };
  }

  /** The new image after one instruction, from the cache when its key is known. */
  private async step(instr: Instruction, state: State, ctx: BuildContext, opts: BuildOptions): Promise<State> {
    const env = expansionEnv(state);
    const word = (w: string) => processWord(w, env);
    const cfg: ContainerConfig = state.config.config ?? {};
    const next = cloneConfig(state.config);
    const ncfg: ContainerConfig = (next.config ??= {});
    const argsUsed = [...state.args].map(([k, v]) => `${k}=${v}`);
    let createdBy = instr.original;
    let layer: null | (() => Promise<{ diffId: Digest; size: number }>) = null;
    let cacheExtra = '';
    const shell = cfg.Shell && cfg.Shell.length > 0 ? cfg.Shell : DEFAULT_SHELL;

    switch (instr.name) {
      case 'arg': {
        const args = new Map(state.args);
        this.declareArg(instr, args, opts.buildArgs, envList(state.config));
        return { ...state, args };
      }
      case 'env':
      case 'label': {
        for (const p of (instr as KeyValueInstruction).pairs) {
          const value = word(p.value);
          if (instr.name === 'env') setEnv(ncfg, word(p.key), value);
          else ncfg.Labels = { ...(ncfg.Labels ?? {}), [word(p.key)]: value };
        }
        createdBy = `${instr.name.toUpperCase()} ${(instr as KeyValueInstruction).pairs.map((p) => `${word(p.key)}=${word(p.value)}`).join(' ')}`;
        break;
      }
      case 'workdir': {
        const dir = word(instr.args[0] ?? '');
        ncfg.WorkingDir = path.posix.resolve(cfg.WorkingDir || '/', dir);
        createdBy = `WORKDIR ${ncfg.WorkingDir}`;
        break;
      }
      case 'cmd':
      case 'entrypoint': {
        const argv = instr.json ? instr.args : [...shell, instr.args.join(' ')];
        if (instr.name === 'cmd') ncfg.Cmd = argv;
        else {
          ncfg.Entrypoint = argv;
          // Docker: a new ENTRYPOINT resets a CMD inherited from the base image.
          if (!this.setCmdInThisStage) ncfg.Cmd = null;
        }
        if (instr.name === 'cmd') this.setCmdInThisStage = true;
        createdBy = `${instr.name.toUpperCase()} ${JSON.stringify(argv)}`;
        break;
      }
      case 'user':
        ncfg.User = word(instr.args[0] ?? '');
        createdBy = `USER ${ncfg.User}`;
        break;
      case 'expose': {
        const ports = { ...(ncfg.ExposedPorts ?? {}) };
        for (const a of instr.args.flatMap((a) => processWords(a, env))) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(a)) throw new StrataError(`invalid containerPort: ${a}`);
          ports[a.includes('/') ? a : `${a}/tcp`] = {};
        }
        ncfg.ExposedPorts = ports;
        createdBy = `EXPOSE map[${Object.keys(ports).join(' ')}]`;
        break;
      }
      case 'volume': {
        const vols = { ...(ncfg.Volumes ?? {}) };
        for (const v of instr.json ? instr.args.map(word) : instr.args.flatMap((a) => processWords(a, env))) vols[v] = {};
        ncfg.Volumes = vols;
        createdBy = `VOLUME ${JSON.stringify(Object.keys(vols))}`;
        break;
      }
      case 'stopsignal':
        ncfg.StopSignal = word(instr.args[0] ?? '');
        break;
      case 'shell':
        ncfg.Shell = instr.args;
        break;
      case 'maintainer':
        next.author = instr.args.join(' ');
        break;
      case 'healthcheck':
        break; // accepted; health checks are not run by strata
      case 'onbuild':
        ncfg.OnBuild = [...(ncfg.OnBuild ?? []), (instr as OnbuildInstruction).trigger.original];
        break;
      case 'run': {
        const argv = instr.json ? instr.args : [...shell, instr.args.join(' ')];
        createdBy = `RUN ${argsUsed.length > 0 ? `|${argsUsed.length} ${argsUsed.join(' ')} ` : ''}${argv.join(' ')}`;
        layer = () => this.run(state, argv, argsUsed, opts);
        break;
      }
      case 'copy':
      case 'add': {
        const flags = new Map(instr.flags.map((f) => [f.replace(/^--/, '').split('=')[0]!, f.includes('=') ? f.slice(f.indexOf('=') + 1) : 'true']));
        for (const f of flags.keys()) {
          if (f === 'from') throw new StrataError('COPY --from (multi-stage builds) is not supported yet');
          if (!['chown', 'chmod'].includes(f)) throw new StrataError(`unknown flag: --${f}`);
        }
        const words = (instr.json ? instr.args : instr.args).map(word);
        if (words.length < 2) throw new StrataError(`${instr.name.toUpperCase()} requires at least two arguments`);
        const destRaw = words[words.length - 1]!;
        const dest = path.posix.resolve(cfg.WorkingDir || '/', destRaw);
        const sources = words.slice(0, -1).flatMap((s) => {
          if (/^https?:\/\//.test(s)) throw new StrataError(`${instr.name.toUpperCase()} from a URL is not supported (strata builds offline): ${s}`);
          return ctx.resolve(s);
        });
        const { uid, gid } = await this.owner(state, flags.get('chown'));
        cacheExtra = ctx.checksum(sources);
        createdBy = `${instr.name.toUpperCase()} ${flags.size ? [...flags].map(([k, v]) => `--${k}=${v} `).join('') : ''}${words.join(' ')}`;
        layer = () => this.copyLayer(ctx, sources, destRaw.endsWith('/') ? `${dest}/` : dest, { dest, uid, gid, extractArchives: instr.name === 'add' });
        break;
      }
      case 'from':
        throw new StrataError('multi-stage builds are not supported yet');
    }

    const key = sha256(`${state.imageId ?? 'scratch'}\n${createdBy}\n${cacheExtra}\n${layer ? argsUsed.join('\n') : ''}`).slice(7);
    if (!opts.noCache) {
      const cached = this.cacheGet(key);
      if (cached) {
        opts.out(' ---> CACHED\n');
        return { ...state, imageId: cached, config: cloneConfig(this.engine.store.images.getImage(cached).config) };
      }
    }
    const history: HistoryEntry = { created: new Date().toISOString(), created_by: createdBy, comment: 'strata build' };
    if (layer) {
      const { diffId, size } = await layer();
      const parentChain = this.topChain(state);
      await addLayer(this.engine.store, this.engine.backend, diffId, parentChain, size, { unpack: false });
      next.rootfs = { type: 'layers', diff_ids: [...state.config.rootfs.diff_ids, diffId] };
    } else history.empty_layer = true;
    next.created = history.created!;
    next.history = [...(state.config.history ?? []), history];
    const id = addImage(this.engine.store, next, []);
    this.engine.store.images.setImageMeta(id, 'intermediate', '1');
    this.cachePut(key, id);
    return { ...state, imageId: id, config: next };
  }

  private setCmdInThisStage = false;

  private topChain(state: State): Digest | null {
    if (!state.imageId) return null;
    const layers = this.engine.store.images.layersOf(this.engine.store.images.getImage(state.imageId));
    return layers.length ? layers[layers.length - 1]!.chainId : null;
  }

  /** RUN in a real container on the backend; its rw layer becomes the step's layer. */
  private async run(state: State, argv: string[], argsUsed: string[], opts: BuildOptions): Promise<{ diffId: Digest; size: number }> {
    const image = state.imageId ?? addImage(this.engine.store, state.config, []);
    const cfg = state.config.config ?? {};
    const rec = await this.engine.create(
      runOptions(image, argv, {
        entrypoint: '',
        env: argsUsed,
        workdir: cfg.WorkingDir || null,
        user: cfg.User || null,
      }),
    );
    opts.out(` ---> Running in ${rec.Id.slice(0, 12)}\n`);
    try {
      const { exit } = await this.engine.start(rec, { kind: 'attach', tty: false, stdin: false });
      const status = await exit!;
      if (status.exitCode !== 0) {
        throw new StrataError(`The command '${argv.join(' ')}' returned a non-zero code: ${status.exitCode}`, 1);
      }
      const { digest, size } = await storeBlobStream(this.engine.store, this.engine.backend.snapshots.exportDiff(rec.Strata.layerId));
      return { diffId: digest, size };
    } finally {
      await this.engine.remove(rec, { force: true, volumes: true });
    }
  }

  private async copyLayer(ctx: BuildContext, sources: string[], destRaw: string, target: { dest: string; uid: number; gid: number; extractArchives: boolean }): Promise<{ diffId: Digest; size: number }> {
    const { entries, archives } = copyEntries(ctx, sources, destRaw, target);
    const all: TarInput[] = [...entries];
    for (const a of archives) all.push(...(await archiveEntries(a.file, a.dest)));
    const writer = new TarWriter({ deterministic: true });
    // deterministic sorts paths; keep the files' own mtimes (Docker's COPY preserves them).
    const { digest, size } = await storeBlobStream(this.engine.store, writer.write(all));
    return { diffId: digest, size };
  }

  /** --chown=user:group, resolved in the image's own /etc/passwd and /etc/group. */
  private async owner(state: State, chown: string | undefined): Promise<{ uid: number; gid: number }> {
    if (!chown) return { uid: 0, gid: 0 };
    const [u = '', g] = chown.split(':');
    const lookup = async (file: string, name: string): Promise<number | null> => {
      if (/^\d+$/.test(name)) return Number(name);
      const text = await this.readImageFile(state, file);
      const line = text?.split('\n').find((l) => l.split(':')[0] === name);
      return line ? Number(line.split(':')[2]) : null;
    };
    const uid = await lookup('etc/passwd', u);
    if (uid === null) throw new StrataError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${u}`);
    let gid = uid;
    if (g !== undefined) {
      const found = await lookup('etc/group', g);
      if (found === null) throw new StrataError(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${g}`);
      gid = found;
    } else if (!/^\d+$/.test(u)) {
      const line = (await this.readImageFile(state, 'etc/passwd'))?.split('\n').find((l) => l.split(':')[0] === u);
      gid = Number(line?.split(':')[3] ?? uid);
    }
    return { uid, gid };
  }

  private async readImageFile(state: State, rel: string): Promise<string | null> {
    if (!state.imageId) return null;
    const image = this.engine.store.images.getImage(state.imageId);
    const top = await this.engine.materialise(image);
    if (!top) return null;
    const p = await this.engine.backend.snapshots.paths(top);
    for (const dir of [p.diffDir, ...p.lowerDirs]) {
      const text = readTextIfExists(path.join(dir, rel));
      if (text !== null) return text;
    }
    return null;
  }
}

/** ADD of a local archive: its entries, re-rooted under `dest`, read fully into memory per file. */
async function archiveEntries(file: string, dest: string): Promise<TarInput[]> {
  if (!/\.(tar|tar\.gz|tgz)$/.test(file)) throw new StrataError(`ADD ${path.basename(file)}: only .tar, .tar.gz and .tgz archives are extracted`);
  const raw = fs.createReadStream(file);
  const source = /gz$/.test(file) ? raw.pipe(createGunzip()) : raw;
  const out: TarInput[] = [];
  for await (const e of readTar(source)) {
    const parts = cleanComponents(e.path, e.path);
    if (parts.length === 0) continue;
    const name = path.posix.join(dest.replace(/^\/+/, ''), ...parts);
    const header = { path: name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.size, linkpath: e.type === 'hardlink' ? path.posix.join(dest.replace(/^\/+/, ''), ...cleanComponents(e.linkpath, e.path)) : e.linkpath, devmajor: e.devmajor, devminor: e.devminor };
    out.push(e.type === 'file' ? { header, body: await e.buffer(1 << 30) } : { header });
  }
  return out;
}
