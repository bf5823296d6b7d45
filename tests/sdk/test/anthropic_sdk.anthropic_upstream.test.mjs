// The Anthropic SDK (@anthropic-ai/sdk) against a gateway whose upstream speaks anthropic (UPSTREAM_FORMAT=anthropic); same format: passthrough.
import { anthropicClientSuite } from '../lib/suites.mjs';

anthropicClientSuite('anthropic');
