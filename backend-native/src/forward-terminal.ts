// Foreground `run -t`: the shim relays the pty; the user's terminal goes raw and its resizes pass on
// as SIGWINCH. Used by the CLI and by the warm daemon's thin client (no other imports: it is small).

/** Returns the undo. `shim` is the monitor that relays the pty. */
export function forwardTerminal(shim: { kill(signal: NodeJS.Signals): unknown }, stdin: boolean): () => void {
  const raw = stdin && process.stdin.isTTY === true;
  if (raw) process.stdin.setRawMode(true);
  const onResize = () => void shim.kill('SIGWINCH');
  process.stdout.on('resize', onResize);
  return () => {
    process.stdout.off('resize', onResize);
    if (raw) {
      process.stdin.setRawMode(false);
      process.stdin.pause();
    }
  };
}
