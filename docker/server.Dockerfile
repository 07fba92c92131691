# nnseg server image (CPU). Two targets:
#   server  — `nnseg serve` / `nnseg worker` / `nnseg watch` (API, WebSocket, jobs, PACS watcher)
#   viewer  — the same plus the prebuilt OHIF viewer and our extension/mode bundles, served by `nnseg serve`
#             on the same origin as the API (COOP/COEP, /dicom-web proxy)
# Build from the repository root:
#   docker build -f docker/server.Dockerfile --target server -t nnseg/server .
#   docker build -f docker/server.Dockerfile --target viewer -t nnseg/viewer .
# The CUDA variant is described in docs/deploy.md (same steps on an nvidia/cuda base, ONNXRUNTIME_NODE_INSTALL=cuda12).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's install script would download CUDA binaries; its CPU binaries ship in the package
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY server/package.json server/package.json
COPY extension/package.json extension/package.json
COPY modes/nnseg/package.json modes/nnseg/package.json
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.base.json ./
COPY server server
COPY extension extension
COPY modes modes
RUN npx tsc -b server && chmod +x server/dist/cli/main.js

# the viewer: pinned, integrity-checked OHIF tarball + our runtime-loaded bundles
FROM build AS viewer-build
RUN node extension/scripts/fetch-ohif.mjs && node extension/scripts/build.mjs

# production dependencies only
FROM build AS prod-deps
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS server
ENV NODE_ENV=production \
    NNSEG_HOST=0.0.0.0 \
    NNSEG_PORT=8000 \
    NNSEG_MODEL_STORE=/data/models \
    NNSEG_WORK_DIR=/data/work
WORKDIR /app
COPY --from=prod-deps /app/package.json ./
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=prod-deps /app/server/package.json server/package.json
COPY --from=build /app/server/dist server/dist
RUN mkdir -p /data/models /data/work /data/pacs && chown -R node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.NNSEG_PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/server/dist/cli/main.js"]
CMD ["serve"]

FROM server AS viewer
COPY --from=viewer-build /app/.cache/ohif/dist .cache/ohif/dist
COPY --from=viewer-build /app/extension/dist extension/dist
COPY --from=viewer-build /app/modes/nnseg/dist modes/nnseg/dist
