import { readFileSync } from 'node:fs';

/** A process's resident set size in MB (`VmRSS` of /proc/<pid>/status), or undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb === undefined ? undefined : Math.round(Number(kb) / 102.4) / 10;
}
