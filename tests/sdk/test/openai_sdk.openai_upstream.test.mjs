// The OpenAI SDK (openai) against a gateway whose upstream speaks openai (UPSTREAM_FORMAT=openai); same format: passthrough.
import { openaiClientSuite } from '../lib/suites.mjs';

openaiClientSuite('openai');
