// The smallest workflow: proves the dev server, a bundled Worker and the client work together.
// Deterministic by construction (no I/O, no clock), as all workflow code must be.
export async function helloWorkflow(name: string): Promise<string> {
  return `hello, ${name}`;
}
