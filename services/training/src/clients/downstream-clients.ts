// gRPC clients of the services the training service calls, through their contracts.
import { DatasetServiceService } from '@lathe/contracts/lathe/datasets/v1/dataset_service';
import { QuantizationServiceService } from '@lathe/contracts/lathe/quantization/v1/quantization_service';
import { RegistryServiceService } from '@lathe/contracts/lathe/registry/v1/registry_service';
import { createClient, type LatheClient } from '@lathe/service-kit';

/** The registry calls CreateJob makes: resolving the base model. */
export type ModelCatalog = Pick<LatheClient<typeof RegistryServiceService>, 'getModelVersion'>;
/** The datasets calls CreateJob makes: resolving the dataset version. */
export type DatasetCatalog = Pick<LatheClient<typeof DatasetServiceService>, 'getDatasetVersion'>;
/** The quantization calls a QLoRA job makes: the NF4 base, then waiting for its job. */
export type Quantizer = Pick<
  LatheClient<typeof QuantizationServiceService>,
  'quantizeModel' | 'getQuantizationJob'
>;

/** Where the downstream services listen and how to authenticate to them. */
export interface DownstreamAddresses {
  readonly registry: string;
  readonly datasets: string;
  readonly quantization: string;
  /** Bearer token sent to all three; undefined sends none. */
  readonly token?: string | undefined;
}

/** The three clients, and a way to close their channels. */
export interface DownstreamClients {
  readonly models: ModelCatalog;
  readonly datasets: DatasetCatalog;
  readonly quantizer: Quantizer;
  close(): void;
}

/**
 * Opens the registry, datasets and quantization clients. Reads are retried on UNAVAILABLE;
 * QuantizeModel too, since the service sends an idempotency key with it.
 */
export function connectDownstream(addresses: DownstreamAddresses): DownstreamClients {
  const token = addresses.token === undefined ? {} : { token: addresses.token };
  const registry = createClient(RegistryServiceService, addresses.registry, {
    ...token,
    idempotent: ['getModelVersion'],
  });
  const datasets = createClient(DatasetServiceService, addresses.datasets, {
    ...token,
    idempotent: ['getDatasetVersion'],
  });
  const quantization = createClient(QuantizationServiceService, addresses.quantization, {
    ...token,
    idempotent: ['quantizeModel', 'getQuantizationJob'],
  });
  return {
    models: registry,
    datasets,
    quantizer: quantization,
    close: () => {
      registry.close();
      datasets.close();
      quantization.close();
    },
  };
}
