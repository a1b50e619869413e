// Namespace inodes side by side (host, container, exec'd process), same inode = same namespace.
import { css, html, LitElement } from 'lit';
import { tableStyles } from './shared-styles.ts';

export class NsTable extends LitElement {
  static override properties = { rows: { type: String } };
  /** "kind\thost\tcontainer\texec" lines. */
  declare rows: string;

  constructor() {
    super();
    this.rows = '';
  }

  static override styles = [
    tableStyles,
    css`
      .same {
        background: #c8f0c8;
      }
      .host {
        background: #fde8c8;
      }
    `,
  ];

  override render() {
    const rows = this.rows
      .split('\n')
      .map((l) => l.split('\t'))
      .filter((r) => r.length === 4);
    return html`<table data-testid="ns-table">
      <caption>
        <span class="same">green</span
        >: the exec'd process shares the container's namespace;
        <span class="host">orange</span
        >: the container shares the host's.
      </caption>
      <thead>
        <tr>
          <th scope="col">namespace</th>
          <th scope="col">host</th>
          <th scope="col">c1</th>
          <th scope="col">exec</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(([kind, host, ctr, exec]) => {
          const shared = host === ctr;
          return html`<tr data-kind=${kind ?? ''}>
            <th scope="row">${kind}</th>
            <td class=${shared ? 'host' : ''}>${host}</td>
            <td class=${shared ? 'host' : ''}>${ctr}</td>
            <td class=${exec === ctr ? 'same' : ''}>${exec}</td>
          </tr>`;
        })}
      </tbody>
    </table>`;
  }
}
customElements.define('ns-table', NsTable);
