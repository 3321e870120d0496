import { credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import type { Client, ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

/** Asks `grpc.health.v1.Health/Check` over real gRPC; resolves with the status name (`SERVING`). */
export function checkHealth(address: string, service = ''): Promise<string> {
  const HealthClient = makeGenericClientConstructor(healthService, 'Health');
  const client = new HealthClient(address, credentials.createInsecure()) as unknown as Client & {
    check(
      request: { service: string },
      options: { deadline: number },
      callback: (error: ServiceError | null, response?: { status: string }) => void,
    ): void;
  };
  return new Promise((resolve, reject) => {
    client.check({ service }, { deadline: Date.now() + 5000 }, (error, response) => {
      client.close();
      if (error !== null) reject(error);
      else resolve(response?.status ?? 'UNKNOWN');
    });
  });
}
