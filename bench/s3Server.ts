// An S3 server (s3rver, as the tests use) in a process of its own, so that the benchmark's
// client does not share an event loop with it. Prints its endpoint, serves until killed.
import { startTestS3 } from '../e2e/support/stores.js';

const s3 = await startTestS3((process.argv[2] ?? 'bench').split(','));
process.stdout.write(`${s3.endpoint}\n`);
const stop = () => void s3.stop().then(() => process.exit(0));
process.on('SIGTERM', stop).on('SIGINT', stop);
