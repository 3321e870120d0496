// Entry point of the quantization service: the only module that reads the environment and listens.
import { runServiceMain } from '@lathe/service-kit';
import { quantizationService } from './server.js';

await runServiceMain(quantizationService, process.env);
