/*
 * test_id.c — session ID generation and validation (S1, S2, S7): a million
 * IDs without duplicates, each exactly 256 bits, with a flat per-position
 * character distribution (chi-square) and flat per-bit frequencies (with
 * biased generators as the negative controls), no structure between
 * consecutive IDs, fork safety, and the validator's accept/reject rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "harness.h"
#include "sessio.h"

#define N_IDS 1000000

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

typedef struct id_rec {
  char s[SESSIO_ID_LEN + 1];
} id_rec;

static id_rec *ids; /* N_IDS IDs in generation order, made once */

static int sym_index(char c) {
  const char *p = memchr(alphabet, c, 64);
  return p ? (int)(p - alphabet) : -1;
}

/* Pearson's chi-square of 'counts' ('k' cells) against a uniform
 * distribution over 'total' draws. */
static double chi_square(const uint64_t *counts, int k, uint64_t total) {
  double expect = (double)total / k, chi = 0;
  for (int i = 0; i < k; i++) {
    double d = (double)counts[i] - expect;
    chi += d * d / expect;
  }
  return chi;
}

/* Thresholds: the chi-square quantile at p = 1e-9 (Wilson-Hilferty), so
 * that 43 positions together raise a false alarm less than once in 10^7
 * runs. df = 63 for the 64-symbol positions, 15 for the last one. A
 * generator whose character frequencies are off by a few percent lands in
 * the thousands. */
#define CHI_MAX_DF63 156.0
#define CHI_MAX_DF15 76.0

/* Per-bit frequency: the count of ones at each of the 256 bit positions
 * is Binomial(n, 1/2), so z = (ones - n/2) / (sqrt(n)/2) is close to a
 * standard normal. |z| <= 6 fails a good generator with probability
 * 2 * Phi(-6) = 1.97e-9 per position, 5.1e-7 for all 256 together. The
 * sum of the 256 z^2 is chi-square with 256 degrees of freedom: its
 * quantile at p = 1e-7 (Wilson-Hilferty, z = 5.20) is 391.7. Together,
 * and with the chi-square limits above, a good generator fails this file
 * less than once in 10^6 runs. These bounds do not depend on n, which
 * only sets how small a bias is caught (1% on one bit at n = 10^6). */
#define BIT_Z_MAX 6.0
#define BIT_CHI_MAX_DF256 392.0

/* Everything the quality checks measure over a set of IDs. */
typedef struct quality {
  size_t n;
  size_t undecodable; /* not exactly 256 bits in canonical base64url */
  double worst_chi;   /* positions 0..41 (df 63) */
  int worst_chi_pos;
  double last_chi;     /* position 42, the 16 symbols it may hold (df 15) */
  uint64_t last_stray; /* symbols at 42 whose low 2 bits are set */
  double worst_bit_z;  /* largest |z| over the 256 bit positions */
  int worst_bit;
  double bit_chi; /* sum of z^2 (df 256) */
} quality;

/* Square root by Newton's method (the tests link without libm). */
static double root(double x) {
  double r = x > 1 ? x : 1;
  if (x <= 0) return 0;
  for (int i = 0; i < 200; i++) r = (r + x / r) / 2;
  return r;
}

/* Measures 'n' IDs. Allocation-free apart from two fixed tables. */
static void measure(const id_rec *v, size_t n, quality *q) {
  static uint64_t counts[SESSIO_ID_LEN][64];
  static uint64_t ones[SESSIO_ID_BYTES * 8];
  uint64_t last[16];
  memset(q, 0, sizeof *q);
  memset(counts, 0, sizeof counts);
  memset(ones, 0, sizeof ones);
  q->n = n;
  q->worst_chi_pos = q->worst_bit = -1;
  for (size_t i = 0; i < n; i++) {
    uint8_t raw[SESSIO_ID_BYTES];
    char back[SESSIO_ID_LEN + 1];
    if (strlen(v[i].s) != SESSIO_ID_LEN ||
        !sessio__id_decode(v[i].s, SESSIO_ID_LEN, raw)) {
      q->undecodable++;
      continue;
    }
    sessio__id_encode(raw, back);
    if (memcmp(back, v[i].s, SESSIO_ID_LEN) != 0) {
      q->undecodable++;
      continue;
    }
    for (int p = 0; p < SESSIO_ID_LEN; p++) counts[p][sym_index(v[i].s[p])]++;
    for (int j = 0; j < SESSIO_ID_BYTES; j++)
      for (int b = 0; b < 8; b++) ones[j * 8 + b] += (raw[j] >> (7 - b)) & 1u;
  }
  n -= q->undecodable;
  for (int p = 0; p < SESSIO_ID_LEN - 1; p++) {
    double chi = chi_square(counts[p], 64, n);
    if (chi > q->worst_chi) {
      q->worst_chi = chi;
      q->worst_chi_pos = p;
    }
  }
  for (int sym = 0; sym < 64; sym++) {
    if (sym % 4 == 0)
      last[sym / 4] = counts[SESSIO_ID_LEN - 1][sym];
    else
      q->last_stray += counts[SESSIO_ID_LEN - 1][sym];
  }
  q->last_chi = chi_square(last, 16, n);
  for (int k = 0; k < SESSIO_ID_BYTES * 8; k++) {
    double d = (double)ones[k] - n / 2.0, z2 = d * d / (n / 4.0);
    q->bit_chi += z2;
    if (root(z2) > q->worst_bit_z) {
      q->worst_bit_z = root(z2);
      q->worst_bit = k;
    }
  }
}

static void print_quality(const char *what, const quality *q) {
  printf("  %s: %zu IDs, %zu not 256 bits; chi-square worst %.1f at %d "
         "(limit %.0f), position 42 %.1f (limit %.0f, %llu stray); bits: "
         "worst |z| %.2f at bit %d (limit %.0f), sum z^2 %.1f (limit %.0f)\n",
         what, q->n, q->undecodable, q->worst_chi, q->worst_chi_pos,
         CHI_MAX_DF63, q->last_chi, CHI_MAX_DF15,
         (unsigned long long)q->last_stray, q->worst_bit_z, q->worst_bit,
         BIT_Z_MAX, q->bit_chi, BIT_CHI_MAX_DF256);
}

static int chars_flat(const quality *q) {
  return q->worst_chi < CHI_MAX_DF63 && q->last_chi < CHI_MAX_DF15 &&
         q->last_stray == 0;
}

static int bits_flat(const quality *q) {
  return q->worst_bit_z <= BIT_Z_MAX && q->bit_chi < BIT_CHI_MAX_DF256;
}

static void make_ids(void) {
  ids = malloc(sizeof *ids * N_IDS);
  if (ids == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  for (size_t i = 0; i < N_IDS; i++)
    if (sessio_id_generate(ids[i].s) != SESSIO_OK) {
      fprintf(stderr, "sessio_id_generate failed\n");
      exit(2);
    }
}

/* S1: the generated form is what the validator accepts. */
static void test_generated_ids_are_valid_S1(void) {
  size_t bad = 0;
  for (size_t i = 0; i < N_IDS; i++)
    if (strlen(ids[i].s) != SESSIO_ID_LEN ||
        !sessio_id_valid(ids[i].s, SESSIO_ID_LEN))
      bad++;
  CHECK_INT(bad, 0);
}

/* S1: 64 symbols per position 0..41, flat. */
static void test_character_distribution_is_flat_S1(void) {
  static uint64_t counts[SESSIO_ID_LEN][64];
  double worst = 0;
  int worst_pos = -1;
  memset(counts, 0, sizeof counts);
  for (size_t i = 0; i < N_IDS; i++)
    for (int p = 0; p < SESSIO_ID_LEN; p++) {
      int s = sym_index(ids[i].s[p]);
      CHECK(s >= 0);
      if (s < 0) return;
      counts[p][s]++;
    }
  for (int p = 0; p < SESSIO_ID_LEN - 1; p++) {
    double chi = chi_square(counts[p], 64, N_IDS);
    if (chi > worst) {
      worst = chi;
      worst_pos = p;
    }
  }
  printf("  worst chi-square over positions 0..41: %.1f at %d (df 63, "
         "limit %.0f)\n",
         worst, worst_pos, CHI_MAX_DF63);
  CHECK(worst < CHI_MAX_DF63);

  /* Position 42 carries the last 4 bits: only the 16 symbols whose index
   * is a multiple of 4 may appear, each with probability 1/16. */
  {
    uint64_t last[16];
    uint64_t stray = 0;
    for (int s = 0; s < 64; s++) {
      if (s % 4 == 0)
        last[s / 4] = counts[SESSIO_ID_LEN - 1][s];
      else
        stray += counts[SESSIO_ID_LEN - 1][s];
    }
    double chi = chi_square(last, 16, N_IDS);
    printf("  chi-square at position 42: %.1f (df 15, limit %.0f)\n", chi,
           CHI_MAX_DF15);
    CHECK_INT(stray, 0);
    CHECK(chi < CHI_MAX_DF15);
  }
}

/* S1: every one of the million IDs decodes to exactly 256 bits (and
 * encodes back to itself), every character position is flat (chi-square)
 * and every one of the 256 bits is set half the time (binomial bounds). */
static void test_million_ids_are_256_bits_flat_per_position_and_per_bit_S1(
    void) {
  quality q;
  CHECK_INT(SESSIO_ID_BYTES * 8, 256);
  measure(ids, N_IDS, &q);
  print_quality("library", &q);
  CHECK_INT(q.undecodable, 0);
  CHECK(chars_flat(&q));
  CHECK(bits_flat(&q));
}

/* Biased generators as negative controls of the checks above: 'bias'
 * changes 32 good random bytes into the ID's raw value. */
static void ids_from(id_rec *out, size_t n,
                     void (*bias)(uint8_t *raw, const uint8_t *extra)) {
  uint8_t buf[4096];
  size_t used = sizeof buf;
  for (size_t i = 0; i < n; i++) {
    uint8_t raw[SESSIO_ID_BYTES];
    if (used + SESSIO_ID_BYTES + 2 > sizeof buf) {
      if (sessio__random(buf, sizeof buf) != SESSIO_OK) exit(2);
      used = 0;
    }
    memcpy(raw, buf + used, SESSIO_ID_BYTES);
    bias(raw, buf + used + SESSIO_ID_BYTES);
    used += SESSIO_ID_BYTES + 2;
    sessio__id_encode(raw, out[i].s);
  }
}

/* Byte 10 drawn as (byte % 200): the modulo mistake, on one byte of 32. */
static void bias_modulo_byte(uint8_t *raw, const uint8_t *extra) {
  (void)extra;
  raw[10] = (uint8_t)(raw[10] % 200);
}

/* Bit 200 forced to 1 in 1% of IDs: p = 0.505, z about 10 at n = 10^6.
 * It moves the chi-square of character 33 by only about 100, within the
 * noise of the 63-df limit, so the character check alone may miss it;
 * the bit check must not. */
static void bias_one_bit(uint8_t *raw, const uint8_t *extra) {
  if ((extra[0] | (uint16_t)extra[1] << 8) % 100 == 0)
    raw[200 / 8] |= (uint8_t)(0x80 >> (200 % 8));
}

static void test_quality_checks_catch_biased_generators_S1(void) {
  id_rec *bad = malloc(sizeof *bad * N_IDS);
  quality q;
  CHECK(bad != NULL);
  if (bad == NULL) return;
  ids_from(bad, N_IDS, bias_modulo_byte);
  measure(bad, N_IDS, &q);
  print_quality("byte 10 = r % 200", &q);
  CHECK_INT(q.undecodable, 0);
  CHECK(!chars_flat(&q));
  CHECK(!bits_flat(&q));

  ids_from(bad, N_IDS, bias_one_bit);
  measure(bad, N_IDS, &q);
  print_quality("bit 200 at p = 0.505", &q);
  CHECK(!bits_flat(&q));
  CHECK_INT(q.worst_bit, 200);

  /* a non-canonical ID (stray low bits in its last character) and a short
   * one are not 256 bits */
  memcpy(&bad[0], &ids[0], sizeof bad[0]);
  bad[0].s[SESSIO_ID_LEN - 1] = 'B';
  bad[1].s[SESSIO_ID_LEN - 2] = '\0';
  measure(bad, 2, &q);
  CHECK_INT(q.undecodable, 2);
  free(bad);
}

/* The negative control: the same statistic catches a biased generator, so
 * the test above can fail. The bias is the classic modulo mistake: a
 * character picked as (byte % 250) % 64 from a good random byte stream. */
static void test_chi_square_catches_biased_generator_S1(void) {
  uint64_t counts[64] = {0};
  uint8_t buf[4096];
  size_t made = 0;
  while (made < N_IDS) {
    CHECK_OK(sessio__random(buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf && made < N_IDS; i++) {
      if (buf[i] >= 250) continue; /* uniform on 0..249 */
      counts[(buf[i] % 250) % 64]++;
      made++;
    }
  }
  double chi = chi_square(counts, 64, N_IDS);
  printf("  chi-square of the biased generator: %.1f (limit %.0f)\n", chi,
         CHI_MAX_DF63);
  CHECK(chi > CHI_MAX_DF63);

  /* And a subtler one: 0.5% of draws stuck on one symbol. */
  memset(counts, 0, sizeof counts);
  made = 0;
  while (made < N_IDS) {
    CHECK_OK(sessio__random(buf, sizeof buf));
    for (size_t i = 0; i + 1 < sizeof buf && made < N_IDS; i += 2) {
      int stuck = (buf[i] | (uint16_t)buf[i + 1] << 8) % 200 == 0;
      counts[stuck ? 0 : buf[i] % 64]++;
      made++;
    }
  }
  chi = chi_square(counts, 64, N_IDS);
  printf("  chi-square with 0.5%% stuck draws: %.1f (limit %.0f)\n", chi,
         CHI_MAX_DF63);
  CHECK(chi > CHI_MAX_DF63);
}

/* S2: consecutive IDs share no structure: the mean common prefix is what
 * chance gives (1/63 characters), and the mean Hamming distance of the raw
 * bytes is 128 bits. A time- or counter-based ID fails both. */
static void test_consecutive_ids_share_no_structure_S2(void) {
  const size_t pairs = 100000;
  uint64_t prefix_sum = 0, hamming_sum = 0;
  for (size_t i = 0; i < pairs; i++) {
    const char *a = ids[i].s, *b = ids[i + 1].s;
    uint8_t ra[SESSIO_ID_BYTES], rb[SESSIO_ID_BYTES];
    size_t k = 0;
    while (k < SESSIO_ID_LEN && a[k] == b[k]) k++;
    prefix_sum += k;
    CHECK(sessio__id_decode(a, SESSIO_ID_LEN, ra));
    CHECK(sessio__id_decode(b, SESSIO_ID_LEN, rb));
    for (int j = 0; j < SESSIO_ID_BYTES; j++)
      hamming_sum += (uint64_t)__builtin_popcount((unsigned)(ra[j] ^ rb[j]));
  }
  double mean_prefix = (double)prefix_sum / pairs;
  double mean_hamming = (double)hamming_sum / pairs;
  printf("  mean common prefix %.4f chars, mean Hamming distance %.3f bits\n",
         mean_prefix, mean_hamming);
  /* Expected 0.016 (sd of the mean ~0.0004); 1 char is far out. */
  CHECK(mean_prefix < 0.1);
  /* Expected 128 (sd of the mean 0.025). */
  CHECK(mean_hamming > 127.0 && mean_hamming < 129.0);
}

static int cmp_id(const void *a, const void *b) {
  return memcmp(((const id_rec *)a)->s, ((const id_rec *)b)->s, SESSIO_ID_LEN);
}

/* S1: a million IDs, no duplicates. Sorts 'ids' in place (runs last). */
static void test_million_ids_have_no_duplicates_S1(void) {
  size_t dups = 0;
  qsort(ids, N_IDS, sizeof *ids, cmp_id);
  for (size_t i = 1; i < N_IDS; i++)
    if (memcmp(ids[i - 1].s, ids[i].s, SESSIO_ID_LEN) == 0) dups++;
  CHECK_INT(dups, 0);
}

/* The duplicate check can fail: the same sort finds a planted duplicate. */
static void test_duplicate_check_finds_planted_duplicate(void) {
  id_rec few[5];
  size_t dups = 0;
  for (int i = 0; i < 5; i++) CHECK_OK(sessio_id_generate(few[i].s));
  few[3] = few[1];
  qsort(few, 5, sizeof *few, cmp_id);
  for (size_t i = 1; i < 5; i++)
    if (memcmp(few[i - 1].s, few[i].s, SESSIO_ID_LEN) == 0) dups++;
  CHECK_INT(dups, 1);
}

/* S1: an ID made in the child after fork() differs from the parent's, and
 * from the one the parent made just before forking. */
static void test_ids_differ_across_fork_S1(void) {
  for (int round = 0; round < 8; round++) {
    char before[SESSIO_ID_LEN + 1], parent[SESSIO_ID_LEN + 1];
    char child[SESSIO_ID_LEN + 1] = {0};
    int fds[2];
    pid_t pid;
    int status = 0;

    CHECK_OK(sessio_id_generate(before));
    CHECK(pipe(fds) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) {
      char id[SESSIO_ID_LEN + 1];
      int ok = sessio_id_generate(id) == SESSIO_OK;
      close(fds[0]);
      if (ok && write(fds[1], id, SESSIO_ID_LEN) == SESSIO_ID_LEN) _exit(0);
      _exit(1);
    }
    close(fds[1]);
    CHECK_OK(sessio_id_generate(parent));
    {
      size_t got = 0;
      while (got < SESSIO_ID_LEN) {
        ssize_t n = read(fds[0], child + got, SESSIO_ID_LEN - got);
        if (n <= 0) break;
        got += (size_t)n;
      }
      CHECK_INT(got, SESSIO_ID_LEN);
    }
    close(fds[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(sessio_id_valid(child, SESSIO_ID_LEN));
    CHECK(strcmp(child, parent) != 0);
    CHECK(strcmp(child, before) != 0);
    CHECK(strcmp(parent, before) != 0);
  }
}

/* S7: malformed IDs are rejected by form alone. */
static void test_validator_rejects_malformed_ids_S7(void) {
  char id[SESSIO_ID_LEN + 2];
  char bad[SESSIO_ID_LEN + 2];
  CHECK_OK(sessio_id_generate(id));
  CHECK(sessio_id_valid(id, SESSIO_ID_LEN));

  /* wrong length */
  CHECK(!sessio_id_valid(id, SESSIO_ID_LEN - 1));
  CHECK(!sessio_id_valid(id, 0));
  CHECK(!sessio_id_valid(NULL, 0));
  CHECK(!sessio_id_valid(NULL, SESSIO_ID_LEN));
  memcpy(bad, id, SESSIO_ID_LEN);
  bad[SESSIO_ID_LEN] = 'A';
  bad[SESSIO_ID_LEN + 1] = '\0';
  CHECK(!sessio_id_valid(bad, SESSIO_ID_LEN + 1));

  /* '=' padding, as standard base64 would add to reach 44 */
  bad[SESSIO_ID_LEN] = '=';
  CHECK(!sessio_id_valid(bad, SESSIO_ID_LEN + 1));

  /* wrong alphabet at every position: standard base64, separators, high
   * bytes, NUL inside */
  {
    const char junk[] = {'+', '/', '=',  '.',    ' ',
                         ';', '%', '\0', '\x80', '\xff'};
    size_t accepted = 0;
    for (size_t j = 0; j < sizeof junk; j++)
      for (int p = 0; p < SESSIO_ID_LEN; p++) {
        memcpy(bad, id, SESSIO_ID_LEN + 1);
        bad[p] = junk[j];
        if (sessio_id_valid(bad, SESSIO_ID_LEN)) accepted++;
      }
    CHECK_INT(accepted, 0);
  }

  /* non-canonical last character: any stray low bit rejected */
  {
    size_t ok = 0;
    memcpy(bad, id, SESSIO_ID_LEN + 1);
    for (int s = 0; s < 64; s++) {
      bad[SESSIO_ID_LEN - 1] = alphabet[s];
      int v = sessio_id_valid(bad, SESSIO_ID_LEN);
      CHECK_INT(v, s % 4 == 0);
      ok += (size_t)v;
    }
    CHECK_INT(ok, 16);
  }
}

/* Known answers: the encoding is plain unpadded base64url. */
static void test_encode_decode_known_answers(void) {
  uint8_t raw[SESSIO_ID_BYTES], back[SESSIO_ID_BYTES];
  char out[SESSIO_ID_LEN + 1];

  memset(raw, 0, sizeof raw);
  sessio__id_encode(raw, out);
  CHECK_STR(out, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");

  memset(raw, 0xff, sizeof raw);
  sessio__id_encode(raw, out);
  CHECK_STR(out, "__________________________________________8");

  for (int i = 0; i < SESSIO_ID_BYTES; i++) raw[i] = (uint8_t)i;
  sessio__id_encode(raw, out);
  /* base64url of bytes 00..1f, without '=' */
  CHECK_STR(out, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
  CHECK(sessio__id_decode(out, SESSIO_ID_LEN, back));
  CHECK(memcmp(raw, back, sizeof raw) == 0);

  /* decode refuses what the validator refuses */
  out[SESSIO_ID_LEN - 1] = '9'; /* 61: low bits set */
  CHECK(!sessio__id_decode(out, SESSIO_ID_LEN, back));
  CHECK(!sessio__id_decode(out, SESSIO_ID_LEN - 1, back));
}

static void test_encode_decode_round_trip(void) {
  size_t bad = 0;
  for (int i = 0; i < 10000; i++) {
    uint8_t raw[SESSIO_ID_BYTES], back[SESSIO_ID_BYTES];
    char out[SESSIO_ID_LEN + 1];
    CHECK_OK(sessio__random(raw, sizeof raw));
    sessio__id_encode(raw, out);
    if (!sessio__id_decode(out, SESSIO_ID_LEN, back) ||
        memcmp(raw, back, sizeof raw) != 0)
      bad++;
  }
  CHECK_INT(bad, 0);
}

/* The decoder validates in the same pass as it decodes: it must accept
 * exactly what sessio_id_valid accepts, for every byte at every position
 * (S7: a malformed value never reaches the store). */
static void test_decode_accepts_exactly_what_the_validator_accepts_S7(void) {
  char id[SESSIO_ID_LEN + 1], bad[SESSIO_ID_LEN + 1];
  uint8_t raw[SESSIO_ID_BYTES];
  size_t disagree = 0, accepted = 0;
  CHECK_OK(sessio_id_generate(id));
  for (int p = 0; p < SESSIO_ID_LEN; p++)
    for (int c = 0; c < 256; c++) {
      memcpy(bad, id, sizeof bad);
      bad[p] = (char)c;
      int valid = sessio_id_valid(bad, SESSIO_ID_LEN);
      int decoded = sessio__id_decode(bad, SESSIO_ID_LEN, raw);
      disagree += (size_t)(valid != decoded);
      accepted += (size_t)decoded;
    }
  CHECK_INT(disagree, 0);
  /* 64 digits at 42 positions, 16 at the last (its two spare bits) */
  CHECK_INT(accepted, 42 * 64 + 16);
  CHECK(!sessio__id_decode(NULL, SESSIO_ID_LEN, raw));
}

int main(void) {
  if (sessio__crypto_init() != SESSIO_OK) {
    fprintf(stderr, "sessio__crypto_init failed\n");
    return 2;
  }
  make_ids();
  RUN(test_generated_ids_are_valid_S1);
  RUN(test_character_distribution_is_flat_S1);
  RUN(test_chi_square_catches_biased_generator_S1);
  RUN(test_million_ids_are_256_bits_flat_per_position_and_per_bit_S1);
  RUN(test_quality_checks_catch_biased_generators_S1);
  RUN(test_consecutive_ids_share_no_structure_S2);
  RUN(test_million_ids_have_no_duplicates_S1);
  RUN(test_duplicate_check_finds_planted_duplicate);
  RUN(test_ids_differ_across_fork_S1);
  RUN(test_validator_rejects_malformed_ids_S7);
  RUN(test_encode_decode_known_answers);
  RUN(test_encode_decode_round_trip);
  RUN(test_decode_accepts_exactly_what_the_validator_accepts_S7);
  free(ids);
  return DONE();
}
