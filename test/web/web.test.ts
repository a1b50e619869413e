// The offline web demo, end to end: build dist/web, serve it on 127.0.0.1, open it in Debian's
// chromium (playwright-core) with every request to another origin aborted, wait for the real guest,
// and check what the lessons show (texts and structure, not pixels). Screenshots go to
// test-results/web/. Without chromium or the guest image this fails; it never skips.
import { mkdirSync, rmSync, mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.mjs';
import { serveStatic } from '../../scripts/serve-web.mjs';
import { launchOffline, type OfflineBrowser } from './chromium.mjs';

const SHOTS = path.resolve('test-results/web');

let server: Server;
let origin = '';
let browser: OfflineBrowser;
let context: BrowserContext;
let page: Page;
let outDir = '';
const pageErrors: string[] = [];

/** A full-page (or viewport) screenshot; generous timeout: a full page takes long on a loaded machine. */
async function shot(name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage, timeout: 60_000 });
}

/** Runs one lesson step in the guest and returns its answer's text once the guest's answer is shown. */
async function runStep(step: string, timeout = 40_000): Promise<string> {
  const el = page.locator(`lesson-step[data-step="${step}"]`);
  await el.locator('button[data-testid="run"]').click();
  const answer = el.locator('[data-testid="answer"][data-backend="guest"]');
  await answer.waitFor({ timeout });
  return answer.innerText();
}

describe('web demo (chromium, offline)', () => {
  beforeAll(async () => {
    // Its own output dir: the CLI build empties dist/ whenever another test run rebuilds it.
    // buildWeb throws, naming the build command, when the guest image is missing.
    outDir = await buildWeb({
      quiet: true,
      force: true,
      outDir: mkdtempSync(path.join(tmpdir(), 'strata-web-')),
    });
    const served = await serveStatic(outDir);
    server = served.server;
    origin = served.url.replace(/\/$/, '');
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    // Fresh profile; anything not from the local server is aborted and recorded (the test then fails).
    // Throws without chromium.
    browser = await launchOffline({ origin, viewport: { width: 1280, height: 900 } });
    ({ context, page } = browser);
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // buildWeb may remake the web snapshot first (after a guest rebuild): a restore, c1's start in the
    // emulated CPU and zstd -19, up to a minute or two on a loaded machine.
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('shows the model at once, then the real container mount table without a click', async () => {
    await page.goto(`${origin}/`);
    const live = page.locator('[data-testid="live-mounts"]');
    // Before the guest is up: the model's table, labelled as such.
    await expect.poll(() => live.getAttribute('data-backend'), { timeout: 5_000 }).toBe('model');
    expect(await live.locator('[data-testid="backend"]').innerText()).toBe('model');
    expect(await live.locator('[data-testid="live-output"]').innerText()).toMatch(
      / \/ \/ .* - overlay overlay .*lowerdir=/,
    );
    const status = page.locator('[data-testid="guest-status"]');
    expect(await status.getAttribute('data-state')).toBe('restoring');
    expect(await page.locator('progress').count()).toBe(1);
    await shot('01-restoring-model');

    await page.waitForFunction(
      () => {
        const app = document.querySelector('strata-app');
        const s = app?.shadowRoot?.querySelector('[data-testid="guest-status"]')?.getAttribute('data-state');
        return s === 'ready' || s === 'failed';
      },
      undefined,
      { timeout: 60_000 },
    );
    if ((await status.getAttribute('data-state')) === 'failed') {
      throw new Error(`guest failed: ${await page.locator('[data-testid="error-panel"]').innerText()}`);
    }
    expect(await status.innerText()).toMatch(/Guest running: Linux 6\.1\.\S+ in v86/);
    await expect.poll(() => live.getAttribute('data-backend'), { timeout: 60_000 }).toBe('guest');
    expect(await live.locator('[data-testid="backend"]').innerText()).toBe('guest: real Linux in v86');
    const table = await live.locator('[data-testid="live-output"]').innerText();
    const root = table.split('\n')[0] ?? '';
    expect(root).toMatch(
      /^\d+ \d+ \d+:\d+ \/ \/ rw,relatime - overlay overlay rw,lowerdir=\/var\/lib\/strata\/overlay2\/l\/INIT\w+:/,
    );
    expect(root).toMatch(
      /upperdir=\/var\/lib\/strata\/overlay2\/\w+\/diff,workdir=\/var\/lib\/strata\/overlay2\/\w+\/work/,
    );
    expect(table).toMatch(/ \/proc rw.* - proc proc /);
    await shot('02-guest-live-mounts');
  }, 180_000);

  it('mount-namespace lesson: tmpfs on /tmp is seen only inside', async () => {
    const inherit = await runStep('inherit');
    expect(inherit).toContain('guest: real Linux in v86');
    const ns = [...inherit.matchAll(/mnt:\[(\d+)\]/g)].map((m) => m[1]);
    expect(ns).toHaveLength(2);
    expect(ns[0]).not.toBe(ns[1]);
    expect(inherit).toMatch(/\(inside\)\n(.*\n)*host-file/);

    const tmpfs = await runStep('tmpfs');
    expect(tmpfs).toContain('none on /tmp type tmpfs (rw,relatime)');
    expect(tmpfs).toMatch(/\(host\)\n\(no \/tmp mount\)/);
    expect(tmpfs).toMatch(/ls \/tmp\s+\(host\)\nhost-file/);
    await shot('03-mount-ns-lesson');
  }, 120_000);

  it('layers lesson: the layer stack picture and copy-on-write', async () => {
    // Keyboard: from the first lesson, ArrowDown twice reaches the layers lesson.
    await page.locator('nav button[data-lesson="mount-ns"]').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('#layers');
    expect(await page.locator('[data-testid="lesson"]').getAttribute('data-lesson')).toBe('layers');

    // One step shows it all: the image's layers and c1-init from the start, c1's changes on top.
    await runStep('cow');
    const stack = page.locator('lesson-step[data-step="cow"] [data-testid="layer-stack"]');
    const origin = (p: string) => stack.locator(`tr[data-path="${p}"] [data-testid="origin"]`).innerText();
    expect(await stack.locator('thead th').allInnerTexts()).toEqual([
      'path',
      'c1 (read-write)',
      'c1-init',
      'var (and a delete)',
      'etc usr var',
      'base (busybox rootfs)',
      'merged view',
    ]);
    expect(await origin('etc/issue')).toBe('deleted by var (and a delete)');
    expect(await origin('var/lib/demo/data')).toBe('from var (and a delete)');
    expect(await origin('usr/share/demo/readme.txt')).toBe('from etc usr var');
    expect(await origin('etc/hostname')).toBe('from c1-init');
    expect(await origin('bin/busybox')).toBe('from base (busybox rootfs)');
    // Copy-on-write: the changes, the whiteout included, are all in c1's read-write layer.
    expect(await origin('etc/motd')).toBe('from c1 (read-write)');
    expect(await origin('etc/os-release')).toBe('deleted by c1 (read-write)');
    expect(await origin('root/new.txt')).toBe('from c1 (read-write)');
    // The lower copy of etc/motd is still there, shadowed.
    expect(await stack.locator('tr[data-path="etc/motd"] td.shadowed').count()).toBe(1);
    await shot('04-layers-lesson');
  }, 180_000);

  it('build/run lesson: docker build, run, exec and commit in the guest', async () => {
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.locator('nav button[data-lesson="build"]').click();
    expect(await page.locator('[data-testid="lesson"]').getAttribute('data-lesson')).toBe('build');
    const build = page.locator('lesson-step[data-step="build"]');
    expect(await build.locator('textarea').inputValue()).toMatch(/^FROM strata-demo\n/);
    // The model answers at once with the plan; it cannot run RUN, and the run step says it has no answer.
    expect(await build.locator('[data-testid="answer"]').getAttribute('data-backend')).toBe('model');
    expect(await build.locator('[data-testid="output"]').innerText()).toContain(
      'Step 1/6 : FROM strata-demo',
    );
    expect(await page.locator('lesson-step[data-step="run"] [data-testid="no-model"]').count()).toBe(1);
    await shot('07-build-lesson-laptop', false);

    const built = await runStep('build', 170_000);
    expect(built).toContain('guest: real Linux in v86');
    expect(built).toMatch(
      /Step 3\/6 : RUN mkdir -p \/app.*\n ---> new layer l\/BLD1\w+, its changes:\n\s+A \/app\n\s+A \/app\/hello\.sh/,
    );
    expect(built).toMatch(/ ---> new layer l\/BLD2\w+, its changes:(\n\s+[AD] \S+)*\n\s+D \/etc\/motd/);
    expect(built).toContain('Successfully built demo-app: 5 layers');

    const ran = await runStep('run', 90_000);
    expect(ran).toContain('hello from a Dockerfile: I am app1, my root is overlay');
    expect(ran).toMatch(
      / \/ \/ rw,relatime - overlay overlay rw,lowerdir=\/var\/lib\/strata\/overlay2\/l\/BLD2\w+:\S+\/l\/BLD1/,
    );
    expect(ran).toContain('ls: /etc/motd: No such file or directory');

    await runStep('exec', 60_000);
    const nodes = page.locator('lesson-step[data-step="exec"] [data-testid="ns-node"]');
    expect(
      await page.locator('lesson-step[data-step="exec"] [data-testid="process"]').allTextContents(),
    ).toEqual(['host: PID 1', expect.stringMatching(/^app: PID 1 \(host PID \d+/), 'docker exec app']);
    // cgroup: one namespace for all three; every other kind: the host's, and one shared by app and the exec.
    expect(await nodes.and(page.locator('[data-kind="cgroup"]')).getAttribute('data-members')).toBe('3');
    for (const kind of ['ipc', 'mnt', 'net', 'pid', 'uts']) {
      const of = nodes.and(page.locator(`[data-kind="${kind}"]`));
      expect((await of.evaluateAll((els) => els.map((e) => e.getAttribute('data-members')))).sort()).toEqual([
        '1',
        '2',
      ]);
    }
    await shot('08-exec-graph-laptop', false);

    const committed = await runStep('commit', 90_000);
    expect(committed).toMatch(/docker diff app.*\nA \/app\nD \/app\/build-info\nA \/app\/state/);
    expect(committed).toMatch(/sha256:[0-9a-f]{12} {2}demo-app:v2/);
    expect(committed).toMatch(/cat \/app\/state'\nhello\.sh\nstate\nwritten in app/);
    await shot('09-build-lesson');

    // Bad input: a Dockerfile the demo cannot build is refused, naming the line, before the guest runs.
    await build.locator('textarea').fill('FROM strata-demo\nCOPY . /app\n');
    await build.locator('button[data-testid="run"]').click();
    expect(await build.locator('.error[role="alert"]').innerText()).toMatch(/^Dockerfile line 2: COPY: /);
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 480_000);

  it('chroot lesson: a hand-made rootfs, and an image layer as the root', async () => {
    await page.locator('nav button[data-lesson="chroot"]').click();
    expect(await page.locator('[data-testid="lesson"]').getAttribute('data-lesson')).toBe('chroot');
    // The model answers at once.
    const handmade = page.locator('lesson-step[data-step="handmade"]');
    expect(await handmade.locator('[data-testid="answer"]').getAttribute('data-backend')).toBe('model');
    expect(await handmade.locator('[data-testid="output"]').innerText()).toMatch(
      /\$ ls \/\nbin\n\$ ls \/bin/,
    );

    const made = await runStep('handmade', 90_000);
    expect(made).toContain('guest: real Linux in v86');
    // Inside, the directory is the whole filesystem: / holds bin only, and the host's files are not there.
    expect(made).toMatch(
      /\$ chroot \/tmp\/rootfs \/bin\/sh\n\$ ls \/\nbin\n\$ ls \/bin\nbusybox\ncat\nls\nsh\n/,
    );
    expect(made).toContain("cat: can't open '/etc/os-release': No such file or directory");

    const image = await runStep('image', 90_000);
    expect(image).toMatch(/\$ cat \/etc\/os-release\nNAME="Strata demo"/);
    expect(image).toMatch(/\$ ls \/\nbin\ndev\netc\nproc\nroot\nsys\ntmp\nusr\nvar\n/);
    // One kernel: uname -r inside and outside print the same release.
    const [inside, outside] = /one kernel\)\n(\S+)\n(\S+)/.exec(image)?.slice(1) ?? [];
    expect(inside).toMatch(/^6\.1\./);
    expect(inside).toBe(outside);
    expect(image).toMatch(/\/root\n\/var\/lib\/strata\/overlay2\/\w+\/diff\n/);
    // chroot isolates nothing else: each namespace of the chrooted process is the host's.
    for (const n of ['mnt', 'uts', 'pid', 'net']) {
      const row = new RegExp(`^${n}\\t(${n}:\\[\\d+\\])\\t(${n}:\\[\\d+\\])$`, 'm').exec(image);
      expect(row?.[1]).toBeDefined();
      expect(row?.[1]).toBe(row?.[2]);
    }
    await shot('11-chroot-lesson');
  }, 240_000);

  it('volumes lesson: bind mount, named volume, host and container mount tables', async () => {
    await page.locator('nav button[data-lesson="volumes"]').click();
    expect(await page.locator('[data-testid="lesson"]').getAttribute('data-lesson')).toBe('volumes');
    const bind = await runStep('bind', 170_000);
    expect(bind).toContain('guest: real Linux in v86');
    // The container saw the host's file; its /data is a bind whose mount root is the host's /srv/data.
    expect(bind).toMatch(/mountinfo'\nhost\.txt\n\d+ \d+ \d+:\d+ \/srv\/data \/data rw/);
    expect(bind).toMatch(/\(host, the container is gone\)\nwritten inside/);
    expect(bind).toContain('(none: the bind mount exists only in the container');

    const named = await runStep('named', 170_000);
    expect(named).toMatch(/_data {6}\(host\)\nfrom-container\n/);
    expect(named).toMatch(/the new layer holds:\nA \/test\n\(only the empty mount point/);

    await runStep('mounts', 170_000);
    const diff = page.locator('lesson-step[data-step="mounts"] [data-testid="mount-diff"]');
    const kind = (mp: string) => diff.locator(`tr[data-mount="${mp}"]`).getAttribute('data-kind');
    expect(await kind('/test')).toBe('container-only');
    expect(await kind('/')).toBe('changed');
    expect(await kind('/proc')).toBe('changed');
    expect(await kind('/mnt/host')).toBe('host-only');
    expect(
      await diff.locator('tr[data-kind="host-only"][data-mount$="/merged"]').count(),
    ).toBeGreaterThanOrEqual(1);
    await shot('12-volumes-lesson');
  }, 600_000);

  it('--net container: lesson: one network namespace, two containers', async () => {
    await page.locator('nav button[data-lesson="net-container"]').click();
    await runStep('join', 170_000);
    const step = page.locator('lesson-step[data-step="join"]');
    expect(await step.locator('[data-testid="process"]').allTextContents()).toEqual([
      'host: PID 1',
      'web: PID 1',
      'side (--net container:web)',
    ]);
    const members = (kind: string) =>
      step
        .locator(`[data-testid="ns-node"][data-kind="${kind}"]`)
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-members')).sort());
    // net: the host's node, and one node web and side share; every other kind: three nodes (cgroup one).
    expect(await members('net')).toEqual(['1', '2']);
    for (const kind of ['ipc', 'mnt', 'pid', 'uts']) expect(await members(kind)).toEqual(['1', '1', '1']);
    expect(await members('cgroup')).toEqual(['3']);

    const talk = await runStep('talk', 170_000);
    expect(talk).toMatch(/shared loopback\)\nhello from web\n/);
    expect(talk).toMatch(/own UTS and PID namespaces\)\nside\n/);
    expect(talk).toMatch(/another network namespace\)\nwget: can't connect/);
    await shot('13-net-container-lesson');
  }, 420_000);

  it('terminal: a shell in the container on a tty, and line by line on the guest; phone width; no request left the origin', async () => {
    // c1's shell on the guest's second serial line (the web snapshot's ttyS1): keystrokes go to it.
    expect(await page.locator('guest-terminal').getAttribute('data-tty')).toBe('live');
    const term = page.locator('guest-terminal .xterm');
    const rows = page.locator('guest-terminal .xterm-rows');
    await term.click();
    // After the copy-on-write step: c1's motd has the appended line, read through c1's overlay; the
    // shell's stdin is a terminal (not the agent's files), and its own prompt (PS1 \h:\w#) follows.
    await page.keyboard.type('hostname; cat /etc/motd; [ -t 0 ] && echo "stdin is a tty"');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => rows.innerText(), { timeout: 30_000 })
      .toMatch(
        /\nc1\s*\n\s*Welcome to the Strata demo image\s*\n\s*edited in c1\s*\nstdin is a tty\s*\nc1:\/# /,
      );
    // The tty has the terminal's size (set through the agent: a serial line carries none).
    const size = (await page.locator('guest-terminal').getAttribute('data-size')) ?? '';
    const [rowsN, colsN] = size.split('x');
    expect(Number(colsN)).toBeGreaterThan(80); // 1280 px wide: wider than the tty's default
    await page.keyboard.type('stty size');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => rows.innerText(), { timeout: 30_000 })
      .toMatch(new RegExp(`stty size\\s*\\n${rowsN} ${colsN}\\s*\\nc1:/# `));
    // The shell's line editing: ^C drops the typed line and gives a new prompt; nothing ran.
    await page.keyboard.type('echo not-run');
    await page.keyboard.press('Control+C');
    await page.keyboard.type('echo $((6 * 7))');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows.innerText(), { timeout: 30_000 }).toMatch(/\n42\s*\nc1:\/# /);
    expect(await rows.innerText()).not.toMatch(/\nnot-run\s*\n/);
    // `exit` ends that shell; busybox init starts another in c1 on the same line (its banner, a prompt).
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => rows.innerText(), { timeout: 60_000 })
      .toMatch(/c1:\/# exit\s*\n[\s\S]*BusyBox v[\s\S]*\nc1:\/#\s*$/);
    await page.keyboard.type('hostname');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows.innerText(), { timeout: 30_000 }).toMatch(/exit[\s\S]*\nc1\s*\nc1:\/#\s*$/);
    // On the guest itself: the line terminal through the agent (outside c1: the guest's hostname).
    await page.locator('[data-testid="term-target"]').selectOption('guest');
    await term.click();
    await page.keyboard.type('hostname; [ -t 0 ] || echo "no tty here"');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => rows.innerText(), { timeout: 30_000 })
      .toMatch(/guest# hostname; .*\n(?!c1\n)\S+\s*\nno tty here\s*\n/);
    // c1 killed from the guest: its shell on ttyS1 dies with it; init runs the line's script again,
    // which starts c1 again and a new shell in it (its banner on the c1 side when shown again).
    await page.keyboard.type('read -r P < /run/strata/c1.pid && kill -9 $P && echo killed');
    await page.keyboard.press('Enter');
    await expect.poll(() => rows.innerText(), { timeout: 30_000 }).toMatch(/\nkilled\s*\n/);
    await page.locator('[data-testid="term-target"]').selectOption('c1');
    await expect
      .poll(() => rows.innerText(), { timeout: 120_000 })
      .toMatch(/c1's shell, as it was left[\s\S]*BusyBox v[\s\S]*\nc1:\/#\s*$/);
    await term.click();
    await page.keyboard.type('hostname');
    await page.keyboard.press('Enter');
    await expect
      .poll(() => rows.innerText(), { timeout: 30_000 })
      .toMatch(/as it was left[\s\S]*\nc1\s*\nc1:\/#\s*$/);

    await page.setViewportSize({ width: 390, height: 844 });
    await page.locator('nav button[data-lesson="mount-ns"]').click();
    await shot('05-phone');
    await shot('05-phone-viewport', false);
    await page.locator('nav button[data-lesson="build"]').click();
    await shot('10-build-phone-viewport', false);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390); // nothing wider than the phone: wide tables scroll in place

    expect(browser.offOrigin).toEqual([]);
    expect(pageErrors).toEqual([]);
  }, 150_000);

  it('error panel when the guest cannot start; the model still answers', async () => {
    const broken = await context.newPage();
    try {
      // The saved machine is "missing": the worker's fetch gets a 404.
      await broken.route('**/guest/state.bin.zst', (route) => route.fulfill({ status: 404, body: 'gone' }));
      await broken.goto(`${origin}/`);
      const panel = broken.locator('[data-testid="error-panel"]');
      await panel.waitFor({ timeout: 20_000 });
      expect(await panel.getAttribute('role')).toBe('alert');
      expect(await panel.innerText()).toMatch(
        /The guest \(real Linux in v86\) failed: cannot load .*state\.bin\.zst: HTTP 404/,
      );
      expect(await broken.locator('[data-testid="guest-status"]').getAttribute('data-state')).toBe('failed');
      const live = broken.locator('[data-testid="live-mounts"]');
      expect(await live.getAttribute('data-backend')).toBe('model');
      expect(await live.innerText()).toContain("This is the model's table: the guest did not start.");
      expect(
        await broken.locator('lesson-step[data-step="tmpfs"] button[data-testid="run"]').innerText(),
      ).toBe('guest unavailable');
      expect(
        await broken.locator('lesson-step[data-step="tmpfs"] [data-testid="output"]').innerText(),
      ).toContain('none on /tmp type tmpfs (rw,relatime)');
      // No shell will come on the terminal's line: a typed line says why instead of waiting.
      await expect.poll(() => broken.locator('guest-terminal').getAttribute('data-tty')).toBe('none');
      await broken.locator('guest-terminal .xterm').click();
      await broken.keyboard.type('hostname');
      await broken.keyboard.press('Enter');
      await expect
        .poll(() => broken.locator('guest-terminal .xterm-rows').innerText())
        .toMatch(/c1# hostname\s*\n\(the guest failed to start: /);
      await broken.screenshot({
        path: path.join(SHOTS, '06-guest-failed.png'),
        fullPage: true,
        timeout: 60_000,
      });
    } finally {
      await broken.close();
    }
  }, 90_000);
});
