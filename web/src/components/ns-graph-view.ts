// The namespace graph: processes on top, one node per namespace below (a row per kind), an edge from
// each process to each namespace it is in. A namespace with several edges is shared.
import { css, html, LitElement, svg } from 'lit';
import { nsGraph, type NsNode } from '../ns-graph.ts';
import { tableStyles } from './shared-styles.ts';

const COL = 200;
const ROW = 46;
const TOP = 44;
/** One colour per process, for its edges; shared nodes get the neutral fill. */
const COLOURS = ['#8a6d00', '#2b4a8a', '#1b7a3a', '#a03a8a'];

export class NsGraphView extends LitElement {
  static override properties = { table: { type: String } };
  /** "process\t..." header, then "kind\tlink..." rows (docker-scripts.ts, model-docker.ts). */
  declare table: string;

  constructor() {
    super();
    this.table = '';
  }

  static override styles = [
    tableStyles,
    css`
      svg {
        font:
          12px ui-monospace,
          monospace;
      }
      .proc {
        font:
          600 12px system-ui,
          sans-serif;
      }
      rect.shared {
        fill: #c8f0c8;
        stroke: #1b7a3a;
      }
      rect.own {
        fill: #f6f7fb;
        stroke: #99a;
      }
    `,
  ];

  override render() {
    const g = nsGraph(this.table);
    const n = g.processes.length;
    const width = Math.max(n, 1) * COL;
    const height = TOP + g.kinds.length * ROW + 10;
    const px = (i: number) => COL / 2 + i * COL;
    const kindY = (k: string) => TOP + 18 + g.kinds.indexOf(k) * ROW;
    const cx = (node: NsNode) => node.members.reduce((s, m) => s + px(m), 0) / node.members.length;
    return html`<figure data-testid="ns-graph" style="margin:0">
      <figcaption>
        Each box is one namespace (its inode); a line joins a process to each namespace it is in.
        <span style="background:#c8f0c8">Green</span>: shared by more than one process.
      </figcaption>
      <svg
        role="img"
        aria-label="namespace graph of ${g.processes.join(', ')}"
        viewBox="0 0 ${width} ${height}"
        width=${width}
        height=${height}
      >
        ${g.processes.map(
          (p, i) =>
            svg`<text class="proc" x=${px(i)} y="14" text-anchor="middle" data-testid="process">${p.length > 26 ? `${p.slice(0, 25)}…` : p}</text>
            <circle cx=${px(i)} cy="24" r="5" fill=${COLOURS[i % COLOURS.length] ?? '#444'}></circle>`,
        )}
        ${
          // Every edge first, then the nodes over them: a line never crosses a box's label.
          g.nodes.map((node) =>
            node.members.map(
              (m) =>
                svg`<line x1=${px(m)} y1="29" x2=${cx(node)} y2=${kindY(node.kind) - 12} stroke=${COLOURS[m % COLOURS.length] ?? '#444'} stroke-opacity="0.45"></line>`,
            ),
          )
        }
        ${g.nodes.map((node) => {
          const x = cx(node);
          const y = kindY(node.kind);
          return svg`<g data-testid="ns-node" data-kind=${node.kind} data-members=${node.members.length}>
              <rect class=${node.members.length > 1 ? 'shared' : 'own'} x=${x - 76} y=${y - 12} width="152" height="22" rx="4"></rect>
              <text x=${x} y=${y + 3} text-anchor="middle">${node.link}</text>
            </g>`;
        })}
      </svg>
    </figure>`;
  }
}
customElements.define('ns-graph-view', NsGraphView);
