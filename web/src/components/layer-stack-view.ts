// The layer stack as a picture: one column per layer (top layer left, as overlayfs looks them up), one
// row per path, and where the merged view takes each file from.
import { css, html, LitElement } from 'lit';
import { layerStack } from '../layer-stack.ts';
import { ENTRY_LABEL, layerCellStyles, tableStyles } from './shared-styles.ts';

export class LayerStackView extends LitElement {
  static override properties = { listing: { type: String } };
  declare listing: string;

  constructor() {
    super();
    this.listing = '';
  }

  static override styles = [
    tableStyles,
    layerCellStyles,
    css`
      th,
      td {
        text-align: center;
      }
      th {
        max-width: 9em;
      }
      td.path {
        text-align: left;
        white-space: nowrap;
      }
      .gone {
        text-decoration: line-through;
        color: #a33;
      }
    `,
  ];

  override render() {
    const stack = layerStack(this.listing);
    const order = stack.layers.map((_, i) => i).reverse(); // top layer first
    return html`<table data-testid="layer-stack">
      <caption>
        Top layer on the left.
        <span class="visible">green</span
        >: what the merged view shows;
        <span class="shadowed">grey</span
        >: shadowed by a higher layer;
        <span class="whiteout">red</span
        >: a whiteout. busybox's applet links in bin/ are not listed.
      </caption>
      <thead>
        <tr>
          <th scope="col">path</th>
          ${order.map((i) => html`<th scope="col">${stack.layers[i]}</th>`)}
          <th scope="col">merged view</th>
        </tr>
      </thead>
      <tbody>
        ${stack.rows.map(
          (row) =>
            html`<tr data-path=${row.path}>
              <td class="path ${row.origin === null ? 'gone' : ''}">${row.path}</td>
              ${order.map((i) => {
                const c = row.cells[i] ?? null;
                if (c === null) return html`<td></td>`;
                const cls = c === 'w' ? 'whiteout' : i === row.origin ? 'visible' : 'shadowed';
                return html`<td class=${cls}>${ENTRY_LABEL[c]}</td>`;
              })}
              <td data-testid="origin">
                ${
                  row.origin !== null
                    ? `from ${stack.layers[row.origin] ?? '?'}`
                    : `deleted by ${stack.layers[row.hiddenBy ?? -1] ?? '?'}`
                }
              </td>
            </tr>`,
        )}
      </tbody>
    </table>`;
  }
}
customElements.define('layer-stack-view', LayerStackView);
