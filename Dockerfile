# One image for every Kezek service; the compose file picks the entry point (services/<name>/main.ts).
# TypeScript runs directly with tsx (a runtime dependency), so there is no build step.
FROM node:20-slim

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/.data
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY shared ./shared
COPY seeds ./seeds
COPY services ./services

# non-root; DATA_DIR is the only place the services may write
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node

EXPOSE 3000
CMD ["node", "--import", "tsx", "services/api/main.ts"]
