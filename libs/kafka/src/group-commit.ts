interface Waiting<T> {
  items: readonly T[];
  weight: number;
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
}

/**
 * Group commit: concurrent callers share writes. A submission made while nothing is being
 * written starts a flush at once (after the current turn of the event loop, so submissions of
 * the same turn go together); submissions made while a flush is in flight wait for it and then
 * go together in the next. Each caller's promise settles with the flush that wrote its items —
 * resolved once they are written, rejected with the flush's error otherwise — so a caller
 * acknowledges exactly what it would have acknowledged writing alone, in fewer, larger writes.
 */
export class GroupCommit<T> {
  private readonly queue: Waiting<T>[] = [];
  private draining = false;
  private readonly weigh: (items: readonly T[]) => number;
  private readonly maxWeight: number;

  constructor(private readonly options: GroupCommitOptions<T>) {
    this.weigh = options.weigh ?? ((items) => items.length);
    this.maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
  }

  submit(items: readonly T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ items, weight: this.weigh(items), resolve, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
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

  private nextGroup(): Waiting<T>[] {
    let weight = this.queue[0].weight;
    let size = 1;
    while (size < this.queue.length && weight + this.queue[size].weight <= this.maxWeight) {
      weight += this.queue[size].weight;
      size++;
    }
    return this.queue.splice(0, size);
  }
}
