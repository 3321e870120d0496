// startAssembledService on a real gRPC server: what the assembly opened is released last-opened
// first, whether the start fails or the service drains, and background work starts and stops
// around listening.
import { createServer } from 'node:net';
import { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { describe, expect, it } from 'vitest';
import { readServiceSettings } from '../config/service-config.js';
import { Logger } from '../log/logger.js';
import { checkHealth } from '../testing/probes.js';
import { startAssembledService } from './assembled-service.js';
import type { ServiceDescriptor } from './start-service.js';

type Contract = typeof QuantizationServiceService;

// Any contract does: the tests look at the order of start-up, drain and release, not at calls.
const descriptor: ServiceDescriptor<Contract> = {
  name: 'quantization',
  fullName: 'lathe.quantization.v1.QuantizationService',
  protoFile: 'lathe/quantization/v1/quantization_service.proto',
  defaultPort: 0,
  definition: QuantizationServiceService,
  handlers: {},
  roles: Object.fromEntries(
    Object.keys(QuantizationServiceService).map((k) => [k, ['admin']]),
  ) as Record<keyof Contract, string[]>,
};

const settingsOn = (port: number) =>
  readServiceSettings('quantization', 0, {
    LATHE_GRPC_HOST: '127.0.0.1',
    LATHE_QUANTIZATION_PORT: String(port),
    LATHE_AUTH_MODE: 'none',
  });

function recordingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('quantization', 'info', (line) => lines.push(line)), lines };
}

describe('startAssembledService', () => {
  it('releases what the assembly opened, last first, when it fails; a failing release is logged and the others run', async () => {
    const steps: string[] = [];
    const { log, lines } = recordingLog();
    const started = startAssembledService(settingsOn(0), log, (_s, _l, releaseOnExit) => {
      releaseOnExit(() => void steps.push('store closed'));
      releaseOnExit(() => {
        throw new Error('bus already gone');
      });
      releaseOnExit(async () => {
        await Promise.resolve();
        steps.push('client closed');
      });
      return Promise.reject(new Error('downstream unreachable'));
    });
    await expect(started).rejects.toThrow('downstream unreachable');
    expect(steps).toEqual(['client closed', 'store closed']);
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { level: 'warn', msg: 'release failed', fields: { error: { message: 'bus already gone' } } },
    ]);
  });

  it('releases what the assembly opened when the server cannot listen, and starts no background work', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = taken.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    const steps: string[] = [];
    try {
      const started = startAssembledService(
        settingsOn(address.port),
        recordingLog().log,
        (_s, _l, releaseOnExit) => {
          releaseOnExit(() => void steps.push('store closed'));
          return Promise.resolve({
            descriptor,
            afterListen: () => void steps.push('sweep started'),
          });
        },
      );
      await expect(started).rejects.toThrow(/cannot listen on 127\.0\.0\.1/);
    } finally {
      taken.close();
    }
    expect(steps).toEqual(['store closed']);
  });

  it('serves the assembled descriptor; starts background work once bound; on shutdown stops it before the drain and releases after', async () => {
    const steps: string[] = [];
    const running = await startAssembledService(
      settingsOn(0),
      recordingLog().log,
      (_s, _l, releaseOnExit) => {
        releaseOnExit(() => void steps.push('store closed'));
        releaseOnExit(() => void steps.push('bus closed'));
        return Promise.resolve({
          descriptor,
          afterListen: () => void steps.push('sweep started'),
          beforeDrain: () => steps.push('watches ended'),
        });
      },
    );
    const address = `127.0.0.1:${String(running.port)}`;
    expect(await checkHealth(address, descriptor.fullName)).toBe('SERVING');
    expect(steps).toEqual(['sweep started']);
    expect(await running.shutdown(1000)).toEqual({ forced: false });
    expect(steps).toEqual(['sweep started', 'watches ended', 'bus closed', 'store closed']);
  });

  it('adds the fields of an async afterListen to the listening line, and releases everything when it fails', async () => {
    const steps: string[] = [];
    const withPage = await startAssembledService(settingsOn(0), recordingLog().log, () =>
      Promise.resolve({ descriptor, afterListen: () => Promise.resolve({ webPort: 8080 }) }),
    );
    expect(withPage.fields).toEqual({ webPort: 8080 });
    await withPage.shutdown(1000);
    const failing = startAssembledService(settingsOn(0), recordingLog().log, (_s, _l, release) => {
      release(() => void steps.push('store closed'));
      return Promise.resolve({
        descriptor,
        afterListen: () => Promise.reject(new Error('web page port taken')),
      });
    });
    await expect(failing).rejects.toThrow('web page port taken');
    expect(steps).toEqual(['store closed']);
  });
});
