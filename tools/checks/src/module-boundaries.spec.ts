import { readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const root = path.resolve(__dirname, '../../..');

interface LintResult {
  messages: { ruleId: string | null; message: string }[];
}

/** Runs eslint as CI does on a file planted in a project: its exit code and the boundary messages. */
function lintPlanted(
  projectSrc: string,
  source: string,
): { exitCode: number | null; boundaryErrors: string[] } {
  const file = path.join(root, projectSrc, `boundary-probe-${process.pid}.ts`);
  writeFileSync(file, source);
  try {
    const run = spawnSync(path.join(root, 'node_modules/.bin/eslint'), ['--format', 'json', file], {
      cwd: root,
      encoding: 'utf8',
    });
    const [result] = JSON.parse(run.stdout) as LintResult[];
    return {
      exitCode: run.status,
      boundaryErrors: result.messages
        .filter((m) => m.ruleId === '@nx/enforce-module-boundaries')
        .map((m) => m.message),
    };
  } finally {
    rmSync(file, { force: true });
  }
}

function projectFiles(): string[] {
  const found: string[] = [];
  for (const top of ['apps', 'libs', 'tools']) {
    for (const dir of readdirSync(path.join(root, top))) {
      const file = path.join(root, top, dir, 'project.json');
      if (existsSync(file)) found.push(file);
    }
  }
  return found;
}

describe('module boundaries', () => {
  it('tags every project with one scope:* and one type:*', () => {
    for (const file of projectFiles()) {
      const tags = (JSON.parse(readFileSync(file, 'utf8')) as { tags?: string[] }).tags ?? [];
      expect({ file, scopes: tags.filter((t) => t.startsWith('scope:')).length }).toEqual({
        file,
        scopes: 1,
      });
      expect({ file, types: tags.filter((t) => t.startsWith('type:')).length }).toEqual({ file, types: 1 });
    }
  });

  it('fails lint when a util library imports an infrastructure library', () => {
    const result = lintPlanted(
      'libs/config/src',
      "import { Metrics } from '@metering/observability';\nexport const probe = Metrics;\n",
    );
    expect(result.exitCode).toBe(1);
    expect(result.boundaryErrors).toEqual([expect.stringMatching(/type:util/)]);
  });

  it('fails lint when an app imports a database driver directly', () => {
    const result = lintPlanted(
      'apps/ingestion/src',
      "import { Client } from 'pg';\nexport const probe = Client;\n",
    );
    expect(result.exitCode).toBe(1);
    expect(result.boundaryErrors).toEqual([expect.stringMatching(/pg/)]);
  });

  it('fails lint when one service imports another service', () => {
    const result = lintPlanted(
      'apps/ingestion/src',
      "import { UsageService } from '../../aggregation/src/usage/usage.service';\nexport const probe = UsageService;\n",
    );
    expect(result.exitCode).toBe(1);
    expect(result.boundaryErrors.length).toBeGreaterThan(0);
  });

  it('passes lint for an import the rules allow', () => {
    const result = lintPlanted(
      'apps/ingestion/src',
      "import { KafkaClient } from '@metering/kafka';\nexport const probe = KafkaClient;\n",
    );
    expect(result).toEqual({ exitCode: 0, boundaryErrors: [] });
  });
});
