import { Controller, Get, HttpCode, Injectable, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';

/** A dependency the service needs to do its work; `check` throws when it is not usable. */
export interface DependencyCheck {
  name: string;
  check(): Promise<void>;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

const CHECK_TIMEOUT_MS = 3_000;

@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, DependencyCheck>();

  register(check: DependencyCheck): void {
    this.checks.set(check.name, check);
  }

  async readiness(): Promise<{ ready: boolean; checks: CheckResult[] }> {
    const checks = await Promise.all([...this.checks.values()].map((c) => runCheck(c)));
    return { ready: checks.every((c) => c.ok), checks };
  }
}

async function runCheck(dependency: DependencyCheck): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      dependency.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return { name: dependency.name, ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (err) {
    return {
      name: dependency.name,
      ok: false,
      latencyMs: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    clearTimeout(timer);
  }
}

@ApiExcludeController()
@Controller()
export class HealthController {
  constructor(private readonly registry: HealthRegistry) {}

  /** Liveness: the process serves requests. */
  @Get('health')
  @HttpCode(200)
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: every dependency answers. 503 names the ones that do not. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) res: Response): Promise<{ status: string; checks: CheckResult[] }> {
    const { ready, checks } = await this.registry.readiness();
    res.status(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'unavailable', checks };
  }
}
