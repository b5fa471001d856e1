/**
 * One process at a time in a run folder. `vicinal run` takes RUN/run.lock
 * (created exclusively, holding its pid and host) before it writes anything
 * else and removes it when it exits, also on SIGINT/SIGTERM and on errors. A
 * second run on the same folder is refused (exit 2) naming the owner. A lock
 * left by a process that no longer exists on this host (SIGKILL, a crashed
 * machine that kept its name) is stale: it is taken over with a message. A
 * lock from another host cannot be checked from here and is refused; the
 * message says how to remove it. The host is os.hostname(), or VICINAL_HOST
 * where set: containers whose retries get a new hostname (a Kubernetes pod)
 * set it to a name stable across retries, so a retry recognises its own
 * predecessor's lock.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { UsageError } from '../contract/errors';
import { LOCK_FILE } from '../contract/run-folder';

/** The host name locks record and compare: VICINAL_HOST, else os.hostname(). */
export function lockHost(): string {
  return process.env.VICINAL_HOST || os.hostname();
}

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export interface RunLock {
  file: string;
  /** Set when a stale lock was taken over: a one-line message for the user. */
  tookOver: string | null;
  release(): void;
}

/** Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLock(runDir: string): LockOwner | null {
  try {
    const o = JSON.parse(fs.readFileSync(path.join(runDir, LOCK_FILE), 'utf8')) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : { pid: -1, host: '?', startedAt: '?', command: '?' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // Unreadable or half-written (a crash between create and write): no live owner can be named.
    return { pid: -1, host: lockHost(), startedAt: '?', command: '?' };
  }
}

/** Why a lock is stale, or null when its owner may be alive. */
export function staleReason(o: LockOwner): string | null {
  if (o.host !== lockHost()) return null;
  if (o.pid === process.pid) return `pid ${o.pid} is this process`;
  if (!pidAlive(o.pid)) return o.pid > 0 ? `pid ${o.pid} no longer exists on ${o.host}` : 'the lock file is unreadable';
  return null;
}

export function describeOwner(o: LockOwner): string {
  return `vicinal pid ${o.pid} on host ${o.host} (since ${o.startedAt})`;
}

/**
 * Takes the lock of `runDir` (created if needed) or throws a UsageError
 * naming the owner. `what` is the command for the lock file, e.g. "run quick --shard 1/3".
 */
export function acquireRunLock(runDir: string, what: string): RunLock {
  fs.mkdirSync(runDir, { recursive: true });
  const file = path.join(runDir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: lockHost(), startedAt: new Date().toISOString(), command: what };
  let tookOver: string | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    // Written whole to a private file, then hard-linked into place: the link fails if a lock exists, and a lock never exists half-written.
    const tmp = `${file}.tmp-${process.pid}`;
    fs.writeFileSync(tmp, `${JSON.stringify(me)}\n`);
    let linked = false;
    try {
      fs.linkSync(tmp, file);
      linked = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        fs.rmSync(tmp, { force: true });
        throw new UsageError(`cannot create the lock file ${file}: ${(e as Error).message}`);
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    if (linked) {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.removeListener('exit', release);
        const cur = readLock(runDir);
        if (cur && cur.pid === me.pid && cur.host === me.host && cur.startedAt === me.startedAt) fs.rmSync(file, { force: true });
      };
      // process.exit() (the runner's signal handler) runs 'exit' listeners synchronously.
      process.on('exit', release);
      return { file, tookOver, release };
    }
    const owner = readLock(runDir);
    if (!owner) continue; // released in between
    const why = staleReason(owner);
    if (!why) throw inUse(runDir, owner);
    // Stale: move it aside atomically (only one taker wins the rename), then check that what moved is the stale lock.
    const aside = `${file}.stale-${process.pid}`;
    try {
      fs.renameSync(file, aside);
    } catch {
      continue; // someone else took it over first
    }
    const moved = readAside(aside);
    if (moved && (moved.pid !== owner.pid || moved.host !== owner.host || moved.startedAt !== owner.startedAt)) {
      // We moved a fresh lock another process had just taken: put it back and give way.
      try {
        fs.renameSync(aside, file);
      } catch {
        // it will be refused by the next taker's pid check
      }
      continue;
    }
    fs.rmSync(aside, { force: true });
    tookOver = `taking over the stale lock of ${runDir}: ${why} (was ${describeOwner(owner)})`;
  }
  const owner = readLock(runDir);
  throw new UsageError(`run folder ${runDir} is in use${owner ? ` by ${describeOwner(owner)}` : ''}; wait for it to finish or use another --out`);
}

function inUse(runDir: string, owner: LockOwner): UsageError {
  const remote = owner.host !== lockHost();
  return new UsageError(
    `run folder ${runDir} is in use by ${describeOwner(owner)}; wait for it to finish or use another --out${remote ? ` (if that run is dead, delete ${path.join(runDir, LOCK_FILE)})` : ''}`,
  );
}

/** Refuses early (before any work) when a live run holds the folder; writes nothing. acquireRunLock still decides. */
export function refuseIfLocked(runDir: string): void {
  const owner = liveLockOwner(runDir);
  if (owner) throw inUse(runDir, owner);
}

function readAside(file: string): LockOwner | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return null;
  }
}

/** For readers (merge): the owner of a live (or unverifiable) lock, or null when the folder is free or the lock is stale. */
export function liveLockOwner(runDir: string): LockOwner | null {
  const o = readLock(runDir);
  if (!o) return null;
  return staleReason(o) === null ? o : null;
}
