// A terminal (xterm.js) on the guest. The guest's only console is the agent's serial line, which
// speaks one framed request at a time (no pty), so this is a line terminal: each line typed is run by
// the guest's busybox sh, on the guest or inside container c1 (nsenter), and its output printed.
// Light DOM: xterm.js measures and styles its own elements, which a shadow root would hide its CSS from.
import { Terminal } from '@xterm/xterm';
import { html, LitElement } from 'lit';
import type { GuestClient } from '../guest-client.ts';
import { ensureContainerScript, inContainer } from '../guest-scripts.ts';

export class GuestTerminal extends LitElement {
  static override properties = {
    guest: { attribute: false },
    guestReady: { type: Boolean },
    target: { state: true },
  };
  declare guest: GuestClient | null;
  declare guestReady: boolean;
  declare target: 'guest' | 'c1';
  private term: Terminal | null = null;
  private line = '';
  private busy = false;
  private history: string[] = [];

  constructor() {
    super();
    this.guest = null;
    this.guestReady = false;
    this.target = 'c1';
  }

  override createRenderRoot(): HTMLElement {
    return this;
  }

  override render() {
    return html`<div class="term-bar">
        <label
          >Run in:
          <select
            data-testid="term-target"
            @change=${(e: Event) => {
              this.target = (e.target as HTMLSelectElement).value === 'guest' ? 'guest' : 'c1';
              this.prompt();
            }}
          >
            <option value="c1" selected>container c1 (nsenter into its namespaces)</option>
            <option value="guest">the guest (v86's Linux, outside any container)</option>
          </select></label
        >
      </div>
      <div class="term" data-testid="terminal" aria-label="terminal on the guest"></div>`;
  }

  override firstUpdated(): void {
    const host = this.querySelector<HTMLElement>('.term');
    if (!host) return;
    const term = new Terminal({
      convertEol: true,
      fontSize: 13,
      rows: 14,
      cursorBlink: true,
      scrollback: 2000,
    });
    term.open(host);
    this.term = term;
    // Fit the columns to the element (xterm's fit addon is one more dependency for one division): a
    // fixed 80 columns would be wider than a phone.
    const ctx = document.createElement('canvas').getContext('2d');
    const fit = (): void => {
      let charWidth = 7.8;
      if (ctx) {
        ctx.font = `${term.options.fontSize ?? 13}px ${term.options.fontFamily ?? 'monospace'}`;
        charWidth = ctx.measureText('W').width || charWidth;
      }
      const cols = Math.max(20, Math.floor((host.clientWidth - 8) / charWidth));
      if (cols !== term.cols) term.resize(cols, term.rows);
    };
    new ResizeObserver(fit).observe(host);
    fit();
    term.writeln(
      'A line terminal on the guest: each line is run by busybox sh (no pty: no full-screen programs).',
    );
    this.prompt();
    term.onData((data) => void this.onData(data));
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('guestReady') && this.guestReady && this.term) {
      this.term.writeln('\r\n[guest ready]');
      this.prompt();
    }
  }

  private prompt(): void {
    this.term?.write(`\r\n${this.target === 'c1' ? 'c1' : 'guest'}# `);
  }

  private async onData(data: string): Promise<void> {
    const term = this.term;
    if (!term || this.busy) return;
    for (const ch of data) {
      if (ch === '\r') {
        const line = this.line.trim();
        this.line = '';
        term.write('\r\n');
        if (line) await this.exec(line);
        this.prompt();
      } else if (ch === '\x7f' || ch === '\b') {
        if (this.line.length > 0) {
          this.line = this.line.slice(0, -1);
          term.write('\b \b');
        }
      } else if (ch === '\x03') {
        this.line = '';
        term.write('^C');
        this.prompt();
      } else if (ch >= ' ') {
        this.line += ch;
        term.write(ch);
      }
    }
  }

  private async exec(line: string): Promise<void> {
    const term = this.term;
    if (!term) return;
    if (!this.guest || !this.guestReady) {
      term.writeln('(the guest is not running yet)');
      return;
    }
    this.busy = true;
    this.history.push(line);
    try {
      const script =
        this.target === 'c1' ? `${ensureContainerScript()} >/dev/null\n${inContainer(line)}` : line;
      const r = await this.guest.run(script, 60_000);
      if (r.stdout) term.write(r.stdout);
      if (r.stderr) term.write(`\x1b[31m${r.stderr}\x1b[0m`);
      if (r.exitCode !== 0) term.write(`\x1b[33m[exit ${r.exitCode}]\x1b[0m`);
    } catch (err) {
      term.write(`\x1b[31m${err instanceof Error ? err.message : String(err)}\x1b[0m`);
    } finally {
      this.busy = false;
    }
  }
}
customElements.define('guest-terminal', GuestTerminal);
