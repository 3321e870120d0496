// Entry point of the preferences service: the only module that reads the environment and listens.
// The kit's runServiceMain gives it the common life cycle (one-line configuration errors with
// exit 78, `listening`, drain on SIGTERM and exit 0); the service's own start-up (store, bus, its
// token verifier, the web page) comes in through the kit's hooks.
import { runServiceMain } from '@lathe/service-kit';
import { preferencesDescriptor } from './server.js';
import { preferencesHooks } from './start-preferences.js';

await runServiceMain(preferencesDescriptor({}), process.env, preferencesHooks(process.env));
