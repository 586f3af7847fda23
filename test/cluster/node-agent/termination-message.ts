// The container's termination message as the kubelet reads it (kuberuntime_container.go): the last
// 4096 bytes of the terminationMessagePath file; with FallbackToLogsOnError, a failed container that
// wrote nothing gets the tail of its log instead (last 80 lines, at most 2048 bytes).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MAX_MESSAGE_BYTES = 4096;
const MAX_LOG_LINES = 80;
const MAX_LOG_BYTES = 2048;

/** Up to `max` bytes from the end of `file`, not before byte `from`; '' when the file is missing. */
function tail(file: string, max: number, from = 0): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(from, size - max);
    const buf = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export function terminationMessage(opts: {
  messageFile: string;
  policy: string | undefined;
  exitCode: number;
  logFile: string;
  /** Where this run of the container started writing its log (restarts append to one file). */
  logOffset: number;
}): string {
  const message = tail(opts.messageFile, MAX_MESSAGE_BYTES);
  if (message !== '' || opts.policy !== 'FallbackToLogsOnError' || opts.exitCode === 0) return message;
  // Read generously, then keep the last 80 lines, then the last 2048 bytes of those.
  const lines = tail(opts.logFile, 64 * 1024, opts.logOffset).split('\n');
  if (lines.at(-1) === '') lines.pop();
  const last = Buffer.from(lines.slice(-MAX_LOG_LINES).join('\n') + (lines.length > 0 ? '\n' : ''));
  return last.subarray(Math.max(0, last.length - MAX_LOG_BYTES)).toString('utf8');
}
