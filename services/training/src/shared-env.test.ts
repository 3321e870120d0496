import { describe, expect, it } from 'vitest';
import { ConfigError, readEnv } from '@lathe/service-kit';
import { sharedTrainingEnv } from './shared-env.js';

const BOTH_NAMES = {
  LATHE_TRAINING_ACK_WAIT_MS: '5000',
  LATHE_WORKER_ACK_WAIT_MS: '7000',
  LATHE_TRAINING_MAX_DELIVERIES: '3',
  LATHE_WORKER_MAX_DELIVERIES: '4',
};

describe('variables shared by the training service and its workers', () => {
  it("takes the reader's own name first when both are set", () => {
    const store = { DATABASE_URL: 'postgres://db/x' };
    expect(readEnv(sharedTrainingEnv('service'), { ...store, ...BOTH_NAMES })).toMatchObject({
      ackWaitMs: 5000,
      maxDeliveries: 3,
    });
    expect(readEnv(sharedTrainingEnv('worker'), { ...store, ...BOTH_NAMES })).toMatchObject({
      ackWaitMs: 7000,
      maxDeliveries: 4,
    });
  });

  it('defaults the store to pglite:memory for the service only: a worker must be given it', () => {
    expect(readEnv(sharedTrainingEnv('service'), {})).toEqual({
      storeUrl: 'pglite:memory',
      registryAddr: '127.0.0.1:50065',
      datasetsAddr: '127.0.0.1:50061',
      ackWaitMs: 30_000,
      maxDeliveries: 10,
    });
    expect(() => readEnv(sharedTrainingEnv('worker'), {})).toThrow(
      new ConfigError(
        'LATHE_TRAINING_DATABASE_URL or LATHE_TRAINING_STORE_URL or DATABASE_URL',
        'is required but not set',
      ),
    );
  });
});
