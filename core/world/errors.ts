// Bad input to the causal street world (world/scm.json): an unknown attribute or value, malformed noise,
// a malformed `do`, or an SCM file that breaks its own rules. The message names the field, the value and
// what was expected; it matches WorldInputError of world/cgm_world/scm.py where both report the same case.

export class WorldInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorldInputError';
  }
}
