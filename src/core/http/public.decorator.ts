import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = Symbol('h2v:public');

/** Opts a route out of the session guard, which otherwise protects every route. */
export const Public = () => SetMetadata(IS_PUBLIC, true);
