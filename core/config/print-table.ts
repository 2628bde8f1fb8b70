// Prints the README configuration table: `npx tsx core/config/print-table.ts`.
import { renderConfigTable } from './config.js';

process.stdout.write(`${renderConfigTable()}\n`);
