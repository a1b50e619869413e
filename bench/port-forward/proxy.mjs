// The userspace alternative to NAT, measured against it: what docker-proxy and rootless port
// forwarders do, a listening socket on the host that splices each connection to the container.
import net from 'node:net';

const [listenPort, targetHost, targetPort] = process.argv.slice(2);
net
  .createServer((c) => {
    const up = net.connect(Number(targetPort), targetHost);
    c.pipe(up).pipe(c);
    const end = () => (c.destroy(), up.destroy());
    c.on('error', end);
    up.on('error', end);
  })
  .listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
