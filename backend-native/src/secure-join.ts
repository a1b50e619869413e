// Resolve a container path inside a rootfs on the host, following symlinks as the container would
// see them (absolute targets are relative to the rootfs), never leaving it. Guards volume targets,
// workdirs and /etc files against symlinks that point at the host (the "symlink-exchange" class).
import fs from 'node:fs';
import path from 'node:path';

const MAX_LINKS = 255;

export function secureJoin(root: string, unsafe: string): string {
  const parts = unsafe.split('/').filter((p) => p !== '' && p !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = path.join(root, ...resolved, part);
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(candidate);
    } catch {
      st = undefined;
    }
    if (st?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new Error(`too many levels of symbolic links resolving ${unsafe}`);
      const target = fs.readlinkSync(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return path.join(root, ...resolved);
}

/** mkdir -p of a container path inside the rootfs, symlink-safe. */
export function mkdirInside(root: string, unsafe: string, mode = 0o755): string {
  const target = secureJoin(root, unsafe);
  fs.mkdirSync(target, { recursive: true, mode });
  return target;
}
