/**
 * One jest run for unit specs (beside the code) and e2e specs (test/e2e). NestJS 12 and a few
 * dependencies ship ESM only; SWC turns them into CommonJS for jest's module system.
 */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2023',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];
const ESM_PACKAGES = ['@nestjs', 'uuid', 'file-type', 'strtok3', 'token-types', '@tokenizer', 'uint8array-extras', 'load-esm', '@privacyresearch', '@borewit', 'request-filtering-agent', 'htmlparser2', 'domhandler', 'domelementtype', 'domutils', 'dom-serializer', 'entities', 'encoding-sniffer', '@exodus'];

module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/e2e/**/*.e2e-spec.ts'],
  transform: { '^.+\\.(t|j|mj|cj)s$': swc },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_PACKAGES.join('|')})/)`],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 30_000,
  maxWorkers: 2,
  forceExit: false,
};
