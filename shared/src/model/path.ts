// Path helpers for absolute, slash-separated model paths. No Node APIs.

/** Split a path into its non-empty components ("." components dropped; ".." kept). */
export function components(path: string): string[] {
  if (path === '/') return [];
  if (isClean(path)) return path.slice(1).split('/');
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * Whether `path` is already normalised ("/" or "/a/b": no empty, "." or ".." components). Almost every
 * path the model handles internally is, and the helpers below then work on the string directly instead
 * of splitting it (splitting dominated the model's file operations).
 */
export function isClean(path: string): boolean {
  const n = path.length;
  if (n === 0 || path.charCodeAt(0) !== 47) return false;
  if (n === 1) return true;
  if (path.charCodeAt(n - 1) === 47) return false;
  // One pass: after each "/", no second "/", no "." or ".." component.
  for (let i = 0; i < n; i++) {
    if (path.charCodeAt(i) !== 47) continue;
    const c1 = path.charCodeAt(i + 1);
    if (c1 === 47) return false;
    if (c1 !== 46) continue;
    if (i + 2 === n || path.charCodeAt(i + 2) === 47) return false;
    if (path.charCodeAt(i + 2) === 46 && (i + 3 === n || path.charCodeAt(i + 3) === 47)) return false;
  }
  return true;
}

/** `path` below `base` (a normalised absolute path) as a normalised absolute path. */
export function joinUnder(base: string, path: string): string {
  if (isClean(path)) {
    if (path === '/') return base;
    return base === '/' ? path : base + path;
  }
  const parts = components(path);
  return parts.length === 0 ? base : joinPath([...components(base), ...parts]);
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
  if (isClean(path)) {
    const i = path.lastIndexOf('/');
    return i <= 0 ? '/' : path.slice(0, i);
  }
  const parts = components(path);
  parts.pop();
  return joinPath(parts);
}

export function basename(path: string): string {
  if (isClean(path)) return path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1);
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
