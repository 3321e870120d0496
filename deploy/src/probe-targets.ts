// Which address a container health check probes, from its flags and the container's environment.

/** The gRPC ports of the five services when their `LATHE_<SERVICE>_PORT` is unset. */
export const DEFAULT_SERVICE_PORTS: Readonly<Record<string, number>> = {
  datasets: 50061,
  preferences: 50062,
  quantization: 50063,
  training: 50064,
  registry: 50065,
};

/** A parsed command line of the probe. */
export interface ProbeArguments {
  /** Explicit `host:port` targets (`--address`, repeatable); empty: {@link candidateAddresses}. */
  readonly addresses: readonly string[];
  /** Health service name to ask about (`--service`); `''`: the whole server. */
  readonly service: string;
  /** Deadline per call (`--timeout-ms`). */
  readonly timeoutMs: number;
  /** TLS (`--tls`, `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-server-name`); absent: plaintext. */
  readonly tls?: {
    readonly caFile?: string;
    readonly certFile?: string;
    readonly keyFile?: string;
    readonly serverName?: string;
  };
}

/** The probe's usage text. */
export const PROBE_USAGE = `usage: lathe-health-probe [--address host:port]... [--service NAME] [--timeout-ms N]
                          [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]
Calls grpc.health.v1.Health/Check; exit 0 when SERVING, 1 otherwise.
Without --address it tries 127.0.0.1 on every gRPC port the environment names
(LATHE_GRPC_PORT, LATHE_<SERVICE>_PORT) or, when none does, the five default ports 50061-50065:
a container runs one service, so the one that answers is it. Any --tls-* flag implies --tls.`;

/** Parses the probe's flags; throws an Error whose message names the bad flag. */
export function parseProbeArguments(argv: readonly string[]): ProbeArguments {
  const addresses: string[] = [];
  let service = '';
  let timeoutMs = 5000;
  let tls = false;
  const tlsFiles: { caFile?: string; certFile?: string; keyFile?: string; serverName?: string } =
    {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    const value = (): string => {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new Error(`${flag} needs a value`);
      i++;
      return next;
    };
    switch (flag) {
      case '--address': {
        const address = value();
        if (!/^[^\s:]+:\d{1,5}$/.test(address) && !/^\[[^\]]+\]:\d{1,5}$/.test(address)) {
          throw new Error(`--address must be host:port, got "${address}"`);
        }
        addresses.push(address);
        break;
      }
      case '--service':
        service = value();
        break;
      case '--timeout-ms': {
        const raw = value();
        timeoutMs = Number(raw);
        if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
          throw new Error(`--timeout-ms must be a positive integer, got "${raw}"`);
        }
        break;
      }
      case '--tls':
        tls = true;
        break;
      case '--tls-ca':
        tlsFiles.caFile = value();
        break;
      case '--tls-cert':
        tlsFiles.certFile = value();
        break;
      case '--tls-key':
        tlsFiles.keyFile = value();
        break;
      case '--tls-server-name':
        tlsFiles.serverName = value();
        break;
      default:
        throw new Error(`unknown flag "${flag}"`);
    }
  }
  if ((tlsFiles.certFile === undefined) !== (tlsFiles.keyFile === undefined)) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  const useTls = tls || Object.keys(tlsFiles).length > 0;
  return { addresses, service, timeoutMs, ...(useTls ? { tls: tlsFiles } : {}) };
}

/**
 * The addresses to try when none is given: 127.0.0.1 on each port the environment sets for a gRPC
 * listener (`LATHE_GRPC_PORT`, `LATHE_<SERVICE>_PORT` of the five services), else the five
 * default ports. Web and other ports (`LATHE_PREFERENCES_WEB_PORT`) are not gRPC and are left out.
 */
export function candidateAddresses(
  environment: Readonly<Record<string, string | undefined>>,
): string[] {
  const names = ['LATHE_GRPC_PORT', ...Object.keys(DEFAULT_SERVICE_PORTS).map(portVariable)];
  const ports = new Set<number>();
  for (const name of names) {
    const raw = environment[name];
    if (raw === undefined || raw === '') continue;
    const port = Number(raw);
    if (Number.isInteger(port) && port > 0 && port < 65536) ports.add(port);
  }
  if (ports.size === 0) for (const port of Object.values(DEFAULT_SERVICE_PORTS)) ports.add(port);
  return [...ports].map((port) => `127.0.0.1:${String(port)}`);
}

/** `LATHE_<SERVICE>_PORT` for a service name. */
export function portVariable(service: string): string {
  return `LATHE_${service.toUpperCase()}_PORT`;
}
