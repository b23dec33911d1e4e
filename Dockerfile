# One image for every service; docker-compose.yml gives each service its command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund && npx patch-package
COPY . .
RUN node tools/build/build.mjs

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
# kafkajs as patched in the build stage (patches/).
COPY --from=build /app/node_modules/kafkajs ./node_modules/kafkajs
COPY --from=build /app/dist ./dist
USER node
CMD ["node", "--enable-source-maps", "dist/apps/ingestion/src/main.js"]
