# Build: compile the TypeScript, with the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Runtime: production dependencies and the compiled output only, as a non-root user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
ENV HOST=0.0.0.0
ENV PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Semi-spaces (where V8 collects short-lived objects) of up to 32 MiB, not the 16 MiB default
# (less where memory is under 2 GiB): each request allocates tens of KiB, and with the default
# the scavenger runs every few hundred requests and promotes many of the requests then in
# flight to old space. 6-10% less CPU per request, for up to 48 MiB more heap (the young
# generation is three semi-spaces); see docs/operations.md and BENCHMARKS.md. npm start runs
# the same command.
CMD ["node", "--max-semi-space-size=32", "dist/server.js"]
