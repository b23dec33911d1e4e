import { toMeter, type Meter } from './meter';

/** The platform's meters, present in every catalog from the start. */
export const DEFAULT_METERS: readonly Meter[] = [
  toMeter({
    key: 'mau',
    name: 'Monthly active users',
    eventType: 'user.active',
    aggregation: 'UNIQUE_COUNT',
  }),
  toMeter({
    key: 'pcc',
    name: 'Peak concurrent connections',
    eventType: 'connections.sampled',
    aggregation: 'MAX',
    valueProperty: 'concurrent',
    unit: 'connections',
  }),
  toMeter({
    key: 'voice_minutes',
    name: 'Voice minutes',
    eventType: 'call.voice.completed',
    aggregation: 'SUM',
    valueProperty: 'minutes',
    allowNegative: true,
    unit: 'minutes',
  }),
  toMeter({
    key: 'video_minutes',
    name: 'Video minutes',
    eventType: 'call.video.completed',
    aggregation: 'SUM',
    valueProperty: 'minutes',
    allowNegative: true,
    unit: 'minutes',
  }),
  toMeter({
    key: 'api_calls',
    name: 'API calls',
    eventType: 'api.call',
    aggregation: 'COUNT',
    unit: 'calls',
  }),
  toMeter({
    key: 'storage_mb',
    name: 'Storage',
    eventType: 'storage.sampled',
    aggregation: 'LATEST',
    valueProperty: 'mb',
    unit: 'MB',
  }),
];
