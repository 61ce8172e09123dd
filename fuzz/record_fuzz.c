/*
 * record_fuzz.c — the record decoder (src/record.c), the data-map decoder
 * (src/data.c) and the load path of sessio_begin over what a store hands
 * back (SECURITY.md S5, S7, S13/S14: a record is only ever adopted when it
 * is authentic, well formed and live). Three modes, chosen by the first
 * byte:
 *   0  raw: the rest is a user name and a stored blob, loaded under a fixed
 *      session ID; the outcome of sessio_begin must match a reference made
 *      of the decoder's own steps (meta, liveness, open, map decode).
 *   1  sealed: a valid record is built from fuzzed metadata, user and data
 *      and must round-trip exactly; then fuzzed mutations (flipped bytes,
 *      truncation, extension, another format byte, another user) must make
 *      the seal fail — a changed record is never adopted.
 *   2  map: the rest is a data-map encoding; what decodes re-encodes to the
 *      very same bytes (the encoding is canonical).
 * With SESSIO_FUZZ_SEEDS=DIR the target writes its seed corpus there and
 * exits (see fuzz/README.md).
 */
#include <errno.h>
#include <sys/stat.h>

#include "crypto.h"
#include "data.h"
#include "fuzz.h"
#include "record.h"
#include "sessio.h"
#include "sessio/store.h"
#include "store/store_internal.h" /* the record-level dispatch wrappers */

#define NOW 1800000000000LL /* 2027-01-15, ms */
#define HOUR 3600000LL
#define TIME_MAX ((int64_t)1 << 62)

static sessio_store *store;
static sessio_manager *mgr;
static uint8_t id_raw[SESSIO_ID_BYTES];
static char id_text[SESSIO_ID_LEN + 1];
static sessio_key id_key;
static uint8_t id_seal[SESSIO__SEAL_KEY_BYTES];
static char cookie[SESSIO_ID_LEN + 8];

static void setup(void) {
  sessio_config *cfg;
  for (int i = 0; i < SESSIO_ID_BYTES; i++) id_raw[i] = (uint8_t)(i * 7 + 1);
  sessio__id_encode(id_raw, id_text);
  sessio__keys_derive(NULL, 0, id_raw, &id_key, id_seal);
  snprintf(cookie, sizeof cookie, "sid=%s", id_text);
  if (sessio_store_open("memory:", &store) != SESSIO_OK ||
      sessio_config_new(&cfg) != SESSIO_OK ||
      sessio_config_set_store(cfg, store) != SESSIO_OK ||
      sessio_manager_new(cfg, &mgr) != SESSIO_OK)
    abort();
  sessio_config_free(cfg);
}

/* ---- comparing an adopted session with a decoded map ------------------- */

typedef struct cmp {
  const sessio__map *m;
  size_t at, seen;
} cmp;

static int on_entry(void *ud, const char *key, sessio_type type,
                    const void *val, size_t len, int64_t ival) {
  cmp *c = ud;
  /* Same order as the map, reserved keys skipped. Keys are byte strings
   * to the data layer (the session layer only ever writes printable
   * ones), so the callback's C string is a prefix of the stored key. */
  while (c->at < c->m->n && c->m->v[c->at].key[0] == '_') c->at++;
  CHECK(c->at < c->m->n);
  const sessio__entry *e = &c->m->v[c->at++];
  CHECK(strlen(key) <= e->key_len && memcmp(key, e->key, strlen(key)) == 0);
  CHECK(e->type == type);
  if (type == SESSIO_T_STR || type == SESSIO_T_BYTES)
    CHECK(e->len == len && (len == 0 || memcmp(e->bytes, val, len) == 0));
  else
    CHECK(e->ival == ival);
  c->seen++;
  return 0;
}

/* now < min(touched + idle, abs), without overflow. */
static int ref_live(const sessio__meta *m, int64_t touched) {
  int64_t idle;
  if (__builtin_add_overflow(touched, m->idle_ms, &idle)) idle = INT64_MAX;
  return NOW < idle && NOW < m->abs_deadline;
}

/* Stores 'blob' for the fixed ID, runs sessio_begin, and checks that the
 * session is adopted exactly when the reference says so. Returns 0 when it
 * was not, 2 when it was and all its data reads, 1 when it was but a chunk
 * (format 2) does not open. */
static int load_and_check(const uint8_t *blob, size_t len, const char *user) {
  sessio_record rec;
  uint64_t ver;
  memset(&rec, 0, sizeof rec);
  rec.expires_at = NOW + HOUR;
  rec.touched_at = NOW - 1000;
  snprintf(rec.user, sizeof rec.user, "%s", user);
  rec.blob = (uint8_t *)blob;
  rec.blob_len = len;
  CHECK(sessio__store_save(store, &id_key, &rec, 0, NOW, &ver) == SESSIO_OK);

  /* The reference: the decoder's steps, each checked on its own. */
  sessio__meta meta;
  size_t hdr = 0;
  sessio__buf pt = SESSIO__BUF_INIT;
  sessio__map map = SESSIO__MAP_INIT;
  int expect = 0, chunks_ok = 1;
  int meta_ok = sessio__record_meta(blob, len, &meta, &hdr);
  if (meta_ok) {
    CHECK(hdr >= 3 && meta.sealed_len >= sessio__record_overhead(meta.format) &&
          hdr + meta.sealed_len <= len);
    CHECK((meta.flags & ~SESSIO__F_KNOWN) == 0);
    CHECK(strlen(meta.info) <= SESSIO_LABEL_MAX);
    CHECK(meta.created_at >= 0 && meta.auth_at >= 0 && meta.rotated_at >= 0 &&
          meta.idle_ms >= 0 && meta.abs_deadline >= 0);
    int open = sessio__record_open(blob, len, hdr, rec.user, id_seal, &pt);
    CHECK(open == 0 || open == 1);
    if (open == 1)
      CHECK(pt.len == meta.sealed_len - sessio__record_overhead(meta.format));
    size_t body = hdr + meta.sealed_len;
    expect = open == 1 && ref_live(&meta, rec.touched_at) &&
             !(meta.flags & SESSIO__F_MOVED);
    if (expect && !meta.chunked) {
      CHECK(body == len);
      expect = sessio__map_decode(&map, pt.data, pt.len) == SESSIO_OK;
    } else if (expect) {
      /* Format 2, chunked: adopted when the chunk list is well formed;
       * each chunk is checked when it is opened (here: all of them). */
      sessio__chunks c = SESSIO__CHUNKS_INIT;
      int parsed =
          sessio__chunks_parse(&c, pt.data, pt.len, blob + body, len - body);
      CHECK(parsed == 0 || parsed == 1);
      expect = parsed == 1;
      memcpy(c.seal, id_seal, sizeof c.seal);
      for (size_t i = 0; expect && chunks_ok && i < c.n; i++) {
        int o = sessio__chunks_open(&c, i, &map);
        CHECK(o == 0 || o == 1);
        chunks_ok = o == 1;
      }
      c.blob = NULL; /* not owned here */
      c.dir = NULL;
      sessio__chunks_free(&c);
    }
  }

  const char *h = cookie;
  sessio *s = NULL;
  CHECK(sessio_begin(mgr, &h, 1, 0, NOW, &s) == SESSIO_OK);
  int adopted = sessio_exists(s) && !sessio_is_new(s);
  CHECK(adopted == expect);
  CHECK(sessio_rejected_ids(s) == (unsigned)!adopted);
  if (adopted) {
    cmp c = {&map, 0, 0};
    size_t visible = 0;
    for (size_t i = 0; i < map.n; i++) visible += map.v[i].key[0] != '_';
    sessio_err irc = sessio_iterate(s, "", on_entry, &c);
    if (chunks_ok) {
      CHECK(irc == SESSIO_OK);
      CHECK(c.seen == visible);
    } else {
      CHECK(irc == SESSIO_ECORRUPT); /* a chunk that does not open */
    }
    CHECK(sessio_created_at(s) == meta.created_at);
    CHECK(strcmp(sessio_label(s), meta.info) == 0);
    const char *u = sessio_user(s);
    if ((meta.flags & SESSIO__F_AUTH) && rec.user[0])
      CHECK(u != NULL && strcmp(u, rec.user) == 0);
    else
      CHECK(u == NULL);
  }
  sessio_free(s);
  sessio__map_free(&map);
  sessio__buf_free(&pt);
  sessio__store_remove(store, &id_key, NOW, NULL);
  return adopted ? 1 + chunks_ok : 0;
}

/* ---- mode 1: a valid record, then mutations ---------------------------- */

static int64_t fz_time(fz *f) { return (int64_t)(fz_u64(f) % TIME_MAX); }

/* Fuzzed metadata near NOW (or anywhere in [0, 2^62) when asked). */
static void fz_meta(fz *f, sessio__meta *m) {
  uint8_t how = fz_u8(f);
  m->flags = fz_u8(f) & SESSIO__F_KNOWN;
  if (how & 1) {
    m->created_at = fz_time(f);
    m->auth_at = fz_time(f);
    m->rotated_at = fz_time(f);
    m->idle_ms = how & 2 ? (int64_t)(fz_u64(f) & INT64_MAX) : fz_time(f);
    m->abs_deadline = fz_time(f);
  } else { /* mostly live: offsets of up to 18 h */
    m->created_at = NOW - (int64_t)(fz_u8(f) * 256 + fz_u8(f)) * 1000;
    m->auth_at = m->created_at;
    m->rotated_at = m->created_at;
    m->idle_ms = (int64_t)(fz_u8(f) + 1) * 60000;
    m->abs_deadline =
        m->created_at + (int64_t)(fz_u8(f) * 256 + fz_u8(f)) * 1000;
  }
  fz_str(f, m->info, sizeof m->info, SESSIO_LABEL_MAX);
}

/* A data map of up to 8 fuzzed entries, encoded into 'out'. */
static void fz_map(fz *f, sessio__buf *out) {
  sessio__map m = SESSIO__MAP_INIT;
  unsigned n = fz_u8(f) % 9;
  for (unsigned i = 0; i < n; i++) {
    char key[40];
    size_t vlen;
    uint8_t t = fz_u8(f) % 4 + 1;
    fz_str(f, key, sizeof key, 32);
    if (key[0] == '\0') continue;
    const uint8_t *v = fz_bytes(f, 64, &vlen);
    int64_t iv = (int64_t)fz_u64(f);
    if (t == SESSIO_T_STR && memchr(v, 0, vlen))
      vlen = strnlen((const char *)v, vlen);
    if (t == SESSIO_T_BOOL) iv &= 1;
    CHECK(sessio__map_set(&m, key, strlen(key), (sessio_type)t, v, vlen, iv) ==
          SESSIO_OK);
  }
  CHECK(sessio__map_encode(&m, out) == SESSIO_OK);
  CHECK(out->len == sessio__map_encoded_size(&m));
  sessio__map_free(&m);
}

static void sealed(fz *f) {
  sessio__meta meta, back;
  char user[SESSIO_USER_MAX + 1];
  sessio__buf pt = SESSIO__BUF_INIT, blob = SESSIO__BUF_INIT,
              opened = SESSIO__BUF_INIT;
  size_t hdr;
  fz_meta(f, &meta);
  fz_str(f, user, sizeof user, SESSIO_USER_MAX);
  uint8_t how = fz_u8(f);
  int chunked = 0;
  if (how & 1) { /* the plaintext: raw bytes (or a forward pointer) */
    size_t n;
    const uint8_t *p = fz_bytes(f, 255, &n);
    CHECK(sessio__buf_append(&pt, p, n) == SESSIO_OK);
  } else {
    fz_map(f, &pt);
  }
  if (how & 2) {
    /* A session map with big values, encoded as a session commit does
     * (chunked when over SESSIO__INLINE_MAX): the directory's plaintext
     * is then what record_open gives. */
    sessio__map m = SESSIO__MAP_INIT;
    if (sessio__map_decode(&m, pt.data, pt.len) != SESSIO_OK)
      m = (sessio__map)SESSIO__MAP_INIT;
    unsigned big = fz_u8(f) % 4;
    for (unsigned i = 0; i < big; i++) {
      char key[16], val[4000];
      size_t vlen = (size_t)fz_u8(f) * 15 + 1;
      snprintf(key, sizeof key, "zz.%u", i);
      memset(val, 'a' + (int)i, vlen);
      CHECK(sessio__map_set(&m, key, strlen(key), SESSIO_T_BYTES, val, vlen,
                            0) == SESSIO_OK);
    }
    CHECK(sessio__record_encode_map(&meta, user, id_seal, &m,
                                    sessio__map_encoded_size(&m), NULL,
                                    &blob) == SESSIO_OK);
    size_t h;
    sessio__meta mm;
    CHECK(sessio__record_meta(blob.data, blob.len, &mm, &h) == 1);
    CHECK(sessio__record_open(blob.data, blob.len, h, user, id_seal, &pt) == 1);
    chunked = mm.chunked;
    sessio__map_free(&m);
  } else {
    CHECK(sessio__record_encode(&meta, user, id_seal, pt.data, pt.len, &blob) ==
          SESSIO_OK);
  }

  /* Round trip: the metadata and the plaintext come back exactly. */
  CHECK(sessio__record_meta(blob.data, blob.len, &back, &hdr) == 1);
  CHECK(back.flags == meta.flags && back.created_at == meta.created_at &&
        back.auth_at == meta.auth_at && back.rotated_at == meta.rotated_at &&
        back.idle_ms == meta.idle_ms &&
        back.abs_deadline == meta.abs_deadline &&
        strcmp(back.info, meta.info) == 0);
  CHECK(sessio__record_open(blob.data, blob.len, hdr, user, id_seal, &opened) ==
        1);
  CHECK(opened.len == pt.len &&
        (pt.len == 0 || memcmp(opened.data, pt.data, pt.len) == 0));

  /* Mutations. Any change to the bytes or the user breaks the seal. */
  char user2[SESSIO_USER_MAX + 1];
  memcpy(user2, user, sizeof user2);
  int changed = 0;
  size_t orig_len = blob.len;
  uint8_t *orig = malloc(orig_len);
  CHECK(orig != NULL);
  memcpy(orig, blob.data, orig_len);
  unsigned nmut = fz_u8(f) % 4;
  for (unsigned i = 0; i < nmut && blob.len > 0; i++) {
    uint8_t op = fz_u8(f) % 5;
    size_t at = (size_t)(fz_u8(f) << 8 | fz_u8(f)) % blob.len;
    uint8_t x = fz_u8(f);
    switch (op) {
    case 0: /* flip bits */
      if (x) {
        blob.data[at] ^= x;
        changed = 1;
      }
      break;
    case 1: /* truncate */
      blob.len = at;
      changed = 1;
      break;
    case 2: /* extend */
      CHECK(sessio__buf_put_u8(&blob, x) == SESSIO_OK);
      changed = 1;
      break;
    case 3: /* another format version (1 included: the format is sealed) */
      if (blob.len > 1 && x != blob.data[1]) {
        blob.data[1] = x;
        changed = 1;
      }
      break;
    default: /* another user */
      if (strlen(user2) < SESSIO_USER_MAX && x) {
        size_t ul = strlen(user2);
        user2[ul] = (char)x;
        user2[ul + 1] = '\0';
        changed = 1;
      }
      break;
    }
  }
  /* Two flips of one byte, or an extension then a truncation, undo each
   * other: compare with the original. */
  if (changed)
    changed = blob.len != orig_len || memcmp(blob.data, orig, orig_len) != 0 ||
              strcmp(user, user2) != 0;
  if (changed) {
    /* The seal covers the header, the user and (format 2) the directory:
     * it opens only when those bytes are the original ones (a change in a
     * chunk or after the record is caught below, when it is loaded). */
    sessio__meta m2;
    if (sessio__record_meta(blob.data, blob.len, &m2, &hdr) &&
        sessio__record_open(blob.data, blob.len, hdr, user2, id_seal,
                            &opened) == 1)
      CHECK(m2.format == 2 && strcmp(user, user2) == 0 &&
            hdr + m2.sealed_len <= orig_len &&
            memcmp(blob.data, orig, hdr + m2.sealed_len) == 0);
  }
  free(orig);
  int adopted = load_and_check(blob.data, blob.len, user2);
  /* A changed chunk leaves the directory authentic: the session is
   * adopted, but the chunk never opens. */
  if (changed) CHECK(adopted == 0 || (chunked && adopted == 1));
  sessio__buf_free(&pt);
  sessio__buf_free(&blob);
  sessio__buf_free(&opened);
}

/* ---- mode 2: the data map alone ------------------------------------------ */

static void map_only(const uint8_t *p, size_t n) {
  sessio__map m = SESSIO__MAP_INIT, m2 = SESSIO__MAP_INIT;
  sessio__buf out = SESSIO__BUF_INIT;
  sessio_err rc = sessio__map_decode(&m, p, n);
  CHECK(rc == SESSIO_OK || rc == SESSIO_ECORRUPT);
  if (rc != SESSIO_OK) {
    CHECK(m.n == 0);
    return;
  }
  for (size_t i = 0; i < m.n; i++) {
    const sessio__entry *e = &m.v[i];
    CHECK(e->key_len > 0 && e->key[e->key_len] == '\0');
    CHECK(sessio__map_get(&m, e->key, e->key_len) == e);
    if (e->type == SESSIO_T_STR)
      CHECK(e->bytes[e->len] == '\0' && strlen((char *)e->bytes) == e->len);
    if (e->type == SESSIO_T_BOOL) CHECK(e->ival == 0 || e->ival == 1);
  }
  CHECK(sessio__map_encode(&m, &out) == SESSIO_OK);
  CHECK(out.len == n && memcmp(out.data, p, n) == 0);
  CHECK(sessio__map_encoded_size(&m) == n);
  CHECK(sessio__map_copy(&m2, &m) == SESSIO_OK && m2.n == m.n);
  sessio__map_free(&m2);
  sessio__map_free(&m);
  sessio__buf_free(&out);
}

/* ---- seeds ----------------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, const uint8_t *p,
                       size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* Raw-mode seeds: real records sealed for the fixed ID, as a store holds
 * them; plus parameter seeds for the sealed mode and encoded maps. */
static void write_seeds(const char *dir) {
  static const char *const users[] = {"", "alice"};
  mkdir(dir, 0755);
  for (int k = 0; k < 4; k++) {
    sessio__map m = SESSIO__MAP_INIT;
    sessio__buf pt = SESSIO__BUF_INIT, blob = SESSIO__BUF_INIT,
                in = SESSIO__BUF_INIT;
    sessio__meta meta;
    memset(&meta, 0, sizeof meta);
    meta.created_at = NOW - 60000;
    meta.auth_at = meta.rotated_at = meta.created_at;
    meta.idle_ms = 30 * 60000;
    meta.abs_deadline = meta.created_at + 12 * HOUR;
    const char *user = users[k & 1];
    if (k & 1) meta.flags = SESSIO__F_AUTH | (k == 3 ? SESSIO__F_REMEMBER : 0);
    if (k >= 2) snprintf(meta.info, sizeof meta.info, "Mozilla/5.0 (X11)");
    if (k != 0) {
      sessio__map_set(&m, "cart.A1", 7, SESSIO_T_INT, NULL, 0, 2);
      sessio__map_set(&m, "pref.theme", 10, SESSIO_T_STR, "dark", 4, 0);
      sessio__map_set(&m, "_csrf", 5, SESSIO_T_BYTES, id_raw, 32, 0);
      sessio__map_set(&m, "flag", 4, SESSIO_T_BOOL, NULL, 0, 1);
    }
    sessio__map_encode(&m, &pt);
    sessio__record_encode(&meta, user, id_seal, pt.data, pt.len, &blob);
    sessio__buf_put_u8(&in, 0); /* mode 0 */
    sessio__buf_put_u8(&in, (uint8_t)strlen(user));
    sessio__buf_append(&in, user, strlen(user));
    sessio__buf_append(&in, blob.data, blob.len);
    char name[64];
    snprintf(name, sizeof name, "raw-record-%d", k);
    write_seed(dir, name, in.data, in.len);
    /* A MOVED record: the plaintext is another raw ID. */
    if (k == 0) {
      meta.flags = SESSIO__F_MOVED;
      sessio__record_encode(&meta, "", id_seal, id_raw, 32, &blob);
      in.len = 0;
      sessio__buf_put_u8(&in, 0);
      sessio__buf_put_u8(&in, 0);
      sessio__buf_append(&in, blob.data, blob.len);
      write_seed(dir, "raw-moved", in.data, in.len);
    }
    in.len = 0;
    sessio__buf_put_u8(&in, 2); /* mode 2 */
    sessio__buf_append(&in, pt.data, pt.len);
    snprintf(name, sizeof name, "map-%d", k);
    write_seed(dir, name, in.data, in.len);
    sessio__map_free(&m);
    sessio__buf_free(&pt);
    sessio__buf_free(&blob);
    sessio__buf_free(&in);
  }
  /* Format 2 with chunks: two big values and small keys; the same with
   * two chunks swapped (each still authentic on its own) and truncated. */
  {
    sessio__map m = SESSIO__MAP_INIT;
    sessio__buf blob = SESSIO__BUF_INIT, in = SESSIO__BUF_INIT,
                dpt = SESSIO__BUF_INIT;
    static uint8_t big[2000];
    sessio__meta meta;
    memset(&meta, 0, sizeof meta);
    meta.created_at = NOW - 60000;
    meta.auth_at = meta.rotated_at = meta.created_at;
    meta.idle_ms = 30 * 60000;
    meta.abs_deadline = meta.created_at + 12 * HOUR;
    sessio__map_set(&m, "_c", 2, SESSIO_T_BYTES, id_raw, 16, 0);
    sessio__map_set(&m, "cart.A1", 7, SESSIO_T_INT, NULL, 0, 3);
    memset(big, 'a', sizeof big);
    sessio__map_set(&m, "pad.0", 5, SESSIO_T_BYTES, big, sizeof big, 0);
    memset(big, 'b', sizeof big);
    sessio__map_set(&m, "pad.1", 5, SESSIO_T_BYTES, big, sizeof big, 0);
    sessio__map_set(&m, "z", 1, SESSIO_T_STR, "small", 5, 0);
    sessio__record_encode_map(&meta, "", id_seal, &m,
                              sessio__map_encoded_size(&m), NULL, &blob);
    sessio__buf_put_u8(&in, 0);
    sessio__buf_put_u8(&in, 0);
    sessio__buf_append(&in, blob.data, blob.len);
    write_seed(dir, "raw-chunked", in.data, in.len);
    sessio__meta back;
    size_t hdr;
    sessio__chunks c = SESSIO__CHUNKS_INIT;
    if (sessio__record_meta(blob.data, blob.len, &back, &hdr) &&
        sessio__record_open(blob.data, blob.len, hdr, "", id_seal, &dpt) == 1 &&
        sessio__chunks_parse(&c, dpt.data, dpt.len,
                             blob.data + hdr + back.sealed_len,
                             blob.len - hdr - back.sealed_len) == 1 &&
        c.n >= 3 && c.v[1].ct_len == c.v[2].ct_len) {
      size_t at1 = 2 + (size_t)(c.v[1].ct - blob.data);
      size_t at2 = 2 + (size_t)(c.v[2].ct - blob.data);
      memcpy(in.data + at1, c.v[2].ct, c.v[2].ct_len);
      memcpy(in.data + at2, c.v[1].ct, c.v[1].ct_len);
      write_seed(dir, "raw-chunked-swapped", in.data, in.len);
      write_seed(dir, "raw-chunked-truncated", in.data, in.len - 1);
    }
    c.blob = NULL;
    c.dir = NULL;
    sessio__chunks_free(&c);
    sessio__map_free(&m);
    sessio__buf_free(&blob);
    sessio__buf_free(&in);
    sessio__buf_free(&dpt);
  }
  /* Sealed mode: live metadata, user "bob", two entries, one mutation of
   * each kind. */
  for (int op = 0; op < 6; op++) {
    uint8_t s[] = {1,   0,   1,   0,   60,  30,          0,   200, 4,   'i',
                   'n', 'f', 'o', 3,   'b', 'o',         'b', 0,   2,   1,
                   1,   'a', 1,   'x', 0,   0,           0,   0,   0,   0,
                   0,   0,   2,   1,   'b', 0,           0,   0,   0,   0,
                   0,   0,   0,   7,   1,   (uint8_t)op, 0,   20,  0x55};
    char name[32];
    snprintf(name, sizeof name, "sealed-mut-%d", op);
    write_seed(dir, name, s, op == 5 ? sizeof s - 5 : sizeof s);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  setup();
  const char *dir = getenv("SESSIO_FUZZ_SEEDS");
  if (dir != NULL) {
    write_seeds(dir);
    exit(0);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  fz f = {data + 1, size - 1};
  switch (data[0] % 3) {
  case 0: {
    char user[SESSIO_USER_MAX + 1];
    fz_str(&f, user, sizeof user, SESSIO_USER_MAX);
    load_and_check(f.p, f.n, user);
    break;
  }
  case 1: sealed(&f); break;
  default: map_only(data + 1, size - 1); break;
  }
  /* The store is back to empty: nothing left behind, in records or bytes. */
  static uint64_t base_bytes;
  struct sessio_store_stats st;
  CHECK(sessio_store_stats(store, &st) == SESSIO_OK && st.sessions == 0);
  if (base_bytes == 0) base_bytes = st.bytes;
  CHECK(st.bytes == base_bytes);
  return 0;
}
