import { describe, expect, it } from 'vitest';
import { ConfigError } from '@lathe/service-kit';
import { readWorkerSettings, storeUrlWithIdleTimeout } from './worker-config.js';

describe('worker settings', () => {
  it('fills defaults, takes the service’s names as fallbacks, and names a bad variable', () => {
    const s = readWorkerSettings({
      NATS_URL: 'nats://n:4222',
      DATABASE_URL: 'postgres://db/x',
      LATHE_TRAINING_ACK_WAIT_MS: '9000',
    });
    expect(s).toMatchObject({
      device: 'cpu',
      concurrency: 1,
      ackWaitMs: 9000,
      maxDeliveries: 10,
      progressIntervalMs: 2000,
      idleTransactionTimeoutMs: 10_000,
      registryAddress: '127.0.0.1:50065',
      datasetsAddress: '127.0.0.1:50061',
    });
    expect(() =>
      readWorkerSettings({ NATS_URL: 'n', DATABASE_URL: 'd', LATHE_WORKER_DEVICE: 'tpu' }),
    ).toThrow(ConfigError);
  });

  it('adds the idle-transaction timeout to PostgreSQL URLs only', () => {
    expect(storeUrlWithIdleTimeout('postgres://u@h:5432/db?sslmode=disable', 2000)).toBe(
      'postgres://u@h:5432/db?sslmode=disable&idle_in_transaction_session_timeout=2000',
    );
    expect(storeUrlWithIdleTimeout('pglite:memory', 2000)).toBe('pglite:memory');
    expect(storeUrlWithIdleTimeout('postgres://h/db', 0)).toBe('postgres://h/db');
  });
});
