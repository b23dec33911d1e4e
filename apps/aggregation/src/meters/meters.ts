/** Built-in meters until the meter catalog exists. */
export type Aggregation = 'COUNT' | 'SUM';

export interface MeterDefinition {
  key: string;
  eventType: string;
  aggregation: Aggregation;
  /** Top-level property of `data` holding the value (SUM). */
  valueProperty?: string;
}

export const DEFAULT_METERS: readonly MeterDefinition[] = [
  { key: 'api_calls', eventType: 'api.call', aggregation: 'COUNT' },
  { key: 'voice_minutes', eventType: 'call.voice.completed', aggregation: 'SUM', valueProperty: 'minutes' },
  { key: 'video_minutes', eventType: 'call.video.completed', aggregation: 'SUM', valueProperty: 'minutes' },
];

export function findMeter(key: string): MeterDefinition | undefined {
  return DEFAULT_METERS.find((m) => m.key === key);
}
