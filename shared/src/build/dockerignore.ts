// .dockerignore as Docker reads it: Go filepath.Match patterns plus `**`, `!` exceptions (the last
// matching pattern wins), leading `/` and `./` ignored, a matched directory excludes its contents.

export interface IgnoreRule {
  negate: boolean;
  regex: RegExp;
  pattern: string;
}

function globToRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**` spans directories; `**/` also matches nothing.
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('^') || cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function clean(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split('\n')) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const pattern = clean(line);
    if (pattern === '') continue;
    rules.push({ negate, regex: globToRegex(pattern), pattern });
  }
  return rules;
}

/** Whether a context-relative path is excluded (a path is also excluded when a parent dir is). */
export function isIgnored(rules: readonly IgnoreRule[], relPath: string): boolean {
  const p = clean(relPath);
  const parents: string[] = [];
  const parts = p.split('/');
  for (let i = 1; i <= parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  let ignored = false;
  for (const r of rules) {
    if (parents.some((candidate) => r.regex.test(candidate))) ignored = !r.negate;
  }
  return ignored;
}
