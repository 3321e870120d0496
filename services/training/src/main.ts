// Entry point of the training service: the only module that reads the environment and listens.
import { runServiceMain } from '@lathe/service-kit';
import { trainingService } from './server.js';

await runServiceMain(trainingService, process.env);
