import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import {
  GetModelVersionRequest,
  RegistryServiceService,
} from '@lathe/contracts/lathe/registry/v1/registry_service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/client/create-client.js';
import type { RunningService } from '../src/server/start-service.js';
import { startRegistry } from './in-process-service.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
}

// A throwaway CA signing a server certificate (for 127.0.0.1) and a client certificate.
function makePki(dir: string): void {
  const ssl = (...args: string[]): void =>
    void execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=lathe-test-ca',
  );
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const name of ['server', 'client']) {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    );
    const ext = name === 'server' ? ['-extfile', 'server.ext'] : [];
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      ...ext,
    );
  }
}

describe.skipIf(!hasOpenssl())('TLS and mTLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kit-pki-'));
  const file = (name: string): Buffer => readFileSync(join(dir, name));
  let service: RunningService;
  let address: string;
  const get = GetModelVersionRequest.fromPartial({ ref: { name: 'llama' } });

  beforeAll(async () => {
    makePki(dir);
    ({ service, address } = await startRegistry(
      { getModelVersion: () => Promise.resolve({ version: undefined }) },
      {
        env: {
          LATHE_AUTH_MODE: 'none',
          LATHE_TLS_CERT_FILE: join(dir, 'server.pem'),
          LATHE_TLS_KEY_FILE: join(dir, 'server.key'),
          LATHE_TLS_CLIENT_CA_FILE: join(dir, 'ca.pem'),
        },
      },
    ));
  }, 30_000);
  afterAll(async () => {
    await service.shutdown(1000);
  });

  it('accepts a client presenting a certificate signed by the configured CA', async () => {
    const c = createClient(RegistryServiceService, address, {
      credentials: credentials.createSsl(file('ca.pem'), file('client.key'), file('client.pem')),
      idempotent: [],
    });
    await expect(c.getModelVersion(get)).resolves.toEqual({ version: undefined });
    c.close();
  });

  it('refuses a TLS client without a certificate, and a plaintext client', async () => {
    const noCert = createClient(RegistryServiceService, address, {
      credentials: credentials.createSsl(file('ca.pem')),
      idempotent: [],
      deadlineMs: 3000,
    });
    await expect(noCert.getModelVersion(get)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    noCert.close();
    const plain = createClient(RegistryServiceService, address, {
      idempotent: [],
      deadlineMs: 3000,
    });
    await expect(plain.getModelVersion(get)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    plain.close();
  });
});
