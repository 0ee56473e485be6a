/* The data source the TypeORM CLI reads: `typeorm migration:generate -d dist/src/core/database/cli-data-source.js migrations/Name`. */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadDotEnv } from '../config/dot-env';
import { parseEnv } from '../config/env.schema';
import { dataSourceOptions } from './data-source';

loadDotEnv();
export default new DataSource(dataSourceOptions(parseEnv(process.env)));
