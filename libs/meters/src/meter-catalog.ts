import { takesValue, type Meter } from './meter';

/** The parts of an event the meters look at. */
export interface MeteredEvent {
  type: string;
  subject?: string | null;
  data: Record<string, unknown>;
}

/** Reads a dot path (`call.minutes`) from an event's data; undefined when any step is missing. */
export function readPath(data: Record<string, unknown>, path: string): unknown {
  let value: unknown = data;
  for (const step of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[step];
  }
  return value;
}

/**
 * The meters in force, indexed by event type, and the rules an event must pass to be metered:
 * its type feeds at least one meter; every such meter finds a finite number at its value path
 * (negative only where the meter takes corrections); unique-count meters get a subject.
 */
export class MeterCatalog {
  private readonly byType = new Map<string, Meter[]>();

  constructor(readonly meters: readonly Meter[]) {
    for (const meter of meters) {
      const list = this.byType.get(meter.eventType) ?? [];
      list.push(meter);
      this.byType.set(meter.eventType, list);
    }
  }

  get(key: string): Meter | undefined {
    return this.meters.find((m) => m.key === key);
  }

  metersFor(eventType: string): readonly Meter[] {
    return this.byType.get(eventType) ?? [];
  }

  knows(eventType: string): boolean {
    return this.byType.has(eventType);
  }

  /** Why the event cannot be metered, field by field; empty when it can. */
  problems(event: MeteredEvent): string[] {
    const meters = this.byType.get(event.type);
    if (!meters) return [`type: no meter counts events of type ${JSON.stringify(event.type)}`];
    const problems: string[] = [];
    for (const meter of meters) {
      if (meter.aggregation === 'UNIQUE_COUNT' && !event.subject) {
        problems.push(`subject: required by meter ${meter.key} (unique count of subjects)`);
      }
      if (!takesValue(meter.aggregation) || !meter.valueProperty) continue;
      const field = `data.${meter.valueProperty}`;
      const value = readPath(event.data, meter.valueProperty);
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        problems.push(`${field}: must be a finite number for meter ${meter.key}`);
      } else if (value < 0 && !meter.allowNegative) {
        problems.push(`${field}: must not be negative for meter ${meter.key} (it takes no corrections)`);
      }
    }
    return [...new Set(problems)];
  }
}
