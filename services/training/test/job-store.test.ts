import { openJobStore } from '../src/store/open-job-store.js';
import { describeJobStore } from './job-store-suite.js';

describeJobStore('job store on PGlite', () => openJobStore('pglite:memory'));
