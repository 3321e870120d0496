// Entry point of the datasets service: the only module that reads the environment and listens.
import { runServiceMain } from '@lathe/service-kit';
import { datasetsService } from './server.js';

await runServiceMain(datasetsService, process.env);
