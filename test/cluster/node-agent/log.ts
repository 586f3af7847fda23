// JSON lines on stdout; up.sh sends them to $DIR/logs/node-agent.log.
import { pino, type Logger } from 'pino';

export type { Logger };

export const log: Logger = pino({
  name: 'node-agent',
  level: process.env.NODE_AGENT_LOG_LEVEL ?? 'info',
  base: { pid: process.pid },
});
