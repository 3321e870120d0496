// Entry point of the preferences service: the only module that reads the environment and listens.
import { runServiceMain } from '@lathe/service-kit';
import { preferencesService } from './server.js';

await runServiceMain(preferencesService, process.env);
