# moat - SMTP edge server
#
#   make            build build/moat
#   make run        install build dependencies, build, run with the built-in config
#   make test       unit + integration tests, integration again under ASan+UBSan
#   make bench      moat vs Postfix side by side (BENCH=name for one figure)
#   make fuzz       libFuzzer targets, bounded time (FUZZ_SECONDS)
#   make install    PREFIX (/usr/local), DESTDIR, SYSCONFDIR (/etc), LOCALSTATEDIR (/var)
#   make deb        a Debian package in build/ (DEB_VERSION)

CC      ?= cc
PKGS     = libevent libevent_openssl openssl sqlite3 libsodium libunbound inih ldap libsystemd libarchive
# libraries Debian ships without a pkg-config file
NOPC_LIBS = -lspf2 -lopendmarc
# the configuration moat reads when neither -c nor MOAT_CONFIG names one
# (the GNU lower-case names work too: make install sysconfdir=/opt/etc)
sysconfdir ?= /etc
SYSCONFDIR ?= $(sysconfdir)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(NOPC_LIBS)

WARN     = -Wall -Wextra -Wformat=2 -Wformat-security -Wshadow -Wpointer-arith \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wno-unused-parameter \
           -Wimplicit-fallthrough -Werror=implicit-function-declaration
HARDEN   = -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE -fcf-protection
HARDEN_LD = -pie -Wl,-z,relro,-z,now,-z,noexecstack
CFLAGS_BASE = -std=gnu11 -g $(WARN) -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) \
           -DMOAT_CONFIG_PATH='"$(SYSCONFDIR)/moat/moat.conf"'

SRCS     = $(sort $(wildcard src/*/*.c))
MAIN     = src/daemon/main.c
LIBSRCS  = $(filter-out $(MAIN),$(SRCS))
UNITSRCS = $(sort $(wildcard tests/unit/test_*.c))
# what the unit tests share (fixtures), linked into each of them
UNITLIBSRCS = $(filter-out $(UNITSRCS),$(sort $(wildcard tests/unit/*.c)))
UNITHDRS = $(wildcard tests/unit/*.h)
FUZZSRCS = $(sort $(wildcard fuzz/fuzz_*.c))
# the web console's files, built into the binary (scripts/console_assets.sh)
CONSOLE_FILES = $(sort $(wildcard console/*.html console/*.js console/*.css \
           console/pages/*.js console/pages/*.css))

# release build
B        = build
CFLAGS_R = $(CFLAGS_BASE) -O2 $(HARDEN)
OBJS     = $(LIBSRCS:%.c=$(B)/%.o) $(B)/gen/console_assets.o $(B)/gen/console_assets_data.o
# sanitizer build
A        = build-asan
CFLAGS_A = $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
AOBJS    = $(LIBSRCS:%.c=$(A)/%.o) $(A)/gen/console_assets.o $(A)/gen/console_assets_data.o

UNITBINS  = $(UNITSRCS:tests/unit/%.c=$(B)/tests/%)
AUNITBINS = $(UNITSRCS:tests/unit/%.c=$(A)/tests/%)
UNITLIB   = $(UNITLIBSRCS:tests/unit/%.c=$(B)/unitlib/%.o)
AUNITLIB  = $(UNITLIBSRCS:tests/unit/%.c=$(A)/unitlib/%.o)

PYTEST  ?= /usr/bin/python3 -m pytest

.PHONY: all run test unit unit-asan integration integration-asan asan deps deps-test bench fuzz clean install uninstall deb

all: $(B)/moat

# V=1 shows the full compiler command lines
Q = $(if $(V),,@)

$(B)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_R) -c -o $@ $<

$(A)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC/asan $<")
	$(Q)$(CC) $(CFLAGS_A) -c -o $@ $<

# the console's table and bytes; made again when a file comes or goes
# (the list is in the stamp) or changes
%/gen/console_assets.list: FORCE
	@mkdir -p $(dir $@)
	@echo "$(CONSOLE_FILES)" | cmp -s - $@ || echo "$(CONSOLE_FILES)" > $@

%/gen/console_assets.c %/gen/console_assets_data.S: %/gen/console_assets.list $(CONSOLE_FILES) scripts/console_assets.sh
	@$(if $(V),,echo "  GEN     $*/gen/console_assets")
	$(Q)sh scripts/console_assets.sh $*/gen/console_assets_data.S $*/gen/console_assets.c $(CONSOLE_FILES)

$(B)/gen/%.o: $(B)/gen/%.c
	$(Q)$(CC) $(CFLAGS_R) -c -o $@ $<

$(B)/gen/%.o: $(B)/gen/%.S
	$(Q)$(CC) $(CFLAGS_R) -c -o $@ $<

$(A)/gen/%.o: $(A)/gen/%.c
	$(Q)$(CC) $(CFLAGS_A) -c -o $@ $<

$(A)/gen/%.o: $(A)/gen/%.S
	$(Q)$(CC) $(CFLAGS_A) -c -o $@ $<

$(F)/gen/%.o: $(F)/gen/%.c
	$(Q)$(FUZZCC) $(FUZZFLAGS) -c -o $@ $<

$(F)/gen/%.o: $(F)/gen/%.S
	$(Q)$(FUZZCC) $(FUZZFLAGS) -c -o $@ $<

# the objects that hold the default configuration's path are made again
# when SYSCONFDIR changes (the stamp holds the value)
CONF_PATH_SRCS = src/daemon/conf_path.c src/daemon/main.c src/ctl/ctl_cli.c \
           src/sendmail/sendmail.c
%/gen/sysconfdir: FORCE
	@mkdir -p $(dir $@)
	@echo "$(SYSCONFDIR)" | cmp -s - $@ || echo "$(SYSCONFDIR)" > $@
$(CONF_PATH_SRCS:%.c=$(B)/%.o): $(B)/gen/sysconfdir
$(CONF_PATH_SRCS:%.c=$(A)/%.o): $(A)/gen/sysconfdir

FORCE:
.PRECIOUS: %/gen/console_assets.c %/gen/console_assets_data.S %/gen/console_assets.list %/gen/sysconfdir

$(B)/moat: $(B)/$(MAIN:.c=.o) $(OBJS)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_R) $(HARDEN_LD) -o $@ $^ $(PKG_LIBS)

$(A)/moat: $(A)/$(MAIN:.c=.o) $(AOBJS)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_A) -o $@ $^ $(PKG_LIBS)

# kept, not removed as intermediate files after the link
.SECONDARY: $(UNITLIB) $(AUNITLIB)

$(B)/unitlib/%.o: tests/unit/%.c $(UNITHDRS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_R) -c -o $@ $<

$(A)/unitlib/%.o: tests/unit/%.c $(UNITHDRS) $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC/asan $<")
	$(Q)$(CC) $(CFLAGS_A) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(OBJS) $(UNITLIB) $(UNITHDRS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_R) $(HARDEN_LD) -o $@ $(filter-out %.h,$^) $(PKG_LIBS) -lcmocka

$(A)/tests/%: tests/unit/%.c $(AOBJS) $(AUNITLIB) $(UNITHDRS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_A) -o $@ $(filter-out %.h,$^) $(PKG_LIBS) -lcmocka

asan: $(A)/moat

deps:
	@sh scripts/deps.sh build

deps-test:
	@sh scripts/deps.sh test
	@sh scripts/ensure-user.sh _moat
	@sh scripts/browser-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	sh scripts/run.sh

unit: $(UNITBINS)
	@set -e; for t in $(UNITBINS); do echo "== $$t"; $$t; done

unit-asan: $(AUNITBINS)
	@set -e; for t in $(AUNITBINS); do echo "== $$t"; $$t; done

integration: $(B)/moat
	MOAT_BIN=$(CURDIR)/$(B)/moat $(PYTEST) -q tests/integration

integration-asan: $(A)/moat
	MOAT_BIN=$(CURDIR)/$(A)/moat MOAT_ASAN=1 $(PYTEST) -q tests/integration

test: deps-test
	@$(MAKE) --no-print-directory all asan
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory integration-asan

$(B)/cidr_bench: bench/cidr_bench.c $(OBJS)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_R) $(HARDEN_LD) -o $@ $^ $(PKG_LIBS)

$(B)/rcpt_table_load: bench/rcpt_table_load.c $(OBJS)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS_R) $(HARDEN_LD) -o $@ $^ $(PKG_LIBS)

bench:
	@sh scripts/deps.sh bench
	@sh scripts/ensure-user.sh _moat
	@$(MAKE) --no-print-directory all $(B)/cidr_bench $(B)/rcpt_table_load
	/usr/bin/python3 bench/bench.py $(BENCH)

# fuzzing: the library built once with coverage, one binary per target;
# scripts/fuzz.sh runs every target (a crash stops only its own) and
# prints executions and crashes per target
FUZZ_SECONDS ?= 60
FUZZCC   = clang
F        = build-fuzz
FUZZSAN  = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZFLAGS = -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) $(FUZZSAN)
FOBJS    = $(LIBSRCS:%.c=$(F)/%.o) $(F)/gen/console_assets.o $(F)/gen/console_assets_data.o
FUZZBINS = $(FUZZSRCS:fuzz/%.c=$(F)/%)
.SECONDARY: $(FOBJS)	# kept between runs, not intermediate files

$(F)/%.o: %.c $(wildcard src/*/*.h)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC/fuzz $<")
	$(Q)$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(F)/fuzz_%: fuzz/fuzz_%.c $(FOBJS)
	@$(if $(V),,echo "  LD/fuzz $@")
	$(Q)$(FUZZCC) $(FUZZFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZBINS)
	sh scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZBINS)

# install: the layout of docs/INSTALL.md; scripts/install.sh does the work
prefix        ?= /usr/local
PREFIX        ?= $(prefix)
localstatedir ?= /var
LOCALSTATEDIR ?= $(localstatedir)
SBINDIR       ?= $(PREFIX)/sbin
BINDIR        ?= $(PREFIX)/bin
MANDIR        ?= $(PREFIX)/share/man
# Debian keeps the units of /usr's packages in /lib/systemd/system;
# systemd also reads /usr/local/lib/systemd/system
UNITDIR       ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
# auto: sendmail and mailq links only where no other MTA has them
SENDMAIL_LINKS ?= auto
INSTALL_ENV = BUILD="$(B)" DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" \
	LOCALSTATEDIR="$(LOCALSTATEDIR)" SBINDIR="$(SBINDIR)" BINDIR="$(BINDIR)" \
	MANDIR="$(MANDIR)" UNITDIR="$(UNITDIR)" SENDMAIL_LINKS="$(SENDMAIL_LINKS)"

install: $(B)/moat
	@$(INSTALL_ENV) sh scripts/install.sh install

uninstall:
	@$(INSTALL_ENV) sh scripts/install.sh uninstall

# DEB_VERSION: moat's own version unless given
DEB_VERSION ?= $(shell sed -n 's/^\#define MOAT_VERSION "\(.*\)"/\1/p' src/daemon/version.h)
deb: $(B)/moat
	@sh scripts/mkdeb.sh "$(DEB_VERSION)"

clean:
	rm -rf $(B) $(A) build-fuzz
