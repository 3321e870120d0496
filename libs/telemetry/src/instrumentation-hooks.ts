import { register } from 'node:module';

/** Modules whose ESM imports are intercepted so that instrumentations can patch them. */
export const INSTRUMENTED_MODULES: readonly string[] = ['@grpc/grpc-js'];

let registered = false;

/**
 * Installs the ESM loader hook (import-in-the-middle) through which instrumentations patch
 * modules loaded with `import`. The CommonJS hook (require-in-the-middle) needs no registration.
 * Both only affect modules loaded AFTER the instrumentation is enabled: call this, then start
 * the SDK, before anything imports `@grpc/grpc-js`; the `@lathe/telemetry/register` entry, given
 * to `node --import`, does exactly that. Only {@link INSTRUMENTED_MODULES} are intercepted, so
 * other loaders (tsx) and the rest of the module graph are left alone. Idempotent.
 */
export function registerInstrumentationHooks(): void {
  if (registered) return;
  registered = true;
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, {
    data: { include: [...INSTRUMENTED_MODULES] },
  });
}
