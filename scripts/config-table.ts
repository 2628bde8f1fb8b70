// Prints the README's configuration tables (every CGM_* variable): `npx tsx scripts/config-table.ts`.
import { API_ENV_VARS } from '../api/config.js';
import { renderConfigTable } from '../core/config/config.js';

const esc = (s: string) => s.replace(/\|/g, '\\|');
const api = Object.entries(API_ENV_VARS).map(
  ([name, [, def, meaning]]) =>
    `| \`${name}\` | ${def === '' ? '(empty)' : `\`${esc(def)}\``} | ${esc(meaning)} |`,
);
const engine = [
  '| `CGM_DEVICE` | (unset) | `cgm edit`: execution provider, overrides `CGM_ENGINE_DEVICE` |',
  '| `CGM_ALLOW_CPU_FALLBACK` | `false` | use the CPU, with a warning, when CUDA cannot start (never silently) |',
  '| `CGM_PYTHON` | `python3` | interpreter that creates `.venv` in `scripts/setup.sh` |',
];
process.stdout.write(
  `${renderConfigTable()}\n${engine.join('\n')}\n\nHTTP API (\`api/config.ts\`):\n\n| variable | default | meaning |\n|---|---|---|\n${api.join('\n')}\n`,
);
