# s3files — top-level build.
#
#   make deps    install Debian packages + fetch/configure the matching ganesha source
#   make         build core, the FSAL, the sync daemon and the CLI (release, -O2)
#   make test    deps + build + sanitizer build + every test; ends with "N passed, N failed"
#   make run     deps + build + start RGW (unless S3_ENDPOINT is set), ganesha and syncd
#   make bench   benchmarks against peers measured in the same run
#   make soak    deps + build + the long forms of the crash (and power-cut) suites
#   make fuzz    longer fuzzing runs of the parsers
#   make install DESTDIR=...   install (Debian layout, see packaging/install.sh)
#   make deb     build/pkg/s3files_<version>_<arch>.deb
#
# Layout of outputs (all under $(BUILD)):
#   lib/libs3fcore.a         core, PIC, linked into the FSAL and both programs
#   lib/libs3fsyncd.a        sync/ but its main.c: the daemon's logic, for s3files-syncd
#                            and the unit tests
#   lib/libfsals3files.so    the FSAL ganesha loads from Plugins_Dir
#   bin/s3files-syncd bin/s3filesctl
#   asan/...                 the same under AddressSanitizer + UBSan (the FSAL too, for
#                            test/integration/proto.sh), plus unit tests
#   fuzz/...                 libFuzzer targets (clang)

BUILD    ?= build
CC       ?= gcc
CLANG    ?= clang
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
            -Wmissing-prototypes -Wstrict-prototypes -Wvla
CSTD     := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64
BASE     := $(CSTD) $(WARN) -g -fPIC -pthread -Icore
RELFLAGS := -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
SANFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined \
            -DS3F_SANITIZE=1
LIBS     := -llmdb -lcurl -lssl -lcrypto -lexpat -lpthread -lm

# Ganesha: the configure-only tree from `make deps` gives the exact -D/-I set ganesha
# compiles its FSALs with. Ganesha headers need GNU C.
GANESHA_DIR   := $(BUILD)/ganesha
# -isystem: ganesha's own headers are not ours to hold to -Werror.
GANESHA_FLAGS  = $(patsubst -I%,-isystem %,$(shell cat $(GANESHA_DIR)/fsal.flags 2>/dev/null))
FSAL_CFLAGS    = -std=gnu11 $(WARN) -Wno-missing-field-initializers -Wno-sign-compare \
                 -Wno-unused-parameter -Wno-shadow -Wno-missing-prototypes -Wno-strict-prototypes \
                 -g -fPIC -pthread -fno-strict-aliasing -fvisibility=hidden -O2 \
                 -Icore $(GANESHA_FLAGS)
FSAL_LIBS     := -L/usr/lib/ganesha -Wl,-rpath,/usr/lib/ganesha -lganesha_nfsd -lntirpc -lurcu-bp $(LIBS)

CORE_SRC  := $(sort $(wildcard core/*/*.c))
FSAL_SRC  := $(sort $(wildcard fsal_s3files/*.c))
SYNC_SRC  := $(sort $(wildcard sync/*.c))
CLI_SRC   := $(sort $(wildcard cli/*.c))
UNIT_SRC  := $(sort $(wildcard test/unit/test_*.c))
# sync_fx.c: the fixture of the daemon's tests (test_sync_*), which alone link sync/.
UNIT_SYNC := test/unit/sync_fx.c
UNIT_LIB  := $(filter-out $(UNIT_SRC) $(UNIT_SYNC),$(wildcard test/unit/*.c))
FUZZ_SRC  := $(sort $(wildcard test/fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard test/bench/bench_*.c test/bench/s3f_*.c))
TOOL_SRC  := $(sort $(wildcard test/tools/*.c))

CORE_OBJ      := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CORE_ASAN_OBJ := $(CORE_SRC:%.c=$(BUILD)/asan/obj/%.o)
FSAL_OBJ      := $(FSAL_SRC:%.c=$(BUILD)/obj/%.o)
SYNC_OBJ      := $(SYNC_SRC:%.c=$(BUILD)/obj/%.o)
SYNC_ASAN_OBJ := $(SYNC_SRC:%.c=$(BUILD)/asan/obj/%.o)
# The daemon's logic is a library; the program is its main.c on top.
SYNC_MAIN     := sync/main.c
SYNC_LIB_OBJ  := $(filter-out $(SYNC_MAIN:%.c=$(BUILD)/obj/%.o),$(SYNC_OBJ))
SYNC_ASAN_LIB_OBJ := $(filter-out $(SYNC_MAIN:%.c=$(BUILD)/asan/obj/%.o),$(SYNC_ASAN_OBJ))
CLI_OBJ       := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
CLI_ASAN_OBJ  := $(CLI_SRC:%.c=$(BUILD)/asan/obj/%.o)
UNIT_BIN      := $(UNIT_SRC:test/unit/%.c=$(BUILD)/asan/test/%)
UNIT_LIB_OBJ  := $(UNIT_LIB:%.c=$(BUILD)/asan/obj/%.o)
UNIT_SYNC_OBJ := $(UNIT_SYNC:%.c=$(BUILD)/asan/obj/%.o)
FUZZ_BIN      := $(FUZZ_SRC:test/fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_BIN     := $(BENCH_SRC:test/bench/%.c=$(BUILD)/bench/%)
TOOL_BIN      := $(TOOL_SRC:test/tools/%.c=$(BUILD)/bin/%)
# Power-cut tests (test/integration/pcut.sh): recorder (FUSE), workload driver, syncfs shim.
PCUT_BIN      := $(BUILD)/bin/pcut_fuse $(BUILD)/bin/pcut_work $(BUILD)/lib/libpcut_shim.so

CORE_LIB      := $(BUILD)/lib/libs3fcore.a
CORE_ASAN_LIB := $(BUILD)/asan/lib/libs3fcore.a
SYNC_LIB      := $(BUILD)/lib/libs3fsyncd.a
SYNC_ASAN_LIB := $(BUILD)/asan/lib/libs3fsyncd.a
FSAL_SO       := $(BUILD)/lib/libfsals3files.so
SYNCD         := $(BUILD)/bin/s3files-syncd
CTL           := $(BUILD)/bin/s3filesctl
SYNCD_ASAN    := $(BUILD)/asan/bin/s3files-syncd
CTL_ASAN      := $(BUILD)/asan/bin/s3filesctl
# Defined here, before `asan:` names them: make expands a rule's prerequisites as it reads
# the rule, so a variable set further down would be empty there.
FSAL_ASAN_OBJ := $(FSAL_SRC:%.c=$(BUILD)/asan/obj/%.o)
FSAL_ASAN_SO  := $(BUILD)/asan/lib/libfsals3files.so
NODEEPBIND_SO := $(BUILD)/asan/lib/libnodeepbind.so
# s3files.conf(5): doc/man/s3files.conf.5.in with the settings table spliced in
MAN_CONF      := $(BUILD)/man/s3files.conf.5

.PHONY: all test-tools deps test run bench fuzz asan unit clean distclean check-ganesha install deb soak
.DEFAULT_GOAL := all

all: $(CORE_LIB) $(SYNC_LIB) $(FSAL_SO) $(SYNCD) $(CTL) $(MAN_CONF)

# What only the tests run: the NFS/S3 test clients and the power-cut recorder.
test-tools: $(TOOL_BIN) $(PCUT_BIN)

# The settings section comes from the table the programs use (core/base/conf.c), so the page
# cannot drift from them; the other pages are doc/man/ as they are.
$(MAN_CONF): doc/man/s3files.conf.5.in $(CTL)
	@mkdir -p $(dir $@)
	$(Q)$(CTL) config-help --man >$@.body
	$(Q)sed -e '/^@SETTINGS@$$/{r $@.body' -e 'd;}' $< >$@.tmp && rm -f $@.body && mv $@.tmp $@

asan: $(CORE_ASAN_LIB) $(SYNC_ASAN_LIB) $(SYNCD_ASAN) $(CTL_ASAN) $(UNIT_BIN) $(FSAL_ASAN_SO) $(NODEEPBIND_SO)

deps:
	$(Q)BUILD=$(abspath $(BUILD)) scripts/deps.sh

# make test: install, build everything, run every suite.
test: deps
	$(Q)$(MAKE) --no-print-directory all test-tools asan fuzz-build $(BENCH_BIN)
	$(Q)BUILD=$(abspath $(BUILD)) test/run.sh

unit: asan
	$(Q)BUILD=$(abspath $(BUILD)) test/run.sh unit

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(abspath $(BUILD)) scripts/run.sh

# make soak: the long forms of the suites in SOAK_SUITES (each reads SOAK=1), one after the
# other against one RGW; "N passed, N failed" as make test.
SOAK_SUITES ?= crash pcut stress
soak: deps
	$(Q)$(MAKE) --no-print-directory all test-tools
	$(Q)BUILD=$(abspath $(BUILD)) SOAK=1 SUITE_TIMEOUT=$${SUITE_TIMEOUT:-21600} \
	   test/run.sh integration $(SOAK_SUITES)

bench: deps
	$(Q)$(MAKE) --no-print-directory all test-tools $(BENCH_BIN)
	$(Q)BUILD=$(abspath $(BUILD)) test/bench/run.sh

install: all
	$(Q)BUILD=$(abspath $(BUILD)) packaging/install.sh "$(DESTDIR)"

deb: all
	$(Q)BUILD=$(abspath $(BUILD)) packaging/build-deb.sh

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	$(Q)BUILD=$(abspath $(BUILD)) FUZZ_SECONDS=$${FUZZ_SECONDS:-600} test/fuzz/run.sh

check-ganesha:
	$(Q)test -s $(GANESHA_DIR)/fsal.flags || { echo "ganesha source not configured: run 'make deps'" >&2; exit 1; }

# ---- compile rules ----
# core, the daemon and the CLI share one set of flags; the FSAL has ganesha's.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BASE) $(RELFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/fsal_s3files/%.o: fsal_s3files/%.c | check-ganesha
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(FSAL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC-ASAN $<"
	$(Q)$(CC) $(BASE) $(SANFLAGS) -Itest/unit $(TEST_INC) -MMD -MP -c $< -o $@

# Unit tests of the daemon include its header by path: "sync/syncd.h".
$(BUILD)/asan/obj/test/%.o: TEST_INC := -I.

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(CORE_ASAN_LIB): $(CORE_ASAN_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SYNC_LIB): $(SYNC_LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SYNC_ASAN_LIB): $(SYNC_ASAN_LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

# The FSAL: core linked in statically, only init/fini visible, nothing left undefined
# (ganesha's core exports only ~230 symbols; an unresolved one must fail here, not at load).
$(FSAL_SO): $(FSAL_OBJ) $(CORE_LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) -shared -Wl,--no-undefined -Wl,-z,defs -Wl,--exclude-libs,ALL -o $@ $(FSAL_OBJ) $(CORE_LIB) $(FSAL_LIBS)

# The FSAL built against another config.h, for the ABI self-check test:
#   make abi-variant ABI_CONFIG_DIR=DIR ABI_OUT=DIR2  -> DIR2/libfsals3files.so
# (DIR holds the altered config.h; it is searched before the real one.)
.PHONY: abi-variant
abi-variant: $(CORE_LIB) | check-ganesha
	@test -n "$(ABI_CONFIG_DIR)" -a -n "$(ABI_OUT)" || { echo "set ABI_CONFIG_DIR and ABI_OUT" >&2; exit 1; }
	@mkdir -p $(ABI_OUT)
	$(Q)$(CC) -isystem $(ABI_CONFIG_DIR) $(FSAL_CFLAGS) -shared -Wl,--no-undefined -Wl,-z,defs \
	   -Wl,--exclude-libs,ALL -o $(ABI_OUT)/libfsals3files.so $(FSAL_SRC) $(CORE_LIB) $(FSAL_LIBS)

# The FSAL under AddressSanitizer + UBSan, for ganesha started with the sanitizer runtime
# preloaded (test/integration/proto.sh): objects built with the FSAL's flags plus the
# sanitizers, the sanitizer core; and the shim that lets it load (test/asan/nodeepbind.c).

$(BUILD)/asan/obj/fsal_s3files/%.o: fsal_s3files/%.c | check-ganesha
	@mkdir -p $(@D)
	@echo "  CC-ASAN $<"
	$(Q)$(CC) $(filter-out -O2,$(FSAL_CFLAGS)) $(SANFLAGS) -MMD -MP -c -o $@ $<

$(FSAL_ASAN_SO): $(FSAL_ASAN_OBJ) $(CORE_ASAN_LIB)
	@mkdir -p $(@D)
	@echo "  LD-ASAN $@"
	$(Q)$(CC) -shared $(SANFLAGS) -Wl,--no-undefined -Wl,--exclude-libs,ALL -o $@ \
	   $(FSAL_ASAN_OBJ) $(CORE_ASAN_LIB) $(FSAL_LIBS)

$(NODEEPBIND_SO): test/asan/nodeepbind.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CSTD) $(WARN) -g -O2 -fPIC -shared -o $@ $< -ldl

$(SYNCD): $(SYNC_MAIN:%.c=$(BUILD)/obj/%.o) $(SYNC_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) -pthread -o $@ $^ $(LIBS)

$(CTL): $(CLI_OBJ) $(CORE_LIB)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) -pthread -o $@ $^ $(LIBS)

$(SYNCD_ASAN): $(SYNC_MAIN:%.c=$(BUILD)/asan/obj/%.o) $(SYNC_ASAN_LIB) $(CORE_ASAN_LIB)
	@mkdir -p $(@D)
	$(Q)$(CC) -pthread $(SANFLAGS) -o $@ $^ $(LIBS)

$(CTL_ASAN): $(CLI_ASAN_OBJ) $(CORE_ASAN_LIB)
	@mkdir -p $(@D)
	$(Q)$(CC) -pthread $(SANFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/asan/test/%: $(BUILD)/asan/obj/test/unit/%.o $(UNIT_LIB_OBJ) $(CORE_ASAN_LIB)
	@mkdir -p $(@D)
	@echo "  LD-ASAN $@"
	$(Q)$(CC) -pthread $(SANFLAGS) -o $@ $^ $(LIBS)

# Unit tests of the daemon's logic (test_sync_*): the sync library too, before core.
$(BUILD)/asan/test/test_sync_%: $(BUILD)/asan/obj/test/unit/test_sync_%.o $(UNIT_LIB_OBJ) \
				$(UNIT_SYNC_OBJ) $(SYNC_ASAN_LIB) $(CORE_ASAN_LIB)
	@mkdir -p $(@D)
	@echo "  LD-ASAN $@"
	$(Q)$(CC) -pthread $(SANFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bin/%: test/tools/%.c $(CORE_LIB)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BASE) $(RELFLAGS) -o $@ $< $(CORE_LIB) $(LIBS) $(if $(findstring nfs,$*),-lnfs,)

$(BUILD)/bin/pcut_fuse: test/pcut/pcut_fuse.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CSTD) $(WARN) -g $(RELFLAGS) $(shell pkg-config --cflags fuse3) -o $@ $< \
	   $(shell pkg-config --libs fuse3)

$(BUILD)/bin/pcut_work: test/pcut/pcut_work.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CSTD) $(WARN) -g $(RELFLAGS) -o $@ $< -lnfs

$(BUILD)/lib/libpcut_shim.so: test/pcut/pcut_shim.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CSTD) $(WARN) -g -O2 -fPIC -shared -o $@ $< -ldl

$(BUILD)/bench/%: test/bench/%.c test/bench/bench_util.h $(CORE_LIB)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(BASE) $(RELFLAGS) -o $@ $< $(CORE_LIB) $(LIBS) $(if $(findstring nfs,$*),-lnfs,)

# libFuzzer targets: the module under test is compiled in directly with clang.
$(BUILD)/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(CORE_SRC)
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(CSTD) -g -O1 -Icore -fsanitize=fuzzer,address,undefined -o $@ $< \
	   $(shell sed -n 's,^// fuzz-sources:,,p' $<) $(LIBS)

clean:
	rm -rf $(BUILD)/obj $(BUILD)/asan $(BUILD)/lib $(BUILD)/bin $(BUILD)/fuzz $(BUILD)/bench \
	       $(BUILD)/pkg $(BUILD)/man

distclean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/asan/obj -name '*.d' 2>/dev/null)
