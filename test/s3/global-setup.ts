import { startService } from '../support/service-lifecycle.js';

/** vitest globalSetup: a real S3 (Ceph RGW) for test/s3; see scripts/services/rgw.sh. */
export default function setup(): Promise<() => Promise<void>> {
  return startService('rgw');
}
