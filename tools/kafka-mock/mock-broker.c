/*
 * A Kafka-protocol broker for the local stack and fault tests, built on librdkafka's mock
 * cluster (rdkafka_mock.h). It prints the bootstrap address, pre-creates topics with a chosen
 * partition count, and takes line commands on a loopback TCP control port so tests can take
 * brokers down and up, add latency and inject request errors.
 *
 * Control commands (one per line, answered with "ok ..." or "err ..."):
 *   ping | bootstrap | topic <name> <partitions> | down <broker> | up <broker>
 *   rtt <broker> <ms> | errors <apikey> <errcode> [<errcode> ...] | clear <apikey> | quit
 */
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_TOPICS 64

static volatile sig_atomic_t stopping = 0;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--brokers N] [--partitions N] [--topic NAME[:PARTITIONS]]... "
          "[--control-port PORT] [--state-file PATH]\n",
          argv0);
  exit(2);
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *spec, int default_partitions,
                        int replication) {
  char name[256];
  int partitions = default_partitions;
  const char *colon = strchr(spec, ':');
  size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
  if (len == 0 || len >= sizeof(name)) return -1;
  memcpy(name, spec, len);
  name[len] = '\0';
  if (colon) partitions = atoi(colon + 1);
  if (partitions <= 0) return -1;
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, name, partitions, replication);
  if (err) {
    fprintf(stderr, "topic %s: %s\n", name, rd_kafka_err2str(err));
    return -1;
  }
  return 0;
}

static void reply(int fd, const char *fmt, const char *arg) {
  char out[1024];
  int n = snprintf(out, sizeof(out), fmt, arg);
  if (n > 0) (void)!write(fd, out, (size_t)n);
}

/* Handles one command line; returns 1 when the broker should stop. */
static int handle(rd_kafka_mock_cluster_t *mc, int fd, char *line, int replication) {
  char *argv[32];
  int argc = 0;
  for (char *tok = strtok(line, " \t\r\n"); tok && argc < 32; tok = strtok(NULL, " \t\r\n"))
    argv[argc++] = tok;
  if (argc == 0) return 0;
  const char *cmd = argv[0];
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

  if (!strcmp(cmd, "ping")) {
    reply(fd, "ok%s\n", "");
  } else if (!strcmp(cmd, "bootstrap")) {
    reply(fd, "ok %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  } else if (!strcmp(cmd, "topic") && argc == 3) {
    char spec[300];
    snprintf(spec, sizeof(spec), "%s:%s", argv[1], argv[2]);
    reply(fd, create_topic(mc, spec, 1, replication) ? "err cannot create topic%s\n" : "ok%s\n", "");
  } else if ((!strcmp(cmd, "down") || !strcmp(cmd, "up")) && argc == 2) {
    int32_t id = atoi(argv[1]);
    err = !strcmp(cmd, "down") ? rd_kafka_mock_broker_set_down(mc, id)
                               : rd_kafka_mock_broker_set_up(mc, id);
    reply(fd, err ? "err %s\n" : "ok%s\n", err ? rd_kafka_err2str(err) : "");
  } else if (!strcmp(cmd, "rtt") && argc == 3) {
    err = rd_kafka_mock_broker_set_rtt(mc, atoi(argv[1]), atoi(argv[2]));
    reply(fd, err ? "err %s\n" : "ok%s\n", err ? rd_kafka_err2str(err) : "");
  } else if (!strcmp(cmd, "errors") && argc >= 3) {
    rd_kafka_resp_err_t errs[30];
    size_t cnt = 0;
    for (int i = 2; i < argc && cnt < 30; i++) errs[cnt++] = (rd_kafka_resp_err_t)atoi(argv[i]);
    rd_kafka_mock_push_request_errors_array(mc, (int16_t)atoi(argv[1]), cnt, errs);
    reply(fd, "ok%s\n", "");
  } else if (!strcmp(cmd, "clear") && argc == 2) {
    rd_kafka_mock_clear_request_errors(mc, (int16_t)atoi(argv[1]));
    reply(fd, "ok%s\n", "");
  } else if (!strcmp(cmd, "quit")) {
    reply(fd, "ok%s\n", "");
    return 1;
  } else {
    reply(fd, "err unknown command %s\n", cmd);
  }
  return 0;
}

int main(int argc, char **argv) {
  int brokers = 1, partitions = 4, control_port = 0;
  const char *state_file = NULL;
  const char *topics[MAX_TOPICS];
  int ntopics = 0;

  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--brokers") && i + 1 < argc) brokers = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--partitions") && i + 1 < argc) partitions = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--topic") && i + 1 < argc && ntopics < MAX_TOPICS) topics[ntopics++] = argv[++i];
    else if (!strcmp(argv[i], "--control-port") && i + 1 < argc) control_port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--state-file") && i + 1 < argc) state_file = argv[++i];
    else usage(argv[0]);
  }
  if (brokers < 1 || partitions < 1) usage(argv[0]);

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "cannot create mock cluster\n");
    return 1;
  }
  int replication = brokers < 3 ? brokers : 3;
  for (int i = 0; i < ntopics; i++)
    if (create_topic(mc, topics[i], partitions, replication)) return 1;

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)control_port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 8)) {
    perror("control port");
    return 1;
  }
  socklen_t alen = sizeof(addr);
  getsockname(lfd, (struct sockaddr *)&addr, &alen);

  const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
  printf("bootstrap=%s\ncontrol=%d\n", bootstrap, ntohs(addr.sin_port));
  fflush(stdout);
  if (state_file) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", state_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "bootstrap=%s\ncontrol=%d\npid=%d\n", bootstrap, ntohs(addr.sin_port), getpid()) < 0 ||
        fclose(f) || rename(tmp, state_file)) {
      perror("state file");
      return 1;
    }
  }

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int quit = 0;
  while (!stopping && !quit) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) {
      if (errno == EINTR) continue;
      perror("accept");
      break;
    }
    char buf[4096];
    size_t used = 0;
    ssize_t n;
    while (!quit && (n = read(cfd, buf + used, sizeof(buf) - 1 - used)) > 0) {
      used += (size_t)n;
      buf[used] = '\0';
      char *nl;
      while (!quit && (nl = strchr(buf, '\n'))) {
        *nl = '\0';
        quit = handle(mc, cfd, buf, replication);
        size_t rest = used - (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, rest);
        used = rest;
        buf[used] = '\0';
      }
      if (used == sizeof(buf) - 1) used = 0; /* overlong line: drop it */
    }
    close(cfd);
  }
  close(lfd);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  if (state_file) unlink(state_file);
  return 0;
}
