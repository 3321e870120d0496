import { describe, expect, it } from 'vitest';
import { decodeHealthCheckResponse, encodeHealthCheckRequest } from './grpc-health.js';
import { candidateAddresses, parseProbeArguments } from './probe-targets.js';

describe('health check messages', () => {
  it('encodes the service name as field 1 and the empty name as no bytes', () => {
    expect([...encodeHealthCheckRequest('')]).toEqual([]);
    expect([...encodeHealthCheckRequest('a.B')]).toEqual([0x0a, 3, 0x61, 0x2e, 0x42]);
    const long = 'x'.repeat(200);
    // 200 needs a two-byte varint: 0xc8 0x01.
    expect([...encodeHealthCheckRequest(long).subarray(0, 3)]).toEqual([0x0a, 0xc8, 0x01]);
  });

  it('decodes each serving status, an absent field as UNKNOWN, and skips unknown fields', () => {
    expect(decodeHealthCheckResponse(Uint8Array.from([0x08, 1]))).toBe('SERVING');
    expect(decodeHealthCheckResponse(Uint8Array.from([0x08, 2]))).toBe('NOT_SERVING');
    expect(decodeHealthCheckResponse(Uint8Array.from([0x08, 3]))).toBe('SERVICE_UNKNOWN');
    expect(decodeHealthCheckResponse(Uint8Array.from([]))).toBe('UNKNOWN');
    expect(decodeHealthCheckResponse(Uint8Array.from([0x08, 9]))).toBe('UNRECOGNIZED(9)');
    // field 2 (length-delimited, 2 bytes), field 3 (fixed32), then the status.
    const withExtras = Uint8Array.from([0x12, 2, 0xff, 0xff, 0x1d, 0, 0, 0, 0, 0x08, 1]);
    expect(decodeHealthCheckResponse(withExtras)).toBe('SERVING');
  });

  it('refuses truncated messages', () => {
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x08]))).toThrow(/truncated/);
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x12, 5, 1]))).toThrow(/truncated/);
    expect(() => decodeHealthCheckResponse(Uint8Array.from([0x0b]))).toThrow(/wire type 3/);
  });
});

describe('probe arguments', () => {
  it('reads addresses, service, deadline and TLS files', () => {
    const parsed = parseProbeArguments([
      '--address',
      '127.0.0.1:50061',
      '--address',
      '[::1]:50062',
      '--service',
      'lathe.datasets.v1.DatasetService',
      '--timeout-ms',
      '1500',
      '--tls-ca',
      '/certs/ca.crt',
    ]);
    expect(parsed).toEqual({
      addresses: ['127.0.0.1:50061', '[::1]:50062'],
      service: 'lathe.datasets.v1.DatasetService',
      timeoutMs: 1500,
      tls: { caFile: '/certs/ca.crt' },
    });
    expect(parseProbeArguments(['--tls']).tls).toEqual({});
    expect(parseProbeArguments([]).tls).toBeUndefined();
  });

  it('names the bad flag', () => {
    expect(() => parseProbeArguments(['--address', 'nohost'])).toThrow(
      /--address must be host:port/,
    );
    expect(() => parseProbeArguments(['--timeout-ms', '0'])).toThrow(/--timeout-ms/);
    expect(() => parseProbeArguments(['--service'])).toThrow(/--service needs a value/);
    expect(() => parseProbeArguments(['--tls-cert', 'c.pem'])).toThrow(/go together/);
    expect(() => parseProbeArguments(['--port', '1'])).toThrow(/unknown flag "--port"/);
  });

  it('tries the ports the environment names, else the five defaults, never the web port', () => {
    expect(candidateAddresses({})).toEqual([
      '127.0.0.1:50061',
      '127.0.0.1:50062',
      '127.0.0.1:50063',
      '127.0.0.1:50064',
      '127.0.0.1:50065',
    ]);
    expect(
      candidateAddresses({
        LATHE_REGISTRY_PORT: '7000',
        LATHE_GRPC_PORT: '7001',
        LATHE_PREFERENCES_WEB_PORT: '8062',
        LATHE_DATASETS_PORT: 'abc',
      }),
    ).toEqual(['127.0.0.1:7001', '127.0.0.1:7000']);
  });
});
