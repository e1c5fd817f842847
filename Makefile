# Postmesh top-level Makefile.
#
#   make            build libpostmesh, every service and the unit tests (build/)
#   make test       format check, Lua check, static checks, unit tests plain and under ASan+UBSan,
#                   then integration tests
#   make run        build, start a local Redis and the whole stack (returns)
#   make stop       stop what `make run` started
#   make bench      end-to-end benchmark (smtp-source -> Postmesh -> smtp-sink), vs Postfix
#   make bench-tls  STARTTLS end to end (tls-source -> MTA -> tls-sink) and 2,000 idle TLS sessions
#   make bench-memory  peak RSS of smtpd, cleanup, Redis: 200 sessions x 10 MB at once
#   make bench-postscreen  one postscreen holding 2,000 idle connections (RSS)
#   make deps       install the Debian packages needed to build and test
#
# Adding a file needs no edit here: services/lib/<concept>/*.c form
# libpostmesh.a (every lib folder is on the include path);
# services/<role>/*.c except <role>.c (main) form lib<role>.a, and with
# <role>.c build/bin/<role>; services/cli/<cmd>.c form build/bin/<cmd>;
# tests/unit/test_<m>.c forms build/test/test_<m>, linked with every
# lib<role>.a. `make SAN=1` builds the same into build/asan/.

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
LIB_DIRS := $(sort $(dir $(wildcard services/lib/*/*.[ch])))
LIB_HDR  := $(wildcard services/lib/*/*.h)
CPPFLAGS := -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
            -Ibuild/gen $(patsubst %/,-I%,$(LIB_DIRS))
CFLAGS   := -std=gnu11 $(OPT) $(WARN) $(SANFLAGS) -pthread
LDFLAGS  := $(SANFLAGS) -pthread
LIBS     := -lnng -lprotobuf-c -lhiredis -levent_core -levent_pthreads -levent_openssl \
            -lcares -lssl -lcrypto -lpcre2-8 -lcrypt -lm

PROTOS   := $(wildcard proto/*.proto)
GEN_C    := $(patsubst proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
GEN_H    := $(GEN_C:.c=.h)
# Lua (Redis Functions) next to the C that loads it, embedded as a string.
LUA_SRC  := $(wildcard services/lib/*/*.lua)
LUA_H    := $(patsubst %.lua,build/gen/%.lua.h,$(notdir $(LUA_SRC)))
vpath %.lua $(LIB_DIRS)
LIB_SRC  := $(wildcard services/lib/*/*.c)
LIB_OBJ  := $(patsubst services/lib/%.c,$(B)/obj/lib/%.o,$(LIB_SRC)) \
            $(patsubst build/gen/%.c,$(B)/obj/gen/%.o,$(GEN_C))
ROLES    := $(filter-out lib cli,$(notdir $(patsubst %/,%,$(wildcard services/*/))))
CLI_SRC  := $(wildcard services/cli/*.c)
CLIS     := $(patsubst services/cli/%.c,$(B)/bin/%,$(CLI_SRC))
BINS     := $(addprefix $(B)/bin/,$(ROLES)) $(CLIS)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNITS    := $(patsubst tests/unit/%.c,$(B)/test/%,$(UNIT_SRC))

.PHONY: all lib bins units test unit unit-asan integration run stop bench cluster-test deps lint-lua \
        bench-memory clean format format-check
.SECONDARY: $(GEN_C) $(GEN_H) $(LUA_H)

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

# Each line of the Lua becomes one C string literal.
build/gen/%.lua.h: %.lua
	@mkdir -p build/gen
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@

# Every parameter name some service knows (pm_cfg.c: only a name no
# service knows is "unused"), from the checked-in configuration reference.
build/gen/pm_param_names.h: docs/configuration.md
	@mkdir -p build/gen
	sed -n 's/^| `\([A-Za-z0-9_]*\)` |.*/"\1",/p' $< > $@

$(B)/obj/lib/config/pm_cfg.o: build/gen/pm_param_names.h

# postconf's table of every parameter and its default, from the same
# reference (scripts/gen-param-table.sh).
build/gen/pm_param_table.h: docs/configuration.md scripts/gen-param-table.sh
	@mkdir -p build/gen
	scripts/gen-param-table.sh $< > $@.tmp && mv $@.tmp $@

$(B)/bin/postconf: build/gen/pm_param_table.h

$(B)/obj/lib/%.o: services/lib/%.c $(GEN_H) $(LUA_H) $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/libpostmesh.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# One static library and one binary per role: services/<role>/<role>.c
# holds main(); every other .c of the folder goes into lib<role>.a, which
# the role's unit tests link too.
define ROLE_template
$(B)/obj/$(1)/%.o: services/$(1)/%.c $(GEN_H) $(LIB_HDR) $(wildcard services/$(1)/*.h)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -Iservices/$(1) $$(CFLAGS) -c -o $$@ $$<
$(B)/lib/lib$(1).a: $(patsubst services/$(1)/%.c,$(B)/obj/$(1)/%.o,$(filter-out services/$(1)/$(1).c,$(wildcard services/$(1)/*.c)))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
$(B)/bin/$(1): $(B)/obj/$(1)/$(1).o $(B)/lib/lib$(1).a $(B)/libpostmesh.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $(B)/lib/lib$(1).a $(B)/libpostmesh.a $$(LIBS)
endef
$(foreach r,$(ROLES),$(eval $(call ROLE_template,$(r))))

# Operator commands: one binary per file in services/cli/ (postconf, ...).
$(B)/bin/%: services/cli/%.c $(B)/libpostmesh.a $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libpostmesh.a $(LIBS)

# Unit tests link every role's library (an archive member is pulled in
# only when a test uses it) and see every role's headers, so a test of
# smtpd's restrictions may run rewrite's resolver in-process.
ROLE_LIBS := $(foreach r,$(ROLES),$(B)/lib/lib$(r).a)
ROLE_INC  := $(foreach r,$(ROLES),-Iservices/$(r))
$(B)/test/%: tests/unit/%.c $(ROLE_LIBS) $(B)/libpostmesh.a $(GEN_H) $(LIB_HDR) \
    $(wildcard tests/unit/*.h services/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ROLE_INC) $(CFLAGS) -o $@ $< $(ROLE_LIBS) $(B)/libpostmesh.a -lcriterion $(LIBS)

# Unit tests: every binary, summary checked; any failure, and any skip
# that tests/optional.txt does not list, fails the target. Some unit
# tests start a service binary (rewrite): build those too.
# A binary whose test file was removed or renamed is deleted first.
STALE_TESTS = for t in $(1)/test_*; do [ -f "tests/unit/$${t\#\#*/}.c" ] || rm -f "$$t"; done

unit: units bins
	@$(call STALE_TESTS,$(B)/test)
	@tests/unit/run.sh $(B)/test

unit-asan:
	@$(MAKE) --no-print-directory SAN=1 bins units
	@$(call STALE_TESTS,build/asan/test)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tests/unit/run.sh build/asan/test

integration:
	@$(MAKE) --no-print-directory SAN=1 bins
	@PM_BIN=build/asan/bin tests/integration/run.sh

# The Lua of the Redis Functions parses (Redis runs Lua 5.1).
lint-lua:
	@luac5.1 -p $(LUA_SRC) && echo "lua: $(LUA_SRC) ok"

test: all
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory lint-lua
	@$(MAKE) --no-print-directory static
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory integration

run: bins
	@scripts/run.sh start

stop:
	@scripts/run.sh stop

# The mesh under faults (issue 7): tests/cluster/run.sh, needs root.
cluster-test: bins
	@tests/cluster/run.sh

bench: bins bench-tools
	@scripts/bench.sh
	@scripts/bench-tls.sh

bench-memory: bins
	@nice scripts/bench-bigmsg.sh

.PHONY: bench-postscreen
bench-postscreen: bins
	@nice scripts/bench-postscreen.sh

deps:
	@scripts/deps.sh

# C style: .clang-format (clang-format 14); format-check is part of test.
FMT_SRC  := $(wildcard services/*/*.[ch] services/lib/*/*.[ch] tests/unit/*.[ch])

format:
	clang-format -i $(FMT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FMT_SRC) \
	  && echo "format: $(words $(FMT_SRC)) files as .clang-format says" \
	  || { echo "format: run 'make format' (see above)"; exit 1; }

clean:
	rm -rf build

# Static checks (issue 8): tests/static/run.sh runs every
# tests/static/check-*.sh (Helm chart, YAML, shell, ...). The tools
# (helm, kubernetes-models) are installed once into build/npm and
# build/tools by tests/static/tools.sh (needs the npm registry once).
.PHONY: static
static:
	@tests/static/run.sh

# Containers (issue 8): the image, the compose stack and its test.
.PHONY: image certs compose-up compose-down container-test
#   make image           localhost/postmesh and localhost/postmesh-peers
#                        with podman (base image by scripts/base-image.sh)
#   make certs           TLS and Redis secrets of deploy/compose (certs/)
#   make compose-up      the compose stack (scripts/compose.sh); compose-down
#   make container-test  tests/container/run.sh (needs root; about 7 min, README.md)
PM_IMAGE       ?= localhost/postmesh:latest
PM_PEERS_IMAGE ?= localhost/postmesh-peers:latest
CONTAINERS_CONF ?= $(CURDIR)/tests/container/containers.conf
export CONTAINERS_CONF

image:
	@scripts/base-image.sh
	nice podman build --format docker --pull=never -f docker/Dockerfile -t $(PM_IMAGE) .
	nice podman build --format docker --pull=never -f docker/peers.Dockerfile -t $(PM_PEERS_IMAGE) .

certs:
	@scripts/compose-certs.sh

compose-up:
	@scripts/compose.sh up

compose-down:
	@scripts/compose.sh down

container-test:
	@tests/container/run.sh

# TLS benchmark tools (issue 9): tests/bench/tls_source.c (load generator)
# and tls_sink.c (sink), both with bench_conn.c, into $(B)/bench/; built
# by `make all`, used by scripts/bench-tls.sh (part of `make bench`).
.PHONY: bench-tools bench-tls bench-tls-idle
BENCH_COMMON := tests/bench/bench_conn.c tests/bench/bench_conn.h
bench-tools: $(B)/bench/tls-source $(B)/bench/tls-sink
all: bench-tools
$(B)/bench/tls-%: tests/bench/tls_%.c $(BENCH_COMMON)
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED \
	  $(CFLAGS) $(LDFLAGS) -o $@ $< tests/bench/bench_conn.c -lssl -lcrypto
bench-tls: bench-tools bins
	@scripts/bench-tls.sh
bench-tls-idle: bench-tools bins
	@PARTS=idle scripts/bench-tls.sh
FMT_SRC += $(wildcard tests/bench/*.[ch])
