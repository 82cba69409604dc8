# MinIO for the cluster recipe, built from the commit infra/versions.ts pins (upstream distributes
# the community server as source only). NOT BUILT on the machine this was written on.
FROM golang:1.26-bookworm AS build
# Keep in step with MINIO.goVersion in infra/versions.ts (the static test checks they match).
ARG MINIO_GO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
RUN CGO_ENABLED=0 go install github.com/minio/minio@${MINIO_GO_VERSION}

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /go/bin/minio /usr/local/bin/minio
EXPOSE 9000 9001
ENTRYPOINT ["minio"]
CMD ["server", "/data", "--console-address", ":9001"]
