// core/constants.ts is the one place for the names and numbers that workflow code shares with the
// activities, schemas, API and CLI (issue 19, item 3). These tests fail when the sides drift: an
// activity throwing a non-retryable type its workflow's retry policy does not name, a literal copy in
// workflow code, a schema bound or default that differs from the constant, an import that would pull a
// package into the workflow bundle.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it, vi } from 'vitest';
import * as C from '../../core/constants.js';

// The workflows' module-level activity proxies, as the workflow code builds them.
const proxies = vi.hoisted(() => [] as { retry?: Record<string, unknown> }[]);
vi.mock('@temporalio/workflow', async (importOriginal) => ({
  ...(await importOriginal<typeof import('@temporalio/workflow')>()),
  proxyActivities: (options: { retry?: Record<string, unknown> }) => {
    proxies.push(options);
    return {};
  },
}));

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Non-retryable list of each activity family, by the name of its failure-type object. */
const FAMILIES: Record<string, { types: Record<string, string>; nonRetryable: readonly string[] }> = {
  VLM_FAILURE: { types: C.VLM_FAILURE, nonRetryable: C.VLM_NON_RETRYABLE_TYPES },
  WEBHOOK_FAILURE: { types: C.WEBHOOK_FAILURE, nonRetryable: C.WEBHOOK_NON_RETRYABLE_TYPES },
  LIGHT_FAILURE: { types: C.LIGHT_FAILURE, nonRetryable: C.LIGHT_NON_RETRYABLE_TYPES },
  BATCH_FAILURE: { types: C.BATCH_FAILURE, nonRetryable: C.BATCH_NON_RETRYABLE_TYPES },
  GPU_FAILURE: { types: C.GPU_FAILURE, nonRetryable: C.GPU_NON_RETRYABLE_TYPES },
};
/** Raised by workflow code itself: no activity retry policy names them. */
const WORKFLOW_FAMILIES: Record<string, Record<string, string>> = { RUN_FAILURE: C.RUN_FAILURE };

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

function parse(file: string): ts.SourceFile {
  return ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, true);
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((c) => walk(c, visit));
}

interface Thrown {
  where: string;
  /** The type expression as written. */
  expr: string;
  /** Its value when it names a constant of a known family. */
  family?: string;
  value?: string;
  nonRetryable: boolean;
}

/** Every `ApplicationFailure.nonRetryable/retryable(…, TYPE)` and `ApplicationFailure.create({ type, nonRetryable })`. */
function thrownFailures(file: string): Thrown[] {
  const sf = parse(file);
  const out: Thrown[] = [];
  const resolveType = (e: ts.Expression) => {
    if (ts.isPropertyAccessExpression(e) && ts.isIdentifier(e.expression)) {
      const family = e.expression.text;
      const types = FAMILIES[family]?.types ?? WORKFLOW_FAMILIES[family];
      if (types) return { family, value: types[e.name.text] };
    }
    return {};
  };
  walk(sf, (n) => {
    if (!ts.isCallExpression(n) || !ts.isPropertyAccessExpression(n.expression)) return;
    const callee = n.expression.getText(sf).replace(/\s+/g, '');
    const where = `${file}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    if (callee === 'ApplicationFailure.nonRetryable' || callee === 'ApplicationFailure.retryable') {
      const type = n.arguments[1];
      if (!type) throw new Error(`${where}: ${callee} without a failure type`);
      out.push({
        where,
        expr: type.getText(sf),
        ...resolveType(type),
        nonRetryable: callee === 'ApplicationFailure.nonRetryable',
      });
    } else if (callee === 'ApplicationFailure.create') {
      const opts = n.arguments[0];
      if (!opts || !ts.isObjectLiteralExpression(opts)) return;
      const prop = (name: string) =>
        opts.properties.find(
          (p): p is ts.PropertyAssignment =>
            ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === name,
        )?.initializer;
      const type = prop('type');
      const flag = prop('nonRetryable');
      // A computed flag (vlmFailure's) is checked at run time below.
      if (
        !type ||
        !flag ||
        (flag.kind !== ts.SyntaxKind.TrueKeyword && flag.kind !== ts.SyntaxKind.FalseKeyword)
      )
        return;
      out.push({
        where,
        expr: type.getText(sf),
        ...resolveType(type),
        nonRetryable: flag.kind === ts.SyntaxKind.TrueKeyword,
      });
    }
  });
  return out;
}

const ACTIVITY_FILES = [...tsFiles('activities'), ...tsFiles('gpu-worker/activities')];
const WORKFLOW_FILES = tsFiles('workflows');

describe('core/constants.ts', () => {
  it('imports nothing but other dependency-free files of core/', () => {
    const seen = new Set<string>();
    const check = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const sf = parse(file);
      const text = sf.getFullText();
      expect(text, `${file}: require()`).not.toMatch(/\brequire\s*\(/);
      walk(sf, (n) => {
        let spec: ts.Expression | undefined;
        if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) spec = n.moduleSpecifier;
        else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword)
          spec = n.arguments[0];
        else if (ts.isExternalModuleReference(n)) spec = n.expression;
        if (!spec) return;
        const name = ts.isStringLiteral(spec) ? spec.text : spec.getText(sf);
        expect(name, `${file} imports ${name}: only relative imports of core/ files`).toMatch(/^\.\.?\//);
        const target = relative(ROOT, resolve(ROOT, dirname(file), name.replace(/\.js$/, '.ts')));
        expect(target, `${file} imports ${name}, outside core/`).toMatch(/^core\//);
        check(target);
      });
    };
    check('core/constants.ts');
    // Today it imports nothing at all.
    expect([...seen]).toEqual(['core/constants.ts']);
  });

  it('keeps the values that running workers and recorded histories know', () => {
    // Deliberately literal: changing one of these changes what crosses Temporal.
    expect(C.VLM_NON_RETRYABLE_TYPES).toEqual(['VlmInvalidInput', 'VlmInvalidAnswer', 'VlmRequestRejected']);
    expect(C.WEBHOOK_NON_RETRYABLE_TYPES).toEqual([
      'WebhookRejected',
      'WebhookUrlForbidden',
      'WebhookMisconfigured',
    ]);
    expect(C.LIGHT_NON_RETRYABLE_TYPES).toEqual(['ManifestInvalid']);
    expect(C.BATCH_NON_RETRYABLE_TYPES).toEqual(['BatchInvalidInput']);
    expect(C.GPU_NON_RETRYABLE_TYPES).toEqual(['GpuInvalidInput', 'GpuModelMismatch']);
    expect(C.RUN_FAILURE).toEqual({ invalidInput: 'InvalidRunInput', hostsExhausted: 'GpuHostsExhausted' });
    expect(C.WEBHOOK_RETRY).toEqual({
      initialInterval: '5s',
      backoffCoefficient: 2,
      maximumInterval: '5m',
      maximumAttempts: 8,
      nonRetryableErrorTypes: ['WebhookRejected', 'WebhookUrlForbidden', 'WebhookMisconfigured'],
    });
    expect([C.PROGRESS_QUERY, C.BATCH_PROGRESS_QUERY]).toEqual(['progress', 'batchProgress']);
    expect([C.DEFAULT_EDIT_BATCH_PLANS, C.MAX_EDIT_BATCH_PLANS]).toEqual([4, 16]);
  });

  it('lists as non-retryable only types of its own family', () => {
    for (const [name, { types, nonRetryable }] of Object.entries(FAMILIES))
      for (const t of nonRetryable) expect(Object.values(types), `${name} lacks ${t}`).toContain(t);
    const all = [...Object.values(FAMILIES).flatMap((f) => Object.values(f.types))];
    all.push(...Object.values(WORKFLOW_FAMILIES).flatMap((t) => Object.values(t)));
    expect(new Set(all).size, 'a failure type name is used by two families').toBe(all.length);
  });
});

describe('activities throw what the workflows expect', () => {
  const thrown = ACTIVITY_FILES.flatMap(thrownFailures);

  it('finds the activities that throw typed failures', () => {
    const families = new Set(thrown.map((t) => t.family));
    for (const f of ['WEBHOOK_FAILURE', 'LIGHT_FAILURE', 'BATCH_FAILURE', 'GPU_FAILURE'])
      expect(families, `no ${f} throw found`).toContain(f);
  });

  it('names every failure type by its constant, never as a literal', () => {
    for (const t of thrown)
      expect(
        t.value,
        `${t.where}: failure type ${t.expr} is not a constant of core/constants.ts`,
      ).toBeDefined();
  });

  it('puts every type thrown as non-retryable in its family list, and no retryable one', () => {
    for (const t of thrown) {
      if (!t.family || !t.value) continue;
      const list = FAMILIES[t.family]?.nonRetryable ?? [];
      if (t.nonRetryable)
        expect(list, `${t.where}: ${t.expr} is not in the retry policy's list`).toContain(t.value);
      else
        expect(list, `${t.where}: ${t.expr} is thrown retryable but listed as non-retryable`).not.toContain(
          t.value,
        );
    }
  });

  it('throws every listed type somewhere (no stale entry)', () => {
    const nonRetryable = new Set(thrown.filter((t) => t.nonRetryable).map((t) => t.value));
    for (const name of ['WEBHOOK_FAILURE', 'LIGHT_FAILURE', 'BATCH_FAILURE', 'GPU_FAILURE'])
      for (const t of FAMILIES[name]?.nonRetryable ?? [])
        expect(nonRetryable, `${t} is listed but never thrown`).toContain(t);
  });

  it('makes a VLM failure non-retryable exactly when its type is listed', async () => {
    const { vlmFailure } = await import('../../activities/vlm/failures.js');
    for (const type of Object.values(C.VLM_FAILURE))
      expect(vlmFailure(type, 'm', { attempts: [] }).nonRetryable, type).toBe(
        C.VLM_NON_RETRYABLE_TYPES.includes(type),
      );
  });

  it('re-exports the constants from their old places unchanged', async () => {
    const vlm = await import('../../activities/vlm/failures.js');
    const webhooks = await import('../../activities/webhooks/notify.js');
    const light = await import('../../activities/light/index.js');
    const batch = await import('../../activities/batch/index.js');
    const io = await import('../../core/schemas/workflow-io.js');
    const batchIo = await import('../../core/schemas/batch-io.js');
    expect(vlm.VLM_FAILURE).toBe(C.VLM_FAILURE);
    expect(vlm.VLM_NON_RETRYABLE_TYPES).toBe(C.VLM_NON_RETRYABLE_TYPES);
    expect(webhooks.WEBHOOK_FAILURE).toBe(C.WEBHOOK_FAILURE);
    expect(webhooks.WEBHOOK_NON_RETRYABLE_TYPES).toBe(C.WEBHOOK_NON_RETRYABLE_TYPES);
    expect(light.LIGHT_FAILURE).toBe(C.LIGHT_FAILURE);
    expect(batch.BATCH_FAILURE).toBe(C.BATCH_FAILURE);
    expect(io.GPU_FAILURE).toBe(C.GPU_FAILURE);
    expect(io.PROGRESS_QUERY).toBe(C.PROGRESS_QUERY);
    expect(io.ALL_EDIT_METHODS).toBe(C.ALL_EDIT_METHODS);
    expect([io.DEFAULT_EDIT_BATCH_PLANS, io.MAX_EDIT_BATCH_PLANS]).toEqual([
      C.DEFAULT_EDIT_BATCH_PLANS,
      C.MAX_EDIT_BATCH_PLANS,
    ]);
    expect(batchIo.BATCH_PROGRESS_QUERY).toBe(C.BATCH_PROGRESS_QUERY);
  });
});

describe('workflow code uses the constants, not copies', () => {
  const sharedNames = new Set<string>([
    ...Object.values(FAMILIES).flatMap((f) => Object.values(f.types)),
    ...Object.values(WORKFLOW_FAMILIES).flatMap((t) => Object.values(t)),
    C.PROGRESS_QUERY,
    C.BATCH_PROGRESS_QUERY,
  ]);

  it('writes no failure type or query name as a string literal', () => {
    for (const file of WORKFLOW_FILES) {
      const sf = parse(file);
      walk(sf, (n) => {
        if (!ts.isStringLiteral(n) && !ts.isNoSubstitutionTemplateLiteral(n)) return;
        if (ts.isImportDeclaration(n.parent) || ts.isExportDeclaration(n.parent)) return;
        const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
        expect(
          sharedNames.has(n.text),
          `${file}:${line}: '${n.text}' is a copy; import it from core/constants.ts`,
        ).toBe(false);
      });
      expect(readFileSync(join(ROOT, file), 'utf8'), `${file}: a "mirrors" comment`).not.toMatch(
        /\bmirrors?\b|not imported/i,
      );
    }
  });

  it('throws only failure types of core/constants.ts', () => {
    for (const t of WORKFLOW_FILES.flatMap(thrownFailures))
      expect(
        t.value,
        `${t.where}: failure type ${t.expr} is not a constant of core/constants.ts`,
      ).toBeDefined();
  });

  it("gives the activity proxies their families' non-retryable lists and the shared webhook policy", async () => {
    const { progressQuery } = await import('../../workflows/counterfactual.js');
    const { batchProgressQuery } = await import('../../workflows/batch.js');
    expect(progressQuery.name).toBe(C.PROGRESS_QUERY);
    expect(batchProgressQuery.name).toBe(C.BATCH_PROGRESS_QUERY);

    const lists = proxies
      .map((p) => p.retry?.nonRetryableErrorTypes)
      .filter((l): l is string[] => Array.isArray(l));
    for (const list of lists)
      expect(
        Object.values(FAMILIES).some((f) => JSON.stringify(f.nonRetryable) === JSON.stringify(list)),
        `a proxy names ${JSON.stringify(list)}, no family's list`,
      ).toBe(true);
    for (const name of ['VLM_FAILURE', 'WEBHOOK_FAILURE', 'LIGHT_FAILURE', 'BATCH_FAILURE'])
      expect(lists, `no proxy uses ${name}'s list`).toContainEqual([...(FAMILIES[name]?.nonRetryable ?? [])]);
    // Both workflows' webhook proxies: the one policy object.
    const webhooks = proxies.filter(
      (p) => p.retry?.nonRetryableErrorTypes === C.WEBHOOK_RETRY.nonRetryableErrorTypes,
    );
    expect(webhooks).toHaveLength(2);
    for (const p of webhooks) expect(p.retry).toBe(C.WEBHOOK_RETRY);
  });
});

describe('schemas, API and CLI use the same bounds and defaults', () => {
  it('edit batches: the schema default and maximum, the API and the CLI', async () => {
    const { EditBatchSchema } = await import('../../core/schemas/workflow-io.js');
    const { RunSettingsSchema } = await import('../../api/schemas.js');
    const { parseEditBatch } = await import('../../cli/edit-batch-arg.js');
    expect(EditBatchSchema.parse({}).maxPlans).toBe(C.DEFAULT_EDIT_BATCH_PLANS);
    for (const n of [1, C.MAX_EDIT_BATCH_PLANS]) {
      expect(EditBatchSchema.safeParse({ maxPlans: n }).success).toBe(true);
      expect(RunSettingsSchema.shape.editBatchPlans.safeParse(n).success).toBe(true);
      expect(parseEditBatch(String(n))).toEqual({ maxPlans: n });
    }
    for (const n of [0, C.MAX_EDIT_BATCH_PLANS + 1]) {
      expect(EditBatchSchema.safeParse({ maxPlans: n }).success).toBe(false);
      expect(RunSettingsSchema.shape.editBatchPlans.safeParse(n).success).toBe(false);
      expect(() => parseEditBatch(String(n))).toThrow();
    }
  });

  it('stages, methods, host policy and batch defaults', async () => {
    const { RunStageSchema } = await import('../../core/schemas/run-manifest.js');
    const { EditMethodSchema } = await import('../../core/schemas/edit-plan.js');
    const { HostPolicySchema, CounterfactualInputSchema } = await import('../../core/schemas/workflow-io.js');
    const { BatchInputSchema } = await import('../../core/schemas/batch-io.js');
    expect(RunStageSchema.options).toEqual([...C.RUN_STAGES]);
    expect(EditMethodSchema.options).toEqual([...C.ALL_EDIT_METHODS]);
    expect(HostPolicySchema.parse({})).toEqual(C.DEFAULT_HOST_POLICY);
    expect(CounterfactualInputSchema.shape.methods.parse(undefined)).toEqual([...C.ALL_EDIT_METHODS]);
    const ref = {
      bucket: 'b',
      key: 'k',
      sha256: 'a'.repeat(64),
      bytes: 1,
      contentType: 'application/x-ndjson',
    };
    const batch = BatchInputSchema.parse({ manifest: ref });
    expect([batch.window, batch.pageSize]).toEqual([C.DEFAULT_BATCH_WINDOW, C.DEFAULT_BATCH_PAGE_SIZE]);
  });
});
