// A copy-up, animated: the layers before the write, then (after a moment, or on "replay") the layers
// after it, where the entries that appeared in the upper layer slide in from the lower layer they were
// copied from (or, for a delete, a whiteout appears).
import { css, html, LitElement } from 'lit';
import { copyUp } from '../copy-up.ts';
import { buttonStyles, ENTRY_LABEL, layerCellStyles, tableStyles } from './shared-styles.ts';

/** How long the "before" picture stays before the write is shown: long enough to read it. */
const BEFORE_MS = 900;

export class CopyUpView extends LitElement {
  static override properties = { listing: { type: String }, phase: { state: true } };
  declare listing: string;
  declare phase: 'before' | 'after';
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.listing = '';
    this.phase = 'before';
  }

  static override styles = [
    tableStyles,
    layerCellStyles,
    buttonStyles,
    css`
      td {
        text-align: center;
        min-width: 5em;
      }
      .new {
        animation: copy-up 0.9s ease-out;
        outline: 2px solid #f9a825;
      }
      @keyframes copy-up {
        from {
          transform: translateY(1.6em);
          opacity: 0;
        }
        to {
          transform: none;
          opacity: 1;
        }
      }
      @media (prefers-reduced-motion: reduce) {
        .new {
          animation: none;
        }
      }
      p {
        margin: 0.3rem 0;
      }
    `,
  ];

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('listing')) this.play();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.timer);
  }

  private play(): void {
    clearTimeout(this.timer);
    this.phase = 'before';
    this.timer = setTimeout(() => (this.phase = 'after'), BEFORE_MS);
  }

  override render() {
    const c = copyUp(this.listing);
    const after = this.phase === 'after';
    const order = c.layers.map((_, i) => i).reverse(); // upper first, as overlayfs looks
    return html`<figure style="margin:0" data-testid="copy-up" data-phase=${this.phase}>
      <p>
        <strong>${after ? `after: ${c.action}` : 'before the write'}</strong>
        <button @click=${() => this.play()} aria-label="replay the copy-up">replay</button>
      </p>
      <table>
        <thead>
          <tr>
            <th scope="col">file</th>
            ${order.map((i) => html`<th scope="col">${c.layers[i]}</th>`)}
            <th scope="col">merged view reads</th>
          </tr>
        </thead>
        <tbody>
          ${c.rows.map((r) => {
            const origin = after ? r.originAfter : r.originBefore;
            return html`<tr data-path=${r.path}>
              <th scope="row">${r.path}</th>
              ${order.map((i) => {
                const cell = r.cells[i];
                const e = cell ? (after ? cell.after : cell.before) : null;
                if (!e) return html`<td></td>`;
                const fresh = after && cell?.before === null;
                const cls = `${e === 'w' ? 'whiteout' : i === origin ? 'visible' : 'shadowed'} ${fresh ? 'new' : ''}`;
                return html`<td class=${cls} data-layer=${c.layers[i] ?? ''}>${ENTRY_LABEL[e]}</td>`;
              })}
              <td data-testid="origin">${origin === null ? '(deleted)' : c.layers[origin]}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </figure>`;
  }
}
customElements.define('copy-up-view', CopyUpView);
