# kidou - the two commands that matter:
#   make run     install what is needed, build, serve ./tftpboot over TFTP
#   make check   install what is needed, build, run every test (CI runs this)
PYTHON ?= /usr/bin/python3
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20

.PHONY: all setup build run check unit integration asan fuzz package bench bench-boot demo clean

all: build

setup:
	scripts/setup.sh test

build:
	scripts/setup.sh build
	[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) -Dwerror=true
	ninja -C $(BUILD)

run: build
	mkdir -p tftpboot
	./$(BUILD)/kidou --tftp-root ./tftpboot $(ARGS)

unit: build
	meson test -C $(BUILD) --print-errorlogs

integration: build
	KIDOU_BIN=$(CURDIR)/$(BUILD)/kidou $(PYTHON) -m pytest -q tests/integration

# The whole suite again with AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	[ -f $(ASAN_BUILD)/build.ninja ] || meson setup $(ASAN_BUILD) -Dwerror=true \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(ASAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C $(ASAN_BUILD) --print-errorlogs
	KIDOU_BIN=$(CURDIR)/$(ASAN_BUILD)/kidou KIDOU_SANITIZED=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(PYTHON) -m pytest -q tests/integration

# libFuzzer targets, each run for FUZZ_SECONDS from the seed corpus.
fuzz:
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
		-Db_lundef=false -Dbuildtype=debugoptimized
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The Debian package: build, lintian, install, check, purge (as root).
package:
	$(PYTHON) tests/package/check_package.py

check: setup
	$(MAKE) build unit integration asan fuzz package

bench:
	scripts/setup.sh bench
	$(MAKE) build
	$(PYTHON) bench/tftp_bench.py
	$(PYTHON) bench/dhcp_bench.py
	$(PYTHON) bench/http_bench.py

# Boot a VM from kidou in a network namespace (root). FIRMWARE=uefi for UEFI,
# FIRMWARE=secureboot for Debian's signed chain with Secure Boot enforced.
demo:
	scripts/demo.sh $(ARGS)

bench-boot: build
	$(PYTHON) tests/integration/vm_lib.py install --bench
	$(PYTHON) bench/boot_bench.py $(ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
