interface Waiting<T> {
  items: readonly T[];
  weight: number;
  /** When it was submitted (ms since the epoch). */
  at: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions<T> {
  /** Writes the items of every caller in the group, in the order they were submitted. */
  flush: (items: T[]) => Promise<void>;
  /** The size a caller's items count for (default: how many there are). */
  weigh?: (items: readonly T[]) => number;
  /**
   * Largest total weight of one flush. A group closes before the submission that would exceed
   * it; a single submission above it is flushed on its own, as it came.
   */
  maxWeight?: number;
  /**
   * How long a flush may wait after its first submission for more to join it (default 0: it
   * starts at once). The wait ends early once the queued weight reaches `minWeight`.
   */
  lingerMs?: number;
  /** Queued weight that ends a linger at once (default: `maxWeight`). */
  minWeight?: number;
  /**
   * A linger also ends once no submission came for this long (default: never): a burst is
   * written when it ends, a steady trickle gathered for the whole linger.
   */
  quietMs?: number;
}

/**
 * Group commit: concurrent callers share writes. A submission made while nothing is being
 * written starts a flush at once (after the current turn of the event loop, so submissions of
 * the same turn go together; with `lingerMs`, once the first of them has waited that long,
 * `minWeight` is queued or none came for `quietMs`); submissions made while a flush is in flight wait for it and then
 * go together in the next. Each caller's promise settles with the flush that wrote its items —
 * resolved once they are written, rejected with the flush's error otherwise — so a caller
 * acknowledges exactly what it would have acknowledged writing alone, in fewer, larger writes.
 */
export class GroupCommit<T> {
  private readonly queue: Waiting<T>[] = [];
  private draining = false;
  private readonly weigh: (items: readonly T[]) => number;
  private readonly maxWeight: number;
  private readonly minWeight: number;
  private queuedWeight = 0;
  private lastSubmittedAt = 0;
  /** Ends the current linger early, or moves its end after a submission; set while one is under way. */
  private wake?: () => void;
  private rescheduleLinger?: () => void;

  constructor(private readonly options: GroupCommitOptions<T>) {
    this.weigh = options.weigh ?? ((items) => items.length);
    this.maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
    this.minWeight = options.minWeight ?? this.maxWeight;
  }

  submit(items: readonly T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const weight = this.weigh(items);
      this.lastSubmittedAt = Date.now();
      this.queue.push({ items, weight, at: this.lastSubmittedAt, resolve, reject });
      this.queuedWeight += weight;
      if (this.queuedWeight >= this.minWeight) this.wake?.();
      else this.rescheduleLinger?.();
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      await this.linger();
      const group = this.nextGroup();
      try {
        await this.options.flush(group.flatMap((w) => w.items));
        for (const w of group) w.resolve();
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    this.draining = false;
  }

  /**
   * Waits until the oldest submission is `lingerMs` old, enough weight is queued, or nothing
   * was submitted for `quietMs`.
   */
  private linger(): Promise<void> {
    const lingerMs = this.options.lingerMs ?? 0;
    const { quietMs } = this.options;
    const end = () =>
      Math.min(
        this.queue[0].at + lingerMs,
        quietMs === undefined ? Number.POSITIVE_INFINITY : this.lastSubmittedAt + quietMs,
      );
    if (end() <= Date.now() || this.queuedWeight >= this.minWeight) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.rescheduleLinger = () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.wake?.(), Math.max(0, end() - Date.now()));
      };
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.rescheduleLinger = undefined;
        resolve();
      };
      this.rescheduleLinger();
    });
  }

  private nextGroup(): Waiting<T>[] {
    let weight = this.queue[0].weight;
    let size = 1;
    while (size < this.queue.length && weight + this.queue[size].weight <= this.maxWeight) {
      weight += this.queue[size].weight;
      size++;
    }
    this.queuedWeight -= weight;
    return this.queue.splice(0, size);
  }
}
