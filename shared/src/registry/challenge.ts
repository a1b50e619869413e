// WWW-Authenticate challenges (RFC 7235), as registries send them on 401:
//   Basic realm="Registry Realm"
//   Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"
// Registries send one challenge per header line; that is all this parser reads.
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const value of values) {
    const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(value);
    if (!m) continue;
    const params: Record<string, string> = {};
    const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
    for (let p = re.exec(m[2]!); p !== null; p = re.exec(m[2]!)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    }
    out.push({ scheme: m[1]!.toLowerCase(), params });
  }
  return out;
}
