// The project runs on Node 24 LTS (package.json engines: >= 22, the AWS SDK's own floor): the tests
// run on it (scripts/setup.sh provides it where the machine's node is older), the AWS SDK prints no
// Node-version warning, and `cgm` refuses an older Node with one line.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const major = (version: string) => Number(version.replace(/^v/, '').split('.')[0]);

function run(file: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: root }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

describe('Node runtime', () => {
  it('the tests run on Node 24 or newer, within package.json engines', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe('>=22');
    expect(major(process.version)).toBeGreaterThanOrEqual(24);
  });

  it('an S3 client prints no AWS SDK Node-version warning', async () => {
    const script =
      "const { S3Client } = require('@aws-sdk/client-s3'); new S3Client({ region: 'us-east-1' }).destroy();";
    const r = await run(process.execPath, ['-e', script]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    expect(r.stderr).toBe('');
  });

  it('cgm refuses a Node older than 22 with one line and exit code 78', async () => {
    // This Node posing as Node 20: the check reads process.versions before anything else loads.
    const as20 = [
      "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '20.20.2' } });",
      "Object.defineProperty(process, 'version', { value: 'v20.20.2' });",
      "process.argv.push('--version');",
      "await import('./bin/cgm.mjs');",
    ].join(' ');
    const r = await run(process.execPath, ['--input-type=module', '-e', as20]);
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('Node >= 22 is required, this is v20.20.2');
  });
});
