/*
 * main.c — sessio, the admin command for a session store: stats (and a
 * live view), users, a user's sessions, revocation, GC, a consistency check
 * with repair, store-to-store migration, and making a secret file.
 *
 * Built on the public API: a manager for the per-user calls and the secret
 * check, and the method table of <sessio/store.h> to walk every record
 * (scan) and to copy records byte for byte (save, user_add): sealed data is
 * never opened and no session ID is ever needed. Exit status: 0 success, 1
 * failure, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sessio.h"
#include "sessio/store.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define SCAN_STEP 512                       /* records per scan call */
#define CHECK_MAGIC "SESSIO-SECRET-CHECK-1" /* the secret check record */

/* ---- options -------------------------------------------------------------- */

typedef struct opts {
  const char *store, *secret_file, *to, *user, *handle, *budget;
  int json, all, repair, watch;
  long count;      /* --count N for --watch (0: until interrupted) */
  double interval; /* --interval SEC for --watch */
  const char *cmd, *sub, *file;
} opts;

static const char *prog = "sessio";

static const char usage_main[] =
    "Usage: sessio [--store URL] [--secret-file FILE] [--json] COMMAND [options]\n"
    "The admin command for a sessio session store.\n\n"
    "Commands:\n"
    "  stats [--watch]                   live sessions, users, bytes, expired not yet collected\n"
    "  users                             users with their live session counts\n"
    "  list --user NAME                  a user's sessions (handle, times, label), never an ID\n"
    "  revoke --user NAME (--handle H | --all)   end a user's session(s)\n"
    "  gc [--budget DUR]                 collect expired sessions now\n"
    "  check [--repair]                  read every record and index entry; report (and fix) damage\n"
    "  migrate --to URL                  copy every live session and the user index\n"
    "  secret new FILE                   write a fresh secret file (mode 0600)\n\n"
    "Options:\n"
    "  --store URL        the store (SESSIO_STORE): memory:, file:DIR, sqlite:PATH,\n"
    "                     redis://HOST:PORT[/DB], redis-cluster://HOST:PORT,...,\n"
    "                     postgres://[USER@]HOST[:PORT]/DB\n"
    "  --secret-file FILE the server secret the shops use (SESSIO_SECRET_FILE): 64 hex\n"
    "                     characters and a newline; checked against the store\n"
    "  --json             machine-readable output (one JSON object)\n"
    "  -h, --help         help (also after a command: sessio list --help)\n"
    "  --version          the version\n\n"
    "Exit status: 0 success, 1 failure, 2 bad usage. See sessio(1), docs/OPERATIONS.md.\n";

static const struct {
  const char *cmd, *help;
} cmd_help[] = {
    {"stats",
     "Usage: sessio [--store URL] stats [--watch [--interval SEC] [--count N]] [--json]\n"
     "Counts the store's records: live sessions, distinct users, bytes of live records,\n"
     "and expired records not yet collected (stores that drop them by themselves, such\n"
     "as Redis, show none). --watch redraws every --interval seconds (default 1) with\n"
     "rates seen between two passes: created/s, ended/s and commits/s (writes), like\n"
     "redis-cli --stat; --count N stops after N redraws.\n"},
    {"users",
     "Usage: sessio [--store URL] users [--json]\n"
     "Lists the users that have live sessions, with their session counts, by name.\n"},
    {"list",
     "Usage: sessio [--store URL] list --user NAME [--json]\n"
     "Lists NAME's live sessions, most recently seen first: handle, created, last\n"
     "seen, expires (UTC) and label. Never shows a session ID.\n"},
    {"revoke",
     "Usage: sessio [--store URL] revoke --user NAME (--handle H | --all) [--json]\n"
     "Ends one session of NAME (by its handle, from sessio list) or all of them, as\n"
     "sessio_manager_revoke_one/_all do: their cookies stop working at once.\n"},
    {"gc",
     "Usage: sessio [--store URL] gc [--budget DUR] [--json]\n"
     "Collects expired sessions now: full GC passes until the store is clean or the\n"
     "time budget is spent (DUR: 500ms, 10s, 2m; default 30s).\n"},
    {"check",
     "Usage: sessio [--store URL] check [--repair] [--json]\n"
     "Reads every record and every user index entry (of every user, with a live\n"
     "session or not) and reports: records that cannot be decoded, expired records\n"
     "not yet collected, stale index entries (naming no live session of that user:\n"
     "its record is gone, expired or another user's; harmless, readers skip them),\n"
     "live sessions missing from their user's index, and leftover files (file:\n"
     "store: a temporary file a crash left beside no record). --repair removes the\n"
     "undecodable records, the stale entries and the leftovers, adds the missing\n"
     "entries, runs GC, and says what it did. Exit 1 when damage (undecodable,\n"
     "missing, leftover) is left.\n"},
    {"migrate",
     "Usage: sessio --store FROM migrate --to URL [--json]\n"
     "Copies every live session of the store FROM to the store URL, as stored (sealed\n"
     "data is never opened, no ID is needed), and rebuilds the user index there.\n"
     "Idempotent and resumable: records already copied are skipped, newer source\n"
     "records replace older copies. Shows a progress bar on a terminal and ends with a\n"
     "count check: every live source session must be found in the target (exit 1 if\n"
     "not). Shops pointed at URL afterwards find every session (with the same secret).\n"},
    {"secret",
     "Usage: sessio secret new FILE\n"
     "Writes a fresh server secret to FILE: 64 hexadecimal characters from the\n"
     "operating system's CSPRNG and a newline, mode 0600. FILE must not exist.\n"
     "Give it to every shop of a store (--secret-file) and to this command.\n"},
};

static void die_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(sessio --help for usage)\n");
  exit(EXIT_USAGE);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static const char *help_of(const char *cmd) {
  for (size_t i = 0; i < sizeof cmd_help / sizeof cmd_help[0]; i++)
    if (strcmp(cmd_help[i].cmd, cmd) == 0) return cmd_help[i].help;
  return NULL;
}

static int parse_args(int argc, char **argv, opts *o) {
  memset(o, 0, sizeof *o);
  o->interval = 1.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **dst = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 ||
        strcmp(a, "help") == 0) {
      const char *h = o->cmd ? help_of(o->cmd) : NULL;
      if (strcmp(a, "help") == 0 && i + 1 < argc) h = help_of(argv[i + 1]);
      fputs(h ? h : usage_main, stdout);
      exit(0);
    }
    if (strcmp(a, "--version") == 0) {
      printf("sessio %s (libsessio %s)\n", SESSIO_VERSION_STRING,
             sessio_version());
      exit(0);
    }
    if (strcmp(a, "--json") == 0) {
      o->json = 1;
      continue;
    }
    if (strcmp(a, "--all") == 0) {
      o->all = 1;
      continue;
    }
    if (strcmp(a, "--repair") == 0) {
      o->repair = 1;
      continue;
    }
    if (strcmp(a, "--watch") == 0) {
      o->watch = 1;
      continue;
    }
    if (strncmp(a, "--", 2) == 0) {
      size_t n = strcspn(a, "=");
      const char *val;
      const char *count = NULL, *interval = NULL;
#define OPT(name, field)                                                       \
  if (n == strlen("--" name) && strncmp(a, "--" name, n) == 0) dst = &o->field;
      OPT("store", store)
      OPT("secret-file", secret_file)
      OPT("to", to)
      OPT("user", user)
      OPT("handle", handle)
      OPT("budget", budget)
#undef OPT
      if (n == 7 && strncmp(a, "--count", 7) == 0) dst = &count;
      if (n == 10 && strncmp(a, "--interval", 10) == 0) dst = &interval;
      if (dst == NULL) die_usage("unknown option '%.*s'", (int)n, a);
      if (a[n] == '=') {
        val = a + n + 1;
      } else {
        if (i + 1 >= argc) die_usage("%s needs a value", a);
        val = argv[++i];
      }
      *dst = val;
      if (count) {
        char *end;
        o->count = strtol(count, &end, 10);
        if (*end || o->count < 1) die_usage("--count wants a number >= 1");
      }
      if (interval) {
        char *end;
        o->interval = strtod(interval, &end);
        if (*end || !(o->interval >= 0.05) || o->interval > 3600)
          die_usage("--interval wants seconds, 0.05 to 3600");
      }
      continue;
    }
    if (o->cmd == NULL)
      o->cmd = a;
    else if (strcmp(o->cmd, "secret") == 0 && o->sub == NULL)
      o->sub = a;
    else if (strcmp(o->cmd, "secret") == 0 && o->file == NULL)
      o->file = a;
    else
      die_usage("unexpected argument '%s'", a);
  }
  if (o->cmd == NULL) die_usage("no command given");
  if (help_of(o->cmd) == NULL) die_usage("unknown command '%s'", o->cmd);
  if (o->store == NULL) {
    const char *e = getenv("SESSIO_STORE");
    if (e && *e) o->store = e;
  }
  if (o->secret_file == NULL) {
    const char *e = getenv("SESSIO_SECRET_FILE");
    if (e && *e) o->secret_file = e;
  }
  return 0;
}

/* ---- output helpers ---------------------------------------------------- */

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* "2026-12-05 04:12:33" (UTC) of 'ms'. */
static const char *when(int64_t ms, char *buf, size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

static int parse_duration(const char *s, int64_t *ms) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || v < 0) return -1;
  double mul = 1000;
  if (strcmp(end, "ms") == 0)
    mul = 1;
  else if (strcmp(end, "s") == 0 || *end == '\0')
    mul = 1000;
  else if (strcmp(end, "m") == 0)
    mul = 60000;
  else if (strcmp(end, "h") == 0)
    mul = 3600000;
  else
    return -1;
  if (v * mul > 1e12) return -1;
  *ms = (int64_t)(v * mul);
  return 0;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the store ------------------------------------------------------------- */

static void shown_url(const char *url, char *out, size_t cap) {
  if (sessio_store_url_redact(url, out, cap, NULL) != SESSIO_OK)
    snprintf(out, cap, "(not shown)");
}

/* Opens 'url' and makes one call, so that a server that cannot be reached
 * is said here rather than as an empty answer later. */
static sessio_store *open_store(const char *url, const char *what) {
  sessio_store *st = NULL;
  char shown[512];
  if (url == NULL || *url == '\0')
    die_usage("no store: give --store URL or set SESSIO_STORE");
  shown_url(url, shown, sizeof shown);
  sessio_err e = sessio_store_open(url, &st);
  if (e == SESSIO_ENOTSUP && !sessio_store_supported(url)) {
    fail("%s store '%s': the %.*s backend is not built into this libsessio",
         what, shown, (int)strcspn(url, ":"), url);
    exit(EXIT_FAIL);
  }
  if (e == SESSIO_EINVAL)
    die_usage("%s store '%s': not a store URL", what, shown);
  if (e != SESSIO_OK) {
    fail("%s store '%s': cannot open: %s", what, shown, sessio_strerror(e));
    exit(EXIT_FAIL);
  }
  sessio_key probe;
  sessio_record rec;
  int found = 0;
  memset(&probe, 0, sizeof probe);
  memset(&rec, 0, sizeof rec);
  e = st->methods->load(st, &probe, sessio_now_ms(), &rec, &found);
  if (found) sessio_record_clear(&rec);
  if (e != SESSIO_OK) {
    fail("%s store '%s': cannot reach it: %s", what, shown, sessio_strerror(e));
    sessio_store_close(st);
    exit(EXIT_FAIL);
  }
  return st;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The shop's secret file format: 64 hex characters and a newline, not open
 * to group or others. 0, or -1 (said). */
static int read_secret(const char *path, unsigned char secret[32]) {
  char text[80];
  struct stat sb;
  size_t len = 0;
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    fail("cannot open --secret-file '%s': %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fail("--secret-file '%s' is not a regular file", path);
    close(fd);
    return -1;
  }
  if (sb.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)) {
    fail(
        "--secret-file '%s' is readable or writable by group or others (mode %03o): "
        "refused; chmod 600 it",
        path, (unsigned)(sb.st_mode & 0777));
    close(fd);
    return -1;
  }
  while (len < sizeof text &&
         (n = read(fd, text + len, sizeof text - len)) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    len += (size_t)n;
  }
  close(fd);
  int ok = len == 65 && text[64] == '\n';
  for (size_t i = 0; ok && i < 32; i++) {
    int h = hexval(text[2 * i]), l = hexval(text[2 * i + 1]);
    if (h < 0 || l < 0)
      ok = 0;
    else
      secret[i] = (unsigned char)(h * 16 + l);
  }
  memset(text, 0, sizeof text);
  if (!ok) {
    fail("--secret-file '%s' must hold 64 hexadecimal characters and a newline "
         "(sessio secret new FILE makes one)",
         path);
    return -1;
  }
  return 0;
}

/* A manager on 'st' with the secret of --secret-file, checked against the
 * store's secret check record: a wrong secret is an error, not an empty
 * listing. */
static sessio_manager *open_manager(const opts *o, sessio_store *st) {
  sessio_config *cfg;
  sessio_manager *m;
  unsigned char secret[32];
  if (sessio_config_new(&cfg) != SESSIO_OK) exit(EXIT_FAIL);
  sessio_config_set_store(cfg, st);
  if (o->secret_file) {
    if (read_secret(o->secret_file, secret) != 0) exit(EXIT_FAIL);
    sessio_config_set_secret(cfg, secret, sizeof secret);
    memset(secret, 0, sizeof secret);
  }
  sessio_err e = sessio_manager_new(cfg, &m);
  sessio_config_free(cfg);
  if (e != SESSIO_OK) {
    fail("cannot make a manager: %s", sessio_strerror(e));
    exit(EXIT_FAIL);
  }
  int same = -1;
  e = sessio_manager_check_secret(m, sessio_now_ms(), 0, &same);
  if (e != SESSIO_OK) {
    fail("cannot read the store's secret check: %s", sessio_strerror(e));
    exit(EXIT_FAIL);
  }
  if (same == 0) {
    if (o->secret_file)
      fail(
          "wrong secret: the store's sessions were written with another server secret "
          "than the one in '%s'",
          o->secret_file);
    else
      fail(
          "the store's sessions were written with a server secret: give it with "
          "--secret-file FILE (or SESSIO_SECRET_FILE)");
    exit(EXIT_FAIL);
  }
  return m;
}

/* ---- walking the store ------------------------------------------------- */

static int is_check_record(const sessio_record *rec) {
  size_t n = sizeof CHECK_MAGIC - 1;
  return rec->blob_len >= n && memcmp(rec->blob, CHECK_MAGIC, n) == 0;
}

/* A session record's blob starts with 'S' and format 1 or 2
 * (src/record.h). */
static int decodable(const sessio_record *rec) {
  return rec->blob_len >= 2 && rec->blob[0] == 'S' &&
         (rec->blob[1] == 1 || rec->blob[1] == 2);
}

/* A full scan pass; 'progress' (may be NULL) after each step. */
static sessio_err scan_all(sessio_store *st, sessio_store_iter_fn cb, void *ud,
                           void (*progress)(void *ud)) {
  sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
  if (st->methods->version < 3 || st->methods->scan == NULL)
    return SESSIO_ENOTSUP;
  for (;;) {
    int done = 0;
    sessio_err e = st->methods->scan(st, &cur, SCAN_STEP, cb, ud, &done);
    if (e != SESSIO_OK) return e;
    if (progress) progress(ud);
    if (done) return SESSIO_OK;
  }
}

static void scan_failed(sessio_store *st, sessio_err e) {
  if (e == SESSIO_ENOTSUP)
    fail("the %s store cannot list its records (no scan method)",
         sessio_store_name(st));
  else
    fail("reading the store failed: %s", sessio_strerror(e));
}

/* Users and counts: a sorted, growable array. */
typedef struct ucount {
  char name[SESSIO_USER_MAX + 1];
  uint64_t n;
} ucount;

typedef struct ulist {
  ucount *v;
  size_t n, cap;
} ulist;

static int ucmp(const void *a, const void *b) {
  return strcmp(((const ucount *)a)->name, ((const ucount *)b)->name);
}

static void ulist_add(ulist *l, const char *name) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    ucount *v = realloc(l->v, cap * sizeof *v);
    if (v == NULL) {
      fail("out of memory");
      exit(EXIT_FAIL);
    }
    l->v = v;
    l->cap = cap;
  }
  snprintf(l->v[l->n].name, sizeof l->v[l->n].name, "%s", name);
  l->v[l->n].n = 1;
  l->n++;
}

/* Sorts and merges equal names, adding their counts. */
static void ulist_fold(ulist *l) {
  if (l->n == 0) return;
  qsort(l->v, l->n, sizeof *l->v, ucmp);
  size_t w = 0;
  for (size_t i = 1; i < l->n; i++) {
    if (strcmp(l->v[i].name, l->v[w].name) == 0)
      l->v[w].n += l->v[i].n;
    else
      l->v[++w] = l->v[i];
  }
  l->n = w + 1;
}

/* ---- stats -------------------------------------------------------------------- */

typedef struct kv { /* key and version, for --watch */
  uint8_t key[SESSIO_KEY_BYTES];
  uint64_t version;
} kv;

typedef struct stats {
  int64_t now;
  uint64_t live, dead, bytes, undecodable;
  ulist users;
  kv *keys;
  size_t nkeys, capkeys;
  int want_keys;
} stats;

static int stats_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  stats *s = ud;
  if (is_check_record(rec)) return 0;
  if (rec->expires_at <= s->now) {
    s->dead++;
    return 0;
  }
  s->live++;
  s->bytes += rec->blob_len + strlen(rec->user);
  if (rec->user[0]) ulist_add(&s->users, rec->user);
  if (s->want_keys) {
    if (s->nkeys == s->capkeys) {
      size_t cap = s->capkeys ? s->capkeys * 2 : 1024;
      kv *v = realloc(s->keys, cap * sizeof *v);
      if (v == NULL) {
        fail("out of memory");
        exit(EXIT_FAIL);
      }
      s->keys = v;
      s->capkeys = cap;
    }
    memcpy(s->keys[s->nkeys].key, key->b, SESSIO_KEY_BYTES);
    s->keys[s->nkeys].version = rec->version;
    s->nkeys++;
  }
  return 0;
}

static int kvcmp(const void *a, const void *b) {
  return memcmp(((const kv *)a)->key, ((const kv *)b)->key, SESSIO_KEY_BYTES);
}

static int take_stats(sessio_store *st, stats *s, int want_keys) {
  memset(s, 0, sizeof *s);
  s->now = sessio_now_ms();
  s->want_keys = want_keys;
  sessio_err e = scan_all(st, stats_cb, s, NULL);
  if (e != SESSIO_OK) {
    scan_failed(st, e);
    return -1;
  }
  ulist_fold(&s->users);
  if (want_keys && s->nkeys > 1)
    qsort(s->keys, s->nkeys, sizeof *s->keys, kvcmp);
  return 0;
}

static void stats_free(stats *s) {
  free(s->users.v);
  free(s->keys);
}

/* Created, ended and written (version steps) between two passes. */
static void diff(const stats *a, const stats *b, uint64_t *created,
                 uint64_t *ended, uint64_t *writes) {
  size_t i = 0, j = 0;
  *created = *ended = *writes = 0;
  while (i < a->nkeys || j < b->nkeys) {
    int c = i == a->nkeys   ? 1
            : j == b->nkeys ? -1
                            : kvcmp(&a->keys[i], &b->keys[j]);
    if (c < 0) {
      (*ended)++;
      i++;
    } else if (c > 0) {
      (*created)++;
      (*writes) += b->keys[j].version;
      j++;
    } else {
      if (b->keys[j].version > a->keys[i].version)
        *writes += b->keys[j].version - a->keys[i].version;
      i++;
      j++;
    }
  }
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static int cmd_stats(const opts *o) {
  sessio_store *st = open_store(o->store, "the");
  sessio_manager *m = open_manager(o, st);
  stats s;
  int rc = 0;
  if (take_stats(st, &s, o->watch) != 0) {
    rc = EXIT_FAIL;
    goto done;
  }
  if (!o->watch) {
    if (o->json)
      printf("{\"store\":\"%s\",\"sessions\":%" PRIu64
             ",\"users\":%zu,\"bytes\":%" PRIu64
             ",\"expired_not_collected\":%" PRIu64 "}\n",
             sessio_store_name(st), s.live, s.users.n, s.bytes, s.dead);
    else
      printf("store      %s\nsessions   %" PRIu64
             "\nusers      %zu\nbytes      %" PRIu64 "\nexpired    %" PRIu64
             " (not yet collected)\n",
             sessio_store_name(st), s.live, s.users.n, s.bytes, s.dead);
    stats_free(&s);
    goto done;
  }
  signal(SIGINT, on_sigint);
  if (!o->json)
    printf("%-19s %9s %7s %11s %9s %9s %9s %9s\n", "time (UTC)", "sessions",
           "users", "bytes", "expired", "created/s", "ended/s", "commits/s");
  for (long n = 0; !interrupted && (o->count == 0 || n < o->count); n++) {
    struct timespec ts = {
        (time_t)o->interval,
        (long)((o->interval - (double)(time_t)o->interval) * 1e9)};
    int64_t t0 = mono_ms();
    nanosleep(&ts, NULL);
    stats s2;
    if (take_stats(st, &s2, 1) != 0) {
      rc = EXIT_FAIL;
      break;
    }
    double secs = (double)(mono_ms() - t0) / 1000.0;
    uint64_t created, ended, writes;
    diff(&s, &s2, &created, &ended, &writes);
    char tb[32];
    if (o->json)
      printf("{\"time\":%" PRId64 ",\"sessions\":%" PRIu64
             ",\"users\":%zu,\"bytes\":%" PRIu64
             ",\"expired_not_collected\":%" PRIu64
             ",\"created_per_s\":%.1f,\"ended_per_s\":%.1f"
             ",\"commits_per_s\":%.1f}\n",
             s2.now, s2.live, s2.users.n, s2.bytes, s2.dead, created / secs,
             ended / secs, writes / secs);
    else
      printf("%-19s %9" PRIu64 " %7zu %11" PRIu64 " %9" PRIu64
             " %9.1f %9.1f %9.1f\n",
             when(s2.now, tb, sizeof tb), s2.live, s2.users.n, s2.bytes,
             s2.dead, created / secs, ended / secs, writes / secs);
    fflush(stdout);
    stats_free(&s);
    s = s2;
  }
  stats_free(&s);
done:
  sessio_manager_free(m);
  sessio_store_close(st);
  return rc;
}

/* ---- users, list, revoke -------------------------------------------------- */

static int cmd_users(const opts *o) {
  sessio_store *st = open_store(o->store, "the");
  sessio_manager *m = open_manager(o, st);
  stats s;
  int rc = 0;
  if (take_stats(st, &s, 0) != 0) {
    rc = EXIT_FAIL;
  } else {
    if (o->json) {
      printf("{\"users\":[");
      for (size_t i = 0; i < s.users.n; i++) {
        printf("%s{\"user\":", i ? "," : "");
        json_str(stdout, s.users.v[i].name);
        printf(",\"sessions\":%" PRIu64 "}", s.users.v[i].n);
      }
      printf("]}\n");
    } else {
      if (s.users.n) printf("%-32s %s\n", "USER", "SESSIONS");
      for (size_t i = 0; i < s.users.n; i++)
        printf("%-32s %" PRIu64 "\n", s.users.v[i].name, s.users.v[i].n);
    }
    stats_free(&s);
  }
  sessio_manager_free(m);
  sessio_store_close(st);
  return rc;
}

static void need_user(const opts *o) {
  if (o->user == NULL || *o->user == '\0')
    die_usage("%s needs --user NAME", o->cmd);
  if (strlen(o->user) > SESSIO_USER_MAX)
    die_usage("--user: at most %d bytes", SESSIO_USER_MAX);
}

static int cmd_list(const opts *o) {
  need_user(o);
  sessio_store *st = open_store(o->store, "the");
  sessio_manager *m = open_manager(o, st);
  sessio_session_info *v = NULL;
  size_t n = 0;
  int rc = 0;
  sessio_err e =
      sessio_manager_user_sessions(m, o->user, sessio_now_ms(), &v, &n);
  if (e != SESSIO_OK) {
    fail("listing %s's sessions failed: %s", o->user, sessio_strerror(e));
    rc = EXIT_FAIL;
  } else if (o->json) {
    printf("{\"user\":");
    json_str(stdout, o->user);
    printf(",\"sessions\":[");
    for (size_t i = 0; i < n; i++) {
      printf("%s{\"handle\":\"%s\",\"created_at\":%" PRId64
             ",\"last_seen\":%" PRId64 ",\"expires_at\":%" PRId64
             ",\"remember\":%s,\"label\":",
             i ? "," : "", v[i].handle, v[i].created_at, v[i].last_seen,
             v[i].expires_at, v[i].remember ? "true" : "false");
      json_str(stdout, v[i].label);
      printf("}");
    }
    printf("]}\n");
  } else {
    char a[32], b[32], c[32];
    if (n)
      printf("%-32s  %-19s  %-19s  %-19s  %s\n", "HANDLE", "CREATED (UTC)",
             "LAST SEEN", "EXPIRES", "LABEL");
    for (size_t i = 0; i < n; i++)
      printf("%-32s  %-19s  %-19s  %-19s  %s\n", v[i].handle,
             when(v[i].created_at, a, sizeof a),
             when(v[i].last_seen, b, sizeof b),
             when(v[i].expires_at, c, sizeof c), v[i].label);
    if (n == 0) printf("%s has no live session\n", o->user);
  }
  free(v);
  sessio_manager_free(m);
  sessio_store_close(st);
  return rc;
}

static int cmd_revoke(const opts *o) {
  need_user(o);
  if (!!o->handle == !!o->all)
    die_usage("revoke needs exactly one of --handle H and --all");
  sessio_store *st = open_store(o->store, "the");
  sessio_manager *m = open_manager(o, st);
  size_t n = 0;
  int rc = 0;
  sessio_err e =
      o->all ? sessio_manager_revoke_all(m, o->user, NULL, sessio_now_ms(), &n)
             : sessio_manager_revoke_one(m, o->user, o->handle, sessio_now_ms(),
                                         &n);
  if (e != SESSIO_OK) {
    fail("revoking failed after %zu session(s): %s", n, sessio_strerror(e));
    rc = EXIT_FAIL;
  } else if (o->json) {
    printf("{\"user\":");
    json_str(stdout, o->user);
    printf(",\"revoked\":%zu}\n", n);
  } else {
    printf("revoked %zu session%s of %s\n", n, n == 1 ? "" : "s", o->user);
  }
  if (rc == 0 && o->handle && n == 0) {
    fail("no live session of %s has the handle %s", o->user, o->handle);
    rc = EXIT_FAIL;
  }
  sessio_manager_free(m);
  sessio_store_close(st);
  return rc;
}

/* ---- gc ------------------------------------------------------------------------ */

static int cmd_gc(const opts *o) {
  int64_t budget = 30000;
  if (o->budget && parse_duration(o->budget, &budget) != 0)
    die_usage("--budget wants a duration such as 500ms, 10s or 2m");
  sessio_store *st = open_store(o->store, "the");
  sessio_manager *m = open_manager(o, st);
  int64_t start = mono_ms();
  size_t total = 0, calls = 0;
  int passes = 0, rc = 0, clean = 0;
  sessio_err e = SESSIO_OK;
  /* Full passes until one removes nothing (clean) or the budget is spent. */
  while (!clean && mono_ms() - start <= budget) {
    size_t pass_removed = 0;
    int done = 0;
    while (!done && mono_ms() - start <= budget) {
      size_t removed = 0;
      e = sessio_store_gc(st, sessio_now_ms(), 1000, &removed, &done);
      calls++;
      if (e != SESSIO_OK) break;
      pass_removed += removed;
    }
    if (e != SESSIO_OK) break;
    total += pass_removed;
    if (done) {
      passes++;
      clean = pass_removed == 0 || passes >= 2;
    }
  }
  if (e != SESSIO_OK) {
    fail("gc failed after removing %zu: %s", total, sessio_strerror(e));
    rc = EXIT_FAIL;
  } else if (o->json) {
    printf(
        "{\"removed\":%zu,\"passes\":%d,\"calls\":%zu,\"complete\":%s,\"ms\":%" PRId64
        "}\n",
        total, passes, calls, passes > 0 ? "true" : "false", mono_ms() - start);
  } else {
    printf("removed %zu expired session%s in %d full pass%s (%" PRId64
           " ms)%s\n",
           total, total == 1 ? "" : "s", passes, passes == 1 ? "" : "es",
           mono_ms() - start,
           passes ? "" : "; the budget ran out before a full pass");
  }
  sessio_manager_free(m);
  sessio_store_close(st);
  return rc;
}

/* ---- check ---------------------------------------------------------------------- */

typedef struct crec { /* a record as the scan saw it */
  sessio_key key;
  uint8_t
      uhash[SESSIO_STORE_USER_HASH_BYTES]; /* of its user, when it has one */
  int64_t expires_at;
  unsigned live : 1, decodable : 1, has_user : 1, indexed : 1;
  uint32_t name; /* its user's name: offset in check.names */
} crec;

typedef struct check {
  int64_t now;
  uint64_t records, live, dead, undecodable;
  crec *recs;
  size_t nrecs, caprecs;
  char *names; /* the users' names, NUL-terminated, one after another */
  size_t nnames, capnames;
  /* the user index */
  uint64_t entries, expired_entries, stale, orphaned, fixed_stale;
  sessio_store_user_entry *bad; /* stale entries, for --repair */
  size_t nbad, capbad;
  uint8_t (*lonely)[SESSIO_STORE_USER_HASH_BYTES]; /* users of stale entries */
  size_t nlonely, caplonely;
  /* leftovers of the store (sweep) */
  uint64_t leftovers, leftovers_removed;
  int json, verbose;
} check;

static void *grow(void *v, size_t *cap, size_t n, size_t size) {
  if (n < *cap) return v;
  size_t c = *cap ? *cap * 2 : 64;
  void *nv = realloc(v, c * size);
  if (nv == NULL) {
    fail("out of memory");
    exit(EXIT_FAIL);
  }
  *cap = c;
  return nv;
}

static int check_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  check *c = ud;
  if (is_check_record(rec)) return 0;
  c->records++;
  c->recs = grow(c->recs, &c->caprecs, c->nrecs, sizeof *c->recs);
  crec *r = &c->recs[c->nrecs++];
  memset(r, 0, sizeof *r);
  r->key = *key;
  r->expires_at = rec->expires_at;
  r->decodable = decodable(rec);
  r->live = r->decodable && rec->expires_at > c->now;
  if (!r->decodable)
    c->undecodable++;
  else if (!r->live)
    c->dead++;
  else
    c->live++;
  if (rec->user[0]) {
    size_t n = strlen(rec->user) + 1;
    while (c->nnames + n > c->capnames) {
      c->capnames = c->capnames ? c->capnames * 2 : 4096;
      char *nv = realloc(c->names, c->capnames);
      if (nv == NULL) {
        fail("out of memory");
        exit(EXIT_FAIL);
      }
      c->names = nv;
    }
    memcpy(c->names + c->nnames, rec->user, n);
    r->name = (uint32_t)c->nnames;
    c->nnames += n;
    r->has_user = 1;
    sessio_store_user_hash(rec->user, r->uhash);
  }
  return 0;
}

static int crec_cmp(const void *a, const void *b) {
  return memcmp(((const crec *)a)->key.b, ((const crec *)b)->key.b,
                SESSIO_KEY_BYTES);
}

static crec *crec_find(check *c, const sessio_key *key) {
  crec probe;
  probe.key = *key;
  return c->nrecs
             ? bsearch(&probe, c->recs, c->nrecs, sizeof *c->recs, crec_cmp)
             : NULL;
}

static int hash_cmp(const void *a, const void *b) {
  return memcmp(a, b, SESSIO_STORE_USER_HASH_BYTES);
}

/* One user-index entry: it must name a live, readable record of its user
 * (else it is stale: "orphaned" when the record is gone). An expired entry
 * is GC's, not damage. */
static int check_entry_cb(void *ud, const sessio_store_user_entry *e) {
  check *c = ud;
  c->entries++;
  if (e->expires_at != INT64_MIN && e->expires_at <= c->now) {
    c->expired_entries++;
    return 0;
  }
  crec *r = crec_find(c, &e->key);
  int ok = e->expires_at != INT64_MIN && r != NULL && r->live && r->has_user &&
           memcmp(r->uhash, e->user_hash, sizeof r->uhash) == 0;
  if (ok) {
    r->indexed = 1;
    return 0;
  }
  c->stale++;
  if (r == NULL) c->orphaned++;
  c->bad = grow(c->bad, &c->capbad, c->nbad, sizeof *c->bad);
  c->bad[c->nbad++] = *e;
  c->lonely = grow(c->lonely, &c->caplonely, c->nlonely, sizeof *c->lonely);
  memcpy(c->lonely[c->nlonely++], e->user_hash, SESSIO_STORE_USER_HASH_BYTES);
  return 0;
}

static void check_sweep_cb(void *ud, const char *what, const char *name,
                           int removed) {
  check *c = ud;
  c->leftovers++;
  if (removed) c->leftovers_removed++;
  if (!c->json)
    printf("leftover: %s: %s%s\n", what, name, removed ? " (removed)" : "");
}

/* Users of stale entries that have no live session at all: the distinct
 * digests of c->lonely not among the users of live records. */
static size_t users_without_live_session(check *c) {
  size_t n = 0, nlive = 0, cap = 0;
  uint8_t(*live)[SESSIO_STORE_USER_HASH_BYTES] = NULL;
  for (size_t j = 0; j < c->nrecs; j++) {
    if (!c->recs[j].live || !c->recs[j].has_user) continue;
    live = grow(live, &cap, nlive, sizeof *live);
    memcpy(live[nlive++], c->recs[j].uhash, sizeof *live);
  }
  if (nlive > 1) qsort(live, nlive, sizeof *live, hash_cmp);
  if (c->nlonely > 1) qsort(c->lonely, c->nlonely, sizeof *c->lonely, hash_cmp);
  for (size_t i = 0; i < c->nlonely; i++) {
    if (i > 0 && hash_cmp(c->lonely[i], c->lonely[i - 1]) == 0) continue;
    if (nlive == 0 ||
        bsearch(c->lonely[i], live, nlive, sizeof *live, hash_cmp) == NULL)
      n++;
  }
  free(live);
  return n;
}

static sessio_err walk(sessio_store *st,
                       sessio_err (*step)(sessio_store *, sessio_store_cursor *,
                                          void *, int *),
                       void *ud) {
  sessio_store_cursor cur = SESSIO_STORE_CURSOR_INIT;
  for (;;) {
    int done = 0;
    sessio_err e = step(st, &cur, ud, &done);
    if (e != SESSIO_OK || done) return e;
  }
}

static sessio_err user_scan_step(sessio_store *st, sessio_store_cursor *cur,
                                 void *ud, int *done) {
  return st->methods->user_scan(st, cur, SCAN_STEP, check_entry_cb, ud, done);
}

/* Removes a stale index entry as user_scan showed it: by name with
 * user_remove, or by the user's digest where the store keeps no name. */
static sessio_err entry_remove(sessio_store *st,
                               const sessio_store_user_entry *e) {
  if (e->user[0] != '\0') return st->methods->user_remove(st, e->user, &e->key);
  if (st->methods->user_entry_remove == NULL) return SESSIO_ENOTSUP;
  return st->methods->user_entry_remove(st, e);
}

typedef struct sweep_ud {
  check *c;
  int repair;
} sweep_ud;

static sessio_err sweep_step(sessio_store *st, sessio_store_cursor *cur,
                             void *ud, int *done) {
  sweep_ud *s = ud;
  return st->methods->sweep(st, cur, SCAN_STEP, s->repair, check_sweep_cb, s->c,
                            done);
}

static int cmd_check(const opts *o) {
  sessio_store *st = open_store(o->store, "the");
  sessio_manager *m = open_manager(o, st);
  check c;
  memset(&c, 0, sizeof c);
  c.now = sessio_now_ms();
  c.json = o->json;
  int rc = 0;
  uint64_t missing = 0, fixed_missing = 0, removed_bad = 0;
  size_t gc_removed = 0, lonely = 0;
  const sessio_store_methods *mt = st->methods;
  sessio_err e = scan_all(st, check_cb, &c, NULL);
  if (e != SESSIO_OK) {
    scan_failed(st, e);
    rc = EXIT_FAIL;
    goto out;
  }
  if (mt->version < 4 || mt->user_scan == NULL) {
    fail("the %s store cannot list its user index (no user_scan method)",
         sessio_store_name(st));
    rc = EXIT_FAIL;
    goto out;
  }
  if (c.nrecs > 1) { /* sorted by key, each record once */
    size_t w = 0;
    qsort(c.recs, c.nrecs, sizeof *c.recs, crec_cmp);
    for (size_t i = 1; i < c.nrecs; i++)
      if (crec_cmp(&c.recs[i], &c.recs[w]) != 0) c.recs[++w] = c.recs[i];
    c.nrecs = w + 1;
  }
  /* Every entry of the user index, whoever's it is. */
  e = walk(st, user_scan_step, &c);
  if (e == SESSIO_OK) lonely = users_without_live_session(&c);
  /* Files or rows that belong to nothing (removed only with --repair). */
  sweep_ud sw = {&c, o->repair};
  if (e == SESSIO_OK && mt->sweep != NULL) e = walk(st, sweep_step, &sw);
  /* Each live record of a user must be in the index. */
  for (size_t i = 0; i < c.nrecs && e == SESSIO_OK; i++) {
    crec *r = &c.recs[i];
    if (!r->live || !r->has_user || r->indexed) continue;
    missing++;
    if (o->repair && (e = mt->user_add(st, c.names + r->name, &r->key,
                                       r->expires_at, c.now)) == SESSIO_OK)
      fixed_missing++;
  }
  if (e == SESSIO_OK && o->repair) {
    for (size_t i = 0; i < c.nbad && e == SESSIO_OK; i++)
      if ((e = entry_remove(st, &c.bad[i])) == SESSIO_OK) c.fixed_stale++;
    for (size_t i = 0; i < c.nrecs && e == SESSIO_OK; i++) {
      int r = 0;
      if (c.recs[i].decodable) continue;
      e = mt->remove(st, &c.recs[i].key, c.now, &r);
      if (e == SESSIO_OK && r) removed_bad++;
    }
    int done = 0;
    while (e == SESSIO_OK && !done) {
      size_t r = 0;
      e = sessio_store_gc(st, sessio_now_ms(), 1000, &r, &done);
      gc_removed += r;
    }
  }
  if (e != SESSIO_OK) {
    fail("check failed: %s", sessio_strerror(e));
    rc = EXIT_FAIL;
    goto out;
  }
  /* Stale index entries are allowed by the store contract (readers check
   * each key and skip them): reported and removed by --repair, not damage.
   * An undecodable record, a live session missing from its user's index
   * (not listed, not revocable) and a leftover file are. */
  uint64_t left = (c.undecodable - removed_bad) + (missing - fixed_missing) +
                  (c.leftovers - c.leftovers_removed);
  if (o->json) {
    printf("{\"records\":%" PRIu64 ",\"live\":%" PRIu64
           ",\"expired_not_collected\":%" PRIu64 ",\"undecodable\":%" PRIu64
           ",\"index_entries\":%" PRIu64 ",\"expired_index_entries\":%" PRIu64
           ",\"stale_index_entries\":%" PRIu64
           ",\"orphaned_index_entries\":%" PRIu64
           ",\"users_without_live_session\":%zu"
           ",\"missing_index_entries\":%" PRIu64 ",\"leftovers\":%" PRIu64
           ",\"repaired\":{\"undecodable_removed\":%" PRIu64
           ",\"stale_removed\":%" PRIu64 ",\"missing_added\":%" PRIu64
           ",\"leftovers_removed\":%" PRIu64 ",\"expired_collected\":%zu}"
           ",\"ok\":%s}\n",
           c.records, c.live, c.dead, c.undecodable, c.entries,
           c.expired_entries, c.stale, c.orphaned, lonely, missing, c.leftovers,
           removed_bad, c.fixed_stale, fixed_missing, c.leftovers_removed,
           gc_removed, left ? "false" : "true");
  } else {
    printf("records                %" PRIu64 " (%" PRIu64 " live, %" PRIu64
           " expired not yet collected)\n",
           c.records, c.live, c.dead);
    printf("undecodable records    %" PRIu64 "\n", c.undecodable);
    printf("user index entries     %" PRIu64 " (%" PRIu64
           " expired not yet collected)\n",
           c.entries, c.expired_entries);
    printf("stale index entries    %" PRIu64 " (%" PRIu64
           " whose record is gone; of %zu user%s with no live session)\n",
           c.stale, c.orphaned, lonely, lonely == 1 ? "" : "s");
    printf("missing index entries  %" PRIu64 "\n", missing);
    printf("leftover files         %" PRIu64 "\n", c.leftovers);
    if (o->repair)
      printf("repaired: removed %" PRIu64
             " undecodable record%s, removed %" PRIu64
             " stale index entr%s, added %" PRIu64
             " missing index entr%s, removed %" PRIu64
             " leftover file%s, collected %zu expired record%s\n",
             removed_bad, removed_bad == 1 ? "" : "s", c.fixed_stale,
             c.fixed_stale == 1 ? "y" : "ies", fixed_missing,
             fixed_missing == 1 ? "y" : "ies", c.leftovers_removed,
             c.leftovers_removed == 1 ? "" : "s", gc_removed,
             gc_removed == 1 ? "" : "s");
    printf("%s\n",
           left ? (o->repair ? "damage left"
                             : "damage found (sessio check --repair fixes it)")
                : "ok");
  }
  if (left) rc = EXIT_FAIL;
out:
  free(c.recs);
  free(c.names);
  free(c.bad);
  free(c.lonely);
  sessio_manager_free(m);
  sessio_store_close(st);
  return rc;
}

/* ---- migrate -------------------------------------------------------------------- */

typedef struct mig {
  sessio_store *to;
  int64_t now;
  uint64_t seen, copied, skipped, replaced, dead, conflicts;
  uint64_t total; /* records in the source (first pass), for the bar */
  int bar;
  sessio_err err;
  /* the live source keys with their users, for the index and the check */
  struct mkey {
    sessio_key key;
    int64_t expires_at;
    char user[SESSIO_USER_MAX + 1];
  } * keys;
  size_t nkeys, capkeys;
} mig;

static int count_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  (void)key;
  if (!is_check_record(rec)) ((mig *)ud)->total++;
  return 0;
}

/* Copies one record as stored. An existing live copy in the target with
 * the same blob is skipped (a re-run); one that differs is replaced when
 * the source was touched later, so a resumed migration converges. */
static int copy_cb(void *ud, const sessio_key *key, const sessio_record *rec) {
  mig *g = ud;
  if (!is_check_record(rec)) g->seen++;
  if (g->err != SESSIO_OK) return 0;
  if (rec->expires_at <= g->now) {
    g->dead++;
    return 0;
  }
  sessio_record cur;
  int found = 0;
  memset(&cur, 0, sizeof cur);
  sessio_err e = g->to->methods->load(g->to, key, g->now, &cur, &found);
  if (e != SESSIO_OK && e != SESSIO_ECORRUPT) {
    g->err = e;
    return 0;
  }
  uint64_t v;
  /* The secret check record is copied too, but is not a session. */
  uint64_t one = is_check_record(rec) ? 0 : 1;
  if (!found || e == SESSIO_ECORRUPT) {
    e = g->to->methods->save(g->to, key, rec, 0, g->now, &v);
    if (e == SESSIO_OK) g->copied += one;
  } else if (cur.blob_len == rec->blob_len &&
             cur.expires_at == rec->expires_at &&
             memcmp(cur.blob, rec->blob, rec->blob_len) == 0 &&
             strcmp(cur.user, rec->user) == 0) {
    g->skipped += one;
  } else if (rec->touched_at >= cur.touched_at) {
    e = g->to->methods->save(g->to, key, rec, cur.version, g->now, &v);
    if (e == SESSIO_OK) g->replaced += one;
  } else {
    g->skipped += one; /* the target's copy is newer: a shop already wrote it */
  }
  if (found) sessio_record_clear(&cur);
  if (e == SESSIO_ECONFLICT) { /* a shop wrote it meanwhile: its copy stands */
    g->conflicts++;
    e = SESSIO_OK;
  }
  if (e != SESSIO_OK) {
    g->err = e;
    return 0;
  }
  if (!is_check_record(rec)) {
    if (g->nkeys == g->capkeys) {
      size_t cap = g->capkeys ? g->capkeys * 2 : 1024;
      struct mkey *nv = realloc(g->keys, cap * sizeof *nv);
      if (nv == NULL) {
        g->err = SESSIO_ENOMEM;
        return 0;
      }
      g->keys = nv;
      g->capkeys = cap;
    }
    g->keys[g->nkeys].key = *key;
    g->keys[g->nkeys].expires_at = rec->expires_at;
    memcpy(g->keys[g->nkeys].user, rec->user, sizeof rec->user);
    g->nkeys++;
  }
  return 0;
}

static void bar(void *ud) {
  mig *g = ud;
  if (!g->bar) return;
  uint64_t total = g->total > g->seen ? g->total : g->seen;
  int width = 40,
      fill = total ? (int)(g->seen * (uint64_t)width / total) : width;
  fprintf(stderr,
          "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " copied %" PRIu64
          " skipped %" PRIu64,
          fill, "########################################", width - fill, "",
          g->seen, total, g->copied + g->replaced, g->skipped);
  fflush(stderr);
}

static int cmd_migrate(const opts *o) {
  if (o->to == NULL || *o->to == '\0') die_usage("migrate needs --to URL");
  if (o->store && strcmp(o->store, o->to) == 0)
    die_usage("--to is the same store as --store");
  sessio_store *from = open_store(o->store, "the source");
  sessio_manager *m = open_manager(o, from);
  sessio_store *to = open_store(o->to, "the target");
  mig g;
  memset(&g, 0, sizeof g);
  g.to = to;
  g.now = sessio_now_ms();
  g.bar = isatty(STDERR_FILENO) && !o->json;
  int rc = 0;
  sessio_err e = SESSIO_OK;
  char shown[512];
  shown_url(o->to, shown, sizeof shown);
  if (g.bar) e = scan_all(from, count_cb, &g, NULL);
  if (e == SESSIO_OK) e = scan_all(from, copy_cb, &g, bar);
  if (g.bar) fputc('\n', stderr);
  if (e == SESSIO_OK) e = g.err;
  /* The user index, rebuilt in the target from the records' users. */
  uint64_t indexed = 0;
  for (size_t i = 0; e == SESSIO_OK && i < g.nkeys; i++) {
    if (!g.keys[i].user[0]) continue;
    e = to->methods->user_add(to, g.keys[i].user, &g.keys[i].key,
                              g.keys[i].expires_at, g.now);
    if (e == SESSIO_OK) indexed++;
  }
  if (e != SESSIO_OK) {
    if (e == SESSIO_ENOTSUP)
      scan_failed(from, e);
    else
      fail("migration stopped after %" PRIu64
           " of the source's records (%" PRIu64
           " copied): %s; run the same command again to resume",
           g.seen, g.copied + g.replaced, sessio_strerror(e));
    rc = EXIT_FAIL;
    goto out;
  }
  /* The count check: every live source session is live in the target. */
  uint64_t found_n = 0, lost = 0;
  int64_t now2 = sessio_now_ms();
  for (size_t i = 0; e == SESSIO_OK && i < g.nkeys; i++) {
    sessio_record rec;
    int found = 0;
    memset(&rec, 0, sizeof rec);
    e = to->methods->load(to, &g.keys[i].key, now2, &rec, &found);
    if (e == SESSIO_OK && found) {
      found_n++;
      sessio_record_clear(&rec);
    } else if (e == SESSIO_OK && g.keys[i].expires_at > now2) {
      lost++;
    }
  }
  if (e != SESSIO_OK) {
    fail("the final count check failed: %s", sessio_strerror(e));
    rc = EXIT_FAIL;
    goto out;
  }
  if (o->json)
    printf("{\"to\":\"%s\",\"source_records\":%" PRIu64
           ",\"live\":%zu,\"copied\":%" PRIu64 ",\"replaced\":%" PRIu64
           ",\"already_there\":%" PRIu64 ",\"expired_skipped\":%" PRIu64
           ",\"index_entries\":%" PRIu64 ",\"found_in_target\":%" PRIu64
           ",\"missing\":%" PRIu64 "}\n",
           shown, g.seen, g.nkeys, g.copied, g.replaced, g.skipped, g.dead,
           indexed, found_n, lost);
  else {
    if (g.skipped && g.copied + g.replaced == 0)
      printf(
          "nothing to copy: every session was already in the target (a finished "
          "migration run again)\n");
    else if (g.skipped)
      printf("resumed: %" PRIu64 " session%s were already in the target\n",
             g.skipped, g.skipped == 1 ? "" : "s");
    printf("migrated %zu live session%s to %s: %" PRIu64 " copied, %" PRIu64
           " replaced, %" PRIu64 " already there, %" PRIu64
           " expired left behind; %" PRIu64 " user index entr%s\n",
           g.nkeys, g.nkeys == 1 ? "" : "s", shown, g.copied, g.replaced,
           g.skipped, g.dead, indexed, indexed == 1 ? "y" : "ies");
    printf("count check: %" PRIu64 " of %zu found in the target%s\n", found_n,
           g.nkeys, lost ? "" : ": ok");
  }
  if (lost) {
    fail("%" PRIu64 " session%s missing from the target after the copy", lost,
         lost == 1 ? " is" : "s are");
    rc = EXIT_FAIL;
  }
out:
  free(g.keys);
  sessio_manager_free(m);
  sessio_store_close(to);
  sessio_store_close(from);
  return rc;
}

/* ---- secret new -------------------------------------------------------------- */

static int cmd_secret(const opts *o) {
  if (o->sub == NULL || strcmp(o->sub, "new") != 0)
    die_usage("usage: sessio secret new FILE");
  if (o->file == NULL) die_usage("secret new needs a FILE");
  unsigned char raw[32];
  size_t got = 0;
  while (got < sizeof raw) {
    ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fail("the system's random number generator failed: %s", strerror(errno));
      return EXIT_FAIL;
    }
    got += (size_t)n;
  }
  char text[65 + 1];
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < 32; i++) {
    text[2 * i] = hx[raw[i] >> 4];
    text[2 * i + 1] = hx[raw[i] & 15];
  }
  text[64] = '\n';
  text[65] = '\0';
  memset(raw, 0, sizeof raw);
  int fd =
      open(o->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    fail("cannot create '%s': %s%s", o->file, strerror(errno),
         errno == EEXIST ? " (an existing secret is never overwritten)" : "");
    memset(text, 0, sizeof text);
    return EXIT_FAIL;
  }
  int ok = fchmod(fd, 0600) == 0 && write(fd, text, 65) == 65 && fsync(fd) == 0;
  ok &= close(fd) == 0;
  memset(text, 0, sizeof text);
  if (!ok) {
    fail("cannot write '%s': %s", o->file, strerror(errno));
    unlink(o->file);
    return EXIT_FAIL;
  }
  if (o->json) {
    printf("{\"file\":");
    json_str(stdout, o->file);
    printf(",\"mode\":\"0600\"}\n");
  } else {
    printf("wrote a new secret to %s (mode 0600)\n", o->file);
  }
  return 0;
}

int main(int argc, char **argv) {
  opts o;
  setvbuf(stderr, NULL, _IOLBF, 0);
  parse_args(argc, argv, &o);
  if (strcmp(o.cmd, "secret") == 0) return cmd_secret(&o);
  if (strcmp(o.cmd, "stats") == 0) return cmd_stats(&o);
  if (strcmp(o.cmd, "users") == 0) return cmd_users(&o);
  if (strcmp(o.cmd, "list") == 0) return cmd_list(&o);
  if (strcmp(o.cmd, "revoke") == 0) return cmd_revoke(&o);
  if (strcmp(o.cmd, "gc") == 0) return cmd_gc(&o);
  if (strcmp(o.cmd, "check") == 0) return cmd_check(&o);
  if (strcmp(o.cmd, "migrate") == 0) return cmd_migrate(&o);
  die_usage("unknown command '%s'", o.cmd);
}
