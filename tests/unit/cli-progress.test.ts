// The one progress line (cli/progress.ts): the rate and the time left from the counts it is given
// over time, the line redrawn in place on a terminal, and only the lines that say something in a log.
import { describe, expect, it } from 'vitest';
import { createProgress, formatDuration, formatLine, type ProgressFrame } from '../../cli/progress.js';

function recorder(isTTY: boolean) {
  const writes: string[] = [];
  let t = 0;
  const progress = createProgress({
    out: { isTTY, write: (s: string) => writes.push(s) },
    now: () => t,
    logEveryMs: 30_000,
  });
  return {
    writes,
    progress,
    at(ms: number, frame: ProgressFrame) {
      t = ms;
      progress.update(frame);
    },
  };
}

const steps = (done: number, label = 'invert') => ({ label, done, total: 100, unit: 'steps' });

describe('progress line', () => {
  it('shows the rate and the time left, measured since the label started', () => {
    const r = recorder(true);
    r.at(0, steps(0));
    expect(r.writes.at(-1)).toBe(`\rinvert [${'.'.repeat(20)}] 0/100 steps`);
    r.at(10_000, steps(20)); // 2 steps/s, 80 left: 40 s
    expect(r.writes.at(-1)).toBe(`\rinvert [####................] 20/100 steps 2.0 steps/s ETA 0:40`);
    r.at(20_000, steps(50)); // 50 in 20 s: 2.5 steps/s, 50 left: 20 s
    expect(r.writes.at(-1)).toContain('50/100 steps 2.5 steps/s ETA 0:20');
    // A new label (the next stage) restarts the measurement.
    r.at(21_000, steps(0, 'edit'));
    expect(r.writes.at(-1)).toMatch(/^\redit \[\.+\] 0\/100 steps\s*$/);
    r.at(22_000, steps(30, 'edit'));
    expect(r.writes.at(-1)).toContain('30 steps/s ETA 0:02');
  });

  it('on a terminal, redraws one line, blanking what a longer line left, and ends it on done()', () => {
    const r = recorder(true);
    r.at(0, { ...steps(0), detail: 'a long detail that makes the first line long' });
    r.at(1000, steps(1));
    const [first, second] = r.writes;
    expect(second.startsWith('\r')).toBe(true);
    expect(second.length).toBeGreaterThanOrEqual(first.length);
    expect(r.writes.join('')).not.toContain('\n');
    r.progress.done();
    expect(r.writes.at(-1)).toBe('\n');
  });

  it('without a terminal, prints a line per label, per quarter and at the end, or after a silence', () => {
    const r = recorder(false);
    for (let i = 0; i <= 100; i++) r.at(i * 100, steps(i)); // 10 steps/s
    expect(r.writes.map((w) => w.split(' ')[2])).toEqual(['0/100', '25/100', '50/100', '75/100', '100/100']);
    expect(r.writes.every((w) => w.endsWith('\n') && !w.includes('\r'))).toBe(true);
    expect(r.writes[1]).toContain('10 steps/s ETA 0:08');
    expect(r.writes[4]).not.toContain('ETA'); // done: no time left to show
    r.at(20_000, steps(0, 'edit'));
    expect(r.writes).toHaveLength(6);
    // A slow count: within a quarter, a line only once 30 s passed since the last, and the count moved.
    r.at(40_000, steps(1, 'edit'));
    r.at(49_000, steps(1, 'edit'));
    expect(r.writes).toHaveLength(6);
    r.at(50_000, steps(1, 'edit'));
    expect(r.writes).toHaveLength(7);
    r.at(90_000, steps(1, 'edit')); // a long silence, but nothing moved
    expect(r.writes).toHaveLength(7);
    r.progress.done();
    expect(r.writes).toHaveLength(7); // no dangling line to end
  });

  it('formats durations and frames without a total', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatLine({ label: 'waiting', done: 0, total: 0, unit: 'runs' }, null)).toBe(
      `waiting [${'.'.repeat(20)}] 0/0 runs`,
    );
    expect(formatLine({ label: 'x', done: 3, total: 4, unit: 'runs', detail: '(1 failed)' }, 0.5)).toBe(
      'x [###############.....] 3/4 runs 0.50 runs/s ETA 0:02 (1 failed)',
    );
  });
});
