// Node's side of the model backend: layer tars through shared/src/tar, output to this process's
// streams or the container's log file, exit files in the container's state dir. Kept out of index.ts
// so that the model backend itself bundles for the browser.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ExitStatus, LayerStream } from '../backend.js';
import { parseExitFile } from '../exit-file.js';
import { readTar, TarWriter } from '../tar/index.js';
import type { LayerCodec, LayerEntry } from './layer.js';
import type { ModelHost } from './runtime.js';
import { ModelBackend } from './index.js';

async function* readEntries(layer: LayerStream): AsyncGenerator<LayerEntry> {
  for await (const e of readTar(layer)) {
    yield {
      path: e.path,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      content: e.type === 'file' ? new Uint8Array(await e.buffer(1 << 30)) : null,
      linkpath: e.linkpath,
      devmajor: e.devmajor,
      devminor: e.devminor,
    };
  }
}

async function* writeEntries(entries: readonly LayerEntry[]): AsyncGenerator<Uint8Array> {
  const w = new TarWriter();
  for (const e of entries) {
    const header = {
      path: e.path,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      linkpath: e.linkpath,
      devmajor: e.devmajor,
      devminor: e.devminor,
    };
    yield* w.entry(header, e.content ?? undefined);
  }
  yield w.end();
}

/** The dump of a container's model state, in its state dir (containers/<id>/model-dump.txt). */
export const MODEL_DUMP_FILE = 'model-dump.txt';

export const nodeLayerCodec: LayerCodec = { read: readEntries, write: writeEntries };

/** Node's host; with `stateFile`, the model's snapshots are saved there after every change. */
export function nodeModelHost(stateFile: string | null = null): ModelHost {
  return { ...baseHost, ...(stateFile ? stateIn(stateFile) : {}) };
}

function stateIn(file: string): Pick<ModelHost, 'loadState' | 'saveState'> {
  return {
    loadState() {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return null;
      }
    },
    saveState(text) {
      // Atomic: a reader sees the old state or the new one (concurrent writers: the last one wins).
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}`;
      fs.writeFileSync(tmp, text);
      fs.renameSync(tmp, file);
    },
  };
}

const baseHost: ModelHost = {
  output(stdio, stream, text) {
    if (stdio.kind === 'log') fs.appendFileSync(stdio.path, text);
    else (stream === 'stdout' ? process.stdout : process.stderr).write(text);
  },
  readFile(p) {
    try {
      const st = fs.statSync(p);
      return st.isFile() ? fs.readFileSync(p) : null;
    } catch {
      return null;
    }
  },
  writeExit(stateDir: string, s: ExitStatus) {
    const finished = Math.floor(Date.parse(s.finishedAt) / 1000);
    const text = `code=${s.exitCode}\nsignal=${s.signal ?? 0}\nfinished=${finished}\noom=0\n`;
    fs.writeFileSync(path.join(stateDir, 'exit'), text);
  },
  readExit(stateDir: string) {
    try {
      return parseExitFile(fs.readFileSync(path.join(stateDir, 'exit'), 'utf8'));
    } catch {
      return null;
    }
  },
  saveDump(stateDir: string, text: string) {
    fs.writeFileSync(path.join(stateDir, MODEL_DUMP_FILE), text);
  },
  onExit(argv) {
    const [cmd, ...args] = argv;
    if (cmd) spawn(cmd, args, { detached: true, stdio: 'ignore' }).unref();
  },
};

/** The model backend with Node's codec and host, its state kept in the store (`strata --backend model`). */
export function nodeModelBackend(root: string | null = null): ModelBackend {
  const stateFile = root === null ? null : path.join(root, 'model', 'overlay2.json');
  return new ModelBackend({ codec: nodeLayerCodec, host: nodeModelHost(stateFile) });
}
