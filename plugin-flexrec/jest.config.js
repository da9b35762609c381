/** Unit tests: TypeScript through ts-jest, the DOM through jsdom, as Flex plugin tests run. */
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/tests'],
  transform: { '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  setupFilesAfterEnv: ['<rootDir>/tests/setup-tests.ts'],
  // What the plugin build defines (scripts/build.mjs); @twilio/flex-plugin reads them.
  globals: {
    __FPB_PLUGIN_UNIQUE_NAME: 'plugin-flexrec',
    __FPB_PLUGIN_VERSION: '0.0.0-test',
    __FPB_FLEX_PLUGIN_SCRIPTS_VERSION: 'N/A',
    __FPB_FLEX_PLUGIN_VERSION: 'test',
    __FPB_FLEX_UI_VERSION: 'test',
    __FPB_REACT_VERSION: 'test',
    __FPB_REACT_DOM_VERSION: 'test',
  },
  // @twilio/flex-ui is the host's and not installed: tests get the fake host instead.
  moduleNameMapper: { '^@twilio/flex-ui$': '<rootDir>/tests/fake-flex-ui.ts' },
  testTimeout: 10000,
};
