# fuzz/build.mk — builds every libFuzzer target fuzz/NAME_fuzz.c into
# $(OUT)/NAME_fuzz with clang, ASan and UBSan (no recovery). Run from the
# repository root; scripts/fuzz.sh calls it:
#   make -f fuzz/build.mk OUT=build-fuzz -j2
# libsessio (src/, src/store/) and the shop's body parsers
# (apps/shop/parse.c) are compiled once with coverage instrumentation into
# $(OUT)/obj/, with header dependencies tracked (-MMD), and linked into each
# target; only what changed is rebuilt.
CC := clang
OUT ?= build-fuzz
PKGS := libsodium sqlite3 hiredis libcjson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
# Every store is compiled in (the CMake build defines SESSIO_HAVE_<NAME>
# only for the optional stores that are ON).
CFLAGS := -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
          -DSESSIO_HAVE_SQLITE=1 -DSESSIO_HAVE_REDIS=1 \
          -fno-omit-frame-pointer -Wall -Wextra -Iinclude -Isrc -Iapps/shop \
          $(PKG_CFLAGS) $(SAN)

# The postgres: store is left out (its URLs answer SESSIO_ENOTSUP here): its
# URL grammar is libpq's own parser, and an open would try the network.
LIB_SRC := $(filter-out src/store/postgres.c,$(wildcard src/*.c src/store/*.c))
LIB_OBJ := $(patsubst %.c,$(OUT)/obj/%.o,$(LIB_SRC))
# The shop's parsers and output buffer, in their own archive.
SHOP_OBJ := $(OUT)/obj/apps/shop/parse.o $(OUT)/obj/apps/shop/sbuf.o
NAMES := $(patsubst fuzz/%_fuzz.c,%,$(wildcard fuzz/*_fuzz.c))
TARGETS := $(patsubst %,$(OUT)/%_fuzz,$(NAMES))

# The store URL target never reaches a network or the disk: the calls that
# would (hiredis connects over TCP and a Unix socket, mkdir, open, stat) are
# wrapped by the target, and the stores' stderr log lines are kept by it
# (fprintf).
comma := ,
LDFLAGS_store_url := $(patsubst %,-Wl$(comma)--wrap=%,redisConnectWithTimeout \
                     redisConnectUnixWithTimeout mkdir open open64 stat stat64 \
                     fprintf)

all: $(TARGETS)

# Library code: instrumented for coverage, no libFuzzer main.
$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# The targets themselves must compile without a warning.
$(OUT)/obj/fuzz/%_fuzz.o: fuzz/%_fuzz.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Werror -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(OUT)/libsessio_fuzz.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/libshop_fuzz.a: $(SHOP_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(OUT)/%_fuzz: $(OUT)/obj/fuzz/%_fuzz.o $(OUT)/libshop_fuzz.a \
               $(OUT)/libsessio_fuzz.a
	$(CC) -fsanitize=fuzzer $(SAN) $^ $(LDFLAGS_$*) $(PKG_LIBS) -lpthread -lm -o $@

.PHONY: all
.SECONDARY:
-include $(LIB_OBJ:.o=.d) $(SHOP_OBJ:.o=.d) $(patsubst %,$(OUT)/obj/fuzz/%_fuzz.d,$(NAMES))
