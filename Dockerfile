# syntax=docker/dockerfile:1
#
# secrets-init-webhook image.
#
#   docker build \
#     --build-arg VERSION="$(node -p 'require("./package.json").version')" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     -t ghcr.io/<you>/secrets-init-webhook:<version> .
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ... The build stages
# run on the build machine's platform ($BUILDPLATFORM): the output is JavaScript and the
# production dependencies have no native code, so only the final stage is per platform.
#
# Node.js: 24 (LTS "Krypton", supported until April 2028). NODE_MAJOR must be a major
# version that has both a node:<major>-trixie-slim and a distroless nodejs<major>-debian13 image.
ARG NODE_MAJOR=24

# ---- build: compile TypeScript to dist/ ------------------------------------------------
FROM --platform=$BUILDPLATFORM node:${NODE_MAJOR}-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# ---- prod-deps: production dependencies only, from the lockfile --------------------------
FROM --platform=$BUILDPLATFORM node:${NODE_MAJOR}-trixie-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: distroless Node.js, no shell, no package manager, uid/gid 65532 ------------
FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian13:nonroot
ARG VERSION=""
ARG REVISION=""
ARG BUILD_DATE=""
LABEL org.opencontainers.image.title="secrets-init-webhook" \
      org.opencontainers.image.description="Kubernetes mutating admission webhook that injects secrets-init into pods that reference cloud secrets (drop-in for kube-secrets-init)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
# Read by the program for --version and its start-up log (empty = not set).
ENV NODE_ENV=production \
    SECRETS_INIT_WEBHOOK_VERSION="${VERSION}" \
    SECRETS_INIT_WEBHOOK_REVISION="${REVISION}" \
    SECRETS_INIT_WEBHOOK_BUILD_DATE="${BUILD_DATE}"
WORKDIR /app
COPY --from=prod-deps /app/node_modules /app/node_modules
COPY --from=build /src/package.json /app/package.json
COPY --from=build /src/dist /app/dist
USER 65532:65532
EXPOSE 8443 9090
# Nothing is written at run time: the root filesystem can be read-only.
# Arguments are kube-secrets-init's: the Deployment passes e.g.
#   --log-level=debug server --tls-cert-file=... --tls-private-key-file=...
ENTRYPOINT ["/nodejs/bin/node", "--enable-source-maps", "/app/dist/main.js"]
CMD ["server"]
