import { createTestDatabase, type TestDatabase } from '@lathe/testkit';
import { afterAll } from 'vitest';
import { openJobStore } from '../src/store/open-job-store.js';
import { describeJobStore } from './job-store-suite.js';

let db: TestDatabase | undefined;
afterAll(async () => {
  await db?.close();
});

describeJobStore('job store on PostgreSQL', async () => {
  db = await createTestDatabase();
  return openJobStore(db.url);
});
