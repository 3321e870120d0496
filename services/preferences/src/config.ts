import { serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_PREFERENCES_*`, the error domain `lathe.preferences`. */
export const PREFERENCES_SERVICE = 'preferences';

/** Port when neither LATHE_PREFERENCES_PORT nor LATHE_GRPC_PORT is set. */
export const PREFERENCES_DEFAULT_PORT = 50062;

/**
 * Environment variables of the preferences service, validated at start by the kit; today the kit's
 * common set (listen address, auth, TLS, message sizes, shutdown, logs). Its bootstrap admin token and storage variables join here when those land.
 */
export const preferencesEnvSchema = serviceEnvSchema(PREFERENCES_SERVICE, PREFERENCES_DEFAULT_PORT);
