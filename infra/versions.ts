/**
 * Pinned server versions. Bump deliberately: the integration tests run against exactly these.
 *
 * MinIO: upstream distributes the community server as source only, and the Go module proxy
 * does not resolve its RELEASE.* tag names, so the pin is the proxy's pseudo-version of a commit.
 */
export const TEMPORAL_CLI = {
  version: '1.5.1',
  // v1.5.1 is the newest tag whose go.mod has no `replace`, so `go install` accepts it.
  goPackage: 'github.com/temporalio/cli/cmd/temporal',
  goVersion: 'v1.5.1',
} as const;

export const MINIO = {
  version: '2026-02-12-7aac2a2c5b7c',
  goPackage: 'github.com/minio/minio',
  goVersion: 'v0.0.0-20260212201848-7aac2a2c5b7c',
} as const;
