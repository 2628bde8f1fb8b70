// What a GPU worker can do beyond the engine is announced by the task queues it polls: next to the shared
// entry queue, a worker that loaded an LPIPS graph also answers getHostQueue on `<entry>-lpips`. A run
// that must have LPIPS asks that queue for its host (so it is pinned to a host that computes it), and a
// client can see before it starts anything whether any worker polls it. Dependency-free: the CLI, the
// API and the GPU worker import it alike.

/** The entry queue served only by GPU workers with an LPIPS graph. */
export function lpipsEntryQueue(entryQueue: string): string {
  return `${entryQueue}-lpips`;
}
