// The one progress line of the long commands (run, batch, edit) on stderr: a bar, the count, its rate
// and the time left. On a terminal the line is redrawn in place; elsewhere (a log, a CI job) a line is
// printed only when the work changes (a new label), reaches a quarter mark or ends, or after a while.

export interface ProgressFrame {
  /** What is being counted now (a stage, a phase and page); a new label restarts the rate. */
  label: string;
  done: number;
  total: number;
  /** Name of the counted units: 'steps', 'runs'. */
  unit: string;
  /** Anything else worth a glance, after the rate. */
  detail?: string;
}

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  out?: ProgressOutput;
  /** Milliseconds; injected by tests. */
  now?: () => number;
  /** Without a terminal: the longest silence while the count moves (ms). */
  logEveryMs?: number;
}

const BAR_WIDTH = 20;

export interface ProgressRenderer {
  update(frame: ProgressFrame): void;
  /** Ends the line (on a terminal); call before printing anything else. */
  done(): void;
}

export function createProgress(options: ProgressOptions = {}): ProgressRenderer {
  const out = options.out ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const logEveryMs = options.logEveryMs ?? 30_000;
  const tty = Boolean(out.isTTY);
  // Where the rate is measured from: the first frame of the current label.
  let start: { label: string; done: number; at: number } | null = null;
  let drawn = 0; // width of the line on screen (terminal)
  let logged: { label: string; quarter: number; done: number; at: number } | null = null;

  return {
    update(frame) {
      const at = now();
      if (!start || start.label !== frame.label || frame.done < start.done)
        start = { label: frame.label, done: frame.done, at };
      const line = formatLine(frame, rateOf(start, frame.done, at));
      if (tty) {
        out.write(`\r${line.padEnd(drawn)}`);
        drawn = line.length;
        return;
      }
      const quarter = frame.total > 0 ? Math.floor((4 * frame.done) / frame.total) : 0;
      const due =
        !logged ||
        logged.label !== frame.label ||
        quarter > logged.quarter ||
        (frame.done !== logged.done && at - logged.at >= logEveryMs);
      if (!due) return;
      out.write(`${line}\n`);
      logged = { label: frame.label, quarter, done: frame.done, at };
    },
    done() {
      if (tty && drawn > 0) out.write('\n');
      drawn = 0;
      start = null;
      logged = null;
    },
  };
}

/** Units per second since the label started, or null before anything was counted. */
function rateOf(start: { done: number; at: number }, done: number, at: number): number | null {
  const seconds = (at - start.at) / 1000;
  return done > start.done && seconds > 0 ? (done - start.done) / seconds : null;
}

export function formatLine(frame: ProgressFrame, rate: number | null): string {
  const fraction = frame.total > 0 ? Math.min(1, frame.done / frame.total) : 0;
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
  const speed =
    rate === null
      ? ''
      : ` ${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)} ${frame.unit}/s` +
        (frame.done < frame.total ? ` ETA ${formatDuration((frame.total - frame.done) / rate)}` : '');
  const detail = frame.detail ? ` ${frame.detail}` : '';
  return `${frame.label} ${bar} ${frame.done}/${frame.total} ${frame.unit}${speed}${detail}`;
}

/** 75 → '1:15', 3725 → '1:02:05'. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
