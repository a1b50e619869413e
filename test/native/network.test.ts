// Networking on the real kernel: the write-ups' web app behind -p, -P with EXPOSE, --net none, host
// and container:NAME, NetworkSettings, and teardown (veth, bridge port, NAT element, netns bind
// mount, address lease, cgroups) after rm, after a kill -9 of the CLI, and after refused input.
// Traffic goes only to 127.0.0.1 and to addresses inside namespaces these tests create.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BIN,
  destroyRoot,
  storeTree,
  ok,
  requireNativePrerequisites,
  strata,
  tempRoot,
} from '../helpers/strata.js';

let root: string;
beforeAll(() => {
  requireNativePrerequisites();
  root = tempRoot('net');
  ok(root, ['run', '--rm', 'busybox', 'true']);
});
afterAll(() => destroyRoot(root));

// The app: busybox httpd runs /cgi-bin/index.cgi for "/" when there is no index.html.
const APP = [
  'mkdir -p /www/cgi-bin',
  `printf '#!/bin/sh\\nprintf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n"\\necho "Hello $NAME!"\\necho "Hostname: $(hostname)"\\n' > /www/cgi-bin/index.cgi`,
  'chmod +x /www/cgi-bin/index.cgi',
  'exec httpd -f -p 80 -h /www',
].join('; ');

/** GET http://127.0.0.1:port/ with bounded retries while the server starts (under 10 s in all). */
async function get(port: number, host = '127.0.0.1'): Promise<string> {
  const deadline = Date.now() + 9000;
  for (;;) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = http.get({ host, port, path: '/', timeout: 2000 }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () =>
            res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

interface Settings {
  IPAddress: string;
  Gateway: string;
  IPPrefixLen: number;
  MacAddress: string;
  SandboxKey: string;
  Ports: Record<string, Array<{ HostIp: string; HostPort: string }>>;
}

function inspectJson<T>(ref: string, field: string): T {
  return JSON.parse(ok(root, ['inspect', '-f', `{{json .${field}}}`, ref])) as T;
}

const pidOf = (ref: string) => Number(ok(root, ['inspect', '-f', '{{.State.Pid}}', ref]).trim());
const netInode = (pid: number | 'self') => fs.readlinkSync(`/proc/${pid}/ns/net`);

/** A free TCP port on 127.0.0.1 (the kernel's pick), so tests do not collide with the host. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Everything the network side of a container leaves on the host, for "nothing left" checks. */
function networkTraces(id: string, ip: string): string[] {
  const out: string[] = [];
  const veth = `veth${id.slice(0, 11)}`;
  if (fs.existsSync(`/sys/class/net/${veth}`)) out.push(`veth ${veth}`);
  if (fs.existsSync(`/sys/class/net/strata0/brif/${veth}`)) out.push(`bridge port ${veth}`);
  const nat = spawnSync('nft', ['list', 'table', 'ip', 'strata'], { encoding: 'utf8' }).stdout;
  if (ip && nat.includes(`${ip} . `)) out.push(`NAT element to ${ip}`);
  if (fs.existsSync(`/run/strata/netns/${id}`)) out.push('netns file');
  if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`/run/strata/netns/${id}`))
    out.push('netns mount');
  // Another container (other test files run at the same time) may lease the address again at once.
  const lease = `/run/strata/network/leases/${ip}`;
  if (ip && fs.existsSync(lease) && fs.readFileSync(lease, 'utf8') === id) out.push(`lease ${ip}`);
  if (fs.existsSync(`/run/strata/network/${id}.json`)) out.push('network state');
  for (const h of ['memory', 'pids', 'cpu'])
    if (fs.existsSync(`/sys/fs/cgroup/${h}/strata/${id}`)) out.push(`cgroup ${h}`);
  return out;
}

describe('bridge networking and -p', () => {
  it("serves the write-ups' app on 127.0.0.1:4000 with NAME and the container's hostname", async () => {
    const id = ok(root, [
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      '4000:80',
      '-e',
      'NAME=X',
      'busybox',
      'sh',
      '-c',
      APP,
    ]).trim();
    let ip = '';
    try {
      const body = await get(4000);
      expect(body).toContain('Hello X!');
      expect(body).toContain(`Hostname: ${id.slice(0, 12)}`);

      const ns = inspectJson<Settings>('web', 'NetworkSettings');
      ip = ns.IPAddress;
      expect(ip).toMatch(/^10\.127\.\d+\.\d+$/);
      expect(ns).toMatchObject({
        Gateway: '10.127.0.1',
        IPPrefixLen: 16,
        SandboxKey: `/run/strata/netns/${id}`,
      });
      expect(ns.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '4000' }] });
      // The SandboxKey is the container's network namespace itself.
      expect(fs.statSync(ns.SandboxKey).ino).toBe(fs.statSync(`/proc/${pidOf('web')}/ns/net`).ino);
      expect(ok(root, ['exec', 'web', 'cat', '/etc/hosts'])).toContain(`${ip}\t${id.slice(0, 12)}\n`);
      expect(ok(root, ['exec', 'web', 'ip', 'route'])).toContain('default via 10.127.0.1 dev eth0');
      expect(ok(root, ['ps'])).toMatch(/0\.0\.0\.0:4000->80\/tcp\s+web/);
      // The host reaches the container's own address through the bridge, without NAT.
      expect(await get(80, ip)).toContain('Hello X!');
    } finally {
      ok(root, ['rm', '-f', 'web']);
    }
    expect(networkTraces(id, ip)).toEqual([]);
  });

  it('publishes on one host address (-p IP:HOST:CONTAINER) and every EXPOSEd port with -P', async () => {
    const port = await freePort();
    const ctx = fs.mkdtempSync(path.join(root, 'ctx-'));
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      `FROM busybox\nEXPOSE 80/tcp\nCMD ["sh", "-c", ${JSON.stringify(APP)}]\n`,
    );
    ok(root, ['build', '-q', '-t', 'webapp', ctx]);
    const a = ok(root, ['run', '-d', '-p', `127.0.0.1:${port}:80`, '-e', 'NAME=bound', 'webapp']).trim();
    const b = ok(root, ['run', '-d', '-P', '-e', 'NAME=all', 'webapp']).trim();
    try {
      expect(await get(port)).toContain('Hello bound!');
      expect(inspectJson<Settings>(a, 'NetworkSettings').Ports).toEqual({
        '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }],
      });
      const ports = inspectJson<Settings>(b, 'NetworkSettings').Ports['80/tcp']!;
      expect(ports).toHaveLength(1);
      expect(ports[0]!.HostIp).toBe('0.0.0.0');
      expect(Number(ports[0]!.HostPort)).toBeGreaterThan(1023);
      expect(await get(Number(ports[0]!.HostPort))).toContain('Hello all!');
    } finally {
      ok(root, ['rm', '-f', a, b]);
    }
  });

  it('--net none has only lo, --net host is the host namespace, and neither touches the bridge', () => {
    expect(ok(root, ['run', '--rm', '--net', 'none', 'busybox', 'ls', '/sys/class/net'])).toBe('lo\n');
    // lo is up (IFF_UP | IFF_LOOPBACK) in a namespace of its own, bridged or not (the shim's --lo-up).
    for (const net of ['none', 'bridge'])
      expect(ok(root, ['run', '--rm', '--net', net, 'busybox', 'cat', '/sys/class/net/lo/flags'])).toBe(
        '0x9\n',
      );
    expect(ok(root, ['run', '--rm', '--network', 'none', 'busybox', 'cat', '/etc/hosts'])).not.toMatch(
      /^10\.127/m,
    );
    const id = ok(root, ['run', '-d', '--net', 'host', 'busybox', 'sleep', '1000']).trim();
    try {
      expect(netInode(pidOf(id))).toBe(netInode('self'));
      expect(inspectJson<Settings>(id, 'NetworkSettings').IPAddress).toBe('');
      // As Docker: the host's hostname and its /etc/hosts and resolv.conf as they are (read, not
      // looked up: a name missing from the file would go to the host's nameserver).
      expect(ok(root, ['exec', id, 'hostname'])).toBe(`${os.hostname()}\n`);
      expect(ok(root, ['exec', id, 'cat', '/etc/hosts'])).toBe(fs.readFileSync('/etc/hosts', 'utf8'));
      expect(ok(root, ['exec', id, 'cat', '/etc/resolv.conf'])).toBe(
        fs.readFileSync('/etc/resolv.conf', 'utf8'),
      );
    } finally {
      ok(root, ['rm', '-f', id]);
    }
    expect(networkTraces(id, '')).toEqual([]);
  });

  it('--net container:NAME joins that network namespace (same inode, same address)', () => {
    const a = ok(root, ['run', '-d', '--name', 'netowner', 'busybox', 'sleep', '1000']).trim();
    const b = ok(root, ['run', '-d', '--net', 'container:netowner', 'busybox', 'sleep', '1000']).trim();
    try {
      expect(netInode(pidOf(b))).toBe(netInode(pidOf(a)));
      expect(netInode(pidOf(a))).not.toBe(netInode('self'));
      expect(ok(root, ['inspect', '-f', '{{.HostConfig.NetworkMode}}', b]).trim()).toBe(`container:${a}`);
      const ip = inspectJson<Settings>(a, 'NetworkSettings').IPAddress;
      expect(ok(root, ['exec', b, 'ip', '-4', 'addr', 'show', 'eth0'])).toContain(`inet ${ip}/16`);
      // As Docker: the owner's hostname and /etc/hosts, whose line names the shared address, so the
      // joiner's own name resolves from the file (read here, not looked up: a miss would go to DNS).
      const owner = a.slice(0, 12);
      expect(ok(root, ['exec', b, 'hostname'])).toBe(`${owner}\n`);
      expect(ok(root, ['exec', b, 'cat', '/etc/hosts'])).toContain(`${ip}\t${owner}\n`);
      const r = strata(root, ['run', '--rm', '-h', 'x', '--net', 'container:netowner', 'busybox', 'true']);
      expect(r.stderr).toMatch(/conflicting options: hostname and the network mode/);
      expect(r.code).toBe(125);
    } finally {
      ok(root, ['rm', '-f', b, a]);
    }
  });
});

describe('outbound traffic', () => {
  it('a container on the bridge reaches a server in another namespace, masqueraded; rm leaves no rule behind', () => {
    // The "outside": a network namespace of this test's own, linked to the host by a veth, on
    // TEST-NET-2 (198.51.100.0/24, never routed on the internet; this VM's own uplink is on
    // TEST-NET-1). Its busybox httpd answers with the address the connection came from.
    const ns = `strata-out-${process.pid}`;
    const hostEnd = `so${process.pid % 100000}h`;
    const www = fs.mkdtempSync(path.join(root, 'www-'));
    fs.mkdirSync(path.join(www, 'cgi-bin'));
    fs.writeFileSync(
      path.join(www, 'cgi-bin', 'peer'),
      '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "from $REMOTE_ADDR"\n',
      { mode: 0o755 },
    );
    const sh = (cmd: string) => {
      const r = spawnSync('sh', ['-ec', cmd], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    };
    const hostAddrs = spawnSync('ip', ['-o', 'addr'], { encoding: 'utf8' }).stdout;
    if (hostAddrs.includes(' 198.51.100.'))
      throw new Error('the host already has an address in 198.51.100.0/24: the test needs it free');
    sh(
      `ip netns add ${ns}; ip link add ${hostEnd} type veth peer name eth0 netns ${ns};` +
        `ip addr add 198.51.100.1/24 dev ${hostEnd}; ip link set ${hostEnd} up;` +
        `ip -n ${ns} addr add 198.51.100.2/24 dev eth0; ip -n ${ns} link set eth0 up; ip -n ${ns} link set lo up`,
    );
    const server = spawn(
      'ip',
      ['netns', 'exec', ns, '/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', www],
      {
        stdio: 'ignore',
      },
    );
    // The container resolves its own name from /etc/hosts; should that ever miss, its resolver is
    // its own 127.0.0.1 (an empty resolv.conf), never the host's outside nameserver.
    const noResolver = path.join(fs.mkdtempSync(path.join(root, 'dns-')), 'resolv.conf');
    fs.writeFileSync(noResolver, '');
    try {
      const r = strata(root, [
        'run',
        '--name',
        'outbound',
        '-v',
        `${noResolver}:/etc/resolv.conf:ro`,
        'busybox',
        'sh',
        '-c',
        // Bounded: up to 10 tries while the server starts, 5 s each at most. nc, not wget: the
        // static busybox's wget crashes in its resolver.
        'hostname -i; for i in 1 2 3 4 5 6 7 8 9 10; do printf "GET /cgi-bin/peer HTTP/1.0\\r\\n\\r\\n" | nc -w 5 198.51.100.2 8080 > /tmp/r 2>/dev/null; grep "^from " /tmp/r && exit 0; sleep 0.3; done; exit 1',
      ]);
      expect(r.stderr).toBe('');
      const [ip = '', answer] = r.stdout.split('\n');
      expect(ip).toMatch(/^10\.127\.\d+\.\d+$/);
      // The server saw the host's address on that link: the container's was masqueraded.
      expect(answer).toBe('from [::ffff:198.51.100.1]'); // httpd listens on a dual-stack socket
      expect(r.code).toBe(0);
      const id = ok(root, ['inspect', '-f', '{{.Id}}', 'outbound']).trim();
      ok(root, ['rm', 'outbound']);
      expect(networkTraces(id, ip)).toEqual([]);
      expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe('1');
    } finally {
      server.kill('SIGKILL');
      spawnSync('ip', ['netns', 'del', ns]);
      spawnSync('ip', ['link', 'del', hostEnd]);
    }
    // Created once and owned by strata: one outbound masquerade rule however many containers ran.
    const table = spawnSync('nft', ['list', 'table', 'ip', 'strata'], { encoding: 'utf8' }).stdout;
    expect(table.match(/ip saddr 10\.127\.0\.0\/16 oifname != "strata0" masquerade/g)).toHaveLength(1);
  });
});

describe('teardown after a crash, and refused input', () => {
  it('gives the network back when the container stops (as Docker), and takes it again on start', async () => {
    const port = await freePort();
    const id = ok(root, [
      'run',
      '-d',
      '-p',
      `${port}:80`,
      '-e',
      'NAME=again',
      'busybox',
      'sh',
      '-c',
      APP,
    ]).trim();
    try {
      expect(await get(port)).toContain('Hello again!');
      const ip = inspectJson<Settings>(id, 'NetworkSettings').IPAddress;
      ok(root, ['stop', '-t', '1', id]);
      expect(networkTraces(id, ip).filter((t) => !t.startsWith('cgroup'))).toEqual([]);
      ok(root, ['start', id]);
      expect(await get(port)).toContain('Hello again!');
    } finally {
      ok(root, ['rm', '-f', id]);
    }
  }, 30_000);

  it('kill -9 of the CLI that published a port, then rm -f: nothing leaks', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--root',
        root,
        'run',
        '--name',
        'crashy',
        '-p',
        `${port}:80`,
        '-e',
        'NAME=c',
        'busybox',
        'sh',
        '-c',
        APP,
      ],
      { stdio: 'ignore' },
    );
    try {
      expect(await get(port)).toContain('Hello c!');
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.on('close', r));
    }
    const id = ok(root, ['inspect', '-f', '{{.Id}}', 'crashy']).trim();
    const ip = inspectJson<Settings>('crashy', 'NetworkSettings').IPAddress;
    ok(root, ['rm', '-f', 'crashy']);
    expect(networkTraces(id, ip)).toEqual([]);
    await expect(get(port).catch((e: Error) => e.message)).resolves.toMatch(/ECONNREFUSED|timeout/);
  }, 30_000);

  it('refuses a port in use, a port taken by another container, bad -p, a missing or stopped container:, tiny -m', async () => {
    const port = await freePort();
    const holder = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    const web = ok(root, ['run', '-d', '-p', `${port + 1}:80`, 'busybox', 'sleep', '1000']).trim();
    ok(root, ['create', '--name', 'stopped', 'busybox', 'true']);
    try {
      const before = storeTree(root);
      const cases: Array<[string[], RegExp]> = [
        [
          ['-p', `127.0.0.1:${port}:80`],
          new RegExp(`Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`),
        ],
        [
          ['-p', `${port + 1}:80`],
          new RegExp(`Bind for 0\\.0\\.0\\.0:${port + 1} failed: port is already allocated`),
        ],
        [['-p', '80:abc'], /invalid containerPort: abc/],
        [['-p', '1:2:3:4'], /invalid port format for --publish: 1:2:3:4/],
        [['-p', '80/sctpx'], /invalid proto: sctpx/],
        [['--net', 'container:ghost'], /No such container: ghost/],
        [['--net', 'bogus'], /network bogus not found/],
        [['-m', '4m'], /Minimum memory limit allowed is 6MB/],
      ];
      for (const [flags, message] of cases) {
        const r = strata(root, ['run', '--rm', ...flags, 'busybox', 'true']);
        expect(r.stderr, flags.join(' ')).toMatch(message);
        expect(r.code).toBe(125);
      }
      expect(storeTree(root)).toEqual(before);
      const r = strata(root, ['run', '--name', 'joiner', '--net', 'container:stopped', 'busybox', 'true']);
      expect(r.stderr).toMatch(/cannot join network of a non running container/);
      expect(r.code).toBe(125);
      ok(root, ['rm', 'joiner']);
    } finally {
      holder.close();
      ok(root, ['rm', '-f', web, 'stopped']);
    }
    // No network state of the refused runs is left (other test files' containers may hold their own).
    const states = fs.readdirSync('/run/strata/network').filter((f) => f.endsWith('.json'));
    const held = states.map((f) => fs.readFileSync(path.join('/run/strata/network', f), 'utf8'));
    expect(
      held.filter((s) => s.includes(`"hostPort":${port}`) || s.includes(`"hostPort":${port + 1}`)),
    ).toEqual([]);
  });
});
