import { serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_TRAINING_*`, the error domain `lathe.training`. */
export const TRAINING_SERVICE = 'training';

/** Port when neither LATHE_TRAINING_PORT nor LATHE_GRPC_PORT is set. */
export const TRAINING_DEFAULT_PORT = 50064;

/**
 * Environment variables of the training service, validated at start by the kit; today the kit's
 * common set (listen address, auth, TLS, message sizes, shutdown, logs). Storage, bus and scheduler variables join here when those land.
 */
export const trainingEnvSchema = serviceEnvSchema(TRAINING_SERVICE, TRAINING_DEFAULT_PORT);
