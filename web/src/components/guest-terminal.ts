// A terminal (xterm.js) on the guest. In container c1 it is a real tty: the web snapshot holds an
// interactive busybox sh inside c1 on the guest's second serial line (ttyS1), and every keystroke goes
// there as typed (line editing, ^C, job control are the guest's own). On the guest itself (outside any
// container) it is a line terminal on the agent's serial line, which runs one framed request at a time:
// each line is run by busybox sh and its output printed. A saved machine without ttyS1 gets the line
// terminal for c1 too (nsenter per line).
// Light DOM: xterm.js measures and styles its own elements, which a shadow root would hide its CSS from.
import { Terminal } from '@xterm/xterm';
import { html, LitElement } from 'lit';
import type { GuestClient, TtyState } from '../guest-client.ts';
import { ensureContainerScript, inContainer } from '../guest-scripts.ts';

export class GuestTerminal extends LitElement {
  static override properties = {
    guest: { attribute: false },
    guestReady: { type: Boolean },
    target: { state: true },
    tty: { state: true },
  };
  declare guest: GuestClient | null;
  declare guestReady: boolean;
  declare target: 'guest' | 'c1';
  /** c1's tty line (GuestClient.tty); shown as data-tty, which bench/web waits for. */
  declare tty: TtyState;
  private term: Terminal | null = null;
  private line = '';
  private busy = false;
  private history: string[] = [];
  /** c1's tty output while the line terminal on the guest is shown: written when c1's is again. */
  private held: Uint8Array[] = [];
  private attachedTo: GuestClient | null = null;

  constructor() {
    super();
    this.guest = null;
    this.guestReady = false;
    this.target = 'c1';
    this.tty = 'pending';
  }

  /** Whether keystrokes go to c1's tty (else to the line editor below). */
  private get raw(): boolean {
    return this.target === 'c1' && this.tty !== 'none';
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
              this.switched(true);
            }}
          >
            <option value="c1" selected>container c1 (a shell in its namespaces on a tty)</option>
            <option value="guest">the guest (v86's Linux, outside any container; line by line)</option>
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
      // c1's tty gets the same size, so its shell's line editing wraps where this screen does.
      this.dataset['size'] = `${term.rows}x${term.cols}`;
      this.guest?.ttyResize(term.cols, term.rows);
    };
    new ResizeObserver(fit).observe(host);
    fit();
    term.writeln(
      "In container c1: a shell on the guest's serial line ttyS1 (a real tty). On the guest itself: " +
        'line by line through its agent.',
    );
    term.onData((data) => void this.onData(data));
    this.attach();
    this.switched();
  }

  override updated(changed: Map<string, unknown>): void {
    this.dataset['tty'] = this.tty;
    if (changed.has('guest')) this.attach();
    if (changed.has('guestReady') && this.guestReady && this.term && !this.raw) {
      this.term.writeln('\r\n[guest ready]');
      this.prompt();
    }
  }

  /** Follows the guest's tty line: its state, and its output into this terminal. */
  private attach(): void {
    const guest = this.guest;
    if (!guest || guest === this.attachedTo || !this.term) return;
    this.attachedTo = guest;
    const follow = (): void => {
      const was = this.tty;
      this.tty = guest.tty;
      if (was !== 'live' && this.tty === 'live') {
        // A fresh prompt: the shell printed its last one before the machine was saved.
        if (this.raw) this.term?.writeln('\r\n[connected]');
        guest.ttyWrite('\r');
      } else if (this.tty === 'none' && this.target === 'c1') {
        this.switched();
      }
    };
    guest.addEventListener('tty', follow);
    follow();
    guest.attachTty((bytes) => {
      if (this.raw) this.term?.write(bytes);
      else this.held.push(bytes);
    });
  }

  /** After a change of target: c1's tty as it is, or the line terminal's prompt. */
  private switched(byUser = false): void {
    const term = this.term;
    if (!term) return;
    // The tty's own line discipline turns \n into \r\n; the agent's output has bare \n.
    term.options.convertEol = !this.raw;
    if (this.raw) {
      if (this.tty === 'pending') term.writeln("\r\n[connecting to c1's shell: type ahead]");
      else if (byUser) term.write("\r\n[c1's shell, as it was left]\r\n");
      for (const b of this.held) term.write(b);
      this.held = [];
    } else {
      this.prompt();
    }
  }

  private prompt(): void {
    this.term?.write(`\r\n${this.target === 'c1' ? 'c1' : 'guest'}# `);
  }

  private async onData(data: string): Promise<void> {
    const term = this.term;
    if (!term) return;
    if (this.raw) {
      this.guest?.ttyWrite(data);
      return;
    }
    if (this.busy) return;
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
    if (this.guest?.state.kind === 'failed') {
      term.writeln('(the guest failed to start: see the message above; the lessons still run on the model)');
      return;
    }
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
