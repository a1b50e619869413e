// The subset of Go's text/template that `docker inspect --format` users type:
// {{.A.B}}, {{json .A}}, {{index .A "key"}}, {{range .A}}...{{end}} over arrays, {{println}}/{{.}}.
import { UsageError } from '../../shared/src/errors.js';

type Value = unknown;

function lookup(root: Value, dot: Value, path: string): Value {
  if (path === '.') return dot;
  let cur: Value = path.startsWith('$') ? root : dot;
  for (const key of path.replace(/^\$/, '').split('.').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, Value>)[key];
  }
  return cur;
}

function show(v: Value): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, Value>).sort(([a], [b]) => a.localeCompare(b));
    return `map[${entries.map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
  }
  return String(v);
}

function evalExpr(expr: string, root: Value, dot: Value): Value {
  const words = expr.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  const arg = (w: string): Value => (w.startsWith('"') ? JSON.parse(w) : lookup(root, dot, w));
  const [fn, ...rest] = words;
  if (fn === undefined) throw new UsageError(`template: missing value for command`);
  if (fn === 'json') return JSON.stringify(arg(rest[0] ?? '.'));
  if (fn === 'index') {
    let v = arg(rest[0]!);
    for (const k of rest.slice(1)) v = (v as Record<string, Value> | undefined)?.[String(arg(k))];
    return v;
  }
  if (fn === 'println') return rest.map((w) => show(arg(w))).join(' ') + '\n';
  if (fn === 'len') {
    const v = arg(rest[0]!);
    return Array.isArray(v)
      ? v.length
      : v && typeof v === 'object'
        ? Object.keys(v).length
        : String(v ?? '').length;
  }
  if (fn === 'upper' || fn === 'lower') {
    const s = show(arg(rest[0]!));
    return fn === 'upper' ? s.toUpperCase() : s.toLowerCase();
  }
  if (fn.startsWith('.') || fn.startsWith('$') || fn.startsWith('"')) return arg(fn);
  throw new UsageError(`template: function "${fn}" not defined`);
}

export function renderTemplate(tpl: string, data: Value): string {
  const tokens = tpl.split(/(\{\{-?\s*.*?\s*-?\}\})/s);
  let pos = 0;
  const run = (dot: Value, stopAtEnd: boolean): string => {
    let out = '';
    while (pos < tokens.length) {
      const t = tokens[pos++]!;
      const m = /^\{\{-?\s*(.*?)\s*-?\}\}$/s.exec(t);
      if (!m) {
        out += t;
        continue;
      }
      const body = m[1]!;
      if (body === 'end') {
        if (stopAtEnd) return out;
        throw new UsageError('template: unexpected {{end}}');
      }
      if (body.startsWith('range ')) {
        const items = evalExpr(body.slice(6), data, dot);
        const start = pos;
        const list = Array.isArray(items)
          ? items
          : items && typeof items === 'object'
            ? Object.values(items)
            : [];
        if (list.length === 0) run(dot, true);
        for (const item of list) {
          pos = start;
          out += run(item, true);
        }
        continue;
      }
      const v = evalExpr(body, data, dot);
      out += typeof v === 'string' ? v : show(v);
    }
    if (stopAtEnd) throw new UsageError('template: unexpected EOF (missing {{end}})');
    return out;
  };
  return run(data, false);
}
