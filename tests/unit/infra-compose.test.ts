// The one-machine compose file parses and names only the images and published ports that
// docs/deployment.md ("Images and ports") documents, so docs and stack cannot drift apart.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..', '..');
type Service = { image?: string; ports?: string[]; build?: { dockerfile?: string }; command?: string[] };
const compose = parse(readFileSync(join(root, 'infra/compose/compose.yaml'), 'utf8')) as {
  services: Record<string, Service>;
};
const docs = readFileSync(join(root, 'docs/deployment.md'), 'utf8');

/** Rows of the "Images and ports" table: | service | image | ports |. */
function documented(): Map<string, { image: string; ports: string[] }> {
  const section = docs.split(/^## /m).find((s) => s.startsWith('Images and ports'));
  if (!section) throw new Error('docs/deployment.md has no "## Images and ports" section');
  const rows = new Map<string, { image: string; ports: string[] }>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim().replace(/`/g, ''));
    if (cells.length < 5 || cells[1] === 'service' || cells[1].startsWith('-')) continue;
    const ports = cells[3] === '—' || cells[3] === '' ? [] : cells[3].split(',').map((p) => p.trim());
    rows.set(cells[1], { image: cells[2], ports });
  }
  return rows;
}

describe('infra/compose/compose.yaml', () => {
  const docRows = documented();

  it('runs the whole stack: Temporal, S3, vLLM, GPU worker, light worker, API', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'gpu-worker', 'light-worker', 's3', 'temporal', 'vlm'].sort(),
    );
    expect(compose.services['gpu-worker'].command).toEqual(['worker', 'gpu']);
    expect(compose.services['light-worker'].command).toEqual(['worker', 'light']);
    expect(compose.services.api.command).toEqual(['api']);
    expect(compose.services['gpu-worker'].build?.dockerfile).toBe('Dockerfile.gpu');
    expect(compose.services['light-worker'].build?.dockerfile).toBe('Dockerfile.light');
    expect(compose.services.vlm.command).toEqual(
      expect.arrayContaining(['--model', 'Qwen/Qwen3-VL-30B-A3B-Instruct', '--gpu-memory-utilization']),
    );
  });

  it('names only documented images, pinned to a tag', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      const row = docRows.get(name);
      expect(row, `service ${name} is not in docs/deployment.md`).toBeDefined();
      expect(svc.image, name).toBe(row?.image);
      expect(svc.image, name).toMatch(/:[^:]+$/);
      expect(svc.image, name).not.toMatch(/:latest$/);
    }
  });

  it('publishes only documented ports, on loopback only', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      const published = (svc.ports ?? []).map((p) => {
        const m = /^127\.0\.0\.1:(\d+):(\d+)$/.exec(p);
        expect(m, `${name} publishes ${p} beyond loopback`).not.toBeNull();
        return m?.[1] ?? '';
      });
      expect(published.sort(), name).toEqual([...(docRows.get(name)?.ports ?? [])].sort());
    }
  });
});
