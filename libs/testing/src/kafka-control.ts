import { createConnection } from 'node:net';
import { stackVar } from './stack';

/** Sends one command to the mock Kafka cluster's control port (`down 1`, `up 1`, …). */
export function kafkaControl(command: string): Promise<string> {
  const [host, port] = stackVar('KAFKA_CONTROL').split(':');
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port: Number(port) }, () => socket.write(`${command}\n`));
    socket.setEncoding('utf8');
    socket.once('data', (reply: string) => {
      socket.end();
      if (reply.startsWith('ok')) resolve(reply.trim());
      else reject(new Error(`mock broker: ${reply.trim()}`));
    });
    socket.once('error', reject);
  });
}

/** Broker ids of the mock cluster, from its bootstrap list (ids start at 1). */
export function mockBrokerIds(): number[] {
  return stackVar('KAFKA_BROKERS')
    .split(',')
    .map((_, i) => i + 1);
}
