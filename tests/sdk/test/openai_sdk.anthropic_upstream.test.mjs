// The OpenAI SDK (openai) against a gateway whose upstream speaks anthropic (UPSTREAM_FORMAT=anthropic); conversion: the gateway translates request, answer, stream and errors.
import { openaiClientSuite } from '../lib/suites.mjs';

openaiClientSuite('anthropic');
