// Entry point of the preferences service: the only module that reads the environment and listens.
// The kit runs the life cycle (settings, start, drain, release; one-line configuration errors with
// exit 78, `listening` with the web page's port); this module says what the service is assembled
// over: its store, bus, verifier and web page.
import { runAssembledServiceMain } from '@lathe/service-kit';
import { PREFERENCES_DEFAULT_PORT, PREFERENCES_SERVICE } from './config.js';
import { assemblePreferences } from './start-preferences.js';

await runAssembledServiceMain(
  { name: PREFERENCES_SERVICE, defaultPort: PREFERENCES_DEFAULT_PORT },
  process.env,
  assemblePreferences(process.env),
);
