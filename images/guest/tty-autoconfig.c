// Probes a serial port again (TIOCSERCONFIG): the web snapshot's second UART (ttyS1, the web
// terminal's line) is added to a machine that booted without it, so the kernel found no UART at
// 0x2F8 and marked the port unknown; opening it then fails with EIO. busybox has no setserial.
// Built for i386 by images/guest/web-snapshot.mjs and run once in the guest from the 9p share.
#include <fcntl.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv) {
  const char *dev = argc > 1 ? argv[1] : "/dev/ttyS1";
  int fd = open(dev, O_RDWR | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    perror(dev);
    return 1;
  }
  if (ioctl(fd, TIOCSERCONFIG) < 0) {
    perror("TIOCSERCONFIG");
    return 1;
  }
  return close(fd) == 0 ? 0 : 1;
}
