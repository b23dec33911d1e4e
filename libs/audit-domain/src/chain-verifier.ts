import { EMPTY_HEAD, entryHash, type ChainHead, type ChainedEntry } from './audit-entry';

/** The first link of a chain that does not hold, and why. */
export interface BrokenLink {
  seq: number;
  eventId?: string;
  reason:
    | 'hash_mismatch'
    | 'prev_hash_mismatch'
    | 'seq_gap'
    | 'head_mismatch'
    | 'anchor_mismatch'
    | 'checkpoint_invalid';
  message: string;
}

interface VerifySummary {
  accountId: string;
  /** Entries checked (those after a retention checkpoint). */
  entries: number;
  /** Where the verified chain ends. */
  head: ChainHead;
  /** With an anchor: whether it was compared (false when retention pruned it). */
  anchorChecked?: boolean;
}

export type VerifyResult =
  (VerifySummary & { ok: true }) | (VerifySummary & { ok: false; firstBroken: BrokenLink });

/**
 * Walks one account's chain in `seq` order, one entry at a time (so a million entries never sit
 * in memory): each entry must follow the previous one's position, link to its hash, and hash to
 * what it says. Starts after a retention checkpoint when a prefix was pruned.
 */
export class ChainVerifier {
  private last: ChainHead;
  private count = 0;
  private broken?: BrokenLink;
  private anchorFound?: string;

  /**
   * `start`: the retention checkpoint the remaining entries continue from (the empty head when
   * nothing was pruned). `anchor`: a head exported earlier, which must still be part of the chain.
   */
  constructor(
    readonly accountId: string,
    private readonly start: ChainHead = EMPTY_HEAD,
    private readonly anchor?: ChainHead,
  ) {
    this.last = start;
    if (anchor && anchor.seq === start.seq) this.anchorFound = start.hash;
  }

  /** Feeds the next entry; false once the chain is broken (later entries are not looked at). */
  push(entry: ChainedEntry): boolean {
    if (this.broken) return false;
    const at = { seq: entry.seq, eventId: entry.eventId };
    if (entry.seq !== this.last.seq + 1) {
      this.broken = {
        ...at,
        seq: this.last.seq + 1,
        reason: 'seq_gap',
        message: `expected entry ${this.last.seq + 1}, found ${entry.seq}`,
      };
    } else if (entry.prevHash !== this.last.hash) {
      this.broken = { ...at, reason: 'prev_hash_mismatch', message: 'does not link to the previous entry' };
    } else if (entryHash(entry) !== entry.hash) {
      this.broken = { ...at, reason: 'hash_mismatch', message: 'content does not match its hash' };
    }
    if (this.broken) return false;
    if (entry.seq === this.anchor?.seq) this.anchorFound = entry.hash;
    this.count++;
    this.last = { seq: entry.seq, hash: entry.hash };
    return true;
  }

  /** The verdict. `recordedHead`: where the store says the chain ends (entries cut off the end show up here). */
  finish(recordedHead?: ChainHead): VerifyResult {
    const anchor = this.anchor;
    const anchorChecked = anchor ? anchor.seq >= this.start.seq : undefined;
    const base = {
      accountId: this.accountId,
      entries: this.count,
      head: this.last,
      ...(anchorChecked === undefined ? {} : { anchorChecked }),
    };
    if (this.broken) return { ...base, ok: false, firstBroken: this.broken };
    if (recordedHead && (recordedHead.seq !== this.last.seq || recordedHead.hash !== this.last.hash)) {
      return {
        ...base,
        ok: false,
        firstBroken: {
          seq: Math.min(recordedHead.seq, this.last.seq) + 1,
          reason: 'head_mismatch',
          message: `the chain head says entry ${recordedHead.seq}, the entries end at ${this.last.seq}`,
        },
      };
    }
    if (anchor && anchorChecked && this.anchorFound !== anchor.hash) {
      return {
        ...base,
        ok: false,
        firstBroken: {
          seq: anchor.seq,
          reason: 'anchor_mismatch',
          message:
            this.anchorFound === undefined
              ? `the chain no longer reaches entry ${anchor.seq} of the exported head`
              : `entry ${anchor.seq} no longer has the hash of the exported head`,
        },
      };
    }
    return { ...base, ok: true };
  }
}
