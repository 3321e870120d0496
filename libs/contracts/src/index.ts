/**
 * The package entry point: the five Lathe gRPC service definitions by their fully qualified
 * protobuf names. Everything else (messages, enums, clients, server interfaces) is imported from
 * the generated module of its proto file, e.g.
 * `import { DatasetServiceService } from '@lathe/contracts/lathe/datasets/v1/dataset_service'`.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { DatasetServiceService } from './gen/lathe/datasets/v1/dataset_service.js';
import { PreferenceServiceService } from './gen/lathe/preferences/v1/preference_service.js';
import { QuantizationServiceService } from './gen/lathe/quantization/v1/quantization_service.js';
import { RegistryServiceService } from './gen/lathe/registry/v1/registry_service.js';
import { TrainingServiceService } from './gen/lathe/training/v1/training_service.js';

/** Fully qualified protobuf name of each Lathe service, as it appears in gRPC method paths. */
export type LatheServiceName =
  | 'lathe.datasets.v1.DatasetService'
  | 'lathe.preferences.v1.PreferenceService'
  | 'lathe.quantization.v1.QuantizationService'
  | 'lathe.training.v1.TrainingService'
  | 'lathe.registry.v1.RegistryService';

/**
 * The grpc-js service definition of every Lathe service, keyed by its protobuf name. Generic
 * tooling (health and reflection registration, a CLI that lists methods, tests that walk every
 * rpc) iterates this table instead of importing five modules. Typed code should import the
 * specific definition, which keeps its request and response types.
 */
export const latheServices: Readonly<Record<LatheServiceName, ServiceDefinition>> = {
  'lathe.datasets.v1.DatasetService': DatasetServiceService,
  'lathe.preferences.v1.PreferenceService': PreferenceServiceService,
  'lathe.quantization.v1.QuantizationService': QuantizationServiceService,
  'lathe.training.v1.TrainingService': TrainingServiceService,
  'lathe.registry.v1.RegistryService': RegistryServiceService,
};
