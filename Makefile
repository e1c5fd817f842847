# Postmesh top-level Makefile.
#
#   make            build libpostmesh, every service and the unit tests (build/)
#   make test       unit tests plain and under ASan+UBSan, then integration tests
#   make run        build, start a local Redis and the whole stack (returns)
#   make stop       stop what `make run` started
#   make bench      end-to-end benchmark (smtp-source -> Postmesh -> smtp-sink), vs Postfix
#   make deps       install the Debian packages needed to build and test
#
# Adding a file needs no edit here: services/lib/*.c form libpostmesh.a,
# services/<role>/*.c form build/bin/<role>, services/cli/<cmd>.c form
# build/bin/<cmd>, tests/unit/test_<m>.c form
# build/test/test_<m>. `make SAN=1` builds the same into build/asan/.

CC       ?= gcc
SAN      ?= 0
ifeq ($(SAN),1)
B        := build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
OPT      := -O1 -g
else
B        := build
SANFLAGS :=
OPT      := -O2 -g
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes
CPPFLAGS := -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
            -Ibuild/gen -Iservices/lib
CFLAGS   := -std=gnu11 $(OPT) $(WARN) $(SANFLAGS) -pthread
LDFLAGS  := $(SANFLAGS) -pthread
LIBS     := -lnng -lprotobuf-c -lhiredis -levent_core -levent_pthreads \
            -lcares -lssl -lcrypto -lm

PROTOS   := $(wildcard proto/*.proto)
GEN_C    := $(patsubst proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
GEN_H    := $(GEN_C:.c=.h)
LIB_SRC  := $(wildcard services/lib/*.c)
LIB_OBJ  := $(patsubst services/lib/%.c,$(B)/obj/lib/%.o,$(LIB_SRC)) \
            $(patsubst build/gen/%.c,$(B)/obj/gen/%.o,$(GEN_C))
ROLES    := $(filter-out lib cli,$(notdir $(patsubst %/,%,$(wildcard services/*/))))
CLI_SRC  := $(wildcard services/cli/*.c)
CLIS     := $(patsubst services/cli/%.c,$(B)/bin/%,$(CLI_SRC))
BINS     := $(addprefix $(B)/bin/,$(ROLES)) $(CLIS)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(patsubst tests/unit/%.c,$(B)/test/%,$(UNIT_SRC))

.PHONY: all lib bins units test unit unit-asan integration run stop bench deps \
        clean format
.SECONDARY: $(GEN_C) $(GEN_H)

all: bins units

lib: $(B)/libpostmesh.a
bins: $(BINS)
units: $(UNITS)

build/gen/%.pb-c.c build/gen/%.pb-c.h: proto/%.proto
	@mkdir -p build/gen
	protoc-c --proto_path=proto --c_out=build/gen $<

$(B)/obj/gen/%.o: build/gen/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-cast-qual -c -o $@ $<

$(B)/obj/lib/%.o: services/lib/%.c $(GEN_H) $(wildcard services/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libpostmesh.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One binary per role: every .c in services/<role>/.
define ROLE_template
$(B)/obj/$(1)/%.o: services/$(1)/%.c $(GEN_H) $(wildcard services/lib/*.h) $(wildcard services/$(1)/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -Iservices/$(1) $$(CFLAGS) -c -o $$@ $$<
$(B)/bin/$(1): $(patsubst services/$(1)/%.c,$(B)/obj/$(1)/%.o,$(wildcard services/$(1)/*.c)) $(B)/libpostmesh.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(B)/libpostmesh.a $$(LIBS)
endef
$(foreach r,$(ROLES),$(eval $(call ROLE_template,$(r))))

# Operator commands: one binary per file in services/cli/ (postconf, ...).
$(B)/bin/%: services/cli/%.c $(B)/libpostmesh.a $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libpostmesh.a $(LIBS)

# Some tests compile a service's sources in (#include): depend on them too.
$(B)/test/test_%: tests/unit/test_%.c $(B)/libpostmesh.a \
    $(wildcard tests/unit/*.h services/*/*.c services/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libpostmesh.a -lcriterion $(LIBS)

# Unit tests: every binary, summary checked; any failure, and any skip
# that tests/optional.txt does not list, fails the target. Some unit
# tests start a service binary (rewrite): build those too.
unit: units bins
	@tests/unit/run.sh $(B)/test

unit-asan:
	@$(MAKE) --no-print-directory SAN=1 bins units
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tests/unit/run.sh build/asan/test

integration:
	@$(MAKE) --no-print-directory SAN=1 bins
	@PM_BIN=build/asan/bin tests/integration/run.sh

test: all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory integration

run: bins
	@scripts/run.sh start

stop:
	@scripts/run.sh stop

bench: bins
	@scripts/bench.sh

deps:
	@scripts/deps.sh

format:
	clang-format -i services/*/*.[ch] tests/unit/*.c

clean:
	rm -rf build
