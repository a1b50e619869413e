// One runnable step of a lesson: the model's answer at once, the guest's when the user runs it (or the
// lesson asks for it). The badge always says which backend produced what is shown.
import { css, html, LitElement, nothing } from 'lit';
import type { GuestClient } from '../guest-client.ts';
import { guestScript, type Step } from '../lessons.ts';
import { badgeStyles, buttonStyles, outputStyles } from './shared-styles.ts';
import './layer-stack-view.ts';
import './ns-table.ts';
import './ns-graph-view.ts';
import './mount-diff-view.ts';
import './copy-up-view.ts';

interface Answer {
  backend: 'model' | 'guest';
  text: string;
  stderr: string;
  exitCode: number;
  ms: number;
}

export const BACKEND_LABEL = { model: 'model', guest: 'guest: real Linux in v86' } as const;

/**
 * The guest's answers by step id, kept for the page's life: a lesson's step elements are made anew
 * each time the lesson is shown, and a guest answer took seconds to get.
 */
const guestAnswers = new Map<string, Answer>();

export class LessonStep extends LitElement {
  static override properties = {
    step: { attribute: false },
    guest: { attribute: false },
    guestReady: { type: Boolean },
    guestFailed: { type: Boolean },
    answer: { state: true },
    running: { state: true },
    error: { state: true },
    script: { state: true },
  };

  // declare + constructor, not class fields: a field would shadow lit's reactive accessors (ES2022).
  declare step: Step | null;
  declare guest: GuestClient | null;
  declare guestReady: boolean;
  declare guestFailed: boolean;
  declare answer: Answer | null;
  declare running: boolean;
  declare error: string;
  declare script: string;

  constructor() {
    super();
    this.step = null;
    this.guest = null;
    this.guestReady = false;
    this.guestFailed = false;
    this.answer = null;
    this.running = false;
    this.error = '';
    this.script = '';
  }

  static override styles = [
    badgeStyles,
    outputStyles,
    buttonStyles,
    css`
      :host {
        display: block;
        border: 1px solid #ccd;
        border-radius: 6px;
        padding: 0.75rem;
        margin: 0 0 1rem;
        background: #fff;
      }
      h3 {
        margin: 0 0 0.25rem;
        font-size: 1.05rem;
      }
      p {
        margin: 0.25rem 0 0.5rem;
      }
      pre {
        margin: 0.5rem 0;
      }
      pre.stderr {
        color: #ffb4a8;
      }
      textarea {
        width: 100%;
        box-sizing: border-box;
        min-height: 8em;
        font:
          12.5px ui-monospace,
          monospace;
      }
      .row {
        display: flex;
        gap: 0.5rem;
        align-items: center;
        flex-wrap: wrap;
      }
      .error {
        color: #a00;
      }
      .no-model {
        color: #555;
        font-style: italic;
      }
    `,
  ];

  override willUpdate(): void {
    if (this.step && this.script === '') this.script = this.step.script;
    if (this.step && this.answer === null) {
      this.answer = guestAnswers.get(this.step.id) ?? this.modelAnswer(this.step);
    }
  }

  /** null when the model has no answer for this step (it cannot run a command). */
  private modelAnswer(step: Step): Answer | null {
    if (!step.model) return null;
    const t0 = performance.now();
    try {
      const text = step.model(this.script || step.script);
      return { backend: 'model', text, stderr: '', exitCode: 0, ms: performance.now() - t0 };
    } catch (err) {
      return { backend: 'model', text: '', stderr: String(err), exitCode: 1, ms: 0 };
    }
  }

  /** Runs the step in the guest; resolves when the answer is shown. */
  async run(): Promise<void> {
    if (!this.step || !this.guest || this.running) return;
    this.running = true;
    this.error = '';
    try {
      // A build runs several containers: minutes on a loaded machine, so a generous bound.
      const r = await this.guest.run(guestScript(this.step, this.script), 180_000);
      this.answer = { backend: 'guest', text: r.stdout, stderr: r.stderr, exitCode: r.exitCode, ms: r.ms };
      guestAnswers.set(this.step.id, this.answer);
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.running = false;
    }
  }

  private renderAnswer(a: Answer) {
    const display = this.step?.display ?? 'text';
    const pictures = {
      text: nothing,
      layers: html`<layer-stack-view .listing=${a.text}></layer-stack-view>`,
      namespaces: html`<ns-table .rows=${a.text}></ns-table>`,
      nsgraph: html`<ns-graph-view .table=${a.text}></ns-graph-view>`,
      mountdiff: html`<mount-diff-view .text=${a.text}></mount-diff-view>`,
      copyup: html`<copy-up-view .listing=${a.text}></copy-up-view>`,
    };
    const picture = a.exitCode === 0 ? pictures[display] : nothing;
    return html`<div data-testid="answer" data-backend=${a.backend}>
      <div class="row">
        <span class="badge ${a.backend}" data-testid="backend">${BACKEND_LABEL[a.backend]}</span>
        <small
          >${a.ms < 1 ? '<1' : Math.round(a.ms)}
          ms${a.exitCode !== 0 ? `, exit code ${a.exitCode}` : ''}</small
        >
      </div>
      ${picture}
      ${
        display === 'text' || a.exitCode !== 0
          ? html`<pre data-testid="output">${a.text}</pre>`
          : html`<details>
              <summary>raw listing</summary>
              <pre data-testid="output">${a.text}</pre>
            </details>`
      }
      ${a.stderr ? html`<pre class="stderr" data-testid="stderr">${a.stderr}</pre>` : nothing}
    </div>`;
  }

  override render() {
    const step = this.step;
    if (!step) return nothing;
    return html`<h3>${step.title}</h3>
      <p>${step.explain}</p>
      <details ?open=${step.source === 'Dockerfile'}>
        <summary>
          the ${step.source === 'Dockerfile' ? 'Dockerfile' : 'script'}
          (editable)${step.container ? ', run after starting container c1' : ''}
        </summary>
        <textarea
          aria-label="${step.source === 'Dockerfile' ? 'Dockerfile' : 'script'} for ${step.title}"
          spellcheck="false"
          rows=${Math.min(24, this.script.split('\n').length + 1)}
          .value=${this.script}
          @input=${(e: Event) => (this.script = (e.target as HTMLTextAreaElement).value)}
        ></textarea>
      </details>
      <div class="row">
        <button
          data-testid="run"
          ?disabled=${!this.guestReady || this.running}
          @click=${() => void this.run()}
        >
          ${
            this.running
              ? 'running in the guest…'
              : this.guestReady
                ? 'Run in the guest'
                : this.guestFailed
                  ? 'guest unavailable'
                  : 'guest restoring…'
          }
        </button>
        ${
          this.answer?.backend === 'guest' && step.model
            ? html`<button @click=${() => (this.answer = this.step ? this.modelAnswer(this.step) : null)}>
                Show the model's answer
              </button>`
            : nothing
        }
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${
        this.answer
          ? this.renderAnswer(this.answer)
          : html`<p class="no-model" data-testid="no-model">
              The kernel model has no shell to run this step's commands: its answer comes from the guest.
            </p>`
      }`;
  }
}
customElements.define('lesson-step', LessonStep);
