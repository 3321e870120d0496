import { ChatRole } from '@lathe/contracts/lathe/common/v1/chat';
import type { ChatMessage } from '@lathe/contracts/lathe/common/v1/chat';
import { DatasetSplit } from '@lathe/contracts/lathe/common/v1/dataset_ref';
import { CurationSpec, RemovalReason } from '@lathe/contracts/lathe/datasets/v1/curation';
import type { RemovedRecord } from '@lathe/contracts/lathe/datasets/v1/curation';
import type { Dataset, Upload } from '@lathe/contracts/lathe/datasets/v1/dataset';
import { DatasetStats } from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import type {
  DatasetVersion,
  Distribution,
  LengthBucket,
  SplitStats,
} from '@lathe/contracts/lathe/datasets/v1/dataset_version';
import type { Record as ProtoRecord } from '@lathe/contracts/lathe/datasets/v1/record';
import type { CanonicalMessage, CanonicalRecord } from '../domain/canonical-record.js';
import type { CurationOutcome, RemovalKind } from '../domain/curate-records.js';
import type { DistributionFigures, SplitFigures } from '../domain/split-statistics.js';
import { LENGTH_BUCKETS } from '../domain/split-statistics.js';
import type { DatasetRow, RemovedRow, UploadRow, VersionRow } from '../store/datasets-store.js';

/** Media type of the stored JSONL splits. */
export const JSONL_MEDIA_TYPE = 'application/x-ndjson';
/** Media type of version manifests. */
export const MANIFEST_MEDIA_TYPE = 'application/vnd.lathe.dataset-manifest+json';

const ROLE: Readonly<Record<CanonicalMessage['role'], ChatRole>> = {
  system: ChatRole.CHAT_ROLE_SYSTEM,
  user: ChatRole.CHAT_ROLE_USER,
  assistant: ChatRole.CHAT_ROLE_ASSISTANT,
};

/** The contract's RemovalReason for a domain removal kind. */
export const REMOVAL_REASON: Readonly<Record<RemovalKind, RemovalReason>> = {
  exact_duplicate: RemovalReason.REMOVAL_REASON_EXACT_DUPLICATE,
  near_duplicate: RemovalReason.REMOVAL_REASON_NEAR_DUPLICATE,
  empty_turn: RemovalReason.REMOVAL_REASON_EMPTY_TURN,
  too_short: RemovalReason.REMOVAL_REASON_TOO_SHORT,
  too_long: RemovalReason.REMOVAL_REASON_TOO_LONG,
  junk: RemovalReason.REMOVAL_REASON_JUNK,
  pii: RemovalReason.REMOVAL_REASON_PII,
};

function messages(list: readonly CanonicalMessage[]): ChatMessage[] {
  return list.map((m) => ({ role: ROLE[m.role], content: m.content }));
}

/** The contract's record content for a canonical record. */
export function recordContent(record: CanonicalRecord): ProtoRecord['content'] {
  switch (record.type) {
    case 'conversation':
      return { $case: 'conversation', conversation: { messages: messages(record.messages) } };
    case 'text':
      return { $case: 'text', text: { text: record.text } };
    case 'preference':
      return {
        $case: 'preference',
        preference: {
          prompt: messages(record.prompt),
          chosen: messages(record.chosen),
          rejected: messages(record.rejected),
        },
      };
  }
}

/** A dataset row as the contract's Dataset. */
export function toDataset(row: DatasetRow): Dataset {
  return {
    name: row.name,
    description: row.description,
    kind: row.kind,
    labels: row.labels,
    createTime: row.createdAt,
    latestVersion: row.latestVersion,
    stagedRecordCount: row.stagedRecordCount,
  };
}

/** An upload row as the contract's Upload. */
export function toUpload(row: UploadRow): Upload {
  return {
    id: row.id,
    dataset: row.dataset,
    requestedFormat: row.requestedFormat,
    detectedFormat: row.detectedFormat,
    acceptedCount: row.acceptedCount,
    rejectedCount: row.rejectedCount,
    raw:
      row.rawSha256 === ''
        ? undefined
        : { sha256: row.rawSha256, sizeBytes: row.rawSize, mediaType: JSONL_MEDIA_TYPE, uri: '' },
    sourceName: row.sourceName,
    createTime: row.createdAt,
    curatedInVersion: row.curatedInVersion,
  };
}

/** A version row as the contract's DatasetVersion. */
export function toDatasetVersion(dataset: DatasetRow, row: VersionRow): DatasetVersion {
  return {
    ref: { dataset: dataset.name, version: row.version, manifestSha256: row.manifestSha256 },
    kind: dataset.kind,
    spec: CurationSpec.decode(row.spec),
    baseVersion: row.baseVersion,
    uploadIds: row.uploadIds,
    train: {
      sha256: row.trainSha256,
      sizeBytes: row.trainSize,
      mediaType: JSONL_MEDIA_TYPE,
      uri: '',
    },
    eval:
      row.evalSha256 === ''
        ? undefined
        : { sha256: row.evalSha256, sizeBytes: row.evalSize, mediaType: JSONL_MEDIA_TYPE, uri: '' },
    trainCount: row.trainCount,
    evalCount: row.evalCount,
    removedCount: row.removedCount,
    description: row.description,
    createTime: row.createdAt,
  };
}

/** A version's stored statistics. */
export function toStats(row: VersionRow): DatasetStats {
  return DatasetStats.decode(row.stats);
}

function distributionOf(d: DistributionFigures): Distribution {
  return { min: d.min, max: d.max, mean: d.mean, p50: d.p50, p95: d.p95, total: d.total };
}

function splitStats(split: DatasetSplit, f: SplitFigures): SplitStats {
  return {
    split,
    recordCount: f.recordCount,
    characters: distributionOf(f.characters),
    tokens: f.tokens === undefined ? undefined : distributionOf(f.tokens),
    turns: distributionOf(f.turns),
    roleCounts: { ...f.roleCounts },
    characterHistogram: histogramBuckets(f.characterHistogram),
  };
}

/** Every bucket of {@link LENGTH_BUCKETS} in order, with the split's counts (0 when absent). */
function histogramBuckets(counts: Readonly<Record<string, number>>): LengthBucket[] {
  const buckets: LengthBucket[] = [];
  let min = 0;
  for (const upper of LENGTH_BUCKETS) {
    buckets.push({ minLength: min, maxLength: upper, count: counts[`<=${upper}`] ?? 0 });
    min = upper + 1;
  }
  buckets.push({ minLength: min, maxLength: 0, count: counts[`>${min - 1}`] ?? 0 });
  return buckets;
}

/** The contract's statistics of a curation outcome (the ref is filled in once numbered). */
export function statsOf(
  outcome: CurationOutcome,
  counts: Partial<Record<RemovalKind, number>>,
): DatasetStats {
  return {
    ref: undefined,
    splits: [
      splitStats(DatasetSplit.DATASET_SPLIT_TRAIN, outcome.train),
      splitStats(DatasetSplit.DATASET_SPLIT_EVAL, outcome.eval),
    ],
    removals: Object.entries(counts).map(([kind, count]) => ({
      reason: REMOVAL_REASON[kind as RemovalKind],
      count: count ?? 0,
    })),
    inputCount: outcome.inputCount,
    redactedCount: outcome.redactedCount,
  };
}

/** A removal row as the contract's RemovedRecord. */
export function toRemovedRecord(row: RemovedRow): RemovedRecord {
  return {
    recordId: row.recordId,
    reason: row.reason,
    detail: row.detail,
    duplicateOf: row.duplicateOf,
    similarity: row.similarity,
    uploadId: row.uploadId,
    sourceLine: row.sourceLine,
    excerpt: row.excerpt,
  };
}

const CANONICAL_ROLE: Partial<Record<ChatRole, CanonicalMessage['role']>> = {
  [ChatRole.CHAT_ROLE_SYSTEM]: 'system',
  [ChatRole.CHAT_ROLE_USER]: 'user',
  [ChatRole.CHAT_ROLE_ASSISTANT]: 'assistant',
};

function canonicalMessages(list: readonly ChatMessage[]): CanonicalMessage[] {
  return list.map((m) => {
    const role = CANONICAL_ROLE[m.role];
    if (role === undefined)
      throw new Error(`stored record has a message with role ${ChatRole[m.role] ?? m.role}`);
    return { role, content: m.content };
  });
}

/** The canonical record of a stored record's content (used to curate on top of a base version). */
export function canonicalOf(content: ProtoRecord['content']): CanonicalRecord {
  switch (content?.$case) {
    case 'conversation':
      return { type: 'conversation', messages: canonicalMessages(content.conversation.messages) };
    case 'text':
      return { type: 'text', text: content.text.text };
    case 'preference':
      return {
        type: 'preference',
        prompt: canonicalMessages(content.preference.prompt),
        chosen: canonicalMessages(content.preference.chosen),
        rejected: canonicalMessages(content.preference.rejected),
      };
    case undefined:
      throw new Error('stored record has no content');
  }
}
