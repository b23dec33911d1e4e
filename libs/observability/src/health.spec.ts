import { HealthRegistry } from './health';

describe(HealthRegistry.name, () => {
  it('is ready when every dependency answers', async () => {
    const registry = new HealthRegistry();
    registry.register({ name: 'a', check: async () => undefined });
    await expect(registry.readiness()).resolves.toMatchObject({
      ready: true,
      checks: [{ name: 'a', ok: true }],
    });
  });

  it('names the dependency that fails', async () => {
    const registry = new HealthRegistry();
    registry.register({ name: 'a', check: async () => undefined });
    registry.register({ name: 'db', check: () => Promise.reject(new Error('connection refused')) });
    const result = await registry.readiness();
    expect(result.ready).toBe(false);
    expect(result.checks.find((c) => c.name === 'db')).toMatchObject({
      ok: false,
      error: 'connection refused',
    });
  });
});
