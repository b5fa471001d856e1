/**
 * A worker thread: its own tfjs instance (the wasm backend is single-threaded
 * in Node, so parallelism comes from one worker per core). It receives jobs
 * from the runner, writes each result file itself, and reports back.
 */
import { parentPort, workerData } from 'worker_threads';
import { initBackend } from '../backend/select';
import { BackendChoice } from '../contract/results';
import { describeEnvironment } from '../backend/environment';
import { runJob } from './jobs';
import { Job } from './job-spec';

export interface WorkerInit {
  backend: BackendChoice;
  runDir: string;
  cacheDir: string | null;
}

export type ToWorker = { type: 'job'; job: Job } | { type: 'stop' };
export type FromWorker = { type: 'ready'; backend: string } | { type: 'progress'; jobId: string; text: string; fraction: number } | { type: 'done'; jobId: string; status: string; error?: string };

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  const port = parentPort;
  if (!port) throw new Error('suite/worker must run in a worker thread');
  const backend = await initBackend(init.backend);
  const env = describeEnvironment(backend);
  const datasets = new Map();
  port.postMessage({ type: 'ready', backend: backend.name } satisfies FromWorker);
  port.on('message', async (msg: ToWorker) => {
    if (msg.type === 'stop') {
      port.close();
      return;
    }
    const job = msg.job;
    const result = await runJob(job, {
      runDir: init.runDir,
      cacheDir: init.cacheDir,
      env,
      datasets,
      progress: (text, fraction) => port.postMessage({ type: 'progress', jobId: job.id, text, fraction } satisfies FromWorker),
    });
    port.postMessage({ type: 'done', jobId: job.id, status: result.status, error: result.error } satisfies FromWorker);
  });
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
