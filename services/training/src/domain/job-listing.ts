// ListJobs, ListCheckpoints and CancelJob over the store.
import type { Job } from '@lathe/contracts/lathe/training/v1/job';
import type {
  CancelJobRequest,
  ListCheckpointsRequest,
  ListCheckpointsResponse,
  ListJobsRequest,
  ListJobsResponse,
} from '@lathe/contracts/lathe/training/v1/training_service';
import type { JobFilter } from '../store/job-store.js';
import { jobCursorOf, jobPageToken, offsetOf, offsetPageToken, pageSize } from './job-paging.js';
import { publishQuietly } from './job-queueing.js';
import type { TrainingDeps } from './training-deps.js';

/** Jobs matching the request's filters, newest first, one page. */
export async function listJobs(deps: TrainingDeps, r: ListJobsRequest): Promise<ListJobsResponse> {
  const filter: JobFilter = {
    states: r.states,
    methods: r.methods,
    baseModel: r.baseModel,
    dataset: r.dataset,
    labels: r.labels,
    creator: r.creator,
    ...(r.createdAfter === undefined ? {} : { createdAfter: r.createdAfter }),
    ...(r.createdBefore === undefined ? {} : { createdBefore: r.createdBefore }),
  };
  const key = {
    ...filter,
    createdAfter: r.createdAfter?.toISOString(),
    createdBefore: r.createdBefore?.toISOString(),
  };
  const size = pageSize(r.page);
  const cursor = jobCursorOf(r.page?.pageToken ?? '', key);
  // One more than the page tells whether another page follows.
  const jobs = await deps.store.listJobs(filter, size + 1, cursor);
  const page = jobs.slice(0, size);
  const last = page[page.length - 1];
  const more = jobs.length > size && last?.createTime !== undefined;
  return {
    jobs: page,
    page: {
      nextPageToken:
        more && last?.createTime !== undefined
          ? jobPageToken({ createTime: last.createTime, id: last.id }, key)
          : '',
      totalSize: -1,
    },
  };
}

/** A job's checkpoints, oldest first, one page. */
export async function listCheckpoints(
  deps: TrainingDeps,
  r: ListCheckpointsRequest,
): Promise<ListCheckpointsResponse> {
  await deps.store.requireJob(r.jobId);
  const size = pageSize(r.page);
  const offset = offsetOf(r.page?.pageToken ?? '', { job: r.jobId });
  const checkpoints = await deps.store.listCheckpoints(r.jobId, offset, size);
  const total = await deps.store.countCheckpoints(r.jobId);
  const end = offset + checkpoints.length;
  return {
    checkpoints,
    page: {
      nextPageToken: end < total ? offsetPageToken(end, { job: r.jobId }) : '',
      totalSize: total,
    },
  };
}

/** Cancels a job (see JobStore.requestCancel) and publishes the state change. */
export async function cancelJob(deps: TrainingDeps, r: CancelJobRequest): Promise<Job> {
  const { job, events } = await deps.store.requestCancel(r.jobId, r.reason);
  await publishQuietly(deps, events);
  if (events.length > 0) deps.log.info('cancel requested', { jobId: job.id, state: job.state });
  return job;
}
