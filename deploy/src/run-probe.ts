// The probe's logic: flags, candidate addresses, one Check per address, the verdict.
import { checkHealth } from './grpc-health.js';
import { candidateAddresses, parseProbeArguments, PROBE_USAGE } from './probe-targets.js';

/** Runs the probe over `argv` and the environment; resolves the exit code. */
export async function runProbe(
  argv: readonly string[],
  environment: Readonly<Record<string, string | undefined>>,
  write: (line: string) => void,
): Promise<number> {
  if (argv.includes('--help')) {
    write(PROBE_USAGE);
    return 0;
  }
  let parsed;
  try {
    parsed = parseProbeArguments(argv);
  } catch (error) {
    write(`lathe-health-probe: ${(error as Error).message}\n${PROBE_USAGE}`);
    return 2;
  }
  const addresses =
    parsed.addresses.length > 0 ? parsed.addresses : candidateAddresses(environment);
  const results = await Promise.all(
    addresses.map(async (address) => {
      try {
        const status = await checkHealth({
          address,
          service: parsed.service,
          timeoutMs: parsed.timeoutMs,
          ...(parsed.tls === undefined ? {} : { tls: parsed.tls }),
        });
        return { address, status, error: undefined };
      } catch (error) {
        return { address, status: undefined, error: (error as Error).message };
      }
    }),
  );
  const answered = results.filter((r) => r.status !== undefined);
  const serving = answered.filter((r) => r.status === 'SERVING');
  if (serving.length > 0 && serving.length === answered.length) {
    write(`SERVING: ${serving.map((r) => r.address).join(', ')}`);
    return 0;
  }
  if (answered.length > 0) {
    write(answered.map((r) => `${r.status ?? ''}: ${r.address}`).join('; '));
    return 1;
  }
  write(`no answer: ${results.map((r) => `${r.address} (${r.error ?? ''})`).join('; ')}`);
  return 1;
}
