import type { ArtifactStore } from '@lathe/artifacts';
import type { EventBus } from '@lathe/bus';
import type { TokenizerSource } from '../clients/registry-tokenizers.js';
import type { DatasetsStore } from '../store/datasets-store.js';

/** What the service's handlers work with: its schema, its artifact namespace and the bus. */
export interface DatasetsDeps {
  readonly store: DatasetsStore;
  readonly artifacts: ArtifactStore;
  readonly bus: EventBus;
  /** Tokenizers for TokenLengthFilter; undefined when no registry is configured. */
  readonly tokenizers?: TokenizerSource;
  /** Memory budget of a curation run's sorts (default 16 MiB); temporary files go under TMPDIR. */
  readonly curationMemoryBytes?: number;
}
