// Long-running commands (workers, servers) stop cleanly on the first SIGINT or SIGTERM.

/** Resolves on the first SIGINT/SIGTERM. */
export function stopSignal(): Promise<string> {
  return new Promise((done) => {
    const on = (sig: string) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      done(sig);
    };
    process.once('SIGINT', on);
    process.once('SIGTERM', on);
  });
}
