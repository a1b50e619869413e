// Path helpers for absolute, slash-separated model paths. No Node APIs.

/** Split a path into its non-empty components ("." components dropped; ".." kept). */
export function components(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** Join components into an absolute path ("/" for none). */
export function joinPath(parts: readonly string[]): string {
  return '/' + parts.join('/');
}

/** Lexically normalise an absolute path: no duplicate slashes, no ".", ".." resolved (not above "/"). */
export function normalisePath(path: string): string {
  const out: string[] = [];
  for (const c of components(path)) {
    if (c === '..') out.pop();
    else out.push(c);
  }
  return joinPath(out);
}

/** `child` below `base` (both normalised absolute paths). */
export function childPath(base: string, name: string): string {
  return base === '/' ? '/' + name : base + '/' + name;
}

export function dirname(path: string): string {
  const parts = components(path);
  parts.pop();
  return joinPath(parts);
}

export function basename(path: string): string {
  const parts = components(path);
  return parts[parts.length - 1] ?? '/';
}

/** Whether `path` is `base` or below it (both normalised absolute paths). */
export function isUnder(path: string, base: string): boolean {
  return base === '/' || path === base || path.startsWith(base + '/');
}

/** `path` relative to `base`, as an absolute path ("/" when equal). `path` must be under `base`. */
export function relativeTo(path: string, base: string): string {
  if (base === '/') return path;
  return path === base ? '/' : path.slice(base.length);
}
