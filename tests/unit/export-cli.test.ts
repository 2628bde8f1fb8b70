// `cgm export-models` argument checks (no Python run: every case fails before spawning the tool).
import { describe, expect, it } from 'vitest';
import { CliError } from '../../cli/cli-error.js';
import { run } from '../../cli/commands/export-models.js';

describe('cgm export-models arguments', () => {
  it('needs --out and exactly one of --model / --tiny', async () => {
    await expect(run(['--tiny'])).rejects.toThrow(/--out is required/);
    await expect(run(['--out', '/tmp/x'])).rejects.toThrow(/exactly one of --model or --tiny/);
    await expect(run(['--tiny', '--model', 'm', '--out', '/tmp/x'])).rejects.toThrow(CliError);
  });

  it('rejects traces without --tiny and sizes that are not multiples of 32', async () => {
    await expect(run(['--model', 'm', '--out', '/tmp/x', '--traces'])).rejects.toThrow(
      /--traces needs --tiny/,
    );
    await expect(run(['--model', 'm', '--out', '/tmp/x', '--height', '1000'])).rejects.toThrow(
      /multiple of 32/,
    );
    await expect(run(['--tiny', '--out', '/tmp/x', '--bogus'])).rejects.toThrow(CliError);
  });
});
