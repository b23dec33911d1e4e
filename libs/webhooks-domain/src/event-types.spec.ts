import { DELIVERABLE_EVENT_TYPES, eventTypeProblems, isSubscribed } from './event-types';

describe(isSubscribed.name, () => {
  it('matches exact types', () => {
    expect(isSubscribed(['invoice.finalized'], 'invoice.finalized')).toBe(true);
    expect(isSubscribed(['invoice.finalized'], 'invoice.paid')).toBe(false);
  });

  it('matches a prefix wildcard on whole name segments only', () => {
    expect(isSubscribed(['invoice.*'], 'invoice.paid')).toBe(true);
    expect(isSubscribed(['invoice.*'], 'tenant.suspended')).toBe(false);
    expect(isSubscribed(['tenant.*'], 'tenant.limits_changed')).toBe(true);
  });

  it('gives `*` every deliverable type', () => {
    for (const type of DELIVERABLE_EVENT_TYPES) expect(isSubscribed(['*'], type)).toBe(true);
  });

  it('never delivers a type outside the catalog, whatever the subscription', () => {
    expect(isSubscribed(['*'], 'api_key.issued')).toBe(false);
    expect(isSubscribed(['*'], 'management_key.issued')).toBe(false);
    expect(isSubscribed(['*', 'plan.*'], 'plan.version_created')).toBe(false);
  });
});

describe(eventTypeProblems.name, () => {
  it('accepts exact types, `*` and prefix wildcards that cover something', () => {
    expect(eventTypeProblems(['quota.threshold_crossed', 'invoice.*', 'tenant.suspended'])).toEqual([]);
    expect(eventTypeProblems(['*'])).toEqual([]);
  });

  it('names entries that cover nothing deliverable', () => {
    const problems = eventTypeProblems(['invoice.finalized', 'api_key.issued', 'plan.*', 'invoice']);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^"api_key.issued" is not a deliverable event type/);
    expect(problems[1]).toMatch(/^"plan.\*"/);
    expect(problems[2]).toMatch(/^"invoice"/);
  });

  it('refuses an empty list, duplicates and overlong lists', () => {
    expect(eventTypeProblems([])).toEqual(['eventTypes must list at least one event type']);
    expect(eventTypeProblems(['*', '*'])).toEqual(['"*" is listed twice']);
    expect(eventTypeProblems(Array.from({ length: 65 }, () => '*'))[0]).toMatch(/at most 64/);
  });
});
