// Builds build/plugin-flexrec.js: the same bundle Twilio's plugin builder (flex-plugin-scripts,
// webpack 4) makes, with esbuild, which needs no network and runs on Node 20 without OpenSSL
// legacy flags. Same contract: one classic script, React/ReactDOM/Redux/ReactRedux taken from
// the host's globals, @twilio/flex-ui resolved to the host's Flex (flex-shim.js), and the
// __FPB_* values the @twilio/flex-plugin runtime reads.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = (name) => {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'N/A';
  }
};

const HOST_GLOBALS = { react: 'React', 'react-dom': 'ReactDOM', redux: 'Redux', 'react-redux': 'ReactRedux' };

// Imports of the host's libraries become reads of its globals (webpack's `externals`).
const hostGlobals = {
  name: 'host-globals',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(HOST_GLOBALS).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'host-global' }));
    b.onLoad({ filter: /.*/, namespace: 'host-global' }, (args) => ({
      contents: `module.exports = window[${JSON.stringify(HOST_GLOBALS[args.path])}];`,
      loader: 'js',
    }));
    b.onResolve({ filter: /^@twilio\/flex-ui$/ }, () => ({ path: join(root, 'scripts', 'flex-shim.js') }));
  },
};

const str = (value) => JSON.stringify(String(value));
await build({
  entryPoints: [join(root, 'src', 'index.ts')],
  outfile: join(root, 'build', `${pkg.name}.js`),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2019'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  jsx: 'transform',
  plugins: [hostGlobals],
  define: {
    __FPB_PLUGIN_UNIQUE_NAME: str(pkg.name),
    __FPB_PLUGIN_VERSION: str(pkg.version),
    __FPB_FLEX_PLUGIN_SCRIPTS_VERSION: str('N/A'),
    __FPB_FLEX_PLUGIN_VERSION: str(version('@twilio/flex-plugin')),
    __FPB_FLEX_UI_VERSION: str(pkg.flex?.['flex-ui'] ?? '2'),
    __FPB_REACT_VERSION: str(version('react')),
    __FPB_REACT_DOM_VERSION: str(version('react-dom')),
    __FPB_CRACO_CONFIG_FLEX_PLUGIN_VERSION: str('N/A'),
    'process.env.NODE_ENV': '"production"',
  },
  logLevel: 'info',
});
