import { serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_REGISTRY_*`, the error domain `lathe.registry`. */
export const REGISTRY_SERVICE = 'registry';

/** Port when neither LATHE_REGISTRY_PORT nor LATHE_GRPC_PORT is set. */
export const REGISTRY_DEFAULT_PORT = 50065;

/**
 * Environment variables of the registry service, validated at start by the kit; today the kit's
 * common set (listen address, auth, TLS, message sizes, shutdown, logs). Storage and artifact variables join here when those land.
 */
export const registryEnvSchema = serviceEnvSchema(REGISTRY_SERVICE, REGISTRY_DEFAULT_PORT);
