// The one v86 machine every guest runs on: the Node host (v86-host.ts), the browser worker
// (browser-guest.ts) and the scripts that boot and save the states they restore
// (images/guest/snapshot.mjs, web-snapshot.mjs). A saved state restores only into the machine that
// saved it, so its devices are defined here once.

export interface MachineOptions {
  /** v86.wasm: a path in Node, a URL in the browser. */
  wasmPath: string;
  bios: ArrayBuffer;
  memoryBytes: number;
  /** Boot at once (a cold boot); false when a state is restored into it. */
  autostart: boolean;
  /** A second UART (ttyS1): the web demo's terminal line in container c1. */
  uart1?: boolean;
}

/** v86's constructor options for the machine (the boot files and wasm hooks are the caller's). */
export function machineOptions(o: MachineOptions) {
  return {
    wasm_path: o.wasmPath,
    bios: { buffer: o.bios },
    memory_size: o.memoryBytes,
    vga_memory_size: 2 * 1024 * 1024,
    filesystem: {},
    autostart: o.autostart,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
    ...(o.uart1 ? { uart1: true } : {}),
  };
}
