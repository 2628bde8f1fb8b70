#!/usr/bin/env node
// Entry of the `cgm` command. The images run compiled JavaScript (`npm run build` lays cli/main.js
// beside cli/main.ts); a checkout has none and runs the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const MIN_NODE = 22; // package.json engines
if (Number(process.versions.node.split('.')[0]) < MIN_NODE) {
  process.stderr.write(
    `cgm: Node >= ${MIN_NODE} is required, this is ${process.version}: \`npm run setup\` provides Node 24 ` +
      'where the machine has an older one; then `source scripts/use-node.sh`\n',
  );
  process.exit(78);
}

const compiled = new URL('../cli/main.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
