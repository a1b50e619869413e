// Styles the components share (each lit component has its own shadow root, so the page's CSS does not
// reach in): the backend badge, terminal-like output, buttons and the pictures' tables.
import { css } from 'lit';

export const badgeStyles = css`
  .badge {
    display: inline-block;
    padding: 1px 8px;
    border-radius: 10px;
    font-size: 12px;
    font-weight: 600;
  }
  .badge.model {
    background: #e6e0ff;
    color: #3a2a8a;
  }
  .badge.guest {
    background: #d4f5d4;
    color: #145214;
  }
`;

export const outputStyles = css`
  pre {
    background: #11151c;
    color: #e6e6e6;
    padding: 0.5rem;
    overflow-x: auto;
    font-size: 12.5px;
    white-space: pre;
  }
`;

export const buttonStyles = css`
  button {
    font: inherit;
    padding: 0.35rem 0.9rem;
    border-radius: 4px;
    border: 1px solid #447;
    background: #2b4a8a;
    color: #fff;
    cursor: pointer;
  }
  button:disabled {
    background: #99a;
    border-color: #99a;
    cursor: default;
  }
  button:focus-visible {
    outline: 3px solid #f9a825;
    outline-offset: 2px;
  }
`;

/** A picture's table: scrolls inside its box on a narrow screen rather than widening the page. */
export const tableStyles = css`
  :host {
    display: block;
    overflow-x: auto;
  }
  table {
    border-collapse: collapse;
    font:
      13px/1.4 ui-monospace,
      monospace;
  }
  th,
  td {
    border: 1px solid #ccd;
    padding: 2px 6px;
  }
  th {
    background: #eef;
    font-weight: 600;
  }
  caption {
    text-align: left;
    font:
      13px/1.4 system-ui,
      sans-serif;
    padding: 0 0 0.3rem;
  }
`;

/** A layer's entry in the layer pictures: what the merged view shows, what it shadows, a whiteout. */
export const layerCellStyles = css`
  .visible {
    background: #c8f0c8;
  }
  .shadowed {
    background: #f3f3f3;
    color: #888;
  }
  .whiteout {
    background: #f8c8c8;
  }
`;

export const ENTRY_LABEL = { f: 'file', l: 'link', w: 'whiteout', d: 'dir' } as const;
