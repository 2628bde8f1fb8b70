// cgm_export.fusion_check on the tiny UNet: onnxruntime's transformer optimizer (CPU-safe fusions) keeps
// both graph outputs, noise_pred and the cross-attention probabilities xattn_mean the CSG masks read,
// within 1e-4 of the plain graph; the report names what fused and whether the attention fusion applied.
// Timings are reported by the tool, never asserted here.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTinyFixtures, FIXTURES_TIMEOUT_MS, runExportModule } from '../support/fixtures.js';

const CHECK_TIMEOUT_MS = 240_000;

interface FusionReport {
  ok: boolean;
  attention_fusion: string;
  nodes: [number, number];
  op_changes: Record<string, [number, number]>;
  outputs_kept: boolean;
  rel_error: Record<string, number>;
  seconds_per_call: { plain: number; fused: number; ratio: number };
}

const runCheck = (args: string[]) => runExportModule('cgm_export.fusion_check', args, CHECK_TIMEOUT_MS);

let tmp: string;
let unet: string;
beforeAll(async () => {
  unet = join((await ensureTinyFixtures()).bundleDir, 'unet/model.onnx');
  tmp = await mkdtemp(join(tmpdir(), 'cgm-fusion-'));
}, FIXTURES_TIMEOUT_MS);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('cgm_export.fusion_check (tiny UNet, CPU)', () => {
  it('fuses Gelu and SkipLayerNormalization and keeps noise_pred and xattn_mean', async () => {
    const out = join(tmp, 'report.json');
    const { code, stderr } = await runCheck(['--unet', unet, '--out', out, '--repeat', '1', '--batch', '2']);
    expect(code, stderr.slice(-2000)).toBe(0);
    const report = JSON.parse(await readFile(out, 'utf8')) as FusionReport;
    expect(report.ok).toBe(true);
    expect(report.outputs_kept).toBe(true);
    expect(Object.keys(report.rel_error)).toEqual(['noise_pred', 'xattn_mean']);
    for (const e of Object.values(report.rel_error)) expect(e).toBeLessThanOrEqual(1e-4);
    // What fused: Erf-based GELUs into Gelu, residual Add + LayerNorm into SkipLayerNormalization.
    expect(report.op_changes.Gelu?.[1]).toBeGreaterThan(0);
    expect(report.op_changes.SkipLayerNormalization?.[1]).toBeGreaterThan(0);
    expect(report.nodes[1]).toBeLessThan(report.nodes[0]);
    // The attention fusion either applied or is reported as failed, never silently skipped.
    expect(report.attention_fusion).toMatch(/^(on|failed: .+)$/);
    expect(report.seconds_per_call.ratio).toBeGreaterThan(0);
  }, 300_000);

  it('names a missing UNet file (exit 2)', async () => {
    const { code, stderr } = await runCheck(['--unet', join(tmp, 'nope.onnx'), '--out', join(tmp, 'x.json')]);
    expect(code).toBe(2);
    expect(stderr).toContain('no such file (expected a bundle');
  });
});
