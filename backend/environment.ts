import { execFileSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { BackendInfo } from '../contract/results';
import { Environment } from '../contract/results';

export function vicinalVersion(): string {
  return (require(path.join(__dirname, '..', '..', 'package.json')) as { version: string }).version;
}

export function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: path.join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

/** Where a result was computed: recorded in every result file. */
export function describeEnvironment(backend: BackendInfo): Environment {
  const cpus = os.cpus();
  return {
    backend,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    vicinalVersion: vicinalVersion(),
    gitCommit: gitCommit(),
  };
}
