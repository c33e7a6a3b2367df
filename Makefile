# Ironvisor: the two commands a person needs are `make run` and `make test`.
#
#   make run     build everything and boot one virtual server; prints the API
#                URL on localhost and a curl example; Ctrl-C stops it
#   make test    install what is missing, build the artefacts, run every test
#                level (gofmt, vet, fuzz targets briefly, go test -race ./...)
#   make disk    a UEFI disk image (UKI on a GPT ESP) to write to a server's disk
#   make pxe     a TFTP folder with an iPXE script for network boot
#   make bench   measure and update docs/benchmarks.md (one section per script
#                in build/bench)
#
# Everything generated lives in .cache/ (git-ignored): kernels in
# .cache/kernels, artefacts in .cache/out, console logs in .cache/run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Go may live outside PATH on a fresh machine.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
OUT := .cache/out
IVBUILD := .cache/bin/ivbuild
export IRONVISOR_ARTEFACTS := $(CURDIR)/$(OUT)
export GO

# Debian packages the build and the test levels use.
DEB_PACKAGES := qemu-system-x86 seabios ovmf ipxe-qemu busybox-static \
	debootstrap e2fsprogs mtools dosfstools cpio iproute2 nftables \
	systemd-boot-efi binutils btrfs-progs acpica-tools lz4 util-linux \
	awscli qemu-utils ipxe chromium

# STEP runs one timed step: it says what it does and how long it took.
STEP := bash build/scripts/step.sh

# Extra flags: make run RUN_ARGS="-console -append ironvisor.hostname=n1"
RUN_ARGS ?=

.PHONY: all deps build ivbuild kernels initramfs cloudimage disk uki pxe run test fuzz bench clean distclean

all: initramfs

## deps: install missing Debian packages (as root) and download Go modules.
deps:
	@if [ "$$(id -u)" = 0 ] && ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then \
		echo "deps: apt-get update (no package lists yet)"; apt-get update -q; \
	fi
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -q '^install ok installed$$' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			$(STEP) "Debian packages (apt-get install$$missing)" sh -c \
				"apt-get install -y -q --no-install-recommends $$missing || \
				{ apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; }"; \
		else \
			echo "deps: missing Debian packages (run as root to install them):$$missing"; \
		fi; \
	fi
	@$(STEP) "Go modules (go mod download, through the configured proxy)" $(GO) mod download

## build: the static ironvisor binary, and beside it ironvisor-vmm, the lean
## VMM binary its supervisor runs for each instance.
build:
	@mkdir -p $(OUT)
	@CGO_ENABLED=0 $(STEP) "build $(OUT)/ironvisor" $(GO) build -trimpath -o $(OUT)/ironvisor ./cmd/ironvisor
	@CGO_ENABLED=0 $(STEP) "build $(OUT)/ironvisor-vmm" $(GO) build -trimpath -o $(OUT)/ironvisor-vmm ./cmd/ironvisor-vmm

ivbuild:
	@mkdir -p $(dir $(IVBUILD))
	@$(STEP) "build the image tool $(IVBUILD)" $(GO) build -o $(IVBUILD) ./build/cmd/ivbuild

## kernels: fetch Debian's host and guest kernels into .cache/kernels.
kernels: ivbuild
	$(IVBUILD) kernels

## initramfs: the appliance image and manifest in .cache/out.
initramfs: build ivbuild
	@$(STEP) "appliance image: Debian's kernel (apt-get download, cached) and the initramfs" \
		$(IVBUILD) initramfs -o $(OUT)/appliance.cpio.gz -binary $(OUT)/ironvisor

## cloudimage: Debian 12 in the layout and with the packages of its
## genericcloud image, as qcow2 (debootstrap as root; cached in .cache/images).
cloudimage: ivbuild
	@if [ "$$(id -u)" = 0 ] || [ -e .cache/images/debian-12-cloud/disk.qcow2 ]; then \
		$(STEP) "Debian 12 cloud image (debootstrap, cached in .cache/images)" $(IVBUILD) cloudimage; \
	else echo "cloudimage: building it needs root (debootstrap); skipped"; fi

## disk: a UEFI-bootable GPT disk image for real servers (.cache/out/disk.img).
disk: initramfs
	$(IVBUILD) disk -artefacts $(OUT) -o $(OUT)/disk.img

## uki: the appliance UKI alone (.cache/out/ironvisor.efi), for
## `ironvisor ctl host update` (UKI_VERSION names it in /v1/host).
UKI_VERSION ?= dev
uki: initramfs
	$(IVBUILD) uki -artefacts $(OUT) -o $(OUT)/ironvisor.efi -version $(UKI_VERSION)

## pxe: a TFTP folder with an iPXE script for network boot (.cache/out/tftp).
pxe: initramfs
	$(IVBUILD) pxe -artefacts $(OUT) -o $(OUT)/tftp

## run: build everything and boot one virtual server
## (RUN_ARGS="-boot uefi" or "-boot pxe" boot it like real iron).
run: deps initramfs cloudimage
	$(IVBUILD) run -artefacts $(OUT) $(RUN_ARGS)

## test: every test level; ends with the go test summary.
test: deps initramfs cloudimage
	bash build/scripts/test.sh

## fuzz: only the fuzz targets (FUZZTIME=3s each by default).
fuzz:
	bash build/scripts/fuzz-all.sh

## bench: measure every section of docs/benchmarks.md: the specs
## build/bench/*.md through `ivbuild bench` (data kept in docs/bench),
## then the scripts build/bench/*.sh merged with `ivbuild docsection`.
bench: deps initramfs
	$(IVBUILD) bench build/bench/*.md
	@for s in build/bench/*.sh; do \
		echo "bench: $$s"; \
		IVBUILD=$(IVBUILD) bash "$$s" > .cache/bench-section.md; \
		$(IVBUILD) docsection docs/benchmarks.md < .cache/bench-section.md; \
	done

clean:
	rm -rf $(OUT) .cache/run .cache/bin .cache/test.log .cache/bench-section.md

## distclean: also drop the kernel cache.
distclean: clean
	rm -rf .cache
