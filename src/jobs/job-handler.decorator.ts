import { SetMetadata } from '@nestjs/common';
import { JobName } from './job-names';

export const JOB_HANDLER = Symbol('h2v:job-handler');

/** Marks the method that processes one job name. It receives the job's payload; it must be idempotent. */
export const JobHandler = (name: JobName) => SetMetadata(JOB_HANDLER, name);
