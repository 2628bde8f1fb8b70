// Prints the README's configuration table (every CGM_* variable): `npx tsx scripts/config-table.ts`.
import { renderConfigTable } from '../core/config/config.js';

const engine = [
  '| `CGM_DEVICE` | (unset) | `cgm edit`: execution provider, overrides `CGM_ENGINE_DEVICE` |',
  '| `CGM_ALLOW_CPU_FALLBACK` | `false` | use the CPU, with a warning, when CUDA cannot start (never silently) |',
  '| `CGM_PYTHON` | `python3` | interpreter that creates `.venv` in `scripts/setup.sh` |',
];
process.stdout.write(`${renderConfigTable()}\n${engine.join('\n')}\n`);
