// Loads the two official SDKs from the npm install that run.sh made: LUNA_SDK_NODE_MODULES names
// its node_modules folder (CTest installs into the build directory); without it, tests/sdk's own.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = process.env.LUNA_SDK_NODE_MODULES || join(here, '..', 'node_modules');
// createRequire needs a file inside the folder that holds node_modules; it need not exist.
const require = createRequire(join(dirname(nodeModules), 'package.json'));

function load(name) {
  try {
    return require(name);
  } catch (err) {
    throw new Error(`cannot load ${name} from ${nodeModules} (run tests/sdk/run.sh, or npm ci in tests/sdk): ${err.message}`);
  }
}

const openaiModule = load('openai');
const anthropicModule = load('@anthropic-ai/sdk');

export const OpenAI = openaiModule.OpenAI;
export const Anthropic = anthropicModule.Anthropic;
export const versions = {
  openai: load('openai/version').VERSION,
  anthropic: load('@anthropic-ai/sdk/version').VERSION,
};
