// The Anthropic SDK (@anthropic-ai/sdk) against a gateway whose upstream speaks openai (UPSTREAM_FORMAT=openai); conversion: the gateway translates request, answer, stream and errors.
import { anthropicClientSuite } from '../lib/suites.mjs';

anthropicClientSuite('openai');
