import { serviceEnvSchema } from '@lathe/service-kit';

/** Short name of the service: env variables are `LATHE_QUANTIZATION_*`, the error domain `lathe.quantization`. */
export const QUANTIZATION_SERVICE = 'quantization';

/** Port when neither LATHE_QUANTIZATION_PORT nor LATHE_GRPC_PORT is set. */
export const QUANTIZATION_DEFAULT_PORT = 50063;

/**
 * Environment variables of the quantization service, validated at start by the kit; today the kit's
 * common set (listen address, auth, TLS, message sizes, shutdown, logs). Storage and artifact variables join here when quantization lands.
 */
export const quantizationEnvSchema = serviceEnvSchema(
  QUANTIZATION_SERVICE,
  QUANTIZATION_DEFAULT_PORT,
);
