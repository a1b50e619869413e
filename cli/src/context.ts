// What every command gets: the engine over the chosen store root and backend.
import type { Engine } from '../../shared/src/engine/engine.js';
import type { Store } from '../../shared/src/store/index.js';
import type { FlagSpec, Parsed } from './flags.js';

export interface Context {
  root: string;
  debug: boolean;
  backendName: string;
  /** Opened lazily: `--help` and usage errors must not need root or koffi. */
  engine(): Promise<Engine>;
  store(): Store;
  /** The host command a detached --rm container's monitor runs once it has ended. */
  removeOnExit(id: string): string[];
  out(text: string): void;
  err(text: string): void;
  /**
   * docker run's --sig-proxy: what the user's process receives goes to `pid` through `kill`;
   * returns the undo. (In the warm daemon, the client proxies them itself.)
   */
  forwardSignals(pid: number, kill: (signal: NodeJS.Signals) => void): () => void;
}

export interface Command {
  name: string;
  usage: string;
  description: string;
  flags: FlagSpec[];
  /** false: flags after the first argument belong to the container's command (run, exec). */
  interspersed?: boolean;
  run(ctx: Context, parsed: Parsed): Promise<number>;
}
