// Entry point of the registry service: the only module that reads the environment and listens.
import { runServiceMain } from '@lathe/service-kit';
import { registryService } from './server.js';

await runServiceMain(registryService, process.env);
