# Eunomia — set-up, build, run and test.  Every target does its own set-up on
# a fresh Debian 12 machine (run as root; never calls sudo itself).

PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
BUILD      := build
VMLINUX_H  := $(BUILD)/vmlinux/vmlinux.h
BTF_SRC    ?= /sys/kernel/btf/vmlinux
CLANG      ?= clang
BPFTOOL    ?= bpftool

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' -e 's/ppc64le/powerpc/' -e 's/s390x/s390/')
BPF_INCLUDE := src/eunomia/bpf/include
BPF_SRCS := $(shell find src/eunomia -name '*.bpf.c' 2>/dev/null)
BPF_OBJS := $(BPF_SRCS:.bpf.c=.bpf.o)
BPF_CFLAGS := -target bpf -mcpu=v3 -g -O2 -Wall -Werror -D__TARGET_ARCH_$(ARCH) \
	-I$(dir $(VMLINUX_H)) -I$(BPF_INCLUDE) -MMD -MP

RUN_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all deps bench-deps bpf venv run test unit integration test-images dockerd bench bench-quick bench-soak clean distclean

all: bpf venv

deps:
	@scripts/install-deps.sh

# --- BPF objects: CO-RE, against vmlinux.h generated from this kernel's BTF
$(VMLINUX_H):
	@mkdir -p $(dir $@)
	@test -r $(BTF_SRC) || { echo "error: $(BTF_SRC) missing: the kernel needs CONFIG_DEBUG_INFO_BTF=y" >&2; exit 1; }
	$(BPFTOOL) btf dump file $(BTF_SRC) format c > $@.tmp && mv $@.tmp $@

%.bpf.o: %.bpf.c $(VMLINUX_H) Makefile
	$(CLANG) $(BPF_CFLAGS) -MF $(@:.o=.d) -c $< -o $@

bpf: $(BPF_OBJS)

-include $(BPF_OBJS:.o=.d)

# --- Python virtualenv with the eunomia CLI (editable: uses the objects above)
$(BIN)/eunomia: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

venv: $(BIN)/eunomia

dockerd:
	@scripts/ensure-dockerd.sh

test-images: dockerd
	@scripts/build-test-images.sh

# --- the main job: watch every container (live view, metrics on 127.0.0.1:9464)
run: deps bpf venv dockerd
	$(BIN)/eunomia run $(RUN_ARGS)

# --- tests: unit (no root) then integration (real BPF, real Docker)
unit: deps bpf venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

integration: deps bpf venv test-images
	$(BIN)/pytest -q tests/integration $(PYTEST_ARGS)

test: deps bpf venv test-images
	$(BIN)/pytest -q tests/unit tests/integration $(PYTEST_ARGS)

# --- benchmarks (not tests): bench/run.py, see README "Performance".  Workloads
# (syscall loop, nginx + wrk, exec storm) in locally built containers, alone and
# beside Eunomia, bpftrace, auditd and strace; results in bench/results/.
BENCH_ARGS ?=

bench-deps:
	@PKGS="wrk bpftrace auditd strace nginx-core gcc libc6-dev clang bpftool" scripts/install-deps.sh

bench: deps bpf venv dockerd bench-deps
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: deps bpf venv dockerd bench-deps
	$(BIN)/python bench/run.py --quick $(BENCH_ARGS)

# `eunomia run` for 10 minutes while containers come and go: RSS at start and end
bench-soak: deps bpf venv dockerd bench-deps
	$(BIN)/python bench/run.py --only soak $(BENCH_ARGS)

clean:
	find src -name '*.bpf.o' -delete -o -name '*.bpf.d' -delete
	rm -rf $(BUILD)

distclean: clean
	rm -rf $(VENV) *.egg-info src/*.egg-info
