import { serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_DATASETS_*`, the error domain `lathe.datasets`. */
export const DATASETS_SERVICE = 'datasets';

/** Port when neither LATHE_DATASETS_PORT nor LATHE_GRPC_PORT is set. */
export const DATASETS_DEFAULT_PORT = 50061;

/**
 * Environment variables of the datasets service, validated at start by the kit; today the kit's
 * common set (listen address, auth, TLS, message sizes, shutdown, logs). Storage variables join
 * here when the store lands.
 */
export const datasetsEnvSchema = serviceEnvSchema(DATASETS_SERVICE, DATASETS_DEFAULT_PORT);
