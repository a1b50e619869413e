// The kernel model's answers to the Docker-verb lessons, where it has one: namespace graphs, the
// mount tables with a volume, a copy-up. It has no shell, so it cannot run RUN or a container's
// command: those steps are answered by the guest only (lessons.ts leaves their model out).
import { Kernel, type Process } from '../../shared/src/model/index.ts';
import { containerWorld } from './model-lessons.ts';

const KINDS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'] as const;

function inodeTable(names: string[], procs: Process[]): string {
  return [
    ['process', ...names].join('\t'),
    ...KINDS.map((k) => [k, ...procs.map((p) => p.nsLink(k))].join('\t')),
  ].join('\n');
}

export function execGraph(): string {
  const { host, container } = containerWorld();
  const exec = host.clone();
  for (const k of KINDS) exec.setns(container, k);
  // setns(pid) applies to children: nsenter forks, so the command is a child.
  return inodeTable(['host: PID 1', 'app: PID 1', 'docker exec app'], [host, container, exec.clone()]);
}

export function netGraph(): string {
  const { host, container } = containerWorld();
  const side = host.clone({ namespaces: ['mnt', 'uts', 'ipc', 'pid'] });
  side.setns(container, 'net');
  return inodeTable(['host: PID 1', 'web: PID 1', 'side (--net container:web)'], [host, container, side]);
}

export function volumeMounts(): string {
  const { host, container } = containerWorld([['/var/lib/strata/volumes/demo-vol/_data', '/test']]);
  return [
    '### host: cat /proc/self/mountinfo',
    host.readMountinfo(),
    '### container vol2: cat /proc/self/mountinfo',
    container.readMountinfo(),
  ].join('\n');
}

export function copyUpModel(): string {
  const p = new Kernel().init;
  const u = '/tmp/cu';
  for (const d of ['A', 'B', 'C', 'upper', 'work']) p.mkdirp(`${u}/${d}`);
  p.writeFile(`${u}/A/t1.txt`, 'A1\n');
  p.writeFile(`${u}/A/t2.txt`, 'A2\n');
  p.writeFile(`${u}/B/t2.txt`, 'B2\n');
  p.writeFile(`${u}/B/t3.txt`, 'B3\n');
  p.mount('overlay', `${u}/C`, 'overlay', {
    data: `lowerdir=${u}/A:${u}/B,upperdir=${u}/upper,workdir=${u}/work`,
  });
  const list = (): string[] =>
    ['B', 'A', 'upper'].flatMap((l) => [
      `${l}\tL\t`,
      ...[...p.readdir(`${u}/${l}`)]
        .sort()
        .map((f) => `${l}\t${p.lstat(`${u}/${l}/${f}`).kind === 'chardev' ? 'w' : 'f'}\t${f}`),
    ]);
  const before = list();
  p.writeFile(`${u}/C/t1.txt`, `${p.readFile(`${u}/C/t1.txt`)}edited\n`);
  p.unlink(`${u}/C/t3.txt`);
  return ['@@ before', ...before, '@@ after: echo edited >> C/t1.txt; rm C/t3.txt', ...list()].join('\n');
}
