/** Client helpers of the training service (`@lathe/training/client`): no store, no bus. */
export { followJob, type FollowJobOptions } from './follow-job.js';
