/**
 * The lifecycle every PostgreSQL test file shares: a private cluster (test/helpers/postgres.ts)
 * started before the file's tests and stopped, its folder removed, after them, whether they
 * passed or not (and at process exit should the process fail first).
 *
 *   const postgres = usePostgres();
 *   test('...', async () => { const url = await postgres.createDatabase(); ... });
 *
 * The returned object stands for the started cluster: use it inside tests and hooks, not at
 * module load. A fresh database per test is cheap (`createDatabase`, about 40 ms).
 */
import { after, before } from 'node:test';
import { startPostgres, type Postgres } from './postgres.js';

export function usePostgres(): Postgres {
  let started: Postgres | undefined;
  before(async () => {
    started = await startPostgres();
  });
  after(async () => {
    await started?.stop();
  });
  return new Proxy({} as Postgres, {
    get(_target, key) {
      if (started === undefined) throw new Error(`usePostgres(): postgres.${String(key)} read before the cluster started (use it inside tests and hooks)`);
      return started[key as keyof Postgres];
    },
  });
}
