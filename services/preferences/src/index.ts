/** The preferences service: descriptor, handlers and the function that starts it. */
export {
  preferencesDescriptor,
  preferenceHandlers,
  preferenceRoles,
  preferenceRules,
} from './server.js';
export type { PreferenceDeps } from './server.js';
export {
  PREFERENCES_DEFAULT_PORT,
  PREFERENCES_DEFAULT_WEB_PORT,
  PREFERENCES_SERVICE,
  preferencesEnvSchema,
} from './config.js';
export { assemblePreferences, startPreferences } from './start-preferences.js';
export type { OpenedPreferences, RunningPreferences } from './start-preferences.js';
export { cohenKappa, fleissKappa, krippendorffAlpha, majority } from './domain/agreement.js';
export type { CohenResult, MajorityVerdict, Rating } from './domain/agreement.js';
