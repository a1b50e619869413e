// The namespace graph's data: from an inode table ("process\t<name>..." then "<kind>\t<ns link>..."),
// one node per distinct namespace and an edge from each process to each of its namespaces, so that a
// shared namespace is one node with several edges. Pure, so it is tested without a browser.

export interface NsNode {
  kind: string;
  /** The namespace link as readlink prints it, e.g. net:[4026531840]. */
  link: string;
  /** Indexes (in `processes`) of the processes in this namespace. */
  members: number[];
}

export interface NsGraph {
  processes: string[];
  kinds: string[];
  nodes: NsNode[];
}

export function nsGraph(table: string): NsGraph {
  const rows = table
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((r) => r.length > 1);
  const head = rows.find((r) => r[0] === 'process');
  const processes = head ? head.slice(1) : [];
  const kinds: string[] = [];
  const nodes: NsNode[] = [];
  for (const [kind, ...links] of rows) {
    if (kind === undefined || kind === 'process' || links.length !== processes.length) continue;
    kinds.push(kind);
    links.forEach((link, i) => {
      const node = nodes.find((n) => n.kind === kind && n.link === link);
      if (node) node.members.push(i);
      else nodes.push({ kind, link, members: [i] });
    });
  }
  return { processes, kinds, nodes };
}
