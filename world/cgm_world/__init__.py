"""The causal street world: a known SCM, a pure renderer, captions, and the training of a small SDXL-architecture
model and an attribute oracle on it. Offline tooling only; the running system reads world/scm.json from TypeScript."""
