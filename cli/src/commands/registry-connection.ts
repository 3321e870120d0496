import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { createClient, type LatheClient } from '@lathe/service-kit';
import type { ServiceConnection } from './service-connection.js';

/** The registry commands' shared flags, as their usage prints them. */
export const REGISTRY_FLAGS = `connection:
  --registry ADDR   registry address (default $LATHE_REGISTRY_ADDR, else 127.0.0.1:50065)
  --token JWT       bearer token (default $LATHE_TOKEN; none when unset)`;

/** A registry client at `connection` (`connectionOf(REGISTRY_ENDPOINT, args)` in a command). */
export function registryClient({
  address,
  token,
}: ServiceConnection): LatheClient<typeof RegistryServiceService> {
  return createClient(RegistryServiceService, address, {
    idempotent: ['getModelVersion', 'listModels', 'listModelVersions'],
    deadlineMs: 600_000,
    // HTTP/2's default 64 KiB stream window caps a download at one window per round trip.
    channelOptions: { 'grpc-node.flow_control_window': 32 * 1024 * 1024 },
    ...(token === undefined ? {} : { token }),
  });
}

/** Parses `NAME@VERSION` or `NAME@ALIAS` into a ModelRef; a bare NAME is refused. */
export function parseModelRef(text: string): {
  name: string;
  selector: { $case: 'version'; version: number } | { $case: 'alias'; alias: string };
} {
  const at = text.lastIndexOf('@');
  if (at <= 0 || at === text.length - 1)
    throw new Error(`"${text}" must be NAME@VERSION or NAME@ALIAS`);
  const name = text.slice(0, at);
  const sel = text.slice(at + 1);
  return /^[0-9]+$/.test(sel)
    ? { name, selector: { $case: 'version', version: Number(sel) } }
    : { name, selector: { $case: 'alias', alias: sel } };
}
