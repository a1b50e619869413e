// The host's mount table next to the container's, one row per mount point, differences highlighted.
import { css, html, LitElement } from 'lit';
import { mountDiff, type DiffKind } from '../mount-diff.ts';
import type { MountInfo } from '../../../shared/src/mount/mountinfo.ts';
import { tableStyles } from './shared-styles.ts';

const LABEL: Record<DiffKind, string> = {
  same: 'same mount',
  changed: 'another mount',
  'host-only': 'host only',
  'container-only': 'container only',
};

function describe(e: MountInfo | null) {
  if (!e) return html`<td class="none">—</td>`;
  const root = e.root === '/' ? '' : ` [${e.root}]`;
  return html`<td>
    ${e.fsType} ${e.source}${root} <small>(${e.mountOptions[0] ?? ''}, dev ${e.major}:${e.minor})</small>
  </td>`;
}

export class MountDiffView extends LitElement {
  static override properties = { text: { type: String } };
  /** "### host ..." then the host's mountinfo, "### container ..." then the container's. */
  declare text: string;

  constructor() {
    super();
    this.text = '';
  }

  static override styles = [
    tableStyles,
    css`
      td {
        white-space: nowrap;
      }
      /* Container paths under overlay2/ are 90 characters: wrap them rather than push the sides away. */
      th[scope='row'] {
        text-align: left;
        font-weight: normal;
        word-break: break-all;
        min-width: 8em;
        max-width: 16em;
      }
      tr.changed td {
        background: #fff3c4;
      }
      tr.host-only td {
        background: #fde8c8;
      }
      tr.container-only td {
        background: #c8f0c8;
      }
      td.none {
        color: #888;
        text-align: center;
      }
    `,
  ];

  override render() {
    const d = mountDiff(this.text);
    return html`<table data-testid="mount-diff">
      <caption>
        One row per mount point.
        <span style="background:#c8f0c8">green</span
        >: only in the container;
        <span style="background:#fde8c8">orange</span
        >: only on the host;
        <span style="background:#fff3c4">yellow</span
        >: another mount at the same path.
      </caption>
      <thead>
        <tr>
          <th scope="col">mount point</th>
          <th scope="col">${d.titles[0]}</th>
          <th scope="col">${d.titles[1]}</th>
          <th scope="col">difference</th>
        </tr>
      </thead>
      <tbody>
        ${d.rows.map(
          (r) =>
            html`<tr class=${r.kind} data-mount=${r.mountPoint} data-kind=${r.kind}>
              <th scope="row">${r.mountPoint}</th>
              ${describe(r.host)} ${describe(r.container)}
              <td>${LABEL[r.kind]}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
  }
}
customElements.define('mount-diff-view', MountDiffView);
