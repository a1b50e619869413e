// Docker's human output: relative times, status lines, aligned tables, byte sizes.
import type { ContainerRecord } from '../../shared/src/container/types.js';

export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(m / 60);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  const d = Math.floor(h / 24);
  if (d < 14) return `${d} days`;
  if (d < 60) return `${Math.floor(d / 7)} weeks`;
  if (d < 730) return `${Math.floor(d / 30)} months`;
  return `${Math.floor(d / 365)} years`;
}

export function ago(iso: string, now = Date.now()): string {
  return `${humanDuration(now - Date.parse(iso))} ago`;
}

export function statusText(c: ContainerRecord, now = Date.now()): string {
  const st = c.State;
  if (st.Status === 'running') return `Up ${humanDuration(now - Date.parse(st.StartedAt))}`;
  if (st.Status === 'created') return 'Created';
  if (st.Status === 'exited') return `Exited (${st.ExitCode}) ${ago(st.FinishedAt, now)}`;
  return st.Status[0]!.toUpperCase() + st.Status.slice(1);
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toPrecision(3).replace(/\.0+$|(\.\d*?)0+$/, '$1')}${units[u]}`;
}

export function quoteCommand(c: ContainerRecord): string {
  const full = [c.Path, ...c.Args].join(' ');
  const cut = full.length > 20 ? `${full.slice(0, 19)}…` : full;
  return `"${cut}"`;
}
