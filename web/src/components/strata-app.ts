// The demo's shell: guest status (progress, ready, error panel), the lesson list, the current lesson,
// and the terminal. The guest starts on load; until it is up every answer comes from the model.
import { css, html, LitElement, nothing, unsafeCSS } from 'lit';
import xtermCss from '@xterm/xterm/css/xterm.css?inline';
import { keyed } from 'lit/directives/keyed.js';
import type { GuestState } from '../guest-client.ts';
import { guestClient } from '../boot.ts';
import { guestScript, LESSONS, type Lesson } from '../lessons.ts';
import { CONTAINER_MOUNTINFO } from '../guest-scripts.ts';
import { containerMountinfo } from '../model-lessons.ts';
import { BACKEND_LABEL } from './lesson-step.ts';
import { badgeStyles, outputStyles } from './shared-styles.ts';
import './lesson-step.ts';
import './guest-terminal.ts';

interface LiveMounts {
  backend: 'model' | 'guest';
  text: string;
}

export class StrataApp extends LitElement {
  static override properties = {
    guestState: { state: true },
    lessonId: { state: true },
    live: { state: true },
  };

  // declare, not fields: a class field would shadow lit's reactive accessors (ES2022 semantics).
  declare guestState: GuestState;
  declare lessonId: string;
  declare live: LiveMounts;
  private readonly guest = guestClient;

  constructor() {
    super();
    this.lessonId = this.fromHash();
    // The model answers at once: this is what the first lesson shows while the guest restores.
    this.live = { backend: 'model', text: containerMountinfo() };
    // The guest started before this element (boot.ts): take its state now, then follow it.
    this.onGuestChange();
    this.guest.addEventListener('change', () => this.onGuestChange());
    window.addEventListener('hashchange', () => (this.lessonId = this.fromHash()));
  }

  override firstUpdated(): void {
    performance.mark('strata-app-rendered'); // bench/web: when the app (and the model's table) showed
  }

  private onGuestChange(): void {
    const s = this.guest.state;
    this.guestState = s;
    if (s.kind !== 'ready') return;
    // c1's table came with the guest's first request; asked again only if that failed.
    if (s.info.first.exitCode === 0 && / - overlay /.test(s.info.first.stdout)) {
      this.live = { backend: 'guest', text: s.info.first.stdout };
    } else void this.showLiveMounts();
  }

  private fromHash(): string {
    const id = location.hash.replace(/^#/, '');
    return LESSONS.some((l) => l.id === id) ? id : (LESSONS[0]?.id ?? '');
  }

  /** As soon as the guest is up: start container c1 and show its real mount table, without a click. */
  private async showLiveMounts(): Promise<void> {
    try {
      const r = await this.guest.run(guestScript({ container: true }, CONTAINER_MOUNTINFO), 60_000);
      if (r.exitCode !== 0) throw new Error(r.stderr || `exit code ${r.exitCode}`);
      this.live = { backend: 'guest', text: r.stdout };
    } catch (err) {
      this.live = { ...this.live, text: `${this.live.text}\n(the guest could not start c1: ${String(err)})` };
    }
  }

  // xterm.js's stylesheet goes in here: the terminal is in this shadow root, out of reach of the page's CSS.
  static override styles = [
    unsafeCSS(xtermCss),
    badgeStyles,
    outputStyles,
    css`
      :host {
        display: block;
        font:
          15px/1.45 system-ui,
          sans-serif;
        color: #1b1b2b;
      }
      header {
        display: flex;
        flex-wrap: wrap;
        gap: 0.5rem 1rem;
        align-items: center;
        padding: 0.6rem 1rem;
        background: #1d2740;
        color: #fff;
      }
      header h1 {
        font-size: 1.15rem;
        margin: 0;
      }
      .status {
        flex: 1;
        min-width: 14rem;
      }
      progress {
        width: 100%;
        max-width: 24rem;
        height: 0.8rem;
      }
      .layout {
        display: grid;
        grid-template-columns: 15rem minmax(0, 1fr);
        gap: 1rem;
        padding: 1rem;
      }
      nav ol {
        list-style: none;
        margin: 0;
        padding: 0;
      }
      nav button {
        display: block;
        width: 100%;
        text-align: left;
        font: inherit;
        padding: 0.5rem 0.6rem;
        margin: 0 0 0.3rem;
        border: 1px solid #ccd;
        border-radius: 5px;
        background: #f6f7fb;
        cursor: pointer;
      }
      nav button[aria-current='page'] {
        background: #2b4a8a;
        color: #fff;
        border-color: #2b4a8a;
      }
      nav button:focus-visible,
      a:focus-visible {
        outline: 3px solid #f9a825;
        outline-offset: 2px;
      }
      nav small {
        display: block;
        opacity: 0.75;
      }
      main {
        min-width: 0;
      }
      h2 {
        margin: 0 0 0.3rem;
      }
      pre .root {
        color: #9fe89f;
        font-weight: 600;
      }
      .error-panel {
        margin: 1rem;
        padding: 0.75rem 1rem;
        border: 2px solid #b00020;
        background: #fff0f0;
        border-radius: 6px;
      }
      .error-panel pre {
        max-height: 14rem;
      }
      section.live {
        border: 1px solid #9ab;
        border-radius: 6px;
        padding: 0.75rem;
        margin: 0 0 1rem;
        background: #f4f8fb;
      }
      section.terminal {
        margin-top: 1.5rem;
      }
      @media (max-width: 720px) {
        .layout {
          /* minmax(0, ...): a plain 1fr track grows to the nav's one-line width (the buttons do not wrap). */
          grid-template-columns: minmax(0, 1fr);
          padding: 0.5rem;
        }
        nav {
          min-width: 0;
        }
        nav ol {
          display: flex;
          overflow-x: auto;
          gap: 0.3rem;
        }
        nav button {
          white-space: nowrap;
          margin: 0;
        }
        nav small {
          display: none;
        }
      }

      guest-terminal .term-bar {
        margin: 0 0 0.4rem;
        font-size: 14px;
      }
      guest-terminal select {
        max-width: 100%;
        font: inherit;
      }
      guest-terminal .term {
        background: #000;
        padding: 4px;
        overflow: hidden;
      }
    `,
  ];

  private onNavKey(e: KeyboardEvent): void {
    // Arrow keys move between lessons (and follow focus), as in a tab list.
    if (!['ArrowDown', 'ArrowUp', 'ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    e.preventDefault();
    const i = LESSONS.findIndex((l) => l.id === this.lessonId);
    const n = LESSONS.length;
    const next =
      e.key === 'Home'
        ? 0
        : e.key === 'End'
          ? n - 1
          : e.key === 'ArrowDown' || e.key === 'ArrowRight'
            ? (i + 1) % n
            : (i - 1 + n) % n;
    const lesson = LESSONS[next];
    if (!lesson) return;
    location.hash = lesson.id;
    this.lessonId = lesson.id;
    void this.updateComplete.then(() =>
      this.renderRoot.querySelector<HTMLButtonElement>(`nav button[data-lesson='${lesson.id}']`)?.focus(),
    );
  }

  private renderStatus() {
    const s = this.guestState;
    if (s.kind === 'restoring') {
      return html`<div
        class="status"
        data-testid="guest-status"
        data-state="restoring"
        role="status"
        aria-live="polite"
      >
        Restoring the guest: ${s.progress.phase}…
        <progress max="1" .value=${s.progress.fraction} aria-label="guest restore progress"></progress>
        <small>meanwhile the kernel model answers</small>
      </div>`;
    }
    if (s.kind === 'ready') {
      // data-phases: when each restore phase began (the bench reads it).
      return html`<div
        class="status"
        data-testid="guest-status"
        data-state="ready"
        data-ready-ms=${Math.round(s.info.readyMs)}
        data-worker-start-ms=${Math.round(s.info.startedAt - performance.timeOrigin)}
        data-phases=${JSON.stringify(s.info.phases.map((p) => [p.phase, Math.round(p.ms)]))}
        role="status"
      >
        Guest running: Linux ${s.info.kernelRelease.replace(/^Linux /, '')} in v86, up in
        ${(s.info.readyMs / 1000).toFixed(1)} s
      </div>`;
    }
    return html`<div class="status" data-testid="guest-status" data-state="failed" role="status">
      Guest failed: answers come from the model
    </div>`;
  }

  private renderLive() {
    const lines = this.live.text.split('\n');
    return html`<section
      class="live"
      data-testid="live-mounts"
      data-backend=${this.live.backend}
      aria-label="container c1's mount table"
    >
      <h3>
        Container c1's mount table
        <span class="badge ${this.live.backend}" data-testid="backend"
          >${BACKEND_LABEL[this.live.backend]}</span
        >
      </h3>
      <p>
        What /proc/self/mountinfo shows inside a running container (read from the guest as
        /proc/PID/mountinfo): its root (first line, highlighted) is the overlay of the image's layers
        (lowerdir=…), its read-write layer (upperdir) and workdir.
        ${
          this.live.backend === 'guest'
            ? ''
            : this.guestState.kind === 'failed'
              ? "This is the model's table: the guest did not start."
              : 'This is the model until the guest is up; then the real one replaces it.'
        }
      </p>
      <pre data-testid="live-output">
${lines.map((l) => html`<span class=${/ \/ .* - overlay /.test(l) ? 'root' : ''}>${l}</span>${'\n'}`)}</pre>
    </section>`;
  }

  /** Keyed by lesson: each lesson gets fresh step elements, so no answer carries over to another. */
  private renderLesson(lesson: Lesson) {
    const ready = this.guestState.kind === 'ready';
    return html`<article data-testid="lesson" data-lesson=${lesson.id}>
      <h2>${lesson.title}</h2>
      <p><small>Seed ${lesson.seed}.</small> ${lesson.summary}</p>
      ${lesson.id === LESSONS[0]?.id ? this.renderLive() : nothing}
      ${lesson.steps.map(
        (step) =>
          html`<lesson-step
            data-step=${step.id}
            .step=${step}
            .guest=${this.guest}
            ?guestReady=${ready}
            ?guestFailed=${this.guestState.kind === 'failed'}
          ></lesson-step>`,
      )}
    </article>`;
  }

  override render() {
    const lesson = LESSONS.find((l) => l.id === this.lessonId) ?? LESSONS[0];
    const s = this.guestState;
    return html`<header>
        <h1>Strata: containers, made visible</h1>
        ${this.renderStatus()}
      </header>
      ${
        s.kind === 'failed'
          ? html`<div class="error-panel" role="alert" data-testid="error-panel">
              <strong>The guest (real Linux in v86) failed:</strong> ${s.error}
              <p>The lessons still run on the kernel model. Reload the page to try again.</p>
              ${
                s.console
                  ? html`<details>
                      <summary>guest console</summary>
                      <pre>${s.console}</pre>
                    </details>`
                  : nothing
              }
            </div>`
          : nothing
      }
      <div class="layout">
        <nav aria-label="lessons" @keydown=${(e: KeyboardEvent) => this.onNavKey(e)}>
          <ol>
            ${LESSONS.map(
              (l, i) =>
                html`<li>
                  <button
                    data-lesson=${l.id}
                    aria-current=${l.id === lesson?.id ? 'page' : 'false'}
                    tabindex=${l.id === lesson?.id ? 0 : -1}
                    @click=${() => {
                      location.hash = l.id;
                      this.lessonId = l.id;
                    }}
                  >
                    ${i + 1}. ${l.title}<small>seed ${l.seed}</small>
                  </button>
                </li>`,
            )}
          </ol>
        </nav>
        <main>
          ${lesson ? keyed(lesson.id, this.renderLesson(lesson)) : nothing}
          <section class="terminal" aria-label="terminal">
            <h3>Terminal</h3>
            <guest-terminal .guest=${this.guest} ?guestReady=${s.kind === 'ready'}></guest-terminal>
          </section>
        </main>
      </div>`;
  }
}
customElements.define('strata-app', StrataApp);
